package output

import (
	"bytes"
	"strings"

	"github.com/tlsentry/tlsentry/schema"
)

// Lean alert documents carry, of their session, only the fields
// schema/fields.go marks Triage (and tlsentry.session.id, the session
// document's event.id). Encode writes the session's body once, then copies
// the triage fields out of it once per session with alerts (appendLean);
// each alert splices that copy in.

// leanNode is one object key of the triage fields: keep means the whole
// value is kept; otherwise kids are the keys kept under it (a few: a list
// is quicker to search than a map).
type leanNode struct {
	keep bool
	kids []leanKid
}

type leanKid struct {
	key  string
	node *leanNode
}

// kid returns the node of key, or nil.
func (n *leanNode) kid(key []byte) *leanNode {
	if len(key) == 0 {
		return nil
	}
	for i := range n.kids {
		// Length and first byte first: most keys differ there.
		if k := n.kids[i].key; len(k) == len(key) && k[0] == key[0] && k == string(key) {
			return n.kids[i].node
		}
	}
	return nil
}

// leanTree holds the triage fields that the session body (source to
// tlsentry) can carry.
var leanTree = buildLeanTree(schema.Documents())

func buildLeanTree(fs []schema.Field) *leanNode {
	root := &leanNode{}
	for _, f := range fs {
		if !f.Triage || f.Alert || f.Inventory {
			continue
		}
		n := root
		for _, k := range strings.Split(f.Path, ".") {
			c := n.kid([]byte(k))
			if c == nil {
				c = &leanNode{}
				n.kids = append(n.kids, leanKid{k, c})
			}
			n = c
		}
		n.keep = true
	}
	return root
}

// appendLean appends to w the members of body (a session document's
// members from source to tlsentry, as body writes them: `,"k":v...`,
// well-formed JSON the encoder wrote, tlsentry closed) that leanTree keeps,
// leaving out objects and lists left empty (an object empty as written, a
// certificate's x509 with nothing known, stays). The tlsentry object is
// left open, as body leaves it, so that alert fields can follow. Each byte
// of body is looked at once.
func appendLean(w jsonWriter, body []byte) jsonWriter {
	w, _, last := w.leanMembers(body, 0, leanTree)
	if string(last) == "tlsentry" {
		w.b = w.b[:len(w.b)-1]
	} else {
		w = w.open("tlsentry")
	}
	return w
}

// leanMembers copies the members of an object from src[i:] that n keeps,
// up to the object's closing brace or the end of src. It returns the index
// after the brace and the key of the last member kept (in src).
func (w jsonWriter) leanMembers(src []byte, i int, n *leanNode) (jsonWriter, int, []byte) {
	var last []byte
	for i < len(src) {
		switch src[i] {
		case ',':
			i++
			continue
		case '}':
			return w, i + 1, last
		}
		// A key: the encoder writes keys without escapes.
		k1 := skipString(src, i)
		key := src[i+1 : k1-1]
		v := k1 + 1 // after the colon
		c := n.kid(key)
		switch {
		case c == nil:
			i = skipValue(src, v)
			continue
		case c.keep, src[v] == '{' && v+1 < len(src) && src[v+1] == '}':
			end := skipValue(src, v)
			w = w.sep()
			w.b = append(w.b, src[i:end]...)
			last = key
			i = end
			continue
		}
		m := len(w.b)
		w = w.sep()
		w.b = append(w.b, src[i:v+1]...)
		switch src[v] {
		case '{':
			w, i, _ = w.leanMembers(src, v+1, c)
			w = w.closeOmit(m)
		case '[':
			w, i = w.leanElems(src, v+1, c)
			w = w.closeArray(m)
		default: // a value where the schema has an object: not kept
			w.b = w.b[:m]
			i = skipValue(src, v)
		}
		if len(w.b) > m {
			last = key
		}
	}
	return w, i, last
}

// leanElems copies the objects among a list's elements, from src[i:] to
// its closing bracket, that n keeps, leaving out those left empty (an
// object empty as written stays); other elements have no triage field
// under them. It returns the index after the bracket.
func (w jsonWriter) leanElems(src []byte, i int, n *leanNode) (jsonWriter, int) {
	for i < len(src) {
		switch src[i] {
		case ',':
			i++
		case ']':
			return w, i + 1
		case '{':
			m := len(w.b)
			w = w.sep()
			w.b = append(w.b, '{')
			if i+1 < len(src) && src[i+1] == '}' {
				w.b = append(w.b, '}')
				i += 2
				continue
			}
			w, i, _ = w.leanMembers(src, i+1, n)
			w = w.closeOmit(m)
		default:
			i = skipValue(src, i)
		}
	}
	return w, i
}

// skipString returns the index after the string that starts at src[i], a
// quote.
func skipString(src []byte, i int) int {
	for i++; i < len(src); {
		q := bytes.IndexByte(src[i:], '"')
		if q < 0 {
			break
		}
		i += q + 1
		// Escaped if an odd number of backslashes precede it.
		bs := 0
		for j := i - 2; j >= 0 && src[j] == '\\'; j-- {
			bs++
		}
		if bs%2 == 0 {
			return i
		}
	}
	return len(src)
}

// skipValue returns the index after the JSON value that starts at src[i].
func skipValue(src []byte, i int) int {
	if i >= len(src) {
		return len(src)
	}
	switch src[i] {
	case '"':
		return skipString(src, i)
	case '{', '[':
		depth := 0
		for i < len(src) {
			switch src[i] {
			case '"':
				i = skipString(src, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(src)
	}
	for i < len(src) && src[i] != ',' && src[i] != '}' && src[i] != ']' {
		i++
	}
	return i
}
