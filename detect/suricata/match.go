package suricata

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"regexp"
	"strconv"
	"strings"
)

type itemKind uint8

const (
	itemContent itemKind = iota
	itemPcre
	itemIsdataat
	itemBsize
)

// item is one inspection step on a buffer, in rule order.
type item struct {
	kind    itemKind
	negated bool

	// content
	pat, lpat              []byte // lpat: lower-cased pat (nocase)
	nocase                 bool
	offset, depth          int
	hasOffset, hasDepth    bool
	distance, within       int
	hasDistance, hasWithin bool
	startswith, endswith   bool
	fastPattern            bool

	// pcre
	re       *regexp.Regexp
	relative bool // pcre R, isdataat relative

	// isdataat
	n int

	// bsize
	cmp uintCmp
}

func (it *item) isRelative() bool {
	switch it.kind {
	case itemContent:
		return it.hasDistance || it.hasWithin
	case itemPcre, itemIsdataat:
		return it.relative
	}
	return false
}

type transform uint8

const (
	trDotPrefix transform = iota + 1
	trLower
	trUpper
	trStripWS
	trCompressWS
	trMD5
	trSHA1
	trSHA256
)

var transformNames = map[string]transform{
	"dotprefix":           trDotPrefix,
	"to_lowercase":        trLower,
	"to_uppercase":        trUpper,
	"strip_whitespace":    trStripWS,
	"compress_whitespace": trCompressWS,
	"to_md5":              trMD5,
	"to_sha1":             trSHA1,
	"to_sha256":           trSHA256,
}

func applyTransforms(b []byte, trs []transform) []byte {
	for _, t := range trs {
		switch t {
		case trDotPrefix:
			nb := make([]byte, 0, len(b)+1)
			b = append(append(nb, '.'), b...)
		case trLower:
			b = bytes.ToLower(b)
		case trUpper:
			b = bytes.ToUpper(b)
		case trStripWS:
			nb := make([]byte, 0, len(b))
			for _, c := range b {
				if !isSpace(c) {
					nb = append(nb, c)
				}
			}
			b = nb
		case trCompressWS:
			nb := make([]byte, 0, len(b))
			for i, c := range b {
				if isSpace(c) {
					if i > 0 && isSpace(b[i-1]) {
						continue
					}
				}
				nb = append(nb, c)
			}
			b = nb
		case trMD5:
			s := md5.Sum(b)
			b = s[:]
		case trSHA1:
			s := sha1.Sum(b)
			b = s[:]
		case trSHA256:
			s := sha256.Sum256(b)
			b = s[:]
		}
	}
	return b
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// section is one sticky buffer of a rule with its inspection items.
type section struct {
	buf        bufKind
	transforms []transform
	items      []*item
	dirs       dirMask
}

const inspectBudget = 3000 // Suricata's default inspection-recursion-limit

// matchBuf runs the section's items against one buffer instance.
func (c *evalCtx) matchBuf(sec *section, b []byte) bool {
	if len(sec.transforms) > 0 {
		b = applyTransforms(b, sec.transforms)
	}
	var lb []byte
	for _, it := range sec.items {
		if it.kind == itemContent && it.nocase {
			c.lower = lowerInto(c.lower[:0], b)
			lb = c.lower
			break
		}
	}
	c.steps, c.stop = 0, false
	return c.inspect(sec.items, 0, b, lb, 0)
}

func lowerInto(dst, b []byte) []byte {
	for _, ch := range b {
		if ch >= 'A' && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		dst = append(dst, ch)
	}
	return dst
}

func (c *evalCtx) inspect(items []*item, i int, b, lb []byte, prev int) bool {
	if i == len(items) {
		return true
	}
	c.steps++
	if c.steps > inspectBudget {
		return false
	}
	it := items[i]
	switch it.kind {
	case itemBsize:
		if it.cmp.match(uint64(len(b))) {
			return c.inspect(items, i+1, b, lb, prev)
		}
		return false
	case itemIsdataat:
		var present bool
		if it.relative {
			// Suricata: no match when buffer_offset + dataat > buffer_len.
			present = prev+it.n <= len(b)
		} else {
			present = it.n < len(b)
		}
		if present == it.negated {
			return false
		}
		return c.inspect(items, i+1, b, lb, prev)
	case itemPcre:
		start := 0
		if it.relative {
			start = prev
		}
		if start > len(b) {
			return it.negated && c.inspect(items, i+1, b, lb, prev)
		}
		loc := it.re.FindIndex(b[start:])
		if it.negated {
			if loc != nil {
				c.stop = true
				return false
			}
			return c.inspect(items, i+1, b, lb, prev)
		}
		if loc == nil {
			return false
		}
		return c.inspect(items, i+1, b, lb, start+loc[1])
	}
	// content
	start, end := 0, len(b)
	if it.isRelative() {
		start = prev
		if it.hasDistance {
			start = prev + it.distance
			if start < 0 {
				start = 0
			}
		}
		if it.hasWithin {
			dist := 0
			if it.hasDistance {
				dist = it.distance
			}
			if e := prev + dist + it.within; e < end {
				end = e
			}
		}
	} else {
		if it.hasOffset {
			start = it.offset
		}
		if it.hasDepth {
			if e := start + it.depth; e < end {
				end = e
			}
		}
	}
	hay, pat := b, it.pat
	if it.nocase {
		hay, pat = lb, it.lpat
	}
	for pos := start; pos >= 0 && pos+len(pat) <= end; {
		j := bytes.Index(hay[pos:end], pat)
		if j < 0 {
			break
		}
		p := pos + j
		me := p + len(pat)
		if it.endswith && me != len(b) {
			pos = p + 1
			continue
		}
		if it.negated {
			// Suricata: a negated content that is found ends the
			// inspection of this buffer, no backtracking.
			c.stop = true
			return false
		}
		if c.inspect(items, i+1, b, lb, me) {
			return true
		}
		if c.stop || i+1 >= len(items) || !items[i+1].isRelative() || c.steps > inspectBudget {
			return false
		}
		pos = p + 1
	}
	if it.negated {
		return c.inspect(items, i+1, b, lb, prev)
	}
	return false
}

// uintCmp is Suricata's unsigned integer comparison (detect-engine-uint):
// N, =N, !N, <N, <=N, >N, >=N, N<>M (exclusive), N-M (exclusive).
type uintCmp struct {
	op   byte // '=', '!', '<', 'l' (<=), '>', 'g' (>=), 'r' (range)
	a, b uint64
}

func (u uintCmp) match(v uint64) bool {
	switch u.op {
	case '=':
		return v == u.a
	case '!':
		return v != u.a
	case '<':
		return v < u.a
	case 'l':
		return v <= u.a
	case '>':
		return v > u.a
	case 'g':
		return v >= u.a
	case 'r':
		return v > u.a && v < u.b
	}
	return false
}

func parseUint(s string, max uint64) (uintCmp, error) {
	s = strings.TrimSpace(s)
	num := func(x string) (uint64, error) {
		n, err := strconv.ParseUint(strings.TrimSpace(x), 0, 64)
		if err != nil || n > max {
			return 0, errors.New("bad number " + strconvQuote(x))
		}
		return n, nil
	}
	var u uintCmp
	var err error
	switch {
	case strings.Contains(s, "<>"):
		lo, hi, _ := strings.Cut(s, "<>")
		u.op = 'r'
		if u.a, err = num(lo); err == nil {
			u.b, err = num(hi)
		}
		if err == nil && u.a >= u.b {
			err = errors.New("range lower bound not below upper bound")
		}
	case strings.HasPrefix(s, "<="):
		u.op = 'l'
		u.a, err = num(s[2:])
	case strings.HasPrefix(s, ">="):
		u.op = 'g'
		u.a, err = num(s[2:])
	case strings.HasPrefix(s, "<"):
		u.op = '<'
		u.a, err = num(s[1:])
	case strings.HasPrefix(s, ">"):
		u.op = '>'
		u.a, err = num(s[1:])
	case strings.HasPrefix(s, "!"):
		u.op = '!'
		u.a, err = num(s[1:])
	case strings.HasPrefix(s, "="):
		u.op = '='
		u.a, err = num(s[1:])
	case strings.Count(s, "-") == 1 && !strings.HasPrefix(s, "-"):
		lo, hi, _ := strings.Cut(s, "-")
		u.op = 'r'
		if u.a, err = num(lo); err == nil {
			u.b, err = num(hi)
		}
		if err == nil && u.a >= u.b {
			err = errors.New("range lower bound not below upper bound")
		}
	default:
		u.op = '='
		u.a, err = num(s)
	}
	return u, err
}

func strconvQuote(s string) string { return strconv.Quote(trunc(s)) }
