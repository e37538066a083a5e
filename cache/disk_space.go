package cache

import (
	"errors"
	"syscall"
)

// A disk tier's bound may be larger than its filesystem holds (a bound set
// for an empty volume that other files have filled since, or simply too
// large). Eviction alone never notices: the tier stays under its bound
// while every write fails. So a write that finds the filesystem full lowers
// the bound in force (Disk.limit) to what the filesystem held at that
// moment, less an eighth for the metadata files and the volume's other
// users, and evicts least recently used entries down to it; later entries
// then make room for themselves within what fits.
//
// The lowered bound is never raised on its own: the tier cannot tell when
// space comes back. SetLimits (on a config reload) and a restart set the
// configured bound again, and it is never above the configured one.

// isNoSpace reports whether err says the filesystem is full: no space left,
// or a disk quota exceeded.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// noSpace lowers the bound in force after a write found the filesystem
// full, written being what the failed entry had written (its file is gone
// by now), and evicts down to the new bound.
func (d *Disk) noSpace(written int64) {
	d.full.Add(1)
	d.mu.Lock()
	held := d.bytes + written
	for pe := range d.pending {
		held += pe.written()
	}
	d.limit = min(d.limit, held-held/8)
	victims, _ := d.evictLocked(0, nil)
	d.mu.Unlock()
	for _, id := range victims {
		d.removeFiles(id)
	}
}
