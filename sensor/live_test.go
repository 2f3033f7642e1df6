package sensor

import "testing"

func TestRingGeometry(t *testing.T) {
	for _, tc := range []struct{ mb, block, n int }{{0, 1 << 20, 32}, {64, 1 << 20, 64}, {8, 1 << 20, 8}, {1, 128 << 10, 8}, {4, 128 << 10, 32}} {
		if b, n := ringGeometry(tc.mb); b != tc.block || n != tc.n {
			t.Errorf("ringGeometry(%d) = %d, %d; want %d, %d", tc.mb, b, n, tc.block, tc.n)
		}
	}
}
