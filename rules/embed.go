// Package rules holds tlsentry's built-in detection rules, embedded in the
// binary. The rule ids are an interface: users filter alerts on them and
// switch rules off by id or category. The format and the variables rules
// can use are described in README.md.
package rules

import "embed"

// FS holds the built-in rule files (*.yaml).
//
//go:embed *.yaml
var FS embed.FS

// DoHResolvers is the shipped list of well-known public DNS-over-HTTPS
// resolvers (doh-resolvers.txt: names and addresses, its sources named in
// its header), read by the policy.dns_over_https rule.
//
//go:embed doh-resolvers.txt
var DoHResolvers []byte
