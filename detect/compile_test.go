package detect

import "testing"

// Every built-in condition is compiled to Go (no interpreter fallback).
func TestBuiltinRulesCompiled(t *testing.T) {
	e := testEngine(t)
	for _, r := range e.rules {
		if r.fn == nil {
			t.Errorf("rule %s: condition not compiled", r.ID)
		}
		for _, p := range r.msg {
			if p.prg != nil && p.fn == nil && p.variable == 0 {
				t.Logf("rule %s: a message part runs the interpreter", r.ID)
			}
		}
	}
}
