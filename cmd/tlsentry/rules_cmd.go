package main

import "fmt"

// runRules implements "tlsentry rules check|test". Placeholder until detect lands.
func runRules(args []string) error { return fmt.Errorf("%w: rules not built yet", errUsage) }
