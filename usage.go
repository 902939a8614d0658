package apikey

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// usageShards spreads last-used bookkeeping over several locks so that
// parallel verifications of different keys rarely contend.
const usageShards = 16

// usageTracker collects last-used times in memory and hands them to a
// periodic flush, so that verification never writes to the store. A key is
// noted only when its stored LastUsedAt is at least one interval old, and
// each flush writes a key at most once: with one flush per interval, that is
// at most one store write per key per interval.
type usageTracker struct {
	interval time.Duration
	disabled atomic.Bool
	shards   [usageShards]usageShard
	done     chan struct{}
	finished chan struct{}
}

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
	sh := &t.shards[id[15]%usageShards] // UUIDv7's last byte is random
	sh.mu.Lock()
	if prev, ok := sh.m[id]; !ok || now.After(prev) {
		sh.m[id] = now
	}
	sh.mu.Unlock()
}

// take removes and returns every pending use, times in UTC at microsecond
// precision.
func (t *usageTracker) take() []Use {
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
