package apikey

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// usageShards spreads last-used bookkeeping over several locks so that
// parallel verifications of different keys rarely contend; usageSlots is the
// size of the lock-free "already pending" filter in front of them.
const (
	usageShards = 16
	usageSlots  = 1024
)

// usageTracker collects last-used times in memory and hands them to a
// periodic flush, so that verification never writes to the store. A key is
// noted only when its stored LastUsedAt is at least one interval old, and
// each flush writes a key at most once: with one flush per interval, that is
// at most one store write per key per interval.
type usageTracker struct {
	interval time.Duration
	disabled atomic.Bool
	shards   [usageShards]usageShard
	// slots remember recently noted IDs, direct-mapped, so that a hot key
	// already pending skips the lock with two atomic loads of a cache line
	// nobody writes. A miss (collision, or a torn read) only falls back to
	// the locked path, so the filter never loses a use.
	slots    [usageSlots]usageSlot
	done     chan struct{}
	finished chan struct{}
}

type usageSlot struct{ hi, lo atomic.Uint64 }

type usageShard struct {
	mu sync.Mutex
	m  map[uuid.UUID]time.Time
	_  [32]byte // keep shards on separate cache lines
}

func newUsageTracker(interval time.Duration) *usageTracker {
	t := &usageTracker{interval: interval, done: make(chan struct{}), finished: make(chan struct{})}
	for i := range t.shards {
		t.shards[i].m = make(map[uuid.UUID]time.Time)
	}
	return t
}

// note records that key id was used at now, given its stored last use.
func (t *usageTracker) note(id uuid.UUID, last, now time.Time) {
	if now.Sub(last) < t.interval || t.disabled.Load() {
		return
	}
	hi, lo := binary.BigEndian.Uint64(id[:8]), binary.BigEndian.Uint64(id[8:])
	slot := &t.slots[lo%usageSlots] // UUIDv7's low bits are random
	if slot.lo.Load() == lo && slot.hi.Load() == hi {
		return // pending already; its time is within this interval
	}
	sh := &t.shards[lo%usageShards]
	sh.mu.Lock()
	if prev, ok := sh.m[id]; !ok || now.After(prev) {
		sh.m[id] = now
	}
	sh.mu.Unlock()
	slot.hi.Store(hi)
	slot.lo.Store(lo)
}

// take removes and returns every pending use, times in UTC at microsecond
// precision.
func (t *usageTracker) take() []Use {
	// Clear the filter first: a note racing with this take then re-adds
	// its ID to a map this take has not drained yet, or to a fresh one.
	for i := range t.slots {
		t.slots[i].hi.Store(0)
		t.slots[i].lo.Store(0)
	}
	var uses []Use
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for id, at := range sh.m {
			uses = append(uses, Use{ID: id, At: at.UTC().Truncate(time.Microsecond)})
		}
		clear(sh.m)
		sh.mu.Unlock()
	}
	return uses
}

// requeue puts back uses that could not be written, unless a later use of
// the same key is pending already, so that the next flush retries them.
func (t *usageTracker) requeue(uses []Use) {
	for _, u := range uses {
		sh := &t.shards[binary.BigEndian.Uint64(u.ID[8:])%usageShards]
		sh.mu.Lock()
		if prev, ok := sh.m[u.ID]; !ok || u.At.After(prev) {
			sh.m[u.ID] = u.At
		}
		sh.mu.Unlock()
	}
}

// run calls flush once per interval until stop.
func (t *usageTracker) run(flush func()) {
	defer close(t.finished)
	tick := time.NewTicker(t.interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			flush()
		case <-t.done:
			return
		}
	}
}

// stop ends run and waits for it.
func (t *usageTracker) stop() {
	close(t.done)
	<-t.finished
}

// disable makes note a no-op.
func (t *usageTracker) disable() { t.disabled.Store(true) }
