//go:build !unix

package cache

import "os"

// lockDir opens path as the lock file. Without flock the caller must make
// sure only one Disk uses a folder.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
}
