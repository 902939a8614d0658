package pgstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/internal/storekit"
)

// Options configures a Store. The zero value is the default.
type Options struct {
	// Schema is the PostgreSQL schema that holds keyscope's tables,
	// keyscope_keys and keyscope_schema. Default "public", beside the
	// application's own tables. A schema that does not exist is created
	// (which needs the CREATE privilege on the database). Any name
	// PostgreSQL accepts works, quoted wherever it is used: up to 63 bytes
	// of UTF-8 without control characters, not starting with "pg_".
	Schema string
}

// DefaultSchema is the schema of a Store whose Options name none.
const DefaultSchema = "public"

// schemaName returns the schema o names, or an error saying why PostgreSQL
// would not accept it.
func (o Options) schemaName() (string, error) {
	s := o.Schema
	if s == "" {
		return DefaultSchema, nil
	}
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("pgstore: schema name %.64q %s", s, why)
	}
	switch {
	case len(s) > maxNameLen:
		return bad(fmt.Sprintf("is %d bytes, more than PostgreSQL's %d", len(s), maxNameLen))
	case !utf8.ValidString(s):
		return bad("is not valid UTF-8")
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return bad("holds a control character")
	case strings.HasPrefix(strings.ToLower(s), "pg_"):
		return bad(`starts with "pg_", which PostgreSQL reserves for system schemas`)
	}
	return s, nil
}

// maxNameLen is the longest name PostgreSQL keeps (NAMEDATALEN-1); a longer
// one is silently truncated.
const maxNameLen = 63

// Channel returns the name of the NOTIFY channel on which the keys of the
// given schema ("" for DefaultSchema) announce their changes: the schema
// followed by ".keyscope_keys", or where that exceeds 63 bytes,
// "keyscope_keys_" and the first 32 hex digits of the SHA-256 of the
// schema's name. The triggers of the schema derive the same name.
func Channel(schema string) string {
	if schema == "" {
		schema = DefaultSchema
	}
	if ch := schema + ".keyscope_keys"; len(ch) <= maxNameLen {
		return ch
	}
	sum := sha256.Sum256([]byte(schema))
	return "keyscope_keys_" + hex.EncodeToString(sum[:16])
}

// Store is an apikey.Store, and an apikey.Notifier, kept in a PostgreSQL
// database. Make one with [Open] or [New]; the zero value is not usable. A
// Store is safe for concurrent use by multiple goroutines.
type Store struct {
	pool    *pgxpool.Pool
	owned   bool   // whether Close closes pool
	schema  string // unquoted
	channel string
	q       queries
	scopes  storekit.ScopeCache

	// ctx ends when the Store closes, which stops running Watches.
	ctx     context.Context
	cancel  context.CancelFunc
	watches sync.WaitGroup

	closed    atomic.Bool
	closeOnce sync.Once
	closeMu   sync.Mutex // orders watches.Add against Close's Wait
}

var (
	_ apikey.Store    = (*Store)(nil)
	_ apikey.Notifier = (*Store)(nil)
)

// Open connects to the PostgreSQL database named by conn, a postgres://
// URL or a key=value DSN as pgx reads them (pool settings such as
// pool_max_conns included), creates the schema and its tables if need be
// and applies any missing migrations, and returns a Store over a
// connection pool of its own, which Close closes.
//
// It refuses, with an error, a database it cannot reach, a database whose
// encoding is not UTF8, and a schema whose version is newer than this
// package knows (wrapping [ErrNewerSchema]), which it leaves untouched.
//
// When a caller's context ends during a statement, the pool Open makes
// sends the server a cancel request, so that the statement (one waiting
// for a lock, say) does not go on to make its change later, and keeps the
// connection once the server has answered; pgx's default, which pools made
// by the application have, sends the cancel request too but closes the
// connection.
func Open(ctx context.Context, conn string, opts Options) (*Store, error) {
	schema, err := opts.schemaName()
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(conn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: reading the connection string: %w", err)
	}
	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: cancelDeadline}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: making the connection pool: %w", err)
	}
	s, err := newStore(ctx, pool, schema, true)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// cancelDeadline is how long a connection of Open's pool waits for the
// server to answer a cancel request before it gives up on the connection.
const cancelDeadline = 2 * time.Second

// New returns a Store over pool, which the application made and keeps
// managing, creating the schema and its tables if need be and applying
// any missing migrations, with the same refusals as [Open]. It changes no
// setting of pool; see the package documentation for those that matter.
// Close leaves pool open: it is the application's to close.
func New(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgstore: New: pool is nil")
	}
	schema, err := opts.schemaName()
	if err != nil {
		return nil, err
	}
	return newStore(ctx, pool, schema, false)
}

// newStore migrates schema through pool and returns a Store over it.
func newStore(ctx context.Context, pool *pgxpool.Pool, schema string, owned bool) (*Store, error) {
	if _, _, err := migrate(ctx, pool, schema, migrations()); err != nil {
		if errors.Is(err, ErrNewerSchema) {
			return nil, err
		}
		return nil, fmt.Errorf("pgstore: opening schema %s: %w", pgx.Identifier{schema}.Sanitize(), err)
	}
	s := &Store{pool: pool, owned: owned, schema: schema, channel: Channel(schema), q: newQueries(schema)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Schema returns the name of the schema that holds the Store's tables.
func (s *Store) Schema() string { return s.schema }

// Close releases the Store: it stops every running Watch, waits for them
// to return, and closes the pool if the Store made it (Open), not if the
// application did (New). Afterwards every method returns an error
// wrapping apikey.ErrClosed. Close is idempotent and returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeMu.Lock()
		s.closed.Store(true)
		s.closeMu.Unlock()
		s.cancel()
		s.watches.Wait()
		if s.owned {
			s.pool.Close()
		}
	})
	return nil
}
