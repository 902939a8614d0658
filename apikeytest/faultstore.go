package apikeytest

import (
	"context"
	"sync"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
)

// Method names a method of [apikey.Store], for [FaultStore].
type Method string

// The methods of apikey.Store.
const (
	MethodCreate   Method = "Create"
	MethodGet      Method = "Get"
	MethodList     Method = "List"
	MethodUpdate   Method = "Update"
	MethodDelete   Method = "Delete"
	MethodMarkUsed Method = "MarkUsed"
)

// Call describes one call of a Store method, as a [FaultStore] hands it to a
// fault function. Only the fields of the method's arguments are set.
type Call struct {
	Method Method
	// ID is the key named by Get, Update and Delete, and the ID of the
	// record given to Create.
	ID     uuid.UUID
	Key    apikey.Key         // the record given to Create
	Update apikey.Update      // the change given to Update
	List   apikey.ListOptions // the options given to List
	Uses   []apikey.Use       // the batch given to MarkUsed
}

// FaultStore wraps an [apikey.Store] for tests of what happens when the store
// fails: it counts the calls of each method and fails those it is told to,
// without calling the wrapped store. It is safe for concurrent use.
//
//	store := apikeytest.NewFaultStore(memstore.New())
//	m := apikeytest.NewManager(t, apikey.Options{Store: store})
//	store.Fail(apikeytest.MethodGet, errors.New("disk on fire"))
//	// every Verify of an uncached key now fails closed
type FaultStore struct {
	store  apikey.Store
	mu     sync.Mutex
	faults map[Method]func(Call) error
	calls  map[Method]int
}

var _ apikey.Store = (*FaultStore)(nil)

// NewFaultStore returns a FaultStore over s that fails nothing until told
// to.
func NewFaultStore(s apikey.Store) *FaultStore {
	return &FaultStore{store: s, faults: make(map[Method]func(Call) error), calls: make(map[Method]int)}
}

// Unwrap returns the wrapped Store, for checking what a failed operation
// left behind, or for a fault function that applies a change and fails all
// the same, as a store whose reply is lost does.
func (s *FaultStore) Unwrap() apikey.Store { return s.store }

// Fail makes every later call of method return err without reaching the
// wrapped store. A nil err lets calls through again.
func (s *FaultStore) Fail(method Method, err error) {
	if err == nil {
		s.FailWhen(method, nil)
		return
	}
	s.FailWhen(method, func(Call) error { return err })
}

// FailWhen makes f decide each later call of method: when f returns an
// error, the call returns it without reaching the wrapped store; when f
// returns nil, the call goes through. f runs on the caller's goroutine with
// no lock held, so it may block, count or call the wrapped store itself. A
// nil f removes the fault.
func (s *FaultStore) FailWhen(method Method, f func(Call) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == nil {
		delete(s.faults, method)
	} else {
		s.faults[method] = f
	}
}

// Calls returns how many times method has been called, failed or not.
func (s *FaultStore) Calls(method Method) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// fault counts c and returns the error its fault function decides, if any.
func (s *FaultStore) fault(c Call) error {
	s.mu.Lock()
	s.calls[c.Method]++
	f := s.faults[c.Method]
	s.mu.Unlock()
	if f == nil {
		return nil
	}
	return f(c)
}

// Create implements apikey.Store.
func (s *FaultStore) Create(ctx context.Context, k apikey.Key) error {
	if err := s.fault(Call{Method: MethodCreate, ID: k.ID, Key: k}); err != nil {
		return err
	}
	return s.store.Create(ctx, k)
}

// Get implements apikey.Store.
func (s *FaultStore) Get(ctx context.Context, id uuid.UUID) (apikey.Key, error) {
	if err := s.fault(Call{Method: MethodGet, ID: id}); err != nil {
		return apikey.Key{}, err
	}
	return s.store.Get(ctx, id)
}

// List implements apikey.Store.
func (s *FaultStore) List(ctx context.Context, opts apikey.ListOptions) ([]apikey.Key, error) {
	if err := s.fault(Call{Method: MethodList, List: opts}); err != nil {
		return nil, err
	}
	return s.store.List(ctx, opts)
}

// Update implements apikey.Store.
func (s *FaultStore) Update(ctx context.Context, id uuid.UUID, u apikey.Update) (apikey.Key, error) {
	if err := s.fault(Call{Method: MethodUpdate, ID: id, Update: u}); err != nil {
		return apikey.Key{}, err
	}
	return s.store.Update(ctx, id, u)
}

// Delete implements apikey.Store.
func (s *FaultStore) Delete(ctx context.Context, id uuid.UUID) error {
	if err := s.fault(Call{Method: MethodDelete, ID: id}); err != nil {
		return err
	}
	return s.store.Delete(ctx, id)
}

// MarkUsed implements apikey.Store.
func (s *FaultStore) MarkUsed(ctx context.Context, uses []apikey.Use) error {
	if err := s.fault(Call{Method: MethodMarkUsed, Uses: uses}); err != nil {
		return err
	}
	return s.store.MarkUsed(ctx, uses)
}
