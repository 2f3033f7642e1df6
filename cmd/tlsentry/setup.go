package main

import "fmt"

// runSetup implements "tlsentry setup". Placeholder until the Elasticsearch sink lands.
func runSetup(args []string) error { return fmt.Errorf("%w: setup not built yet", errUsage) }
