//go:build !linux

package main

import "errors"

func dropPrivileges(name string) error {
	return errors.New("capture.user / --user is supported on Linux only; run as that user with the capture privilege instead")
}
