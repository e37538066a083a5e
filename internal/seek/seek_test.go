package seek

import (
	"errors"
	"io"
	"testing"
)

func TestOffset(t *testing.T) {
	for _, tc := range []struct {
		name              string
		cur, size, offset int64
		whence            int
		want              int64
		err               error
	}{
		{"from the start", 5, 10, 3, io.SeekStart, 3, nil},
		{"from the current position", 5, 10, 3, io.SeekCurrent, 8, nil},
		{"back from the current position", 5, 10, -5, io.SeekCurrent, 0, nil},
		{"from the end", 5, 10, -4, io.SeekEnd, 6, nil},
		{"past the end is allowed", 5, 10, 7, io.SeekEnd, 17, nil},
		{"before the start is an error", 5, 10, -6, io.SeekCurrent, 0, ErrNegative},
		{"unknown whence is an error", 5, 10, 0, 7, 0, ErrWhence},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Offset(tc.cur, tc.size, tc.offset, tc.whence)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("Offset(%d, %d, %d, %d) = %d, %v; want %d, %v", tc.cur, tc.size, tc.offset, tc.whence, got, err, tc.want, tc.err)
			}
		})
	}
}
