//go:build !linux

package sensor

import "errors"

func openAFPacket(LiveOptions) ([]LiveSource, bool, error) {
	return nil, false, errors.New("AF_PACKET is available on Linux only")
}
