package main

import "fmt"

// runSensor replays a file (-r) or captures live (-i). Placeholder until capture lands.
func runSensor(args []string) error { return fmt.Errorf("%w: sensor not built yet", errUsage) }
