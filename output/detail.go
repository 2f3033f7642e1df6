package output

import "fmt"

// Detail says how much documents carry: DetailLean (the default) leaves out
// the fields schema/fields.go marks Full, which repeat what other fields
// carry; DetailFull writes them too.
type Detail string

// Detail levels (output.detail, --detail).
const (
	DetailLean Detail = "lean"
	DetailFull Detail = "full"
)

// ParseDetail reads a detail level; "" is DetailLean.
func ParseDetail(s string) (Detail, error) {
	switch Detail(s) {
	case "", DetailLean:
		return DetailLean, nil
	case DetailFull:
		return DetailFull, nil
	}
	return "", fmt.Errorf("output: detail %q: want lean or full", s)
}

// SetDetail sets the detail level; call it before the first Encode.
func (e *Encoder) SetDetail(d Detail) { e.full = d == DetailFull }
