package detect

import (
	"testing"

	"cel.dev/cel-go/cel"

	"github.com/tlsentry/tlsentry/schema"
)

// celTypeOf is the type rules see for a field of schema's table.
func celTypeOf(f schema.Field) *cel.Type {
	var t *cel.Type
	switch f.Type {
	case schema.Keyword, schema.IP, schema.Text:
		t = cel.StringType
	case schema.Long:
		t = cel.IntType
	case schema.Float:
		t = cel.DoubleType
	case schema.Bool:
		t = cel.BoolType
	case schema.Date:
		t = cel.TimestampType
	default:
		return nil
	}
	if f.List {
		return cel.ListType(t)
	}
	return t
}

// Every rule variable is a rule-readable field of schema's table, with the
// type the table gives it, and every rule-readable field is a variable.
func TestVariablesAreSchemaFields(t *testing.T) {
	for _, v := range variables {
		f, ok := schema.Lookup(v.name)
		switch {
		case !ok:
			t.Errorf("variable %s is not in schema/fields.go", v.name)
		case !f.RuleReadable():
			t.Errorf("variable %s: schema/fields.go does not mark it rule-readable", v.name)
		case celTypeOf(f) == nil || !celTypeOf(f).IsExactType(v.typ):
			t.Errorf("variable %s is %s, schema/fields.go says %s (list %v)", v.name, v.typ, f.Type, f.List)
		}
	}
	for _, f := range schema.All() {
		if _, ok := variableIndex[f.Path]; f.RuleReadable() && !ok {
			t.Errorf("schema/fields.go: %s is rule-readable but no variable answers it", f.Path)
		}
	}
}

// The old names map to variables; none is a variable itself.
func TestRenamedVariables(t *testing.T) {
	for old, now := range renamed {
		if _, ok := variableIndex[old]; ok {
			t.Errorf("old name %s is still a variable", old)
		}
		if _, ok := variableIndex[now]; !ok {
			t.Errorf("%s is renamed to %s, which is no variable", old, now)
		}
	}
}
