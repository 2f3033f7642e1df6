package suricata

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLimits: what a rule file can make the loader and matcher do is
// bounded; past a bound a rule is a ParseError naming it, or the load of a
// file fails naming the limit.
func TestLimits(t *testing.T) {
	rule := func(opts string) string {
		return `alert tls any any -> any any (msg:"x"; ` + opts + ` sid:1;)`
	}
	contents := func(n int) string {
		return "tls.sni; " + strings.Repeat(`content:"a"; `, n)
	}
	cases := []struct {
		name, rule string
		err        string // "" : loads
	}{
		{"256 contents", rule(contents(maxRuleContents)), ""},
		{"257 contents", rule(contents(maxRuleContents + 1)), "257 content and pcre keywords, over the limit of 256"},
		{"contents and pcres", rule(contents(200) + strings.Repeat(`pcre:"/a/"; `, 57)), "257 content and pcre keywords"},
		{"small pcre", rule(`tls.sni; pcre:"/^[a-z]{1,100}\.evil\.test$/";`), ""},
		{"huge pcre program", rule(`tls.sni; pcre:"/` + strings.Repeat(`[a-z]{1,1000}`, 30) + `/";`), "RE2 instructions, over the limit of 20000"},
		{"rule at the length limit", rule(`tls.sni; content:"` + strings.Repeat("a", maxRuleBytes-len(rule(`tls.sni; content:"";`))) + `";`), ""},
		{"rule over the length limit", rule(`tls.sni; content:"` + strings.Repeat("a", maxRuleBytes) + `";`), "longer than the limit of 8192"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs, err := Load(strings.NewReader("# a comment\n"+c.rule+"\n"), "l.rules", Config{})
			if err != nil {
				t.Fatal(err)
			}
			if c.err == "" {
				if len(rs.Rules) != 1 || len(rs.Errors) != 0 {
					t.Fatalf("rules %d, errors %v", len(rs.Rules), rs.Errors)
				}
				return
			}
			if len(rs.Rules) != 0 || len(rs.Errors) != 1 || !strings.Contains(rs.Errors[0].Error(), c.err) || !strings.HasPrefix(rs.Errors[0].Error(), "l.rules:2: ") {
				t.Fatalf("rules %d, errors %v; want one at l.rules:2 saying %q", len(rs.Rules), rs.Errors, c.err)
			}
		})
	}

	// File size: refused by its size, or while read (not a regular file).
	one := rule(`tls.sni; content:"a";`) + "\n"
	dir := t.TempDir()
	p := filepath.Join(dir, "big.rules")
	if err := os.WriteFile(p, []byte(strings.Repeat(one, 10)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFiles([]string{p}, Config{MaxFileBytes: int64(len(one) * 10)}); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	_, err := LoadFiles([]string{p}, Config{MaxFileBytes: int64(len(one)*10 - 1)})
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "longer than the limit of") {
		t.Errorf("over the limit: %v", err)
	}
	_, err = Load(strings.NewReader(strings.Repeat(one, 10)), "stream.rules", Config{MaxFileBytes: int64(len(one) * 5)})
	if err == nil || !strings.Contains(err.Error(), "stream.rules: rule file longer than the limit of") {
		t.Errorf("stream over the limit: %v", err)
	}
	// A physical line over 1 MiB ends the load with its line number.
	_, err = Load(strings.NewReader(one+strings.Repeat("x", maxRuleLen+1)+"\n"), "long.rules", Config{})
	if err == nil || !strings.Contains(err.Error(), "long.rules: line 2: longer than") {
		t.Errorf("long line: %v", err)
	}
}
