//go:build unix

package cache

import (
	"os"

	"golang.org/x/sys/unix"
)

// openBody opens a disk entry's body for reading. os.Open would also try
// to register the file with the network poller (which refuses regular
// files, at the cost of two more system calls on every disk hit); a file
// opened here is read with plain blocking calls, and net's sendfile still
// takes it.
func openBody(path string) (*os.File, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}
