package cache

// DeleteFunc removes every entry whose key match accepts, in one walk of
// the index, and returns how many went. Entries of such keys being written
// are not kept when they commit. match runs under the tier's lock.
func (d *Disk) DeleteFunc(match func(key string) bool) int {
	var gone []fileID
	d.mu.Lock()
	for key, e := range d.index {
		if match(key) {
			d.unlinkLocked(e)
			gone = append(gone, e.id)
		}
	}
	for pe := range d.pending {
		if match(pe.key) {
			pe.purged = true
		}
	}
	d.mu.Unlock()
	for _, id := range gone {
		d.removeFiles(id)
	}
	return len(gone)
}
