package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/sqlitestore"
	"github.com/keyscope/apikey/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newManager returns a Manager with opts, closed when t ends. Usage
// tracking is off unless opts sets UsageInterval.
func newManager(t testing.TB, opts apikey.Options) *apikey.Manager {
	t.Helper()
	if opts.UsageInterval == 0 {
		opts.UsageInterval = -1
	}
	m, err := apikey.NewManager(opts)
	require.NoError(t, err, "NewManager")
	t.Cleanup(func() { m.Close() })
	return m
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) apikey.Store {
		s, _ := openTemp(t)
		return s
	})
}

// TestConformanceNew runs the suite over a handle the application opened,
// with go-sqlite3's defaults and WAL, as the package documentation
// suggests.
func TestConformanceNew(t *testing.T) {
	storetest.Run(t, func(t *testing.T) apikey.Store {
		db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "app.db")+"?_journal_mode=WAL&_txlock=immediate")
		require.NoError(t, err, "sql.Open")
		t.Cleanup(func() { db.Close() })
		s, err := sqlitestore.New(db)
		require.NoError(t, err, "New")
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// settableClock is an Options.Now that tests move forward.
type settableClock struct{ ns atomic.Int64 }

func newSettableClock() *settableClock {
	c := &settableClock{}
	c.ns.Store(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *settableClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *settableClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestCacheAndChangesToTheFile runs two Managers with the verification
// cache on, over two Stores on the same file, as two processes would, with
// the Managers ignoring the Stores' change reports (NotifiedCacheTTL
// negative). Changes through a Manager reach its own next verification at
// once, and the other's within the TTL. TestCacheFollowsChangeReports has
// the Managers follow the reports.
func TestCacheAndChangesToTheFile(t *testing.T) {
	ctx := context.Background()
	const ttl = 2 * time.Second
	s1, path := openTemp(t)
	s2, err := sqlitestore.Open(path)
	require.NoError(t, err, "opening the file a second time")
	defer s2.Close()
	clock := newSettableClock()
	m1 := newManager(t, apikey.Options{Store: s1, Now: clock.Now, CacheTTL: ttl, NotifiedCacheTTL: -1})
	m2 := newManager(t, apikey.Options{Store: s2, Now: clock.Now, CacheTTL: ttl, NotifiedCacheTTL: -1})
	k, tok, err := m1.Create(ctx, apikey.CreateParams{Label: "two processes"})
	require.NoError(t, err, "Manager.Create")
	verify := func(m *apikey.Manager, want error, step string) {
		t.Helper()
		_, err := m.Verify(ctx, tok.Reveal())
		if want == nil {
			assert.NoError(t, err, step)
		} else {
			assert.ErrorIs(t, err, want, step)
		}
	}
	verify(m1, nil, "m1 after Create")
	verify(m2, nil, "m2 after Create") // both have it cached now

	_, err = m1.Deactivate(ctx, k.ID)
	require.NoError(t, err, "m1.Deactivate")
	verify(m1, apikey.ErrInactive, "m1 after its own Deactivate") // same Manager: at once
	verify(m2, nil, "m2 after m1's Deactivate, cached")           // other process: cached, for now
	clock.Advance(ttl)
	verify(m2, apikey.ErrInactive, "m2 after m1's Deactivate and the TTL")    // within the TTL
	verify(m1, apikey.ErrInactive, "m1 after its own Deactivate and the TTL") // m1 caches the inactive record anew

	_, err = m2.Activate(ctx, k.ID)
	require.NoError(t, err, "m2.Activate")
	verify(m2, nil, "m2 after its own Activate")
	verify(m1, apikey.ErrInactive, "m1 after m2's Activate, cached")
	clock.Advance(ttl)
	verify(m1, nil, "m1 after m2's Activate and the TTL")

	require.NoError(t, m1.Delete(ctx, k.ID), "m1.Delete")
	verify(m1, apikey.ErrInvalidKey, "m1 after its own Delete")
	clock.Advance(ttl)
	verify(m2, apikey.ErrInvalidKey, "m2 after m1's Delete and the TTL")
}

// TestCacheFollowsChangeReports runs two Managers with the verification
// cache on, over two Stores on the same file, as two processes would, each
// following its Store's change reports (the default): a change through one
// reaches the other's verifications within moments, with the Managers'
// clock standing still, long before any TTL.
func TestCacheFollowsChangeReports(t *testing.T) {
	ctx := context.Background()
	s1, path := openTemp(t)
	s2, err := sqlitestore.Open(path)
	require.NoError(t, err, "opening the file a second time")
	defer s2.Close()
	clock := newSettableClock()
	m1 := newManager(t, apikey.Options{Store: s1, Now: clock.Now, CacheTTL: time.Hour, NotifiedCacheTTL: time.Hour})
	m2 := newManager(t, apikey.Options{Store: s2, Now: clock.Now, CacheTTL: time.Hour, NotifiedCacheTTL: time.Hour})
	k, tok, err := m1.Create(ctx, apikey.CreateParams{Label: "two processes"})
	require.NoError(t, err, "Manager.Create")
	// eventually waits, polling on a ticker up to a deadline, for m's
	// verdict on tok to be want: the report comes from the Store's Watch,
	// in a goroutine of m's.
	eventually := func(m *apikey.Manager, want error, step string) {
		t.Helper()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(eventTimeout)
		for {
			_, err := m.Verify(ctx, tok.Reveal())
			if errors.Is(err, want) {
				return
			}
			select {
			case <-tick.C:
			case <-deadline:
				require.FailNow(t, step, "Verify: %v, want %v, after %v", err, want, eventTimeout)
			}
		}
	}
	eventually(m1, nil, "m1 after Create")
	eventually(m2, nil, "m2 after Create") // both have it cached now

	_, err = m1.Deactivate(ctx, k.ID)
	require.NoError(t, err, "m1.Deactivate")
	eventually(m2, apikey.ErrInactive, "m2 after m1's Deactivate")
	_, err = m2.Activate(ctx, k.ID)
	require.NoError(t, err, "m2.Activate")
	eventually(m1, nil, "m1 after m2's Activate")
	require.NoError(t, m1.Delete(ctx, k.ID), "m1.Delete")
	eventually(m2, apikey.ErrInvalidKey, "m2 after m1's Delete")
}
