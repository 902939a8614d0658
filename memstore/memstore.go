// Package memstore is an in-memory [apikey.Store], for tests, demos and
// single-process apps that can afford to lose their keys on restart.
//
// Lookups by ID are O(1); List sorts the IDs on each call and costs
// O(n log n).
package memstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
)

// Store is an in-memory apikey.Store. The zero value is not usable; call New.
// A Store is safe for concurrent use by multiple goroutines.
type Store struct {
	mu   sync.RWMutex
	keys map[uuid.UUID]apikey.Key
}

var _ apikey.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{keys: make(map[uuid.UUID]apikey.Key)}
}

// Len returns the number of keys held.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.keys)
}

// Create implements apikey.Store.
func (s *Store) Create(ctx context.Context, k apikey.Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k.ID]; ok {
		return fmt.Errorf("%w: %s", apikey.ErrDuplicateID, k.ID)
	}
	k.CreatedAt, k.LastUsedAt, k.ExpiresAt = utc(k.CreatedAt), utc(k.LastUsedAt), utc(k.ExpiresAt)
	s.keys[k.ID] = k
	return nil
}

// utc returns t in UTC without a monotonic reading, as the Store contract
// wants times read back; the zero time stays zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Round(0)
}

// Get implements apikey.Store.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (apikey.Key, error) {
	if err := ctx.Err(); err != nil {
		return apikey.Key{}, err
	}
	s.mu.RLock()
	k, ok := s.keys[id]
	s.mu.RUnlock()
	if !ok {
		return apikey.Key{}, apikey.ErrNotFound
	}
	return k, nil
}

// List implements apikey.Store.
func (s *Store) List(ctx context.Context, opts apikey.ListOptions) ([]apikey.Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	// Sort the 16-byte IDs, not the records, then copy only the page.
	ids := make([]uuid.UUID, 0, len(s.keys))
	for id := range s.keys {
		if opts.Before == uuid.Nil || bytes.Compare(id[:], opts.Before[:]) < 0 {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(b[:], a[:]) })
	if opts.Limit > 0 && len(ids) > opts.Limit {
		ids = ids[:opts.Limit]
	}
	out := make([]apikey.Key, len(ids))
	for i, id := range ids {
		out[i] = s.keys[id]
	}
	return out, nil
}

// Update implements apikey.Store.
func (s *Store) Update(ctx context.Context, id uuid.UUID, u apikey.Update) (apikey.Key, error) {
	if err := ctx.Err(); err != nil {
		return apikey.Key{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return apikey.Key{}, fmt.Errorf("%w: %s", apikey.ErrNotFound, id)
	}
	if u.Label != nil {
		k.Label = *u.Label
	}
	if u.Active != nil {
		k.Active = *u.Active
	}
	if u.ExpiresAt != nil {
		k.ExpiresAt = utc(*u.ExpiresAt)
	}
	s.keys[id] = k
	return k, nil
}

// Delete implements apikey.Store.
func (s *Store) Delete(ctx context.Context, id uuid.UUID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[id]; !ok {
		return fmt.Errorf("%w: %s", apikey.ErrNotFound, id)
	}
	delete(s.keys, id)
	return nil
}

// MarkUsed implements apikey.Store.
func (s *Store) MarkUsed(ctx context.Context, uses []apikey.Use) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range uses {
		if k, ok := s.keys[u.ID]; ok && u.At.After(k.LastUsedAt) {
			k.LastUsedAt = utc(u.At)
			s.keys[u.ID] = k
		}
	}
	return nil
}
