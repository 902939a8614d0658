package apikey

import "github.com/google/uuid"

// Test hooks for cache_test.go, which is in package apikey_test; see also
// FormatToken in export_test.go.

// CacheTestRecord returns the record m would store for a new key with id
// and secret, digest included, without storing it.
func (m *Manager) CacheTestRecord(id uuid.UUID, secret [secretLen]byte, label string) (Key, error) {
	d, err := m.hasher.digest(&secret)
	if err != nil {
		return Key{}, err
	}
	tok := FormatToken(m.prefix, id, secret)
	return Key{ID: id, Label: label, Scopes: FullAccess(), Active: true, CreatedAt: m.Now(), Hint: hintOf(m.prefix, tok), Digest: d}, nil
}

// CacheTestLen returns how many records and unknown IDs m's cache holds.
func (m *Manager) CacheTestLen() (keys, missing int) { return m.cache.len() }

// CacheTestContents returns m's cache, for inspection by reflection.
func (m *Manager) CacheTestContents() any { return m.cache }
