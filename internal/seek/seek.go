// Package seek holds the one io.Seeker rule that r2gate's readers share.
package seek

import (
	"errors"
	"io"
)

// Errors of Offset.
var (
	ErrWhence   = errors.New("seek: invalid whence")
	ErrNegative = errors.New("seek: negative position")
)

// Offset returns the position that Seek(offset, whence) moves to, for a
// reader at cur over size bytes, as io.Seeker defines it: positions past
// the end are allowed, positions before the start are not.
func Offset(cur, size, offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += cur
	case io.SeekEnd:
		offset += size
	default:
		return 0, ErrWhence
	}
	if offset < 0 {
		return 0, ErrNegative
	}
	return offset, nil
}
