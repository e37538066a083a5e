package cache

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

var expiriesEpoch = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func heapInUse() uint64 {
	runtime.GC()
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	return s.HeapAlloc
}

func TestExpiriesDropEntriesAsTheyLapse(t *testing.T) {
	var e expiries
	e.init(1 << 20) // far from full: only lapsing may remove entries
	now := expiriesEpoch
	before := heapInUse()
	for i := range 100_000 {
		e.set(fmt.Sprintf("ns\x00missing/%d", i), now.Add(time.Second), now)
	}
	full := heapInUse()
	runtime.KeepAlive(&e)
	now = now.Add(2 * time.Second)
	for i := range 100 {
		e.set(fmt.Sprintf("ns\x00live/%d", i), now.Add(time.Minute), now)
	}
	if n := e.len(); n != 100 {
		t.Errorf("%d entries after 100,000 lapsed and 100 were set, want the 100 live ones", n)
	}
	for _, i := range []int{0, 1, 50_000, 99_999} {
		if e.valid(fmt.Sprintf("ns\x00missing/%d", i), now) {
			t.Errorf("lapsed key %d still valid", i)
		}
	}
	for i := range 100 {
		if !e.valid(fmt.Sprintf("ns\x00live/%d", i), now) {
			t.Fatalf("live key %d missing", i)
		}
	}
	after := heapInUse()
	runtime.KeepAlive(&e)
	t.Logf("heap: %+d KiB with 100,000 entries, %+d KiB once they lapsed (queue %d)",
		(int64(full)-int64(before))>>10, (int64(after)-int64(before))>>10, len(e.queue))
}

func TestExpiriesLookupsDropLapsedEntriesToo(t *testing.T) {
	var e expiries
	e.init(1 << 20)
	now := expiriesEpoch
	for i := range 10_000 {
		e.set(fmt.Sprint(i), now.Add(time.Second), now)
	}
	now = now.Add(time.Second) // lapsed exactly now
	for range 10_000/lapsePerCall + 1 {
		e.valid("other", now)
	}
	if n := e.len(); n != 0 {
		t.Errorf("%d entries after every one lapsed and %d lookups", n, 10_000/lapsePerCall+1)
	}
}

func TestExpiriesFullSetDropsWhatLapsesSoonest(t *testing.T) {
	var e expiries
	e.init(10)
	now := expiriesEpoch
	for i := range 10 {
		e.set(fmt.Sprint(i), now.Add(time.Duration(10-i)*time.Minute), now) // "9" lapses first
	}
	e.set("new", now.Add(time.Hour), now)
	if n := e.len(); n != 10 {
		t.Errorf("%d entries, want the bound of 10", n)
	}
	if e.valid("9", now) {
		t.Error("the entry lapsing soonest stayed")
	}
	for _, k := range []string{"0", "5", "8", "new"} {
		if !e.valid(k, now) {
			t.Errorf("%s went instead of the entry lapsing soonest", k)
		}
	}
	e.set("0", now.Add(2*time.Hour), now) // already held: nothing goes
	if n := e.len(); n != 10 || !e.valid("8", now) {
		t.Errorf("setting a held key again evicted another: %d entries", n)
	}
}

func TestExpiriesSetAgainAndPurgeKeepTheQueueBounded(t *testing.T) {
	var e expiries
	e.init(1000)
	now := expiriesEpoch
	for i := range 20_000 {
		e.set("k", now.Add(time.Duration(i%7+1)*time.Minute), now)
		if i%100 == 0 {
			e.deleteFunc(func(string) bool { return true })
		}
	}
	if len(e.queue) > 2*e.len()+lapsePerCall+1 {
		t.Errorf("queue of %d entries for %d keys", len(e.queue), e.len())
	}
	if until, ok := e.until("k", now); !ok || !until.Equal(now.Add(time.Duration(19_999%7+1)*time.Minute)) {
		t.Errorf("until = %v, %v; want the last set", until, ok)
	}
}

// TestExpiriesMatchAModel runs random operations against expiries and a
// plain map with the old semantics (minus the bound, never reached here).
func TestExpiriesMatchAModel(t *testing.T) {
	var e expiries
	e.init(1 << 20)
	model := map[string]time.Time{}
	rng := rand.New(rand.NewPCG(1, 2))
	now := expiriesEpoch
	for i := range 200_000 {
		k := fmt.Sprint(rng.IntN(5000))
		switch op := rng.IntN(10); {
		case op < 4:
			until := now.Add(time.Duration(rng.IntN(600)) * time.Second)
			e.set(k, until, now)
			model[k] = until
		case op == 4 && i%50 == 0:
			prefix := fmt.Sprint(rng.IntN(10))
			match := func(s string) bool { return s[:1] == prefix }
			e.deleteFunc(match)
			for mk := range model {
				if match(mk) {
					delete(model, mk)
				}
			}
		case op == 5:
			now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
		default:
			got, ok := e.until(k, now)
			want, wantOK := model[k]
			wantOK = wantOK && now.Before(want)
			if ok != wantOK || ok && !got.Equal(want) {
				t.Fatalf("op %d: until(%s) = %v, %v; want %v, %v", i, k, got, ok, want, wantOK)
			}
		}
	}
	live := 0
	for _, until := range model {
		if now.Before(until) {
			live++
		}
	}
	if n := e.len(); n < live || n > live+lapsePerCall {
		t.Errorf("%d entries held for %d live", n, live)
	}
}
