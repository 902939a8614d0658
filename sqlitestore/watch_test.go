package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/sqlitestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// watchEvent is one call a Watch made to its watcher.
type watchEvent struct {
	listening, changed bool // which call: Watching(listening), or Changed(id) if changed
	id                 uuid.UUID
	at                 time.Time
}

func (e watchEvent) String() string {
	if e.changed {
		return "Changed(" + e.id.String() + ")"
	}
	return fmt.Sprintf("Watching(%t)", e.listening)
}

// eventWatcher is an apikey.Watcher that sends each call on events.
type eventWatcher struct{ events chan watchEvent }

func (w eventWatcher) Watching(listening bool) {
	w.events <- watchEvent{listening: listening, at: time.Now()}
}

func (w eventWatcher) Changed(id uuid.UUID) {
	w.events <- watchEvent{changed: true, id: id, at: time.Now()}
}

// runningWatch is a Watch running in a goroutine of the test.
type runningWatch struct {
	events chan watchEvent
	done   chan error // receives what Watch returned
	cancel context.CancelFunc
}

// eventTimeout bounds every wait for a Watch's report: a report is due
// within a second, and a slow, loaded machine may take some more.
const eventTimeout = 10 * time.Second

// startWatch starts s.Watch and waits for its first call, Watching(true).
// The Watch is stopped when t ends.
func startWatch(t *testing.T, s apikey.Notifier) *runningWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rw := &runningWatch{events: make(chan watchEvent, 4096), done: make(chan error, 1), cancel: cancel}
	go func() { rw.done <- s.Watch(ctx, eventWatcher{rw.events}) }()
	t.Cleanup(func() {
		cancel()
		<-rw.done
	})
	first := rw.next(t)
	require.Equal(t, "Watching(true)", first.String(), "first call of Watch")
	return rw
}

// next returns the next call of the Watch.
func (rw *runningWatch) next(t *testing.T) watchEvent {
	t.Helper()
	select {
	case e := <-rw.events:
		return e
	case err := <-rw.done:
		require.FailNow(t, "Watch returned", "%v", err)
	case <-time.After(eventTimeout):
		require.FailNow(t, "no call of Watch", "within %v", eventTimeout)
	}
	panic("unreachable")
}

// waitChanged reads the Watch's calls up to Changed(id) and returns the
// IDs reported before it. Watching(false) on the way fails the test.
func (rw *runningWatch) waitChanged(t *testing.T, id uuid.UUID) []uuid.UUID {
	t.Helper()
	var before []uuid.UUID
	for {
		e := rw.next(t)
		switch {
		case !e.changed:
			require.FailNow(t, "unexpected call of Watch", "%s while waiting for Changed(%s)", e, id)
		case e.id == id:
			return before
		default:
			before = append(before, e.id)
		}
	}
}

// newKey creates a key through a Manager over s and returns it.
func newKey(t *testing.T, s apikey.Store, label string) (apikey.Key, string) {
	t.Helper()
	m := newManager(t, apikey.Options{Store: s, UsageInterval: -1})
	k, tok, err := m.Create(context.Background(), apikey.CreateParams{Label: label})
	require.NoError(t, err, "Create %q", label)
	return k, tok.Reveal()
}

// watchChanges are the changes that must be reported, each made on the
// store by the function.
var watchChanges = []struct {
	name   string
	change func(ctx context.Context, s *sqlitestore.Store, id uuid.UUID) error
}{
	{"label updated", func(ctx context.Context, s *sqlitestore.Store, id uuid.UUID) error {
		l := "relabelled"
		_, err := s.Update(ctx, id, apikey.Update{Label: &l})
		return err
	}},
	{"deactivated", func(ctx context.Context, s *sqlitestore.Store, id uuid.UUID) error {
		f := false
		_, err := s.Update(ctx, id, apikey.Update{Active: &f})
		return err
	}},
	{"activated", func(ctx context.Context, s *sqlitestore.Store, id uuid.UUID) error {
		f, tr := false, true
		if _, err := s.Update(ctx, id, apikey.Update{Active: &f}); err != nil {
			return err
		}
		_, err := s.Update(ctx, id, apikey.Update{Active: &tr})
		return err
	}},
	{"expiry set", func(ctx context.Context, s *sqlitestore.Store, id uuid.UUID) error {
		at := time.Now().Add(time.Hour)
		_, err := s.Update(ctx, id, apikey.Update{ExpiresAt: &at})
		return err
	}},
	{"expiry removed", func(ctx context.Context, s *sqlitestore.Store, id uuid.UUID) error {
		var never time.Time
		_, err := s.Update(ctx, id, apikey.Update{ExpiresAt: &never})
		return err
	}},
	{"deleted", func(ctx context.Context, s *sqlitestore.Store, id uuid.UUID) error {
		return s.Delete(ctx, id)
	}},
}

// TestWatchTwoStores opens two Stores on one file, as two processes
// would, each with its own connections: every change to a key made through
// one, its creation included, is reported by a Watch on the other and by
// a Watch on the Store that made it. MarkUsed is not reported.
func TestWatchTwoStores(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	a := openStore(t, path)
	b := openStore(t, path)
	onA, onB := startWatch(t, a), startWatch(t, b)
	for _, tc := range watchChanges {
		t.Run(tc.name, func(t *testing.T) {
			k, _ := newKey(t, a, tc.name)
			onA.waitChanged(t, k.ID)
			onB.waitChanged(t, k.ID)
			require.NoError(t, tc.change(ctx, a, k.ID), "changing the key through one Store")
			for _, w := range []*runningWatch{onA, onB} {
				w.waitChanged(t, k.ID)
			}
			_, err := b.Get(ctx, k.ID)
			if tc.name == "deleted" {
				assert.ErrorIs(t, err, apikey.ErrNotFound, "Get through the other Store after the report")
			} else {
				assert.NoError(t, err, "Get through the other Store after the report")
			}
		})
	}
	t.Run("MarkUsed not reported", func(t *testing.T) {
		used, _ := newKey(t, a, "used")
		marker, _ := newKey(t, a, "marker")
		for _, w := range []*runningWatch{onA, onB} {
			w.waitChanged(t, marker.ID)
		}
		require.NoError(t, a.MarkUsed(ctx, []apikey.Use{{ID: used.ID, At: time.Now()}}), "MarkUsed")
		l := "after MarkUsed"
		_, err := a.Update(ctx, marker.ID, apikey.Update{Label: &l})
		require.NoError(t, err, "Update of the marker")
		// The log is read in commit order: a report of MarkUsed would come
		// before the marker's.
		for i, w := range []*runningWatch{onA, onB} {
			assert.NotContains(t, w.waitChanged(t, marker.ID), used.ID, "IDs reported before the marker's by Watch %d", i)
		}
	})
}

// TestWatchOtherWriters checks that changes made to the file without a
// Store, by a program with its own handle (the sqlite3 shell, say), are
// reported too, and that a Store made by New, whose Watch polls the
// application's handle, reports changes made through it and through
// another Store.
func TestWatchOtherWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	opened := openStore(t, path)
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_txlock=immediate")
	require.NoError(t, err, "sql.Open")
	t.Cleanup(func() { db.Close() })
	made, err := sqlitestore.New(db)
	require.NoError(t, err, "New")
	t.Cleanup(func() { made.Close() })
	onOpened, onNew := startWatch(t, opened), startWatch(t, made)

	k, _ := newKey(t, opened, "through Open")
	onOpened.waitChanged(t, k.ID)
	onNew.waitChanged(t, k.ID)

	_, err = db.Exec(`UPDATE keyscope_keys SET active = 0 WHERE id = ?`, k.ID[:])
	require.NoError(t, err, "UPDATE through a plain handle")
	onOpened.waitChanged(t, k.ID)
	onNew.waitChanged(t, k.ID)

	f := false
	other, _ := newKey(t, made, "through New")
	onOpened.waitChanged(t, other.ID)
	onNew.waitChanged(t, other.ID)
	_, err = made.Update(ctx, other.ID, apikey.Update{Active: &f})
	require.NoError(t, err, "Update through the Store made by New")
	onOpened.waitChanged(t, other.ID)
	onNew.waitChanged(t, other.ID)
}

// TestWatchNewInMemory watches a Store made by New over a database in
// memory, whose one connection makes every change: the Watch reads the log
// through that same connection, and sees its changes.
func TestWatchNewInMemory(t *testing.T) {
	db, err := sql.Open("sqlite3", ":memory:")
	require.NoError(t, err, "sql.Open")
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	s, err := sqlitestore.New(db)
	require.NoError(t, err, "New")
	t.Cleanup(func() { s.Close() })
	w := startWatch(t, s)
	k, _ := newKey(t, s, "in memory")
	w.waitChanged(t, k.ID)
	require.NoError(t, s.Delete(context.Background(), k.ID), "Delete")
	w.waitChanged(t, k.ID)
}

// TestWatchReturns checks how Watch ends: with ctx's error when ctx is
// done, with an error wrapping ErrClosed when the Store is closed (Close
// waits for it, and no call is made to the watcher afterwards), and at
// once, without a call, on a closed Store.
func TestWatchReturns(t *testing.T) {
	t.Run("ctx cancelled", func(t *testing.T) {
		s := openStore(t, filepath.Join(t.TempDir(), "keys.db"))
		w := startWatch(t, s)
		w.cancel()
		select {
		case err := <-w.done:
			assert.ErrorIs(t, err, context.Canceled, "Watch after its ctx was cancelled")
			w.done <- err // for the cleanup
		case <-time.After(eventTimeout):
			require.FailNow(t, "Watch did not return after its ctx was cancelled")
		}
	})
	t.Run("ctx deadline", func(t *testing.T) {
		s := openStore(t, filepath.Join(t.TempDir(), "keys.db"))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := s.Watch(ctx, eventWatcher{make(chan watchEvent, 16)})
		assert.ErrorIs(t, err, context.DeadlineExceeded, "Watch after its ctx's deadline")
	})
	t.Run("Store closed", func(t *testing.T) {
		s := openStore(t, filepath.Join(t.TempDir(), "keys.db"))
		ws := []*runningWatch{startWatch(t, s), startWatch(t, s)}
		require.NoError(t, s.Close(), "Close")
		for i, w := range ws {
			// Close has waited for every Watch: each has returned, and
			// made its last call to its watcher.
			select {
			case err := <-w.done:
				assert.ErrorIs(t, err, apikey.ErrClosed, "Watch %d after Close", i)
				assert.ErrorContains(t, err, "sqlitestore", "Watch %d after Close", i)
				w.done <- err
			case <-time.After(eventTimeout):
				require.FailNow(t, "Watch did not return after Close", "Watch %d", i)
			}
			close(w.events) // a call after Close would panic
		}
	})
	t.Run("closed Store", func(t *testing.T) {
		s := openStore(t, filepath.Join(t.TempDir(), "keys.db"))
		require.NoError(t, s.Close(), "Close")
		events := make(chan watchEvent, 16)
		err := s.Watch(context.Background(), eventWatcher{events})
		assert.ErrorIs(t, err, apikey.ErrClosed, "Watch on a closed Store")
		assert.Empty(t, events, "calls of Watch on a closed Store")
	})
}

// openStore opens the database at path, closed when t ends.
func openStore(t *testing.T, path string) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(path)
	require.NoError(t, err, "Open %s", path)
	t.Cleanup(func() { s.Close() })
	return s
}

// watchChildEnv, when set, makes TestWatchAcrossProcesses the child
// process that changes the key, and holds the database path and the key's
// ID, separated by a newline.
const watchChildEnv = "KEYSCOPE_SQLITESTORE_WATCH_CHILD"

// TestWatchAcrossProcesses deactivates a key in a second process, through
// a Store of its own: the Watch of this one reports it.
func TestWatchAcrossProcesses(t *testing.T) {
	if arg := os.Getenv(watchChildEnv); arg != "" {
		watchChild(arg)
		return
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	s := openStore(t, path)
	k, tok := newKey(t, s, "revoked by another process")
	w := startWatch(t, s) // after the key's creation, which it does not report

	cmd := exec.Command(os.Args[0], "-test.run=^TestWatchAcrossProcesses$", "-test.count=1")
	cmd.Env = append(os.Environ(), watchChildEnv+"="+path+"\n"+k.ID.String())
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the child process\n%s", out)
	w.waitChanged(t, k.ID)
	got, err := s.Get(ctx, k.ID)
	require.NoError(t, err, "Get after the report")
	assert.False(t, got.Active, "Active after the report")
	_, err = newManager(t, apikey.Options{Store: s, CacheTTL: -1}).Verify(ctx, tok)
	assert.ErrorIs(t, err, apikey.ErrInactive, "Verify after the report")
}

// watchChild deactivates the key named by arg through a Store of its own.
func watchChild(arg string) {
	path, id, _ := strings.Cut(arg, "\n")
	s, err := sqlitestore.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	f := false
	_, err = s.Update(context.Background(), uuid.MustParse(id), apikey.Update{Active: &f})
	if err := errors.Join(err, s.Close()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	os.Exit(0)
}
