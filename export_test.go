package apikey

import (
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
)

// FormatToken builds a well-formed token (valid checksum) from an ID and any
// 32-byte secret, so external tests can forge tokens.
func FormatToken(prefix string, id uuid.UUID, secret [32]byte) string {
	p := payload{id: id, secret: secret}
	return p.format(prefix)
}

// slowChecks counts the Argon2id computations of each Manager's Verify.
var slowChecks sync.Map // *Manager → *atomic.Int64

// slowHooks holds the SlowHooks of each Manager that has some.
var slowHooks sync.Map // *Manager → *SlowHooks

func init() {
	testHookSlowMatch = func(m *Manager, id uuid.UUID) {
		n, _ := slowChecks.LoadOrStore(m, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		if h, ok := slowHooks.Load(m); ok && h.(*SlowHooks).Inside != nil {
			h.(*SlowHooks).Inside(id)
		}
	}
	testHookTurnWait = func(m *Manager, id uuid.UUID) {
		if h, ok := slowHooks.Load(m); ok && h.(*SlowHooks).Waiting != nil {
			h.(*SlowHooks).Waiting(id)
		}
	}
}

// SlowChecks returns how many Argon2id computations m's Verify has made.
func SlowChecks(m *Manager) int64 {
	if n, ok := slowChecks.Load(m); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

// SlowHooks are what a Manager's slow checks call, for tests that count
// and hold them: Inside in a global slot, before each Argon2id computation
// (which waits for Inside to return); Waiting when a check finds its key's
// turn taken, before it waits for it.
type SlowHooks struct {
	Inside, Waiting func(id uuid.UUID)
}

// SetSlowHooks makes m's slow checks call h.
func SetSlowHooks(m *Manager, h SlowHooks) { slowHooks.Store(m, &h) }

// SetSlowSlots gives m n global slots for slow checks instead of
// GOMAXPROCS. Call it before m verifies anything.
func SetSlowSlots(m *Manager, n int) { m.slow = make(chan struct{}, n) }

// SlowSlotsInUse returns how many of m's global slots slow checks hold.
func SlowSlotsInUse(m *Manager) int { return len(m.slow) }

// SlowTurns returns how many key IDs m keeps a turn for: those with a slow
// check running or waiting.
func SlowTurns(m *Manager) int { return m.turns.len() }
