//go:build !cgo

package sensor

import "errors"

func openPcap(LiveOptions) (LiveSource, error) {
	return nil, errors.New("libpcap is not available in this build (built without cgo)")
}
