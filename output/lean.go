package output

import (
	"strings"

	"github.com/tlsentry/tlsentry/schema"
)

// Lean alert documents carry, of their session, only the fields
// schema/fields.go marks Triage (and tlsentry.session.id, the session
// document's event.id). Encode writes the session's body once, then copies
// the triage fields out of it once per session with alerts (appendLean);
// each alert splices that copy in.

// leanNode is one object key of the triage fields: keep means the whole
// value is kept; otherwise kids are the keys kept under it.
type leanNode struct {
	keep bool
	kids map[string]*leanNode
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
			c := n.kids[k]
			if c == nil {
				c = &leanNode{}
				if n.kids == nil {
					n.kids = map[string]*leanNode{}
				}
				n.kids[k] = c
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
// certificate's x509 with nothing known, stays). The tlsentry object is left
// open, as body leaves it, so that alert fields can follow.
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
		case ',', ' ':
			i++
			continue
		case '}':
			return w, i + 1, last
		}
		// A key: the encoder writes keys without escapes.
		k0 := i + 1
		k1 := skipString(src, i)
		key := src[k0 : k1-1]
		v := k1 + 1 // after the colon
		end := skipValue(src, v)
		c := n.kids[string(key)]
		switch {
		case c == nil:
		case c.keep, src[v] == '{' && src[v+1] == '}':
			w = w.sep()
			w.b = append(w.b, src[i:end]...)
			last = key
		case src[v] == '{':
			m := len(w.b)
			w = w.sep()
			w.b = append(w.b, src[i:v+1]...)
			w, _, _ = w.leanMembers(src, v+1, c)
			if w = w.closeOmit(m); len(w.b) > m {
				last = key
			}
		case src[v] == '[':
			m := len(w.b)
			w = w.sep()
			w.b = append(w.b, src[i:v+1]...)
			w = w.leanElems(src[v+1:end-1], c)
			if w = w.closeArray(m); len(w.b) > m {
				last = key
			}
		}
		i = end
	}
	return w, i, last
}

// leanElems copies the objects of a list's elements src (without its
// brackets) that n keeps, leaving out those left empty; other elements
// have no triage field under them.
func (w jsonWriter) leanElems(src []byte, n *leanNode) jsonWriter {
	for i := 0; i < len(src); {
		switch src[i] {
		case ',', ' ':
			i++
			continue
		case '{':
			m := len(w.b)
			w = w.sep()
			w.b = append(w.b, '{')
			if src[i+1] == '}' { // empty as written: stays
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
	return w
}

// skipString returns the index after the string that starts at src[i], a
// quote.
func skipString(src []byte, i int) int {
	for i++; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '"':
			return i + 1
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
