package sqlitestore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/sqlitestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openTemp opens a Store on a new file in t's temporary directory and
// closes it when t ends.
func openTemp(t testing.TB) (*sqlitestore.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.db")
	s, err := sqlitestore.Open(path)
	require.NoError(t, err, "Open")
	t.Cleanup(func() { s.Close() })
	return s, path
}

// reopen closes s and opens the file at path again.
func reopen(t testing.TB, s *sqlitestore.Store, path string) *sqlitestore.Store {
	t.Helper()
	require.NoError(t, s.Close(), "Close")
	s, err := sqlitestore.Open(path)
	require.NoError(t, err, "reopening")
	t.Cleanup(func() { s.Close() })
	return s
}

// TestOpenSettings checks the settings the package documentation promises
// on the connections Open makes.
func TestOpenSettings(t *testing.T) {
	s, _ := openTemp(t)
	read, write := sqlitestore.Handles(s)
	pragma := func(db *sql.DB, name string) string {
		t.Helper()
		var v string
		require.NoError(t, db.QueryRow("PRAGMA "+name).Scan(&v), "PRAGMA %s", name)
		return v
	}
	for _, c := range []struct {
		handle string
		db     *sql.DB
		pragma string
		want   string
	}{
		{"writer", write, "journal_mode", "wal"},
		{"writer", write, "synchronous", "1"}, // NORMAL
		{"writer", write, "busy_timeout", "5000"},
		{"writer", write, "query_only", "0"},
		{"reader", read, "journal_mode", "wal"},
		{"reader", read, "busy_timeout", "5000"},
		{"reader", read, "query_only", "1"},
		{"reader", read, "mmap_size", "1073741824"},
	} {
		assert.Equal(t, c.want, pragma(c.db, c.pragma), "%s: PRAGMA %s", c.handle, c.pragma)
	}
	assert.Equal(t, 1, write.Stats().MaxOpenConnections, "connections the writer pool allows")
}

// TestReadersDoNotWaitForWriters holds a write transaction open on the file
// from another connection and reads through the Store meanwhile. Were reads
// to wait for the writer, they would fail with "database is locked" once
// the busy timeout ran out, since the writer only finishes after them.
func TestReadersDoNotWaitForWriters(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	m := newManager(t, apikey.Options{Store: s, CacheTTL: -1})
	k, tok, err := m.Create(ctx, apikey.CreateParams{Label: "read while written"})
	require.NoError(t, err, "Manager.Create")
	other, err := sql.Open("sqlite3", path)
	require.NoError(t, err, "opening another handle")
	defer other.Close()
	conn, err := other.Conn(ctx)
	require.NoError(t, err, "another connection")
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE")
	require.NoError(t, err, "BEGIN IMMEDIATE on another connection")
	_, err = conn.ExecContext(ctx, "UPDATE keyscope_keys SET active = 0 WHERE id = ?", k.ID[:])
	require.NoError(t, err, "UPDATE on another connection")

	_, err = m.Verify(ctx, tok.Reveal())
	assert.NoError(t, err, "Verify while another connection writes (want the committed, active key)")
	ks, err := s.List(ctx, apikey.ListOptions{})
	require.NoError(t, err, "List while another connection writes")
	assert.Len(t, ks, 1, "List while another connection writes")

	_, err = conn.ExecContext(ctx, "COMMIT")
	require.NoError(t, err, "COMMIT on another connection")
	_, err = m.Verify(ctx, tok.Reveal())
	assert.ErrorIs(t, err, apikey.ErrInactive, "Verify after the other connection committed")
}

func TestOpenPathsWithURICharacters(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"keys?mode=ro.db", "a #b.db", "100%25.db", "x&_query_only=1.db", ":memory:"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			s, err := sqlitestore.Open(path)
			require.NoError(t, err, "Open")
			m := newManager(t, apikey.Options{Store: s})
			k, _, err := m.Create(ctx, apikey.CreateParams{Label: "weird path"})
			require.NoError(t, err, "Manager.Create")
			s = reopen(t, s, path)
			_, err = s.Get(ctx, k.ID)
			assert.NoError(t, err, "Get after reopening %q", path)
			_, err = os.Stat(path)
			assert.NoError(t, err, "the database must be at %q", path)
		})
	}
}

func TestNewLeavesHandleOpen(t *testing.T) {
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "app.db")+"?_journal_mode=WAL")
	require.NoError(t, err, "sql.Open")
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE app_users (name TEXT)`)
	require.NoError(t, err, "creating the application's table")
	s, err := sqlitestore.New(db)
	require.NoError(t, err, "New")
	k, _, err := newManager(t, apikey.Options{Store: s}).Create(context.Background(), apikey.CreateParams{Label: "shared file"})
	require.NoError(t, err, "Manager.Create")
	require.NoError(t, s.Close(), "Close")

	_, err = s.Get(context.Background(), k.ID)
	assert.ErrorIs(t, err, apikey.ErrClosed, "Get after Close")
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM keyscope_keys`).Scan(&n), "the application's handle after Store.Close")
	assert.Equal(t, 1, n, "keys read through the application's handle after Store.Close")
	_, err = db.Exec(`INSERT INTO app_users VALUES ('still mine')`)
	assert.NoError(t, err, "the application's own table")
}

func TestNewInMemory(t *testing.T) {
	db, err := sql.Open("sqlite3", ":memory:")
	require.NoError(t, err, "sql.Open")
	defer db.Close()
	db.SetMaxOpenConns(1)
	s, err := sqlitestore.New(db)
	require.NoError(t, err, "New")
	defer s.Close()
	m := newManager(t, apikey.Options{Store: s, CacheTTL: -1})
	_, tok, err := m.Create(context.Background(), apikey.CreateParams{Label: "in memory"})
	require.NoError(t, err, "Manager.Create")
	_, err = m.Verify(context.Background(), tok.Reveal())
	assert.NoError(t, err, "Verify")
}

// fakeDriver is a database/sql driver that is not go-sqlite3.
type fakeDriver struct{}

func (fakeDriver) Open(string) (driver.Conn, error) { return nil, errors.New("fake driver") }

func init() { sql.Register("keyscope-fake", fakeDriver{}) }

func TestNewRefusesOtherDrivers(t *testing.T) {
	db, err := sql.Open("keyscope-fake", "")
	require.NoError(t, err, "sql.Open")
	defer db.Close()
	_, err = sqlitestore.New(db)
	assert.ErrorContains(t, err, "go-sqlite3", "New with another driver")
	_, err = sqlitestore.New(nil)
	assert.Error(t, err, "New(nil)")
}

// fileModes returns the permission bits of the database at path and of its
// -wal and -shm files, which must all exist.
func fileModes(t *testing.T, path string) map[string]os.FileMode {
	t.Helper()
	modes := map[string]os.FileMode{}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		fi, err := os.Stat(path + suffix)
		require.NoError(t, err, "the database's %q file", suffix)
		modes[filepath.Base(path+suffix)] = fi.Mode().Perm()
	}
	return modes
}

// TestOpenCreatesOwnerOnlyFiles opens new databases, writes to each while
// it is open, so that SQLite has made its -wal and -shm files, and checks
// that all three files are readable and writable by their owner only. The
// usual umask, 022, left all three 0644 before Open created the file
// itself.
func TestOpenCreatesOwnerOnlyFiles(t *testing.T) {
	for _, name := range []string{"keys.db", ":memory:", "file:keys.db?mode=memory"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name)
			s, err := sqlitestore.Open(path)
			require.NoError(t, err, "Open")
			t.Cleanup(func() { s.Close() })
			_, _, err = newManager(t, apikey.Options{Store: s}).Create(context.Background(), apikey.CreateParams{Label: "private"})
			require.NoError(t, err, "Manager.Create")
			base := filepath.Base(path)
			assert.Equal(t, map[string]os.FileMode{base: 0o600, base + "-wal": 0o600, base + "-shm": 0o600}, fileModes(t, path))
		})
	}
}

// TestOpenCreatesOwnerOnlyFilesThroughASymlink opens a database through a
// symbolic link to a file that does not exist yet: SQLite follows the link,
// and the file it finds, with its -wal and -shm files, is owner-only.
func TestOpenCreatesOwnerOnlyFilesThroughASymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target.db")
	link := filepath.Join(dir, "link.db")
	require.NoError(t, os.Symlink(target, link), "Symlink")
	s, err := sqlitestore.Open(link)
	require.NoError(t, err, "Open")
	t.Cleanup(func() { s.Close() })
	_, _, err = newManager(t, apikey.Options{Store: s}).Create(context.Background(), apikey.CreateParams{Label: "private"})
	require.NoError(t, err, "Manager.Create")
	assert.Equal(t, map[string]os.FileMode{"target.db": 0o600, "target.db-wal": 0o600, "target.db-shm": 0o600}, fileModes(t, target))
}

// TestOpenKeepsAnExistingFilesMode opens a database file that its operator
// made readable by others: Open leaves its mode alone, and SQLite gives the
// -wal and -shm files the same mode.
func TestOpenKeepsAnExistingFilesMode(t *testing.T) {
	path, _ := seedFile(t)
	require.NoError(t, os.Chmod(path, 0o640), "Chmod")
	s, err := sqlitestore.Open(path)
	require.NoError(t, err, "Open")
	t.Cleanup(func() { s.Close() })
	_, _, err = newManager(t, apikey.Options{Store: s}).Create(context.Background(), apikey.CreateParams{Label: "shared"})
	require.NoError(t, err, "Manager.Create")
	assert.Equal(t, map[string]os.FileMode{"keys.db": 0o640, "keys.db-wal": 0o640, "keys.db-shm": 0o640}, fileModes(t, path))
}
