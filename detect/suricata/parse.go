package suricata

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Config configures loading.
type Config struct {
	// Vars are address and port variables without the '$' (HOME_NET:
	// "[10.0.0.0/8]", HTTP_PORTS: "80"). A variable not in the map is any.
	Vars map[string]string
	// MaxFileBytes bounds the size of one rule file (default
	// DefaultMaxFileBytes); a longer one is refused.
	MaxFileBytes int64
}

// Bounds on what a rule file can make the loader and the matcher do.
const (
	// DefaultMaxFileBytes is the default bound on a rule file: ET Open's
	// whole set (emerging-all.rules) is about 40 MiB.
	DefaultMaxFileBytes = 256 << 20
	// maxRuleBytes is the longest rule (continuation lines joined) loaded;
	// a longer one is a ParseError. It is Suricata's DETECT_MAX_RULE_SIZE;
	// ET Open's longest rule has about 3,000 bytes.
	maxRuleBytes = 8192
	// maxRuleContents bounds the content and pcre keywords of a rule (ET
	// Open: at most 23); more is a ParseError.
	maxRuleContents = 256
	// maxPcreInsts bounds the size of a pcre compiled to an RE2 program:
	// Go's matcher takes time and memory in proportion to it for each byte
	// matched. ET Open's largest compiles to about 11,000 (99th percentile:
	// 630); Go itself allows about 3 million.
	maxPcreInsts = 20000
)

// option is one raw rule option.
type option struct {
	name  string
	value string // raw (trimmed) text after ':'; quotes kept
	has   bool   // had a ':'
}

// maxRuleLen bounds a physical line and a rule being joined from
// continuation lines; a longer one ends the load of the file with an error
// (rules up to maxRuleBytes load, longer ones up to this are ParseErrors).
const maxRuleLen = 1 << 20

// readRules splits a rule file into logical rules: comments and blank lines
// dropped, lines ending in a backslash joined with the next. It calls fn
// with each rule and the line it started on.
func readRules(r io.Reader, fn func(line int, text string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxRuleLen)
	var cur strings.Builder
	start, n := 0, 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), " \t\r")
		if cur.Len() == 0 {
			t := strings.TrimSpace(line)
			if t == "" || t[0] == '#' {
				continue
			}
			start = n
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(line[:len(line)-1])
			if cur.Len() > maxRuleLen {
				return fmt.Errorf("line %d: rule longer than %d bytes", start, maxRuleLen)
			}
			continue
		}
		cur.WriteString(line)
		fn(start, strings.TrimSpace(cur.String()))
		cur.Reset()
	}
	if cur.Len() > 0 {
		fn(start, strings.TrimSpace(cur.String()))
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d: longer than %d bytes", n+1, maxRuleLen)
		}
		return err
	}
	return nil
}

type header struct {
	action, proto string
	src, sport    string
	dir           string
	dst, dport    string
}

// splitRule separates the header from the option list.
func splitRule(text string) (header, []option, error) {
	var h header
	open := strings.IndexByte(text, '(')
	if open < 0 {
		return h, nil, errors.New("no '(' opening the option list")
	}
	// A list in the header ("[1.2.3.4, 5.6.7.8]") has no '(' in valid rules.
	fields := strings.Fields(text[:open])
	// Lists may contain spaces: rejoin bracketed fields.
	fields = joinBrackets(fields)
	if len(fields) != 7 {
		if len(fields) == 2 || len(fields) == 1 {
			return h, nil, errors.New("header without addresses (app-layer hook rules are not supported)")
		}
		return h, nil, fmt.Errorf("header has %d fields, want 7 (action proto src sport dir dst dport)", len(fields))
	}
	h = header{fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6]}
	body := strings.TrimSpace(text[open+1:])
	if !strings.HasSuffix(body, ")") {
		return h, nil, errors.New("option list not closed by ')'")
	}
	body = body[:len(body)-1]
	opts, err := splitOptions(body)
	return h, opts, err
}

func joinBrackets(f []string) []string {
	var out []string
	depth := 0
	for _, s := range f {
		if depth > 0 {
			out[len(out)-1] += s
		} else {
			out = append(out, s)
		}
		depth += strings.Count(s, "[") - strings.Count(s, "]")
		if depth < 0 {
			depth = 0
		}
	}
	return out
}

// splitOptions splits "k:v; k2; ..." as Suricata's SigParseOptions does:
// an option ends at the first ';' not directly preceded by a backslash,
// whatever quotes come before it (pcre:"/^["']?post/Ri"; is one option).
// Values keep their escapes; unquote and parseContentString remove them.
func splitOptions(body string) ([]option, error) {
	opts := make([]option, 0, 16)
	start := 0
	flush := func(s string) error {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil
		}
		name, value, has := strings.Cut(s, ":")
		name = strings.TrimSpace(name)
		if name == "" || strings.ContainsAny(name, " \t\"") {
			return fmt.Errorf("malformed option %q", trunc(s))
		}
		opts = append(opts, option{name: name, value: strings.TrimSpace(value), has: has})
		return nil
	}
	for i := 0; i < len(body); i++ {
		if body[i] != ';' || i > 0 && body[i-1] == '\\' {
			continue
		}
		if err := flush(body[start:i]); err != nil {
			return nil, err
		}
		start = i + 1
	}
	if rest := strings.TrimSpace(body[start:]); rest != "" {
		return nil, fmt.Errorf("last option %q not terminated by ';'", trunc(rest))
	}
	return opts, nil
}

func trunc(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// unquote removes surrounding quotes (when present) and Suricata escapes
// (\" \; \\ \:).
func unquote(v string) (string, error) {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	} else if strings.HasPrefix(v, "\"") {
		return "", errors.New("unbalanced quotes")
	}
	if !strings.Contains(v, "\\") {
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String(), nil
}

// parseContentString decodes a content value: quoted text with |hex| runs
// and \ escapes; a leading '!' negates.
func parseContentString(v string) (pat []byte, negated bool, err error) {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "!") {
		negated = true
		v = strings.TrimSpace(v[1:])
	}
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, false, errors.New("content must be quoted")
	}
	v = v[1 : len(v)-1]
	inHex := false
	var hexbuf []byte
	for i := 0; i < len(v); i++ {
		c := v[i]
		if inHex {
			switch {
			case c == '|':
				if len(hexbuf) != 0 {
					return nil, false, errors.New("odd number of hex digits")
				}
				inHex = false
			case c == ' ' || c == '\t':
				if len(hexbuf) != 0 {
					return nil, false, errors.New("space inside a hex byte")
				}
			case isHex(c):
				hexbuf = append(hexbuf, c)
				if len(hexbuf) == 2 {
					b, _ := strconv.ParseUint(string(hexbuf), 16, 8)
					pat = append(pat, byte(b))
					hexbuf = hexbuf[:0]
				}
			default:
				return nil, false, fmt.Errorf("invalid hex character %q", c)
			}
			continue
		}
		switch c {
		case '|':
			inHex = true
		case '\\':
			if i+1 >= len(v) {
				return nil, false, errors.New("trailing backslash")
			}
			i++
			switch v[i] {
			case '"', ';', '\\', ':', '|':
				pat = append(pat, v[i])
			default:
				return nil, false, fmt.Errorf("invalid escape \\%c", v[i])
			}
		case '"':
			return nil, false, errors.New("unescaped '\"' in content")
		case ';':
			return nil, false, errors.New("unescaped ';' in content")
		default:
			pat = append(pat, c)
		}
	}
	if inHex {
		return nil, false, errors.New("unterminated |hex| run")
	}
	if len(pat) == 0 {
		return nil, false, errors.New("empty content")
	}
	return pat, negated, nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// expandVar resolves $NAME recursively (bounded).
func expandVar(s string, vars map[string]string, depth int) (string, error) {
	if depth > 16 {
		return "", errors.New("variable nesting too deep (loop?)")
	}
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		j := i + 1
		for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
			j++
		}
		name := s[i+1 : j]
		if name == "" {
			return "", errors.New("'$' without a variable name")
		}
		val, ok := vars[name]
		if !ok {
			val = "any"
		}
		val, err := expandVar(val, vars, depth+1)
		if err != nil {
			return "", err
		}
		b.WriteString(val)
		i = j - 1
	}
	return b.String(), nil
}

// splitList splits the inside of [...] on top-level commas.
func splitList(s string) ([]string, error) {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
			if depth < 0 {
				return nil, errors.New("unbalanced ']'")
			}
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, errors.New("unbalanced '['")
	}
	out = append(out, strings.TrimSpace(s[start:]))
	return out, nil
}

func parseAddr(s string, vars map[string]string) (*addrExpr, error) {
	s, err := expandVar(s, vars, 0)
	if err != nil {
		return nil, err
	}
	a, err := parseAddrExpr(strings.TrimSpace(s), 0)
	if err != nil {
		return nil, err
	}
	set := a.toSet()
	a.set = &set
	return a, nil
}

func parseAddrExpr(s string, depth int) (*addrExpr, error) {
	if depth > 32 {
		return nil, errors.New("address nesting too deep")
	}
	neg := false
	for strings.HasPrefix(s, "!") {
		neg = !neg
		s = strings.TrimSpace(s[1:])
	}
	if s == "" {
		return nil, errors.New("empty address")
	}
	if s == "any" {
		return &addrExpr{any: true, negated: neg}, nil
	}
	if s[0] == '[' {
		if s[len(s)-1] != ']' {
			return nil, fmt.Errorf("address list %q not closed", trunc(s))
		}
		parts, err := splitList(s[1 : len(s)-1])
		if err != nil {
			return nil, err
		}
		e := &addrExpr{negated: neg}
		for _, p := range parts {
			c, err := parseAddrExpr(p, depth+1)
			if err != nil {
				return nil, err
			}
			e.children = append(e.children, c)
		}
		return e, nil
	}
	var pfx netip.Prefix
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			// Suricata also accepts a netmask: 10.0.0.0/255.0.0.0.
			ip, mask, _ := strings.Cut(s, "/")
			a, err1 := netip.ParseAddr(ip)
			m, err2 := netip.ParseAddr(mask)
			if err1 != nil || err2 != nil || !a.Is4() || !m.Is4() {
				return nil, fmt.Errorf("bad address %q", trunc(s))
			}
			mb := m.As4()
			bits := 0
			for _, b := range mb {
				for i := 7; i >= 0; i-- {
					if b&(1<<i) != 0 {
						bits++
					}
				}
			}
			p = netip.PrefixFrom(a, bits)
		}
		pfx = p.Masked()
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("bad address %q", trunc(s))
		}
		pfx = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
	}
	return &addrExpr{prefixes: []netip.Prefix{pfx}, negated: neg}, nil
}

func parsePort(s string, vars map[string]string) (*portExpr, error) {
	s, err := expandVar(s, vars, 0)
	if err != nil {
		return nil, err
	}
	return parsePortExpr(strings.TrimSpace(s), 0)
}

func parsePortExpr(s string, depth int) (*portExpr, error) {
	if depth > 32 {
		return nil, errors.New("port nesting too deep")
	}
	neg := false
	for strings.HasPrefix(s, "!") {
		neg = !neg
		s = strings.TrimSpace(s[1:])
	}
	if s == "" {
		return nil, errors.New("empty port")
	}
	if s == "any" {
		return &portExpr{any: true, negated: neg}, nil
	}
	if s[0] == '[' {
		if s[len(s)-1] != ']' {
			return nil, fmt.Errorf("port list %q not closed", trunc(s))
		}
		parts, err := splitList(s[1 : len(s)-1])
		if err != nil {
			return nil, err
		}
		e := &portExpr{negated: neg}
		for _, p := range parts {
			c, err := parsePortExpr(p, depth+1)
			if err != nil {
				return nil, err
			}
			e.children = append(e.children, c)
		}
		return e, nil
	}
	lo, hi := s, s
	if i := strings.IndexByte(s, ':'); i >= 0 {
		lo, hi = s[:i], s[i+1:]
		if lo == "" {
			lo = "0"
		}
		if hi == "" {
			hi = "65535"
		}
	}
	l, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	h, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if err1 != nil || err2 != nil || l > h {
		return nil, fmt.Errorf("bad port %q", trunc(s))
	}
	return &portExpr{ranges: [][2]uint16{{uint16(l), uint16(h)}}, negated: neg}, nil
}
