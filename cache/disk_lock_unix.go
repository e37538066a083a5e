//go:build unix

package cache

import (
	"errors"
	"os"
	"syscall"
)

// lockDir takes an exclusive flock on path, so that two processes (or two
// Disks in one process) never share a folder: each empties tmp/ at start
// and trusts its own index.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	conn, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	var lerr error
	if err := conn.Control(func(fd uintptr) {
		lerr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
	}); err != nil {
		lerr = err
	}
	if lerr != nil {
		f.Close()
		if errors.Is(lerr, syscall.EWOULDBLOCK) {
			return nil, errors.New("folder in use by another disk tier (lock held)")
		}
		return nil, lerr
	}
	return f, nil
}
