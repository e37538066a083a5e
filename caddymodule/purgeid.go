package caddymodule

// Purge ids: what makes a forwarded purge idempotent (fanout.go,
// webhook_peers.go).

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
)

// purgeID is a forwarded purge's random id.
type purgeID [16]byte

func newPurgeID() (purgeID, error) {
	var id purgeID
	if _, err := rand.Read(id[:]); err != nil {
		return id, fmt.Errorf("making a purge id: %w", err)
	}
	return id, nil
}

func (id purgeID) String() string { return hex.EncodeToString(id[:]) }

// parsePurgeID reads 32 hex digits.
func parsePurgeID(s string) (purgeID, error) {
	var id purgeID
	if len(s) != 2*len(id) {
		return id, errors.New("a purge id is 32 hex digits")
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, errors.New("a purge id is 32 hex digits")
	}
	return id, nil
}

// idSetSize bounds the purge ids a node remembers: far more than arrive
// while a retry of the same purge can still come.
const idSetSize = 1 << 16

// idSet remembers the last idSetSize purge ids. It is safe for
// concurrent use; the zero value is ready.
type idSet struct {
	mu   sync.Mutex
	set  map[purgeID]struct{}
	ring []purgeID
	next int
}

// add records id and reports whether it is new.
func (s *idSet) add(id purgeID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set == nil {
		s.set = make(map[purgeID]struct{})
	}
	if _, ok := s.set[id]; ok {
		return false
	}
	if len(s.ring) < idSetSize {
		s.ring = append(s.ring, id)
	} else {
		delete(s.set, s.ring[s.next])
		s.ring[s.next] = id
		s.next = (s.next + 1) % idSetSize
	}
	s.set[id] = struct{}{}
	return true
}
