package apikey_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/keyscope/apikey/memstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// handStore is a Store whose Watch hands its Watcher to the test, so that
// the test plays the store's reports, and then waits for its context. It
// counts reads through a FaultStore.
type handStore struct {
	*apikeytest.FaultStore
	watcher chan apikey.Watcher
	ret     error         // what Watch returns once ctx ends; nil: ctx's error
	now     error         // if set, what Watch returns at once
	done    chan struct{} // closed when Watch returns
}

func newHandStore() *handStore {
	return &handStore{
		FaultStore: apikeytest.NewFaultStore(memstore.New()),
		watcher:    make(chan apikey.Watcher, 1),
		done:       make(chan struct{}),
	}
}

func (s *handStore) Watch(ctx context.Context, w apikey.Watcher) error {
	defer close(s.done)
	if s.now != nil {
		return s.now
	}
	s.watcher <- w
	<-ctx.Done()
	if s.ret != nil {
		return s.ret
	}
	return ctx.Err()
}

// watchFixture is a Manager over a handStore, driven by a settable clock.
type watchFixture struct {
	store *handStore
	clock *clock
	m     *apikey.Manager
	w     apikey.Watcher
	logs  *syncBuffer
}

func newWatchFixture(t *testing.T, opts apikey.Options) *watchFixture {
	t.Helper()
	f := &watchFixture{store: newHandStore(), clock: newClock(), logs: new(syncBuffer)}
	opts.Store, opts.Now, opts.UsageInterval = f.store, f.clock.Now, -1
	opts.Logger = slog.New(slog.NewTextHandler(f.logs, nil))
	f.m = apikeytest.NewManager(t, opts)
	select {
	case f.w = <-f.store.watcher:
	case <-time.After(10 * time.Second):
		t.Fatal("the Manager did not call the store's Watch")
	}
	return f
}

func (f *watchFixture) gets() int { return f.store.Calls(apikeytest.MethodGet) }

// TestWatchKeepsRecordsWhileReportsFlow walks a Manager through its
// store's reports: records are kept for CacheTTL before the store listens,
// for NotifiedCacheTTL while it does, and every transition, and every
// report of a key, drops what the cache held.
func TestWatchKeepsRecordsWhileReportsFlow(t *testing.T) {
	f := newWatchFixture(t, apikey.Options{CacheTTL: 5 * time.Second, NotifiedCacheTTL: time.Minute})
	k, tok := create(t, f.m, apikey.CreateParams{Label: "watched"})
	assert.False(t, f.m.Watching(), "Watching before the store listens")

	// Not listening yet: CacheTTL.
	verify(t, f.m, tok, nil)
	verify(t, f.m, tok, nil)
	require.Equal(t, 1, f.gets(), "store reads of two verifications")
	f.clock.Add(5 * time.Second)
	verify(t, f.m, tok, nil)
	require.Equal(t, 2, f.gets(), "store reads after CacheTTL, not listening")

	// Listening: the cache is dropped, and records kept for a minute.
	f.w.Watching(true)
	assert.True(t, f.m.Watching(), "Watching once the store listens")
	require.NoError(t, f.m.WaitWatching(context.Background()))
	verify(t, f.m, tok, nil)
	assert.Equal(t, 3, f.gets(), "store reads after the store started listening")
	f.clock.Add(time.Minute - time.Microsecond)
	verify(t, f.m, tok, nil)
	assert.Equal(t, 3, f.gets(), "store reads just inside NotifiedCacheTTL")
	f.clock.Add(time.Microsecond)
	verify(t, f.m, tok, nil)
	assert.Equal(t, 4, f.gets(), "store reads at NotifiedCacheTTL")

	// A report of the key drops it: a change made elsewhere shows at once.
	_, err := f.store.Unwrap().Update(context.Background(), k.ID, apikey.Update{Active: ptr(false)})
	require.NoError(t, err)
	verify(t, f.m, tok, nil) // still cached: nobody reported the change
	f.w.Changed(k.ID)
	verify(t, f.m, tok, apikey.ErrInactive)
	assert.Equal(t, 5, f.gets(), "store reads after the report")
	_, err = f.store.Unwrap().Update(context.Background(), k.ID, apikey.Update{Active: ptr(true)})
	require.NoError(t, err)
	f.w.Changed(k.ID)
	verify(t, f.m, tok, nil)

	// Reports stop: the cache is dropped, and records kept for CacheTTL.
	f.w.Watching(false)
	assert.False(t, f.m.Watching(), "Watching after the store stopped listening")
	verify(t, f.m, tok, nil)
	assert.Equal(t, 7, f.gets(), "store reads after the store stopped listening")
	f.clock.Add(5*time.Second - time.Microsecond)
	verify(t, f.m, tok, nil)
	assert.Equal(t, 7, f.gets(), "store reads just inside CacheTTL, not listening")
	f.clock.Add(time.Microsecond)
	verify(t, f.m, tok, nil)
	assert.Equal(t, 8, f.gets(), "store reads at CacheTTL, not listening")
	assert.Contains(t, f.logs.String(), "stopped reporting key changes", "log after the reports stopped")

	// Reports resume: changes made meanwhile may have gone unreported, so
	// the cache is dropped once more.
	_, err = f.store.Unwrap().Update(context.Background(), k.ID, apikey.Update{Active: ptr(false)})
	require.NoError(t, err)
	f.w.Watching(true)
	verify(t, f.m, tok, apikey.ErrInactive)
	assert.Equal(t, 9, f.gets(), "store reads after the reports resumed")
	assert.Contains(t, f.logs.String(), "reports key changes again", "log after the reports resumed")

	// Close ends the watch, and records are kept for CacheTTL again.
	require.NoError(t, f.m.Close())
	select {
	case <-f.store.done:
	default:
		t.Fatal("Close returned before the store's Watch did")
	}
	assert.False(t, f.m.Watching(), "Watching after Close")
	assert.ErrorIs(t, f.m.WaitWatching(context.Background()), apikey.ErrClosed, "WaitWatching after Close")
}

// TestWatchDropsFillsThatStraddleATransition holds a verification between
// its store read and its cache fill while the store's reports start or
// stop: what it read must not be kept, since it was read under the other
// state's terms.
func TestWatchDropsFillsThatStraddleATransition(t *testing.T) {
	for _, listening := range []bool{true, false} {
		t.Run(fmt.Sprintf("Watching(%v)", listening), func(t *testing.T) {
			ctx := context.Background()
			f := newWatchFixture(t, apikey.Options{CacheTTL: time.Hour, NotifiedCacheTTL: time.Hour})
			if !listening {
				f.w.Watching(true)
			}
			_, tok := create(t, f.m, apikey.CreateParams{})
			read, leave := make(chan struct{}), make(chan struct{})
			var once sync.Once
			f.store.FailWhen(apikeytest.MethodGet, func(apikeytest.Call) error {
				once.Do(func() { read <- struct{}{}; <-leave })
				return nil
			})
			done := make(chan error)
			go func() {
				_, err := f.m.Verify(ctx, tok)
				done <- err
			}()
			<-read
			f.w.Watching(listening)
			close(leave)
			require.NoError(t, <-done)
			before := f.gets()
			verify(t, f.m, tok, nil)
			assert.Equal(t, before+1, f.gets(), "store reads: the straddling fill was kept")
		})
	}
}

// TestWatchNotOn checks the Managers that do not watch: WaitWatching says
// why at once, and records are kept for CacheTTL.
func TestWatchNotOn(t *testing.T) {
	tests := map[string]struct {
		opts apikey.Options
		want error
	}{
		"store is not a Notifier": {apikey.Options{Store: apikeytest.NewFaultStore(memstore.New())}, errors.ErrUnsupported},
		"cache off":               {apikey.Options{Store: memstore.New(), CacheTTL: -1}, errors.ErrUnsupported},
		"NotifiedCacheTTL < 0":    {apikey.Options{Store: memstore.New(), NotifiedCacheTTL: -1}, errors.ErrUnsupported},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := apikeytest.NewManager(t, tc.opts)
			assert.False(t, m.Watching())
			assert.ErrorIs(t, m.WaitWatching(context.Background()), tc.want)
		})
	}
}

// TestWatchEndedByTheStore covers a Watch that returns by itself: the
// Manager logs it, stops watching, and says why.
func TestWatchEndedByTheStore(t *testing.T) {
	tests := map[string]struct {
		err     error
		want    error
		logLine string
	}{
		"unsupported": {fmt.Errorf("memory: %w", errors.ErrUnsupported), errors.ErrUnsupported, "level=INFO"},
		"closed":      {fmt.Errorf("memory: %w", apikey.ErrClosed), apikey.ErrClosed, "level=ERROR"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := newHandStore()
			s.now = tc.err
			logs := new(syncBuffer)
			m := apikeytest.NewManager(t, apikey.Options{Store: s, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			<-s.done
			assert.ErrorIs(t, m.WaitWatching(context.Background()), tc.want)
			assert.False(t, m.Watching())
			assert.Contains(t, logs.String(), tc.logLine)
		})
	}
}

// TestWaitWatchingHonoursContext checks that WaitWatching gives up with
// its context, and returns once the store listens.
func TestWaitWatchingHonoursContext(t *testing.T) {
	f := newWatchFixture(t, apikey.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, f.m.WaitWatching(ctx), context.Canceled)
	done := make(chan error)
	go func() { done <- f.m.WaitWatching(context.Background()) }()
	f.w.Watching(true)
	assert.NoError(t, <-done)
}

// TestRevocationReachesAnotherManager runs two Managers, as two instances
// of an application would, on one memstore: a key deactivated through one
// is refused by the other within a second, though its cache holds the key
// for a minute.
func TestRevocationReachesAnotherManager(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	a := apikeytest.NewManager(t, apikey.Options{Store: store, UsageInterval: -1})
	b := apikeytest.NewManager(t, apikey.Options{Store: store, UsageInterval: -1})
	require.NoError(t, b.WaitWatching(ctx))
	k, tok := create(t, a, apikey.CreateParams{})
	for range 3 {
		verify(t, b, tok, nil) // now cached by b
		_, err := a.Deactivate(ctx, k.ID)
		require.NoError(t, err)
		assert.Eventually(t, func() bool {
			_, err := b.Verify(ctx, tok)
			return errors.Is(err, apikey.ErrInactive)
		}, time.Second, time.Millisecond, "b verifies the key a deactivated")
		_, err = a.Activate(ctx, k.ID)
		require.NoError(t, err)
		assert.Eventually(t, func() bool {
			_, err := b.Verify(ctx, tok)
			return err == nil
		}, time.Second, time.Millisecond, "b refuses the key a activated again")
	}
	require.NoError(t, a.Delete(ctx, k.ID))
	assert.Eventually(t, func() bool {
		_, err := b.Verify(ctx, tok)
		return errors.Is(err, apikey.ErrInvalidKey)
	}, time.Second, time.Millisecond, "b verifies the key a deleted")
}

func ptr[T any](v T) *T { return &v }

// TestWatchLossesAreLoggedAtMostEveryInterval flaps a store's reports: one
// record of a loss per StoreFailureLogInterval, counting the rest.
func TestWatchLossesAreLoggedAtMostEveryInterval(t *testing.T) {
	f := newWatchFixture(t, apikey.Options{})
	for range 50 {
		f.w.Watching(true)
		f.w.Watching(false)
	}
	assert.Equal(t, 1, strings.Count(f.logs.String(), "stopped reporting"), "records of 50 losses in an instant")
	f.clock.Add(apikey.StoreFailureLogInterval)
	f.w.Watching(true)
	f.w.Watching(false)
	assert.Equal(t, 2, strings.Count(f.logs.String(), "stopped reporting"), "records after the interval")
	assert.Contains(t, f.logs.String(), "suppressed=49")
}
