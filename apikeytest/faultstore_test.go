package apikeytest_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/keyscope/apikey/memstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	errBoom = errors.New("store on fire")

	// existing is in every fixture store; fresh is what Create adds.
	existing = apikey.Key{ID: uuid.MustParse("01900000-0000-7000-8000-000000000001"), Label: "existing",
		Scopes: apikey.FullAccess(), Active: true, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	fresh = apikey.Key{ID: uuid.MustParse("01900000-0000-7000-8000-000000000002"), Label: "fresh",
		Scopes: apikey.ReadOnly(), Active: true, CreatedAt: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC)}
)

// storeCalls returns one call of each Store method, with arguments that
// change a fixture store where the method changes anything.
func storeCalls() []apikeytest.Call {
	label := "renamed"
	return []apikeytest.Call{
		{Method: apikeytest.MethodCreate, ID: fresh.ID, Key: fresh},
		{Method: apikeytest.MethodGet, ID: existing.ID},
		{Method: apikeytest.MethodList, List: apikey.ListOptions{Limit: 1, Before: fresh.ID}},
		{Method: apikeytest.MethodUpdate, ID: existing.ID, Update: apikey.Update{Label: &label}},
		{Method: apikeytest.MethodDelete, ID: existing.ID},
		{Method: apikeytest.MethodMarkUsed, Uses: []apikey.Use{{ID: existing.ID, At: existing.CreatedAt.Add(time.Hour)}}},
	}
}

// invoke calls c's method on s with c's arguments and returns what it
// returns (nil for a method that returns only an error).
func invoke(s apikey.Store, c apikeytest.Call) (any, error) {
	ctx := context.Background()
	switch c.Method {
	case apikeytest.MethodCreate:
		return nil, s.Create(ctx, c.Key)
	case apikeytest.MethodGet:
		return s.Get(ctx, c.ID)
	case apikeytest.MethodList:
		return s.List(ctx, c.List)
	case apikeytest.MethodUpdate:
		return s.Update(ctx, c.ID, c.Update)
	case apikeytest.MethodDelete:
		return nil, s.Delete(ctx, c.ID)
	case apikeytest.MethodMarkUsed:
		return nil, s.MarkUsed(ctx, c.Uses)
	}
	panic("invoke: unknown method " + string(c.Method))
}

// newFixture returns an in-memory store holding existing.
func newFixture(t *testing.T) *memstore.Store {
	t.Helper()
	s := memstore.New()
	require.NoError(t, s.Create(context.Background(), existing))
	return s
}

// snapshot returns every record in s.
func snapshot(t *testing.T, s apikey.Store) []apikey.Key {
	t.Helper()
	ks, err := s.List(context.Background(), apikey.ListOptions{})
	require.NoError(t, err)
	return ks
}

// assertSame makes call c through fs and on want, a store in the state fs's
// wrapped store is in, and checks that both had the same outcome: the same
// result and error, and the same records left behind.
func assertSame(t *testing.T, c apikeytest.Call, fs *apikeytest.FaultStore, want apikey.Store) {
	t.Helper()
	wantRes, wantErr := invoke(want, c)
	gotRes, gotErr := invoke(fs, c)
	assert.Equal(t, wantErr, gotErr, "%s: error", c.Method)
	assert.Equal(t, wantRes, gotRes, "%s: result", c.Method)
	assert.Equal(t, snapshot(t, want), snapshot(t, fs.Unwrap()), "%s: records", c.Method)
}

// assertCalls checks fs's count of every method: n for method, others for
// the rest.
func assertCalls(t *testing.T, fs *apikeytest.FaultStore, method apikeytest.Method, n, others int) {
	t.Helper()
	for _, c := range storeCalls() {
		want := others
		if c.Method == method {
			want = n
		}
		assert.Equal(t, want, fs.Calls(c.Method), "Calls(%s)", c.Method)
	}
}

func TestFaultStoreCoversEveryMethod(t *testing.T) {
	var methods []string
	st := reflect.TypeFor[apikey.Store]()
	for i := range st.NumMethod() {
		methods = append(methods, st.Method(i).Name)
	}
	var covered []string
	for _, c := range storeCalls() {
		covered = append(covered, string(c.Method))
	}
	slices.Sort(covered)
	assert.Equal(t, methods, covered)
}

func TestFaultStorePassesCallsThrough(t *testing.T) {
	for _, c := range storeCalls() {
		t.Run(string(c.Method), func(t *testing.T) {
			inner := newFixture(t)
			fs := apikeytest.NewFaultStore(inner)
			require.Same(t, inner, fs.Unwrap())
			assertSame(t, c, fs, newFixture(t))
			assertCalls(t, fs, c.Method, 1, 0)
		})
	}
}

func TestFaultStoreFail(t *testing.T) {
	for _, c := range storeCalls() {
		t.Run(string(c.Method), func(t *testing.T) {
			plain, fs := newFixture(t), apikeytest.NewFaultStore(newFixture(t))
			fs.Fail(c.Method, errBoom)
			res, err := invoke(fs, c)
			assert.ErrorIs(t, err, errBoom)
			assert.Zero(t, res, "the result of a failed call")
			assert.Equal(t, snapshot(t, plain), snapshot(t, fs.Unwrap()), "the failed call reached the wrapped store")
			assertCalls(t, fs, c.Method, 1, 0)

			// Only c.Method fails.
			for _, other := range storeCalls() {
				if other.Method != c.Method {
					assertSame(t, other, fs, plain)
				}
			}

			fs.Fail(c.Method, nil)
			assertSame(t, c, fs, plain)
			assertCalls(t, fs, c.Method, 2, 1)
		})
	}
}

func TestFaultStoreFailWhen(t *testing.T) {
	for _, c := range storeCalls() {
		t.Run(string(c.Method), func(t *testing.T) {
			plain, fs := newFixture(t), apikeytest.NewFaultStore(newFixture(t))
			var seen []apikeytest.Call
			fs.FailWhen(c.Method, func(got apikeytest.Call) error {
				seen = append(seen, got)
				return nil
			})
			assertSame(t, c, fs, plain)
			assert.Equal(t, []apikeytest.Call{c}, seen, "the calls the fault function saw")

			// The store applies the change and its reply is lost.
			plain, fs = newFixture(t), apikeytest.NewFaultStore(newFixture(t))
			fs.FailWhen(c.Method, func(got apikeytest.Call) error {
				_, err := invoke(fs.Unwrap(), got)
				assert.NoError(t, err, "applying the call through Unwrap")
				return errBoom
			})
			_, wantErr := invoke(plain, c)
			require.NoError(t, wantErr)
			res, err := invoke(fs, c)
			assert.ErrorIs(t, err, errBoom)
			assert.Zero(t, res, "the result of a failed call")
			assert.Equal(t, snapshot(t, plain), snapshot(t, fs.Unwrap()), "the change applied through Unwrap")
			assertCalls(t, fs, c.Method, 1, 0)

			fs.FailWhen(c.Method, nil)
			assertSame(t, c, fs, plain)
		})
	}
}

func TestFaultStoreConcurrentUse(t *testing.T) {
	fs := apikeytest.NewFaultStore(newFixture(t))
	const workers, rounds = 8, 100
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				switch i % 3 {
				case 0:
					fs.Fail(apikeytest.MethodGet, errBoom)
				case 1:
					fs.Fail(apikeytest.MethodGet, nil)
				case 2:
					fs.FailWhen(apikeytest.MethodGet, func(c apikeytest.Call) error {
						if c.ID != existing.ID {
							return fmt.Errorf("fault function saw ID %s", c.ID)
						}
						return nil
					})
				}
				k, err := fs.Get(context.Background(), existing.ID)
				if err != nil {
					assert.ErrorIs(t, err, errBoom)
				} else {
					assert.Equal(t, existing.ID, k.ID)
				}
				assert.NoError(t, fs.MarkUsed(context.Background(), []apikey.Use{{ID: existing.ID, At: existing.CreatedAt.Add(time.Duration(i) * time.Second)}}))
				assert.GreaterOrEqual(t, fs.Calls(apikeytest.MethodGet), 1) // reads the counts meanwhile
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, workers*rounds, fs.Calls(apikeytest.MethodGet))
	assert.Equal(t, workers*rounds, fs.Calls(apikeytest.MethodMarkUsed))
}

// A FaultStore makes the store fail under a Manager: here Verify fails
// closed while the store is down, with the store's error rather than
// ErrInvalidKey, and works again once the store is back.
func ExampleFaultStore() {
	ctx := context.Background()
	store := apikeytest.NewFaultStore(memstore.New())
	m, err := apikey.NewManager(apikey.Options{Store: store})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	_, tok, err := m.Create(ctx, apikey.CreateParams{Label: "example", Scopes: apikey.ReadOnly()})
	if err != nil {
		panic(err)
	}

	errDown := errors.New("database unreachable")
	store.Fail(apikeytest.MethodGet, errDown)
	_, err = m.Verify(ctx, tok.Reveal())
	fmt.Println("store down:", errors.Is(err, errDown), errors.Is(err, apikey.ErrInvalidKey))

	store.Fail(apikeytest.MethodGet, nil)
	_, err = m.Verify(ctx, tok.Reveal())
	fmt.Println("store back:", err)
	fmt.Println("Get calls:", store.Calls(apikeytest.MethodGet))
	// Output:
	// store down: true false
	// store back: <nil>
	// Get calls: 2
}
