package sqlitestore

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testKey returns a record to store, labelled label.
func testKey(t *testing.T, label string) apikey.Key {
	t.Helper()
	d, err := apikey.DecodeDigest(append([]byte{byte(apikey.SHA256)}, bytes.Repeat([]byte{1}, 32)...))
	require.NoError(t, err, "DecodeDigest")
	return apikey.Key{ID: uuid.Must(uuid.NewV7()), Label: label, Scopes: apikey.FullAccess(), Active: true,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond), Hint: "h", Digest: d}
}

// logSeqs returns the lowest and highest seq of the change log, and its
// rows.
func logSeqs(t *testing.T, s *Store) (lowest, highest, rows int64) {
	t.Helper()
	err := s.read.QueryRow(`SELECT coalesce(min(seq), 0), coalesce(max(seq), 0), count(*) FROM keyscope_changes`).Scan(&lowest, &highest, &rows)
	require.NoError(t, err, "reading the change log")
	return lowest, highest, rows
}

// ageLog makes every row of the change log older than the five minutes it
// keeps, as if written long ago.
func ageLog(t *testing.T, s *Store) {
	t.Helper()
	_, err := s.write.Exec(`UPDATE keyscope_changes SET at = at - 3600000000`)
	require.NoError(t, err, "ageing the change log")
}

// createUntilPruned creates keys until the change log's highest seq is a
// multiple of 256, where the log prunes itself, and returns the seq of the
// first row it wrote.
func createUntilPruned(t *testing.T, s *Store) int64 {
	t.Helper()
	ctx := context.Background()
	_, highest, _ := logSeqs(t, s)
	first := highest + 1
	for n := highest + 1; ; n++ {
		require.NoError(t, s.Create(ctx, testKey(t, fmt.Sprintf("filler %d", n))), "Create")
		if n%256 == 0 {
			return first
		}
	}
}

// TestChangeLogPruned checks the change log's pruning: every 256th write
// deletes the rows older than five minutes, and none younger; the log
// never loses its newest row; MarkUsed writes no row.
func TestChangeLogPruned(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "keys.db"))
	require.NoError(t, err, "Open")
	defer s.Close()

	k := testKey(t, "one")
	require.NoError(t, s.Create(ctx, k), "Create")
	require.NoError(t, s.MarkUsed(ctx, []apikey.Use{{ID: k.ID, At: time.Now()}}), "MarkUsed")
	lowest, highest, rows := logSeqs(t, s)
	assert.Equal(t, [3]int64{1, 1, 1}, [3]int64{lowest, highest, rows}, "log after a Create and a MarkUsed: lowest, highest seq, rows")

	// Young rows are kept, however many.
	createUntilPruned(t, s)
	lowest, highest, rows = logSeqs(t, s)
	assert.Equal(t, [3]int64{1, 256, 256}, [3]int64{lowest, highest, rows}, "log after 256 young writes")

	// Old rows go at the next 256th write; the young ones written since stay.
	ageLog(t, s)
	first := createUntilPruned(t, s)
	lowest, highest, rows = logSeqs(t, s)
	assert.Equal(t, [3]int64{first, 512, 256}, [3]int64{lowest, highest, rows}, "log after ageing it and 256 writes more")

	// Every row old: the newest row, the 256th, is written now and kept.
	ageLog(t, s)
	for range 255 {
		require.NoError(t, s.Create(ctx, testKey(t, "filler")), "Create")
	}
	ageLog(t, s)
	createUntilPruned(t, s)
	lowest, highest, rows = logSeqs(t, s)
	assert.Equal(t, [3]int64{768, 768, 1}, [3]int64{lowest, highest, rows}, "log after ageing every row")
}

// blockingWatcher records the calls of a Watch on events, and blocks in
// Changed while hold is open, until a value arrives on release.
type blockingWatcher struct {
	events  chan string
	hold    bool
	release chan struct{}
}

func (w *blockingWatcher) Watching(listening bool) {
	w.events <- fmt.Sprintf("Watching(%t)", listening)
}

func (w *blockingWatcher) Changed(id uuid.UUID) {
	w.events <- "Changed(" + id.String() + ")"
	if w.hold {
		<-w.release
		w.hold = false
	}
}

// nextEvent returns the next call recorded on events.
func nextEvent(t *testing.T, events <-chan string, done <-chan error) string {
	t.Helper()
	select {
	case e := <-events:
		return e
	case err := <-done:
		require.FailNow(t, "Watch returned", "%v", err)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "no call of Watch within 10s")
	}
	return ""
}

// watchInBackground runs s.Watch(w) until t ends, and returns the channel
// on which it returns.
func watchInBackground(t *testing.T, s *Store, w apikey.Watcher) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, w) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return done
}

// TestWatchFallsBehindThePrunedLog holds a watcher in Changed while the
// log is pruned past the rows it has yet to read: the Watch then tells it
// to drop what it knows, Watching(false) and Watching(true), instead of
// reporting what it still finds, and then reports changes as before.
func TestWatchFallsBehindThePrunedLog(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "keys.db"))
	require.NoError(t, err, "Open")
	defer s.Close()
	w := &blockingWatcher{events: make(chan string, 1024), hold: true, release: make(chan struct{})}
	done := watchInBackground(t, s, w)
	require.Equal(t, "Watching(true)", nextEvent(t, w.events, done), "first call")

	held := testKey(t, "held")
	require.NoError(t, s.Create(ctx, held), "Create")
	require.Equal(t, "Changed("+held.ID.String()+")", nextEvent(t, w.events, done), "the change the watcher is held in")
	missed := testKey(t, "missed")
	require.NoError(t, s.Create(ctx, missed), "Create while the watcher is held")
	ageLog(t, s)
	createUntilPruned(t, s)
	lowest, _, _ := logSeqs(t, s)
	require.Greater(t, lowest, int64(2), "lowest seq after pruning: the missed change must be gone")
	close(w.release)

	assert.Equal(t, "Watching(false)", nextEvent(t, w.events, done), "call after the held one")
	assert.Equal(t, "Watching(true)", nextEvent(t, w.events, done), "call after Watching(false)")
	after := testKey(t, "after")
	require.NoError(t, s.Create(ctx, after), "Create after the watcher caught up")
	assert.Equal(t, "Changed("+after.ID.String()+")", nextEvent(t, w.events, done), "call after starting afresh")
}

// TestWatchRecovers takes the change log away from a running Watch, by
// renaming its table: after half a second of failing to read it, the Watch
// reports Watching(false), and once the table is back, Watching(true),
// and then reports changes again. A failure shorter than half a second is
// not reported, and the changes made during it are.
func TestWatchRecovers(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "keys.db"))
	require.NoError(t, err, "Open")
	defer s.Close()
	w := &blockingWatcher{events: make(chan string, 1024)}
	done := watchInBackground(t, s, w)
	require.Equal(t, "Watching(true)", nextEvent(t, w.events, done), "first call")

	rename := func(from, to string) {
		t.Helper()
		_, err := s.write.Exec(fmt.Sprintf(`ALTER TABLE %s RENAME TO %s`, from, to))
		require.NoError(t, err, "renaming %s to %s", from, to)
	}
	t.Run("short failure", func(t *testing.T) {
		rename("keyscope_changes", "keyscope_changes_away")
		start := time.Now()
		// The triggers follow the table: the change goes to the log under
		// its other name, where the Watch cannot read it until it is back.
		k := testKey(t, "during a short failure")
		require.NoError(t, s.Create(ctx, k), "Create")
		// Keep the log away for a few polls. (This waits for no goroutine:
		// it is how long the outage lasts.)
		time.Sleep(3 * PollInterval)
		rename("keyscope_changes_away", "keyscope_changes")
		if time.Since(start) >= watchGrace {
			t.Skip("the machine was too slow to keep the failure short")
		}
		assert.Equal(t, "Changed("+k.ID.String()+")", nextEvent(t, w.events, done), "call after a short failure")
	})
	t.Run("long failure", func(t *testing.T) {
		rename("keyscope_changes", "keyscope_changes_away")
		assert.Equal(t, "Watching(false)", nextEvent(t, w.events, done), "call once the log has been gone a while")
		rename("keyscope_changes_away", "keyscope_changes")
		assert.Equal(t, "Watching(true)", nextEvent(t, w.events, done), "call once the log is back")
		k := testKey(t, "after the failure")
		require.NoError(t, s.Create(ctx, k), "Create")
		assert.Equal(t, "Changed("+k.ID.String()+")", nextEvent(t, w.events, done), "call after recovering")
	})
}
