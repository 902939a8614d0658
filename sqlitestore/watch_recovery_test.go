package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/sqlitestore"
	"github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// awaitRefusedOrUnwatched polls m until it refuses tok as inactive or says
// it no longer watches, and fails t if neither happens within 3 seconds:
// either way the revocation is honoured, at once or within CacheTTL.
func awaitRefusedOrUnwatched(t *testing.T, m *apikey.Manager, tok string) {
	t.Helper()
	ctx := context.Background()
	revoked := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for time.Since(revoked) < 3*time.Second {
		if !m.Watching() {
			return
		}
		// The store may be stalled: a Verify that reaches it gives up.
		vctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err := m.Verify(vctx, tok)
		cancel()
		if errors.Is(err, apikey.ErrInactive) {
			return
		}
		<-tick.C
	}
	t.Fatalf("a key revoked %v ago by another Store still verifies, and Watching() = %v", time.Since(revoked).Round(time.Millisecond), m.Watching())
}

// watchingManager returns a Manager on s that holds tok's key in its cache
// for an hour, once it watches s's changes.
func watchingManager(t *testing.T, s *sqlitestore.Store) *apikey.Manager {
	t.Helper()
	m := newManager(t, apikey.Options{Store: s, CacheTTL: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, m.WaitWatching(ctx))
	return m
}

// TestWatchOfAStalledPoolReportsItself holds the one connection of the
// application's handle that a Store made by New polls through: the poll
// waits, and after half a second the Watch must say it stopped listening
// rather than go quiet while another Store revokes a key.
func TestWatchOfAStalledPoolReportsItself(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_txlock=immediate")
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	s, err := sqlitestore.New(db)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	m := watchingManager(t, s)
	k, tok, err := m.Create(ctx, apikey.CreateParams{Label: "stalled"})
	require.NoError(t, err)
	_, err = m.Verify(ctx, tok.Reveal()) // now cached
	require.NoError(t, err)

	conn, err := db.Conn(ctx) // the application holds its one connection
	require.NoError(t, err)
	defer conn.Close()
	other := openStore(t, path)
	_, err = other.Update(ctx, k.ID, apikey.Update{Active: new(bool)})
	require.NoError(t, err)
	awaitRefusedOrUnwatched(t, m, tok.Reveal())
}

// TestWatchAfterTheFileIsRestored restores the database from a copy made
// before rows of the change log that a Watch has read, as an operator
// restoring a backup would: the log's seqs go back, and the Watch must
// notice, rather than skip the changes logged under the reused seqs.
func TestWatchAfterTheFileIsRestored(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path, backup := filepath.Join(dir, "keys.db"), filepath.Join(dir, "backup.db")
	s := openStore(t, path)
	rw := startWatch(t, s)
	k, _ := newKey(t, s, "kept")
	rw.waitChanged(t, k.ID)
	_, write := sqlitestore.Handles(s)
	_, err := write.ExecContext(ctx, fmt.Sprintf("VACUUM INTO '%s'", backup))
	require.NoError(t, err)
	var later apikey.Key
	for i := range 20 {
		later, _ = newKey(t, s, fmt.Sprint("later ", i))
	}
	rw.waitChanged(t, later.ID) // the Watch read past the copy's log

	restore(t, backup, path)
	other := openStore(t, path)
	_, err = other.Update(ctx, k.ID, apikey.Update{Active: new(bool)})
	require.NoError(t, err)
	for {
		e := rw.next(t)
		if e.changed && e.id == k.ID || !e.changed && !e.listening {
			return // reported, or the watcher told to forget what it knows
		}
	}
}

// restore copies the database src over dst with SQLite's backup API, as
// the sqlite3 shell's .restore does, while dst is open elsewhere.
func restore(t *testing.T, src, dst string) {
	t.Helper()
	ctx := context.Background()
	open := func(path string) *sql.Conn {
		db, err := sql.Open("sqlite3", "file:"+path)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		c, err := db.Conn(ctx)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	from, to := open(src), open(dst)
	require.NoError(t, to.Raw(func(dc any) error {
		return from.Raw(func(sc any) error {
			b, err := dc.(*sqlite3.SQLiteConn).Backup("main", sc.(*sqlite3.SQLiteConn), "main")
			if err != nil {
				return err
			}
			if _, err := b.Step(-1); err != nil {
				b.Finish()
				return err
			}
			return b.Finish()
		})
	}))
}
