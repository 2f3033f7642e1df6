package suricata

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// compilePcre turns a Suricata pcre value ("/re/flags", optionally
// negated with a leading '!') into a Go regexp. PCRE features RE2 lacks
// (back-references, lookaround, atomic groups, possessive quantifiers,
// the x flag) are refused with a reason. Go matches UTF-8 runes where PCRE
// (as Suricata compiles it, without UTF) matches bytes: a \xHH escape of
// 0x80 or more is refused because it would mean a different thing; '.'
// still consumes one byte of invalid UTF-8, but one whole multi-byte rune of
// valid UTF-8, a difference that only shows with counted quantifiers.
// A malformed value returns kw == ""; an unsupported one names the keyword.
func compilePcre(v string) (re *regexp.Regexp, negated, relative bool, kw string, err error) {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "!") {
		negated = true
		v = strings.TrimSpace(v[1:])
	}
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, false, false, "", errors.New("pcre value must be quoted")
	}
	v = v[1 : len(v)-1]
	if !strings.HasPrefix(v, "/") {
		return nil, false, false, "", errors.New("pcre must be /regex/flags")
	}
	last := strings.LastIndexByte(v, '/')
	if last == 0 {
		return nil, false, false, "", errors.New("pcre without closing '/'")
	}
	pat, flags := v[1:last], v[last+1:]
	var goFlags string
	anchored := false
	for _, f := range flags {
		switch f {
		case 'i':
			goFlags += "i"
		case 's':
			goFlags += "s"
		case 'm':
			goFlags += "m"
		case 'G':
			goFlags += "U"
		case 'A':
			anchored = true
		case 'E', 'O':
			// E: '$' only at the very end, which is RE2's behaviour anyway.
			// O: override of match limits, meaningless for RE2.
		case 'R':
			relative = true
		case 'x':
			return nil, false, false, "pcre", errors.New("pcre flag 'x' (extended) is not supported")
		default:
			// U, I, P, H, D, M, C, S, Y, V, W, Q, Z, B: HTTP or raw buffer
			// modifiers, not TLS.
			return nil, false, false, "pcre/" + string(f), fmt.Errorf("pcre flag %q selects a non-TLS buffer", f)
		}
	}
	if why := pcreUnsupported(pat); why != "" {
		return nil, false, false, "pcre", errors.New(why)
	}
	full := pat
	if anchored {
		full = `\A(?:` + pat + `)`
	}
	if goFlags != "" {
		full = "(?" + goFlags + ")" + full
	}
	re, err = regexp.Compile(full)
	if err != nil {
		return nil, false, false, "pcre", fmt.Errorf("not supported by RE2: %v", err)
	}
	return re, negated, relative, "", nil
}

// pcreUnsupported names a PCRE-only construct in pat, or returns "".
func pcreUnsupported(pat string) string {
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		if c == '\\' && i+1 < len(pat) {
			n := pat[i+1]
			switch {
			case n >= '1' && n <= '9':
				return "back-reference \\" + string(n) + " (RE2 has no back-references)"
			case n == 'g' || n == 'k':
				return "back-reference \\" + string(n) + " (RE2 has no back-references)"
			case n == 'x' && i+3 < len(pat) && isHex(pat[i+2]) && isHex(pat[i+3]) && pat[i+2] >= '8':
				return "byte escape \\x" + pat[i+2:i+4] + " >= 0x80 (RE2 matches UTF-8 runes, not bytes)"
			}
			i++
			continue
		}
		if c == '(' && i+2 < len(pat) && pat[i+1] == '?' {
			switch pat[i+2] {
			case '=', '!':
				return "lookahead (?" + string(pat[i+2]) + " (RE2 has no lookaround)"
			case '>':
				return "atomic group (?> (RE2 has none)"
			case '<':
				if i+3 < len(pat) && (pat[i+3] == '=' || pat[i+3] == '!') {
					return "lookbehind (?<" + string(pat[i+3]) + " (RE2 has no lookaround)"
				}
			}
		}
		if (c == '+' || c == '*' || c == '?' || c == '}') && i+1 < len(pat) && pat[i+1] == '+' {
			return "possessive quantifier (RE2 has none)"
		}
	}
	return ""
}
