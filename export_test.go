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

func init() {
	testHookSlowMatch = func(m *Manager) {
		n, _ := slowChecks.LoadOrStore(m, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
	}
}

// SlowChecks returns how many Argon2id computations m's Verify has made.
func SlowChecks(m *Manager) int64 {
	if n, ok := slowChecks.Load(m); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}
