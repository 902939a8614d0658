package sqlitestore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Connection settings, as go-sqlite3 DSN parameters. See the package
// documentation for why each is what it is.
const (
	writeParams = "_busy_timeout=5000&_txlock=immediate&_synchronous=NORMAL"
	readParams  = "_busy_timeout=5000&_query_only=true"
	// watchParams are those of the connection a Watch polls on. A reader
	// of a WAL database waits for a lock only in rare moments (another
	// process recovering the WAL after a crash, say), and a poll had
	// better fail and try again at the next one than wait as long as a
	// write may.
	watchParams = "_busy_timeout=100&_query_only=true"
)

// Open opens the SQLite database at path, creating the file and its schema
// if needed and applying any missing migrations, and returns a Store over
// it. It refuses, with an error naming path, a directory, a file that is
// not a SQLite database, a database it cannot write, and a database whose
// schema is newer than this version of the package knows (which it leaves
// untouched).
//
// path is a file name, taken literally: ":memory:" and "file:x" are files
// of those names (for a database in memory, or a URI, open a handle and
// pass it to [New]). A file that does not exist is created with mode 0600,
// readable and writable by its owner only, since it holds the digests of
// every key; SQLite gives the -wal and -shm files beside it the same mode.
// The mode of an existing file is left as it is, the operator's choice, and
// its -wal and -shm files follow it too.
//
// The Store owns its connections: Close closes them.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlitestore: database path is empty")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: opening %s: %w", path, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("sqlitestore: opening %s: is a directory, not a database file", path)
	case errors.Is(err, fs.ErrNotExist):
		if err := createPrivate(abs); err != nil {
			return nil, fmt.Errorf("sqlitestore: opening %s: cannot open the file: check that its directory exists and is writable (%w)", path, err)
		}
	}
	uri := fileURI(abs)
	w, err := sql.Open("sqlite3", uri+"?"+writeParams)
	if err != nil {
		return nil, openError(path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := setUp(w); err != nil {
		w.Close()
		return nil, openError(path, err)
	}
	r := sql.OpenDB(connector{dsn: uri + "?" + readParams, drv: &sqlite3.SQLiteDriver{ConnectHook: setUpReader}})
	n := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	s, err := newStore(path, r, w, true)
	if err == nil {
		s.watchDSN = uri + "?" + watchParams
	}
	if err != nil {
		r.Close()
		w.Close()
		return nil, openError(path, err)
	}
	return s, nil
}

// createPrivate creates an empty file at path, which does not exist, with
// mode 0600 (less what the umask removes), so that SQLite, which would
// create it 0644, opens a file only its owner can read. A symbolic link
// whose target is missing is followed, as SQLite would follow it; a file
// made meanwhile by another process is left as it is. An empty file is a
// new database to SQLite.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// readerMmapSize is how much of the file readers map into memory: reads of
// mapped pages are memory accesses, where unmapped ones are a pread system
// call and a copy into each connection's own page cache. The mapping is of
// the operating system's page cache, shared by all readers. It is address
// space, not memory: SQLite maps no more than the file's size. 1 GiB covers
// several million keys, so that listing one owner's keys, whose rows are
// scattered across the file, costs about the same at 1M keys as at 100k
// (BenchmarkListOwner); a larger file is read through pread beyond it.
const readerMmapSize = 1 << 30

// setUpReader applies the settings of reader connections that the DSN
// cannot carry.
func setUpReader(c *sqlite3.SQLiteConn) error {
	_, err := c.Exec(fmt.Sprintf("PRAGMA mmap_size = %d", readerMmapSize), nil)
	return err
}

// connector opens connections with a driver of its own, which carries a
// ConnectHook, without registering a driver name for the whole process.
type connector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

// Connect implements driver.Connector.
func (c connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }

// Driver implements driver.Connector.
func (c connector) Driver() driver.Driver { return c.drv }

// setUp migrates the database behind the writer handle w and then switches
// it to WAL. The migration comes first so that a database Open refuses is
// not changed at all.
func setUp(w *sql.DB) error {
	ctx := context.Background()
	if _, _, err := migrate(ctx, w, migrations()); err != nil {
		return err
	}
	// Entering WAL needs an exclusive lock, which SQLite tries once,
	// without its busy handler: another process opening the file at the
	// same moment makes it fail with SQLITE_BUSY. Retry for as long as the
	// busy timeout would have waited.
	deadline := time.Now().Add(busyTimeout)
	for pause := time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		var mode string
		err := w.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		switch {
		case err == nil && strings.EqualFold(mode, "wal"):
			return nil
		case err == nil:
			return fmt.Errorf("switching to WAL: journal mode is still %q", mode)
		case !isBusy(err) || time.Now().After(deadline):
			return fmt.Errorf("switching to WAL: %w", err)
		}
		time.Sleep(pause)
	}
}

// busyTimeout is how long a connection waits for a lock another holds; it
// must match _busy_timeout in the DSNs.
const busyTimeout = 5 * time.Second

// isBusy reports whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

// New returns a Store over db, a handle of the go-sqlite3 driver ("sqlite3")
// that the application opened and keeps managing. It applies any missing
// migrations, with the same refusals as [Open], and changes no other
// setting: see the package documentation for the DSN to open db with.
//
// The Store does not own db: Close releases the Store's prepared statements
// and leaves db open.
func New(db *sql.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlitestore: New: db is nil")
	}
	if _, ok := db.Driver().(*sqlite3.SQLiteDriver); !ok {
		return nil, fmt.Errorf("sqlitestore: New: db uses driver %T, want github.com/mattn/go-sqlite3", db.Driver())
	}
	name, err := mainFile(db)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: New: %w", describe(err))
	}
	if _, _, err := migrate(context.Background(), db, migrations()); err != nil {
		return nil, openError(name, err)
	}
	s, err := newStore(name, db, db, false)
	if err != nil {
		return nil, openError(name, err)
	}
	return s, nil
}

// mainFile returns the file name of db's main database, or ":memory:".
func mainFile(db *sql.DB) (string, error) {
	rows, err := db.Query("PRAGMA database_list")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	for rows.Next() {
		var seq int
		var name, file string
		if err := rows.Scan(&seq, &name, &file); err != nil {
			return "", err
		}
		if name == "main" {
			if file == "" {
				file = ":memory:"
			}
			return file, rows.Close()
		}
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	return ":memory:", nil
}

// fileURI returns a SQLite URI for the absolute path p, escaping the
// characters a URI gives meaning to, so that any file name works.
func fileURI(p string) string {
	p = filepath.ToSlash(p)
	if !strings.HasPrefix(p, "/") { // a Windows drive letter
		p = "/" + p
	}
	return "file:" + (&url.URL{Path: p}).EscapedPath()
}

// openError wraps err, from opening or setting up the database at name,
// into an error that says what is wrong in plain words and names the file.
func openError(name string, err error) error {
	return fmt.Errorf("sqlitestore: opening %s: %w", name, describe(err))
}

// describe adds a plain explanation to the SQLite errors a misplaced or
// damaged file gives.
func describe(err error) error {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code {
	case sqlite3.ErrNotADB:
		return fmt.Errorf("not a SQLite database (%w)", err)
	case sqlite3.ErrCorrupt:
		return fmt.Errorf("database is corrupt (%w)", err)
	case sqlite3.ErrReadonly:
		return fmt.Errorf("database is read-only, and a key store must be writable (%w)", err)
	case sqlite3.ErrCantOpen:
		return fmt.Errorf("cannot open the file: check that its directory exists and is writable (%w)", err)
	case sqlite3.ErrPerm, sqlite3.ErrAuth:
		return fmt.Errorf("permission denied (%w)", err)
	}
	return err
}

// insertQuery stores a record, with the arguments insertArgs returns.
const insertQuery = `INSERT INTO keyscope_keys (id, ` + columns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// The queries of List: one owner's keys, or every key, each from the
// newest or from before a cursor. An owner's are a range of the index on
// (owner, id) and every key a range of the primary key, both read in the
// order listed, so that a page costs in proportion to the keys it returns.
// TestListQueryPlans checks that SQLite plans them so.
const (
	listOwnerQuery       = `SELECT id, ` + columns + ` FROM keyscope_keys WHERE owner = ? ORDER BY id DESC LIMIT ?`
	listOwnerBeforeQuery = `SELECT id, ` + columns + ` FROM keyscope_keys WHERE owner = ? AND id < ? ORDER BY id DESC LIMIT ?`
	listAllQuery         = `SELECT id, ` + columns + ` FROM keyscope_keys ORDER BY id DESC LIMIT ?`
	listAllBeforeQuery   = `SELECT id, ` + columns + ` FROM keyscope_keys WHERE id < ? ORDER BY id DESC LIMIT ?`
)

// newStore returns a Store over the handles read and write, named name in
// errors, with its statements prepared. With owned, Close closes the
// handles.
func newStore(name string, read, write *sql.DB, owned bool) (*Store, error) {
	s := &Store{name: name, read: read, write: write, owned: owned, writer: make(chan struct{}, 1)}
	s.closing, s.stopWatches = context.WithCancel(context.Background())
	stmts := []struct {
		dst   **sql.Stmt
		db    *sql.DB
		query string
	}{
		{&s.get, read, `SELECT ` + columns + ` FROM keyscope_keys WHERE id = ?`},
		{&s.listOwner, read, listOwnerQuery},
		{&s.listOwnerBefore, read, listOwnerBeforeQuery},
		{&s.listAll, read, listAllQuery},
		{&s.listAllBefore, read, listAllBeforeQuery},
		{&s.insert, write, insertQuery},
		{&s.update, write, `UPDATE keyscope_keys SET
			label = coalesce(?1, label),
			active = coalesce(?2, active),
			expires_at = CASE WHEN ?3 THEN ?4 ELSE expires_at END
			WHERE id = ?5
			RETURNING ` + columns},
		{&s.del, write, `DELETE FROM keyscope_keys WHERE id = ?`},
	}
	for _, st := range stmts {
		p, err := st.db.Prepare(st.query)
		if err != nil {
			s.closeStmts()
			return nil, fmt.Errorf("preparing statements: %w", err)
		}
		*st.dst = p
	}
	return s, nil
}

// closeStmts closes the prepared statements that are open.
func (s *Store) closeStmts() {
	for _, st := range []*sql.Stmt{s.get, s.listOwner, s.listOwnerBefore, s.listAll, s.listAllBefore, s.insert, s.update, s.del} {
		if st != nil {
			st.Close()
		}
	}
}

// Close releases the Store. It stops every running Watch and waits for it
// to return, then closes the database if the Store was made by Open, and
// only the Store's prepared statements if it was made by New. Afterwards
// every method returns an error wrapping apikey.ErrClosed. Close is
// idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.watchMu.Lock()
		s.closed.Store(true)
		s.stopWatches()
		s.watchMu.Unlock()
		s.watches.Wait()
		s.closeStmts()
		if s.owned {
			// Readers first, so that the writer closes last and checkpoints
			// the WAL into the database file.
			s.closeErr = errors.Join(s.read.Close(), s.write.Close())
			if s.closeErr != nil {
				s.closeErr = fmt.Errorf("sqlitestore: closing %s: %w", s.name, s.closeErr)
			}
		}
	})
	return s.closeErr
}

// lockWrite waits for this process's turn to write.
func (s *Store) lockWrite(ctx context.Context) error {
	select {
	case s.writer <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// unlockWrite ends this process's turn to write.
func (s *Store) unlockWrite() { <-s.writer }
