//go:build !cgo

package main

import "errors"

func openPcap(c *CaptureConfig) (liveSource, error) {
	return nil, errors.New("libpcap is not available in this build (built without cgo)")
}
