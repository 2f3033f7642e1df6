package output

import "github.com/tlsentry/tlsentry/schema"

// The field table lives in schema/fields.go, where detect reads it too
// (rules read fields by the names documents carry). The index templates
// (elasticsearch/*.json) and FIELDS.md are generated from it (go test
// ./output -run TestGeneratedFiles -update), and tests check that the
// encoder emits exactly its document fields with values of their types and
// never a rule-only one.

type field = schema.Field

// Mapping types, as schema names them.
const (
	tKeyword = schema.Keyword
	tIP      = schema.IP
	tDate    = schema.Date
	tLong    = schema.Long
	tFloat   = schema.Float
	tBool    = schema.Bool
	tText    = schema.Text
)

// fields are the fields documents carry: the table without its rule-only
// fields.
var fields = schema.Documents()
