// Package memstore is an in-memory [apikey.Store], for tests, demos and
// single-process apps that can afford to lose their keys on restart.
//
// Lookups by ID are O(1). The Store keeps each owner's records together
// in memory with an index of them by ID, and an index of every record by
// ID, so that List costs O(log n + k) for a page of k keys, whether of one
// owner or of every owner, however many keys other owners hold. Create and
// Delete keep the indexes in step at a cost of O(log n) plus moving at most
// a few hundred index entries (and, once in a few hundred calls, a list of
// n/128 slice headers at most). The room an owner's records take follows
// the keys it holds, a block of 64 records at a time, and goes with its
// last key.
package memstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
)

// Store is an in-memory apikey.Store. The zero value is not usable; call New.
// A Store is safe for concurrent use by multiple goroutines.
type Store struct {
	mu sync.RWMutex
	// keys locates every record. Update and MarkUsed change a record in
	// place under the write lock; every read copies it under the read lock,
	// so that no caller ever holds a reference into the Store.
	keys map[uuid.UUID]place
	// all indexes every record by ID, for listing with AllOwners.
	all index[place]
	// owners holds each owner's records. An owner has an entry only while
	// it has keys: Delete drops the entry with its last key, so that owners
	// that come and go leave nothing behind.
	owners map[string]*owned

	watchers watchers // the running Watches
}

// place is where a record lives: in a slot of the records of an owner.
type place struct {
	o    *owned
	slot int32
}

// key returns the record at p, good until the owner's next add or remove.
func (p place) key() *apikey.Key { return p.o.at(p.slot) }

var (
	_ apikey.Store    = (*Store)(nil)
	_ apikey.Notifier = (*Store)(nil)
)

// New returns an empty Store.
func New() *Store {
	return &Store{keys: make(map[uuid.UUID]place), owners: make(map[string]*owned)}
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
	if err := s.create(k); err != nil {
		return err
	}
	s.watchers.changed(k.ID)
	return nil
}

func (s *Store) create(k apikey.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k.ID]; ok {
		return fmt.Errorf("%w: %s", apikey.ErrDuplicateID, k.ID)
	}
	k.CreatedAt, k.LastUsedAt, k.ExpiresAt = utc(k.CreatedAt), utc(k.LastUsedAt), utc(k.ExpiresAt)
	o := s.owners[k.Owner]
	if o == nil {
		o = new(owned)
		s.owners[k.Owner] = o
	}
	p := place{o, o.add(k)}
	s.keys[k.ID] = p
	s.all.Insert(k.ID, p)
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
	defer s.mu.RUnlock()
	p, ok := s.keys[id]
	if !ok {
		return apikey.Key{}, apikey.ErrNotFound
	}
	return *p.key(), nil
}

// List implements apikey.Store. It reads the index of opts.Owner, or of
// every key with opts.AllOwners, from the cursor down, and copies only the
// records of the page.
func (s *Store) List(ctx context.Context, opts apikey.ListOptions) ([]apikey.Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if opts.AllOwners {
		return page(&s.all, opts, place.key), nil
	}
	o := s.owners[opts.Owner]
	if o == nil {
		return []apikey.Key{}, nil
	}
	return page(&o.byID, opts, o.at), nil
}

// page copies the records of index x from the cursor opts.Before down, at
// most opts.Limit of them; at finds a record from its value in x.
func page[V any](x *index[V], opts apikey.ListOptions, at func(V) *apikey.Key) []apikey.Key {
	out, n := newPage(x.Len(), opts)
	for v := range x.Before(opts.Before) {
		if len(out) == n {
			break
		}
		out = append(out, *at(v))
	}
	return out
}

// newPage returns an empty slice for a page of opts among held keys, and
// the most keys the page may hold. Without a cursor the page holds exactly
// that many; a cursor may leave fewer, so then the slice starts smaller
// and append grows it.
func newPage(held int, opts apikey.ListOptions) ([]apikey.Key, int) {
	n := held
	if opts.Limit > 0 {
		n = min(n, opts.Limit)
	}
	size := n
	if opts.Before != uuid.Nil {
		size = min(n, 128)
	}
	return make([]apikey.Key, 0, size), n
}

// Update implements apikey.Store.
func (s *Store) Update(ctx context.Context, id uuid.UUID, u apikey.Update) (apikey.Key, error) {
	if err := ctx.Err(); err != nil {
		return apikey.Key{}, err
	}
	k, err := s.update(id, u)
	if err == nil && (u.Label != nil || u.Active != nil || u.ExpiresAt != nil) {
		s.watchers.changed(id)
	}
	return k, err
}

func (s *Store) update(id uuid.UUID, u apikey.Update) (apikey.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.keys[id]
	if !ok {
		return apikey.Key{}, fmt.Errorf("%w: %s", apikey.ErrNotFound, id)
	}
	k := p.key()
	if u.Label != nil {
		k.Label = *u.Label
	}
	if u.Active != nil {
		k.Active = *u.Active
	}
	if u.ExpiresAt != nil {
		k.ExpiresAt = utc(*u.ExpiresAt)
	}
	return *k, nil
}

// Delete implements apikey.Store.
func (s *Store) Delete(ctx context.Context, id uuid.UUID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.delete(id); err != nil {
		return err
	}
	s.watchers.changed(id)
	return nil
}

func (s *Store) delete(id uuid.UUID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.keys[id]
	if !ok {
		return fmt.Errorf("%w: %s", apikey.ErrNotFound, id)
	}
	owner := p.key().Owner
	delete(s.keys, id)
	s.all.Remove(id)
	moved, left := p.o.remove(p.slot)
	if moved != uuid.Nil {
		// The owner's last record took the deleted one's slot.
		s.keys[moved] = p
		s.all.Set(moved, p)
	}
	if !left {
		delete(s.owners, owner)
	}
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
		if p, ok := s.keys[u.ID]; ok {
			if k := p.key(); u.At.After(k.LastUsedAt) {
				k.LastUsedAt = utc(u.At)
			}
		}
	}
	return nil
}
