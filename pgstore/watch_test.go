package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/internal/pgtest"
	"github.com/keyscope/apikey/pgstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// event is one call Watch made to a recorder: Watching(true) is "up",
// Watching(false) "down", Changed(id) the ID.
type event string

const (
	up   event = "up"
	down event = "down"
)

// recorder is an apikey.Watcher that passes each call on as an event.
type recorder struct{ events chan event }

func newRecorder() *recorder { return &recorder{events: make(chan event, 1000)} }

func (r *recorder) Watching(listening bool) {
	if listening {
		r.events <- up
	} else {
		r.events <- down
	}
}

func (r *recorder) Changed(id uuid.UUID) { r.events <- event(id.String()) }

// reportDeadline is how soon a change must be reported: the contract's
// second, with room for a slow CI machine.
const reportDeadline = 2 * time.Second

// next returns the next event, failing t if none comes within d.
func (r *recorder) next(t *testing.T, d time.Duration, what string) event {
	t.Helper()
	select {
	case e := <-r.events:
		return e
	case <-time.After(d):
		require.FailNow(t, "no event", "waiting %v for %s", d, what)
		return ""
	}
}

// expect checks that the next event is want.
func (r *recorder) expect(t *testing.T, want event, what string) {
	t.Helper()
	got := r.next(t, reportDeadline, what)
	require.Equal(t, want, got, what)
}

// watch runs s.Watch(ctx, r) in a goroutine until t ends, waits for it to
// listen, and returns a channel that receives Watch's error.
func watch(t *testing.T, ctx context.Context, s *pgstore.Store, r *recorder) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, r) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	r.expect(t, up, "Watching(true) once Watch listens")
	return done
}

// record returns a complete record with a fresh ID.
func record(t testing.TB, owner, label string) apikey.Key {
	t.Helper()
	d, err := apikey.DecodeDigest(append([]byte{byte(apikey.SHA256)}, make([]byte, 32)...))
	require.NoError(t, err, "DecodeDigest")
	return apikey.Key{
		ID: uuid.Must(uuid.NewV7()), Owner: owner, Label: label, Scopes: apikey.FullAccess(), Active: true,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond), Hint: "sk_…abcd", Digest: d,
	}
}

// openTwo returns two Stores, each with a pool of its own, on one fresh
// schema: two instances of an application.
func openTwo(t *testing.T) (a, b *pgstore.Store, db pgtest.DB) {
	t.Helper()
	a, db = openStore(t)
	b, err := pgstore.Open(context.Background(), db.URL, pgstore.Options{Schema: db.Schema})
	require.NoError(t, err, "Open of the second instance")
	t.Cleanup(func() { b.Close() })
	return a, b, db
}

func TestWatchReportsChangesFromAnotherInstance(t *testing.T) {
	ctx := context.Background()
	a, b, db := openTwo(t)
	r := newRecorder()
	watch(t, ctx, a, r)

	k := record(t, "acct", "watched")
	require.NoError(t, b.Create(ctx, k), "Create")
	r.expect(t, event(k.ID.String()), "report of Create")

	label, inactive, exp := "renamed", false, time.Now().Add(time.Hour)
	for name, u := range map[string]apikey.Update{
		"label": {Label: &label}, "active": {Active: &inactive}, "expiry": {ExpiresAt: &exp},
	} {
		_, err := b.Update(ctx, k.ID, u)
		require.NoError(t, err, "Update of the %s", name)
		r.expect(t, event(k.ID.String()), "report of an Update of the "+name)
	}

	// MarkUsed is not reported: the next report is of the change made
	// after it (notifications arrive in commit order).
	require.NoError(t, b.MarkUsed(ctx, []apikey.Use{{ID: k.ID, At: time.Now()}}), "MarkUsed")
	marker := record(t, "acct", "marker")
	require.NoError(t, b.Create(ctx, marker), "Create of the marker")
	r.expect(t, event(marker.ID.String()), "next report after MarkUsed: the marker's, not MarkUsed's")

	// A change made by another program, straight in SQL, is reported too.
	table := pgx.Identifier{db.Schema, "keyscope_keys"}.Sanitize()
	pgtest.Exec(t, "UPDATE "+table+" SET active = true WHERE id = $1", k.ID)
	r.expect(t, event(k.ID.String()), "report of an UPDATE made in SQL")

	// A transaction rolled back announces nothing.
	pool := newPool(t, db.URL)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err, "Begin")
	_, err = tx.Exec(ctx, "DELETE FROM "+table+" WHERE id = $1", marker.ID)
	require.NoError(t, err, "DELETE in a transaction")
	require.NoError(t, tx.Rollback(ctx), "Rollback")

	require.NoError(t, b.Delete(ctx, k.ID), "Delete")
	r.expect(t, event(k.ID.String()), "report of Delete (and none of the rolled-back delete)")

	pgtest.Exec(t, "TRUNCATE "+table)
	r.expect(t, down, "TRUNCATE: Watching(false)")
	r.expect(t, up, "TRUNCATE: then Watching(true)")
}

func TestWatchSchemasDoNotCross(t *testing.T) {
	ctx := context.Background()
	a, _ := openStore(t)
	other, _ := openStore(t)
	r := newRecorder()
	watch(t, ctx, a, r)
	require.NoError(t, other.Create(ctx, record(t, "", "in another schema")), "Create in the other schema")
	mine := record(t, "", "in the watched schema")
	require.NoError(t, a.Create(ctx, mine), "Create in the watched schema")
	r.expect(t, event(mine.ID.String()), "first report: the watched schema's key, not the other's")
}

// terminateListener ends the backend of every connection listening on the
// channel of schema, and returns how many it ended.
func terminateListener(t *testing.T, db pgtest.DB, schema string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.URL)
	require.NoError(t, err, "connecting")
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = $1`,
		"LISTEN "+pgx.Identifier{pgstore.Channel(schema)}.Sanitize()).Scan(&n)
	require.NoError(t, err, "pg_terminate_backend")
	return n
}

func TestWatchListensAgainAfterItsBackendIsTerminated(t *testing.T) {
	ctx := context.Background()
	a, b, db := openTwo(t)
	r := newRecorder()
	watch(t, ctx, a, r)
	for round := range 3 {
		require.Equal(t, 1, terminateListener(t, db, db.Schema), "listening backends terminated")
		r.expect(t, down, fmt.Sprintf("round %d: Watching(false) once the backend is gone", round))
		r.expect(t, up, fmt.Sprintf("round %d: Watching(true) once it listens again", round))
		k := record(t, "", "after a reconnection")
		require.NoError(t, b.Create(ctx, k), "Create")
		r.expect(t, event(k.ID.String()), "report after listening again")
	}
}

func TestWatchReturns(t *testing.T) {
	t.Run("when ctx is canceled", func(t *testing.T) {
		s, _ := openStore(t)
		r := newRecorder()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Watch(ctx, r) }()
		r.expect(t, up, "Watching(true)")
		cancel()
		select {
		case err := <-done:
			assert.ErrorIs(t, err, context.Canceled, "Watch's error")
		case <-time.After(reportDeadline):
			require.FailNow(t, "Watch did not return after its context was canceled")
		}
		assert.Empty(t, r.events, "calls once Watch was told to stop")
	})
	t.Run("when the Store closes", func(t *testing.T) {
		s, _ := openStore(t)
		r := newRecorder()
		done := make(chan error, 1)
		go func() { done <- s.Watch(context.Background(), r) }()
		r.expect(t, up, "Watching(true)")
		require.NoError(t, s.Close(), "Close")
		// Close waits for Watch, so it has returned by now.
		select {
		case err := <-done:
			assert.ErrorIs(t, err, apikey.ErrClosed, "Watch's error")
		default:
			require.FailNow(t, "Watch still runs after Close returned")
		}
		assert.Empty(t, r.events, "calls once Watch was told to stop")
	})
	t.Run("at once on a closed Store", func(t *testing.T) {
		s, _ := openStore(t)
		require.NoError(t, s.Close(), "Close")
		r := newRecorder()
		assert.ErrorIs(t, s.Watch(context.Background(), r), apikey.ErrClosed, "Watch on a closed Store")
		assert.Empty(t, r.events, "calls by a Watch on a closed Store")
	})
	t.Run("at once with a canceled ctx", func(t *testing.T) {
		s, _ := openStore(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		r := newRecorder()
		err := s.Watch(ctx, r)
		assert.True(t, errors.Is(err, context.Canceled), "Watch with a canceled context: %v", err)
		assert.Empty(t, r.events, "calls by a Watch with a canceled context")
	})
}
