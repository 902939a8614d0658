package apikey

import "github.com/google/uuid"

// FormatToken builds a well-formed token (valid checksum) from an ID and any
// 32-byte secret, so external tests can forge tokens.
func FormatToken(prefix string, id uuid.UUID, secret [32]byte) string {
	p := payload{id: id, secret: secret}
	return p.format(prefix)
}

// SlowChecks returns how many Argon2id computations m's Verify has made.
func SlowChecks(m *Manager) int64 { return m.slowChecks.Load() }
