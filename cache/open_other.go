//go:build !unix

package cache

import "os"

// openBody opens a disk entry's body for reading.
func openBody(path string) (*os.File, error) { return os.Open(path) }
