package storetest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reportWait is how long the suite waits for a store's report of a change.
// The contract asks for a second; the suite allows twice that, for loaded
// machines running tests under -race, and no more, so that a store whose
// reports come late fails. startWait is how long it waits for a Watch to
// start listening, which may take a connection to a server.
const (
	reportWait = 2 * time.Second
	startWait  = 10 * time.Second
)

// report is one call a Watch made to its Watcher: Watching(listening) when
// id is uuid.Nil, Changed(id) otherwise.
type report struct {
	listening bool
	id        uuid.UUID
}

// recorder is a Watcher that passes its reports to the test, and notes the
// breaches of the contract that a test cannot see from its reports alone:
// calls that overlap, calls after Watch returned, and reports it had to
// drop because the test did not take them.
type recorder struct {
	reports  chan report
	busy     atomic.Bool
	overlap  atomic.Bool
	late     atomic.Bool
	dropped  atomic.Bool
	returned atomic.Bool
}

func newRecorder() *recorder { return &recorder{reports: make(chan report, 4096)} }

func (r *recorder) call(rep report) {
	if !r.busy.CompareAndSwap(false, true) {
		r.overlap.Store(true)
		return
	}
	defer r.busy.Store(false)
	if r.returned.Load() {
		r.late.Store(true)
	}
	select {
	case r.reports <- rep:
	default:
		r.dropped.Store(true)
	}
}

func (r *recorder) Watching(listening bool) { r.call(report{listening: listening}) }
func (r *recorder) Changed(id uuid.UUID)    { r.call(report{id: id}) }

// check reports the breaches the recorder noted.
func (r *recorder) check(t *testing.T) {
	t.Helper()
	assert.False(t, r.overlap.Load(), "Watch called its Watcher while a call was running")
	assert.False(t, r.late.Load(), "Watch called its Watcher after it returned")
	assert.False(t, r.dropped.Load(), "the test fell behind the store's reports")
}

// watch runs n.Watch with a recorder until the test ends, and returns the
// recorder once the store listens.
func watch(t *testing.T, n apikey.Notifier) *recorder {
	t.Helper()
	r := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := n.Watch(ctx, r)
		r.returned.Store(true)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.ErrorIs(t, err, context.Canceled, "Watch after its context was canceled")
		case <-time.After(startWait):
			t.Errorf("Watch did not return within %v of its context's end", startWait)
		}
		r.check(t)
	})
	select {
	case rep := <-r.reports:
		require.True(t, rep.id == uuid.Nil && rep.listening, "Watch's first call is %+v, want Watching(true)", rep)
	case err := <-done:
		t.Fatalf("Watch returned before listening: %v", err)
	case <-time.After(startWait):
		t.Fatalf("Watch did not call Watching(true) within %v", startWait)
	}
	return r
}

// await waits for r's report of id, and fails the test if the store says
// it stopped listening first, or none comes in time. Reports of other IDs,
// and repeated ones, are allowed.
func (r *recorder) await(t *testing.T, id uuid.UUID, what string) bool {
	t.Helper()
	deadline := time.After(reportWait)
	for {
		select {
		case rep := <-r.reports:
			switch {
			case rep.id == id:
				return true
			case rep.id == uuid.Nil && !rep.listening:
				return assert.Fail(t, "the store stopped listening", "waiting for the report of %s", what)
			}
		case <-deadline:
			return assert.Fail(t, "no report", "of %s within %v", what, reportWait)
		}
	}
}

// testNotifications checks a store that implements apikey.Notifier: every
// change made through it is reported to every running Watch, after it is
// visible to Get, and a Watch stops when its context ends.
func testNotifications(t *testing.T, s apikey.Store) {
	n, ok := s.(apikey.Notifier)
	if !ok {
		t.Skipf("%T is not an apikey.Notifier", s)
	}
	ctx := context.Background()
	r1, r2 := watch(t, n), watch(t, n)

	k := newRecord(t, "watched")
	mustCreate(t, s, k)
	for _, r := range []*recorder{r1, r2} {
		r.await(t, k.ID, "Create")
	}
	changes := []struct {
		name  string
		u     apikey.Update
		check func(apikey.Key) bool
	}{
		{"Update of the label", apikey.Update{Label: ptr("renamed")}, func(k apikey.Key) bool { return k.Label == "renamed" }},
		{"Update of the status", apikey.Update{Active: ptr(false)}, func(k apikey.Key) bool { return !k.Active }},
		{"Update of the expiry", apikey.Update{ExpiresAt: ptr(baseTime.Add(time.Hour))}, func(k apikey.Key) bool { return k.ExpiresAt.Equal(baseTime.Add(time.Hour)) }},
		{"Update removing the expiry", apikey.Update{ExpiresAt: ptr(time.Time{})}, func(k apikey.Key) bool { return k.ExpiresAt.IsZero() }},
	}
	for _, c := range changes {
		_, err := s.Update(ctx, k.ID, c.u)
		require.NoError(t, err, c.name)
		for _, r := range []*recorder{r1, r2} {
			if r.await(t, k.ID, c.name) {
				assert.True(t, c.check(mustGet(t, s, k.ID)), "Get after the report of %s does not show it", c.name)
			}
		}
	}
	require.NoError(t, s.Delete(ctx, k.ID), "Delete")
	for _, r := range []*recorder{r1, r2} {
		if r.await(t, k.ID, "Delete") {
			_, err := s.Get(ctx, k.ID)
			assert.ErrorIs(t, err, apikey.ErrNotFound, "Get after the report of Delete")
		}
	}
}

// testWatchCanceled checks that Watch returns with a context that has
// already ended.
func testWatchCanceled(t *testing.T, s apikey.Store) {
	n, ok := s.(apikey.Notifier)
	if !ok {
		t.Skipf("%T is not an apikey.Notifier", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- n.Watch(ctx, newRecorder()) }()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(startWait):
		t.Fatalf("Watch with a canceled context did not return within %v", startWait)
	}
}

// testRevocationReachesEveryManager runs two Managers on the store, as two
// instances of an application would, and checks that a key deactivated or
// deleted through one is refused by the other, whose cache held it, as
// soon as the store reports the change. The Managers keep records for an
// hour, so that only a report, never the cache's expiry, can make the
// other refuse the key in time.
func testRevocationReachesEveryManager(t *testing.T, s apikey.Store) {
	if _, ok := s.(apikey.Notifier); !ok {
		t.Skipf("%T is not an apikey.Notifier", s)
	}
	ctx := context.Background()
	newManager := func() *apikey.Manager {
		m, err := apikey.NewManager(apikey.Options{Store: s, UsageInterval: -1, CacheTTL: time.Hour, NotifiedCacheTTL: time.Hour})
		require.NoError(t, err, "NewManager")
		t.Cleanup(func() { assert.NoError(t, m.Close()) })
		wctx, cancel := context.WithTimeout(ctx, startWait)
		defer cancel()
		require.NoError(t, m.WaitWatching(wctx), "WaitWatching")
		return m
	}
	a, b := newManager(), newManager()
	k, tok, err := a.Create(ctx, apikey.CreateParams{Label: "revoked elsewhere"})
	require.NoError(t, err, "Create")
	refused := func(want error, what string) {
		t.Helper()
		// Poll b's view, as a client of the other instance would.
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		deadline := time.After(reportWait)
		for {
			_, err := b.Verify(ctx, tok.Reveal())
			if errors.Is(err, want) {
				return
			}
			select {
			case <-tick.C:
			case <-deadline:
				t.Errorf("b's Verify of a key %s through a: %v, want %v within %v", what, err, want, reportWait)
				return
			}
		}
	}
	for range 2 {
		_, err = b.Verify(ctx, tok.Reveal()) // b caches the key
		require.NoError(t, err, "b's Verify of an active key")
		_, err = a.Deactivate(ctx, k.ID)
		require.NoError(t, err, "Deactivate")
		refused(apikey.ErrInactive, "deactivated")
		_, err = a.Activate(ctx, k.ID)
		require.NoError(t, err, "Activate")
		refused(nil, "activated again")
	}
	require.NoError(t, a.Delete(ctx, k.ID), "Delete")
	refused(apikey.ErrInvalidKey, "deleted")
	assert.True(t, b.Watching(), "b still watches the store")
}
