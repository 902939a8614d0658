package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/internal/storekit"
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

	get                        *sql.Stmt // on read
	listOwner, listOwnerBefore *sql.Stmt // on read
	listAll, listAllBefore     *sql.Stmt // on read
	insert, update, del        *sql.Stmt // on write

	scopes storekit.ScopeCache

	// watchDSN is the DSN of the connection each Watch polls on, for a
	// Store made by Open; empty for New, whose Watches poll read.
	watchDSN string
	// closing is cancelled by Close, to stop every Watch; watches counts
	// the running ones, for Close to wait for. watchMu orders a Watch's
	// start against Close.
	closing     context.Context
	stopWatches context.CancelFunc
	watches     sync.WaitGroup
	watchMu     sync.Mutex

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var (
	_ apikey.Store    = (*Store)(nil)
	_ apikey.Notifier = (*Store)(nil)
)

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

// beginWrite is begin for an operation that writes: it then waits for this
// process's turn to write. When it returns nil, the caller must call
// unlockWrite once it is done.
func (s *Store) beginWrite(ctx context.Context) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	return s.lockWrite(ctx)
}

// Create implements apikey.Store.
func (s *Store) Create(ctx context.Context, k apikey.Key) error {
	if err := s.beginWrite(ctx); err != nil {
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
		if errors.Is(err, apikey.ErrNotFound) { // bare, on the verification path
			return apikey.Key{}, err
		}
		return apikey.Key{}, s.errorf(err, "reading key %s", id)
	}
	return k, nil
}

// List implements apikey.Store. One owner's keys are a range of the index
// on (owner, id); with opts.AllOwners, every key is a range of the primary
// key.
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
	switch {
	case opts.AllOwners && opts.Before == uuid.Nil:
		rows, err = s.listAll.QueryContext(ctx, limit)
	case opts.AllOwners:
		rows, err = s.listAllBefore.QueryContext(ctx, opts.Before[:], limit)
	case opts.Before == uuid.Nil:
		rows, err = s.listOwner.QueryContext(ctx, opts.Owner, limit)
	default:
		rows, err = s.listOwnerBefore.QueryContext(ctx, opts.Owner, opts.Before[:], limit)
	}
	what := func() string {
		if opts.AllOwners {
			return "listing keys"
		}
		return fmt.Sprintf("listing keys of owner %.64q", opts.Owner)
	}
	if err != nil {
		return nil, s.errorf(err, "%s", what())
	}
	defer rows.Close()
	ks := []apikey.Key{}
	for rows.Next() {
		k, err := s.scan(rows, uuid.Nil, true)
		if err != nil {
			return nil, s.errorf(err, "%s", what())
		}
		ks = append(ks, k)
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf(err, "%s", what())
	}
	return ks, nil
}

// Update implements apikey.Store. It is one UPDATE ... RETURNING statement,
// so the change and the record returned are one atomic step. It never
// writes the owner column: a key's owner is fixed at creation.
func (s *Store) Update(ctx context.Context, id uuid.UUID, u apikey.Update) (apikey.Key, error) {
	if u.Label == nil && u.Active == nil && u.ExpiresAt == nil {
		k, err := s.Get(ctx, id)
		if errors.Is(err, apikey.ErrNotFound) {
			err = fmt.Errorf("%w: %s", apikey.ErrNotFound, id)
		}
		return k, err
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
	if err := s.beginWrite(ctx); err != nil {
		return apikey.Key{}, err
	}
	defer s.unlockWrite()
	rows, err := s.update.QueryContext(ctx, label, active, u.ExpiresAt != nil, expires, id[:])
	if err != nil {
		return apikey.Key{}, s.errorf(err, "updating key %s", id)
	}
	k, err := s.scanOne(rows, id)
	switch {
	case errors.Is(err, apikey.ErrNotFound):
		return apikey.Key{}, fmt.Errorf("%w: %s", apikey.ErrNotFound, id)
	case err != nil:
		return apikey.Key{}, s.errorf(err, "updating key %s", id)
	}
	return k, nil
}

// Delete implements apikey.Store.
func (s *Store) Delete(ctx context.Context, id uuid.UUID) error {
	if err := s.beginWrite(ctx); err != nil {
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
