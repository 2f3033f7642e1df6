//go:build !linux

package main

import "errors"

func openAFPacket(c *CaptureConfig, n int) ([]liveSource, bool, error) {
	return nil, false, errors.New("AF_PACKET is available on Linux only")
}
