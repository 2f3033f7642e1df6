//go:build !unix && !windows

package output

import "os"

// lockFile: no file locking here (plan9, wasm); the spool directory is not
// protected against a second owner.
func lockFile(*os.File) error { return nil }
