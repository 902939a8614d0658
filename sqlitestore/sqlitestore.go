package sqlitestore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/mattn/go-sqlite3"
)

// Store is an apikey.Store kept in a SQLite database. Make one with [Open]
// or [New]; the zero value is not usable. A Store is safe for concurrent
// use by multiple goroutines.
type Store struct {
	name  string  // the database's path, for error messages
	read  *sql.DB // queries; the same handle as write for New
	write *sql.DB // changes
	owned bool    // whether Close closes read and write

	// writer admits one write at a time from this process, so that the
	// Store's own writes never contend for SQLite's lock.
	writer chan struct{}

	get, listAll, listBefore *sql.Stmt // on read
	insert, update, del      *sql.Stmt // on write

	scopes scopeCache

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ apikey.Store = (*Store)(nil)

// Connection settings, as go-sqlite3 DSN parameters. See the package
// documentation for why each is what it is.
const (
	writeParams = "_busy_timeout=5000&_txlock=immediate&_synchronous=NORMAL"
	readParams  = "_busy_timeout=5000&_query_only=true"
)

// Open opens the SQLite database at path, creating the file and its schema
// if needed and applying any missing migrations, and returns a Store over
// it. It refuses, with an error naming path, a directory, a file that is
// not a SQLite database, a database it cannot write, and a database whose
// schema is newer than this version of the package knows (which it leaves
// untouched).
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
	if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("sqlitestore: opening %s: is a directory, not a database file", path)
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
	if err != nil {
		r.Close()
		w.Close()
		return nil, openError(path, err)
	}
	return s, nil
}

// readerMmapSize is how much of the file readers map into memory: reads of
// mapped pages are memory accesses, where unmapped ones are a pread system
// call and a copy into each connection's own page cache. The mapping is of
// the operating system's page cache, shared by all readers.
const readerMmapSize = 128 << 20

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

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.drv }

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

// migrations returns the embedded migrations. They are checked by a test,
// so failing here is a build defect.
func migrations() []migration {
	ms, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		panic(err)
	}
	return ms
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

const columns = `label, scopes, active, created_at, last_used_at, expires_at, cloned_from, hint, digest`

func newStore(name string, read, write *sql.DB, owned bool) (*Store, error) {
	s := &Store{name: name, read: read, write: write, owned: owned, writer: make(chan struct{}, 1)}
	s.scopes.init()
	stmts := []struct {
		dst   **sql.Stmt
		db    *sql.DB
		query string
	}{
		{&s.get, read, `SELECT ` + columns + ` FROM keyscope_keys WHERE id = ?`},
		{&s.listAll, read, `SELECT id, ` + columns + ` FROM keyscope_keys ORDER BY id DESC LIMIT ?`},
		{&s.listBefore, read, `SELECT id, ` + columns + ` FROM keyscope_keys WHERE id < ? ORDER BY id DESC LIMIT ?`},
		{&s.insert, write, `INSERT INTO keyscope_keys (id, ` + columns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
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

func (s *Store) closeStmts() {
	for _, st := range []*sql.Stmt{s.get, s.listAll, s.listBefore, s.insert, s.update, s.del} {
		if st != nil {
			st.Close()
		}
	}
}

// Close releases the Store. It closes the database if the Store was made by
// Open, and only the Store's prepared statements if it was made by New.
// Afterwards every method returns an error wrapping apikey.ErrClosed. Close
// is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
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

// errorf returns the error for a failed operation: it wraps
// apikey.ErrClosed if the Store is closed, and names the database.
func (s *Store) errorf(err error, format string, args ...any) error {
	if s.closed.Load() {
		return fmt.Errorf("sqlitestore: %s: %w", s.name, apikey.ErrClosed)
	}
	return fmt.Errorf("sqlitestore: %s: %s: %w", s.name, fmt.Sprintf(format, args...), describe(err))
}

// begin checks ctx and the Store's state before an operation.
func (s *Store) begin(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("sqlitestore: %s: %w", s.name, apikey.ErrClosed)
	}
	return ctx.Err()
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

func (s *Store) unlockWrite() { <-s.writer }

// Create implements apikey.Store.
func (s *Store) Create(ctx context.Context, k apikey.Key) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	if err := s.lockWrite(ctx); err != nil {
		return err
	}
	defer s.unlockWrite()
	if _, err := s.insert.ExecContext(ctx, insertArgs(k)...); err != nil {
		var se sqlite3.Error
		if errors.As(err, &se) && (se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey || se.ExtendedCode == sqlite3.ErrConstraintUnique) {
			return fmt.Errorf("%w: %s", apikey.ErrDuplicateID, k.ID)
		}
		return s.errorf(err, "storing key %s", k.ID)
	}
	return nil
}

// insertArgs returns the arguments of the insert statement for k.
func insertArgs(k apikey.Key) []any {
	return []any{k.ID[:], k.Label, k.Scopes.String(), k.Active,
		micros(k.CreatedAt), nullMicros(k.LastUsedAt), nullMicros(k.ExpiresAt),
		nullID(k.ClonedFrom), k.Hint, k.Digest.Bytes()}
}

// Get implements apikey.Store.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (apikey.Key, error) {
	if err := s.begin(ctx); err != nil {
		return apikey.Key{}, err
	}
	rows, err := s.get.QueryContext(ctx, id[:])
	if err != nil {
		return apikey.Key{}, s.errorf(err, "reading key %s", id)
	}
	k, err := s.scanOne(rows, id)
	if err != nil {
		if err == apikey.ErrNotFound { // bare, on the verification path
			return apikey.Key{}, err
		}
		return apikey.Key{}, s.errorf(err, "reading key %s", id)
	}
	return k, nil
}

// List implements apikey.Store.
func (s *Store) List(ctx context.Context, opts apikey.ListOptions) ([]apikey.Key, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	limit := int64(-1) // SQLite: no limit
	if opts.Limit > 0 {
		limit = int64(opts.Limit)
	}
	var rows *sql.Rows
	var err error
	if opts.Before == uuid.Nil {
		rows, err = s.listAll.QueryContext(ctx, limit)
	} else {
		rows, err = s.listBefore.QueryContext(ctx, opts.Before[:], limit)
	}
	if err != nil {
		return nil, s.errorf(err, "listing keys")
	}
	defer rows.Close()
	ks := []apikey.Key{}
	for rows.Next() {
		k, err := s.scan(rows, uuid.Nil, true)
		if err != nil {
			return nil, s.errorf(err, "listing keys")
		}
		ks = append(ks, k)
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf(err, "listing keys")
	}
	return ks, nil
}

// Update implements apikey.Store. It is one UPDATE ... RETURNING statement,
// so the change and the record returned are one atomic step.
func (s *Store) Update(ctx context.Context, id uuid.UUID, u apikey.Update) (apikey.Key, error) {
	if u.Label == nil && u.Active == nil && u.ExpiresAt == nil {
		k, err := s.Get(ctx, id)
		if err == apikey.ErrNotFound {
			err = fmt.Errorf("%w: %s", apikey.ErrNotFound, id)
		}
		return k, err
	}
	if err := s.begin(ctx); err != nil {
		return apikey.Key{}, err
	}
	var label, active, expires any
	if u.Label != nil {
		label = *u.Label
	}
	if u.Active != nil {
		active = *u.Active
	}
	if u.ExpiresAt != nil {
		expires = nullMicros(*u.ExpiresAt)
	}
	if err := s.lockWrite(ctx); err != nil {
		return apikey.Key{}, err
	}
	defer s.unlockWrite()
	rows, err := s.update.QueryContext(ctx, label, active, u.ExpiresAt != nil, expires, id[:])
	if err != nil {
		return apikey.Key{}, s.errorf(err, "updating key %s", id)
	}
	k, err := s.scanOne(rows, id)
	switch {
	case err == apikey.ErrNotFound:
		return apikey.Key{}, fmt.Errorf("%w: %s", apikey.ErrNotFound, id)
	case err != nil:
		return apikey.Key{}, s.errorf(err, "updating key %s", id)
	}
	return k, nil
}

// Delete implements apikey.Store.
func (s *Store) Delete(ctx context.Context, id uuid.UUID) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	if err := s.lockWrite(ctx); err != nil {
		return err
	}
	defer s.unlockWrite()
	res, err := s.del.ExecContext(ctx, id[:])
	if err != nil {
		return s.errorf(err, "deleting key %s", id)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.errorf(err, "deleting key %s", id)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", apikey.ErrNotFound, id)
	}
	return nil
}

// MarkUsed implements apikey.Store. The batch is one transaction.
func (s *Store) MarkUsed(ctx context.Context, uses []apikey.Use) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	if len(uses) == 0 {
		return nil
	}
	if err := s.lockWrite(ctx); err != nil {
		return err
	}
	defer s.unlockWrite()
	err := inImmediateTx(ctx, s.write, func(conn *sql.Conn) error {
		st, err := conn.PrepareContext(ctx, `UPDATE keyscope_keys SET last_used_at = ?1
			WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, u := range uses {
			if _, err := st.ExecContext(ctx, u.At.UnixMicro(), u.ID[:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.errorf(err, "recording use of %d keys", len(uses))
	}
	return nil
}

// scopeCache remembers parsed scope lists. Applications use a handful of
// distinct lists, so the cache saves parsing on every Get; it stops growing
// at maxScopeLists entries, so that it stays bounded whatever is stored.
// Readers take no lock: the map is replaced, never changed, on insertion.
type scopeCache struct {
	m  atomic.Pointer[map[string]apikey.Scopes]
	mu sync.Mutex // serialises insertions
}

const maxScopeLists = 256

func (c *scopeCache) init() { c.m.Store(&map[string]apikey.Scopes{}) }

// parse returns the Scopes of the canonical list, or zero Scopes for "".
func (c *scopeCache) parse(list string) (apikey.Scopes, error) {
	if list == "" {
		return apikey.Scopes{}, nil
	}
	if sc, ok := (*c.m.Load())[list]; ok {
		return sc, nil
	}
	sc, err := apikey.ParseScopes(list)
	if err != nil {
		return apikey.Scopes{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.m.Load()
	if len(old) < maxScopeLists {
		m := make(map[string]apikey.Scopes, len(old)+1)
		for k, v := range old {
			m[k] = v
		}
		m[list] = sc
		c.m.Store(&m)
	}
	return sc, nil
}

// scanOne reads the single row of rows, a query of columns for key id,
// and closes rows. No row gives apikey.ErrNotFound itself.
func (s *Store) scanOne(rows *sql.Rows, id uuid.UUID) (apikey.Key, error) {
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return apikey.Key{}, err
		}
		return apikey.Key{}, apikey.ErrNotFound
	}
	k, err := s.scan(rows, id, false)
	if err != nil {
		return apikey.Key{}, err
	}
	return k, rows.Close()
}

// rowValues are the scan targets of one row. Integers and blobs are taken
// as the driver's own values, which skips database/sql's conversions.
type rowValues struct {
	id, clonedFrom, digest         sql.RawBytes
	label, scopes, hint            string
	active, created, used, expires any
}

// scan decodes the current row of rows. With withID the row starts with
// the id column; otherwise the key's ID is id.
func (s *Store) scan(rows *sql.Rows, id uuid.UUID, withID bool) (apikey.Key, error) {
	v := new(rowValues)
	dest := [...]any{&v.id, &v.label, &v.scopes, &v.active, &v.created, &v.used, &v.expires, &v.clonedFrom, &v.hint, &v.digest}
	d := dest[1:]
	if withID {
		d = dest[:]
	}
	if err := rows.Scan(d...); err != nil {
		return apikey.Key{}, err
	}
	if withID {
		if len(v.id) != len(id) {
			return apikey.Key{}, fmt.Errorf("row has a %d-byte id, want %d", len(v.id), len(id))
		}
		copy(id[:], v.id)
	}
	k := apikey.Key{ID: id, Label: v.label, Hint: v.hint}
	bad := func(what string, err error) (apikey.Key, error) {
		return apikey.Key{}, fmt.Errorf("key %s has malformed %s: %w", id, what, err)
	}
	var err error
	if k.Scopes, err = s.scopes.parse(v.scopes); err != nil {
		return bad("scopes", err)
	}
	active, ok := v.active.(int64)
	if !ok {
		return bad("active flag", fmt.Errorf("%T", v.active))
	}
	k.Active = active != 0
	if k.CreatedAt, err = fromMicros(v.created, false); err != nil {
		return bad("created_at", err)
	}
	if k.LastUsedAt, err = fromMicros(v.used, true); err != nil {
		return bad("last_used_at", err)
	}
	if k.ExpiresAt, err = fromMicros(v.expires, true); err != nil {
		return bad("expires_at", err)
	}
	switch len(v.clonedFrom) {
	case 0:
	case len(k.ClonedFrom):
		copy(k.ClonedFrom[:], v.clonedFrom)
	default:
		return bad("cloned_from", fmt.Errorf("%d bytes, want %d", len(v.clonedFrom), len(k.ClonedFrom)))
	}
	if k.Digest, err = apikey.DecodeDigest(v.digest); err != nil {
		return bad("digest", err)
	}
	return k, nil
}

// fromMicros decodes Unix microseconds into a UTC time. NULL is the zero
// time if nullable and an error otherwise.
func fromMicros(v any, nullable bool) (time.Time, error) {
	switch v := v.(type) {
	case int64:
		return time.UnixMicro(v).UTC(), nil
	case nil:
		if nullable {
			return time.Time{}, nil
		}
	}
	return time.Time{}, fmt.Errorf("%T is not Unix microseconds", v)
}

// micros encodes t as Unix microseconds.
func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros encodes t as Unix microseconds, and the zero time as NULL.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// nullID encodes id as its 16 bytes, and uuid.Nil as NULL.
func nullID(id uuid.UUID) any {
	if id == uuid.Nil {
		return nil
	}
	return id[:]
}
