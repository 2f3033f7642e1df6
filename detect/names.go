package detect

import "strings"

// MatchHostname reports whether the DNS name host is covered by pattern, a
// certificate reference identifier, per RFC 6125 section 6.4: ASCII
// case-insensitive, a trailing dot ignored; a wildcard only in the
// left-most label, matching exactly one non-empty label ("*.example.com"
// covers "a.example.com", not "example.com" nor "a.b.example.com"), and not
// directly under a top-level label ("*.com" covers nothing). A partial
// left-most label ("w*.example.com", section 6.4.3) is honoured.
func MatchHostname(host, pattern string) bool {
	host = strings.TrimSuffix(host, ".")
	pattern = strings.TrimSuffix(pattern, ".")
	if host == "" || pattern == "" {
		return false
	}
	star := strings.IndexByte(pattern, '*')
	if star < 0 {
		return host == pattern || strings.EqualFold(host, pattern) // == is the common, cheaper case
	}
	dot := strings.IndexByte(pattern, '.')
	if dot < 0 || star > dot || strings.Count(pattern, "*") != 1 {
		return false // wildcard not in the left-most label, or several
	}
	rest := pattern[dot:] // ".example.com"
	if strings.Count(rest, ".") < 2 {
		return false // "*.com"
	}
	hdot := strings.IndexByte(host, '.')
	if hdot <= 0 || !strings.EqualFold(host[hdot:], rest) {
		return false
	}
	label, prefix, suffix := host[:hdot], pattern[:star], pattern[star+1:dot]
	if strings.HasPrefix(strings.ToLower(label), "xn--") && (prefix != "" || suffix != "") {
		return false // no partial wildcards inside A-labels (6.4.3)
	}
	return len(label) >= len(prefix)+len(suffix) &&
		strings.EqualFold(label[:len(prefix)], prefix) &&
		strings.EqualFold(label[len(label)-len(suffix):], suffix)
}
