package capture

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// TestGaugesDocumented: the counters Gauge reports are exactly those whose
// comment in stats.go starts with "gauge:" (metrics export them as gauges).
func TestGaugesDocumented(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "stats.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			if v.Comment != nil && strings.HasPrefix(strings.TrimSpace(v.Comment.Text()), "gauge:") {
				documented[v.Names[0].Name] = true
			}
		}
	}
	if len(documented) == 0 {
		t.Fatal("no gauge documented in stats.go")
	}
	names := map[Counter]string{CFragmentsPending: "CFragmentsPending", CMemoryBytes: "CMemoryBytes",
		CTombstones: "CTombstones", CFingerprintBytes: "CFingerprintBytes"}
	for _, c := range Counters() {
		if c.Gauge() && !documented[names[c]] {
			t.Errorf("%s is a gauge without a \"gauge:\" comment", c.Name())
		}
	}
	for name := range documented {
		found := false
		for c, n := range names {
			found = found || n == name && c.Gauge()
		}
		if !found {
			t.Errorf("%s is documented as a gauge but Gauge() is false", name)
		}
	}
}
