package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/keyscope/apikey"
)

// columns are the columns of a key record after its id, in the order of
// the scan targets of rowValues.
const columns = `owner, label, scopes, active, created_at, last_used_at, expires_at, cloned_from, hint, digest`

// queries are the Store's statements, with the schema's name quoted in
// them. pgx prepares each on a connection the first time it runs there, and
// keeps it prepared (its statement cache).
type queries struct {
	get, insert, update, del, markUsed string
	listOwner, listOwnerBefore         string
	listAll, listAllBefore             string
}

// newQueries returns the statements over the tables of schema.
func newQueries(schema string) queries {
	t := pgx.Identifier{schema, "keyscope_keys"}.Sanitize()
	return queries{
		get:    `SELECT ` + columns + ` FROM ` + t + ` WHERE id = $1`,
		insert: `INSERT INTO ` + t + ` (id, ` + columns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		// One statement: the change and the record returned are one
		// atomic step, and concurrent Updates of a key queue on its row
		// lock, each applying wholly.
		update: `UPDATE ` + t + ` SET
			label = coalesce($1, label),
			active = coalesce($2, active),
			expires_at = CASE WHEN $3 THEN $4 ELSE expires_at END
			WHERE id = $5
			RETURNING ` + columns,
		del: `DELETE FROM ` + t + ` WHERE id = $1`,
		// The rows to change are locked in ID order before any is
		// changed, so that two batches naming the same keys (two
		// instances flushing at once) never deadlock; duplicates in a
		// batch merge to their latest time.
		markUsed: `WITH u AS (
				SELECT id, max(at) AS at FROM unnest($1::uuid[], $2::timestamptz[]) AS b(id, at) GROUP BY id
			), l AS (
				SELECT k.id, u.at FROM ` + t + ` k JOIN u ON u.id = k.id
				WHERE k.last_used_at IS NULL OR k.last_used_at < u.at
				ORDER BY k.id FOR UPDATE OF k
			)
			UPDATE ` + t + ` k SET last_used_at = l.at FROM l
			WHERE k.id = l.id AND (k.last_used_at IS NULL OR k.last_used_at < l.at)`,
		// One owner's keys are a range of the index on (owner, id), every
		// key a range of the primary key, both read in List order. LIMIT
		// NULL is no limit.
		listOwner:       `SELECT id, ` + columns + ` FROM ` + t + ` WHERE owner = $1 ORDER BY id DESC LIMIT $2`,
		listOwnerBefore: `SELECT id, ` + columns + ` FROM ` + t + ` WHERE owner = $1 AND id < $2 ORDER BY id DESC LIMIT $3`,
		listAll:         `SELECT id, ` + columns + ` FROM ` + t + ` ORDER BY id DESC LIMIT $1`,
		listAllBefore:   `SELECT id, ` + columns + ` FROM ` + t + ` WHERE id < $1 ORDER BY id DESC LIMIT $2`,
	}
}

// closedError is the error of every method of a closed Store.
func closedError(what string) error {
	return fmt.Errorf("pgstore: %s: %w", what, apikey.ErrClosed)
}

// fail returns the error of the operation what, which failed with err: it
// wraps apikey.ErrClosed if the Store is closed, and ctx's error if ctx is
// done, whatever pgx made of it.
func (s *Store) fail(ctx context.Context, err error, what string) error {
	if s.closed.Load() {
		return closedError(what)
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("pgstore: %s: %w: %w", what, cerr, err)
	}
	return fmt.Errorf("pgstore: %s: %w", what, err)
}

// begin checks the Store's state and ctx before an operation.
func (s *Store) begin(ctx context.Context, what func() string) error {
	if s.closed.Load() {
		return closedError(what())
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: %s: %w", what(), err)
	}
	return nil
}

// storableText returns an error naming field if v cannot be stored in a
// PostgreSQL text column: text holds valid UTF-8 without NUL bytes.
func storableText(field, v string) error {
	switch {
	case strings.IndexByte(v, 0) >= 0:
		return fmt.Errorf("%s %.64q holds a NUL byte, which PostgreSQL text cannot store", field, v)
	case !utf8.ValidString(v):
		return fmt.Errorf("%s %.64q is not valid UTF-8", field, v)
	}
	return nil
}

// uuidArg returns id as a uuid parameter, uuid.Nil as NULL.
func uuidArg(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: id != uuid.Nil} }

// timeArg returns t as a timestamptz parameter, the zero time as NULL.
func timeArg(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// Create implements apikey.Store. A label is stored exactly, NUL bytes
// included. An owner or hint that PostgreSQL text cannot hold (a NUL byte,
// invalid UTF-8) is refused with an error naming it, wrapping
// apikey.ErrInvalidOwner for the owner; apikey.CheckOwner refuses such
// owners anyway, and the Manager makes only valid hints.
func (s *Store) Create(ctx context.Context, k apikey.Key) error {
	what := func() string { return "creating key " + k.ID.String() }
	if err := s.begin(ctx, what); err != nil {
		return err
	}
	if err := storableText("owner", k.Owner); err != nil {
		return fmt.Errorf("pgstore: %s: %w: %w", what(), apikey.ErrInvalidOwner, err)
	}
	if err := storableText("hint", k.Hint); err != nil {
		return fmt.Errorf("pgstore: %s: %w", what(), err)
	}
	_, err := s.pool.Exec(ctx, s.q.insert, uuidArg(k.ID), k.Owner, []byte(k.Label), k.Scopes.String(), k.Active,
		k.CreatedAt, timeArg(k.LastUsedAt), timeArg(k.ExpiresAt), uuidArg(k.ClonedFrom), k.Hint, k.Digest.Bytes())
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "keyscope_keys_pkey" {
			return fmt.Errorf("%w: %s", apikey.ErrDuplicateID, k.ID)
		}
		return s.fail(ctx, err, what())
	}
	return nil
}

// Get implements apikey.Store: one lookup by primary key.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (apikey.Key, error) {
	if s.closed.Load() || ctx.Err() != nil {
		return apikey.Key{}, s.begin(ctx, func() string { return "reading key " + id.String() })
	}
	v := rowValues{s: s}
	err := s.pool.QueryRow(ctx, s.q.get, uuidArg(id)).Scan(v.targets(false)...)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return apikey.Key{}, apikey.ErrNotFound // bare, on the verification path
		}
		return apikey.Key{}, s.fail(ctx, err, "reading key "+id.String())
	}
	return v.key(id)
}

// List implements apikey.Store.
func (s *Store) List(ctx context.Context, opts apikey.ListOptions) ([]apikey.Key, error) {
	what := func() string {
		if opts.AllOwners {
			return "listing keys"
		}
		return fmt.Sprintf("listing keys of owner %.64q", opts.Owner)
	}
	if err := s.begin(ctx, what); err != nil {
		return nil, err
	}
	if !opts.AllOwners && storableText("owner", opts.Owner) != nil {
		return []apikey.Key{}, nil // no key can have an owner text cannot hold
	}
	limit := pgtype.Int8{Int64: int64(opts.Limit), Valid: opts.Limit > 0}
	var rows pgx.Rows
	var err error
	switch {
	case opts.AllOwners && opts.Before == uuid.Nil:
		rows, err = s.pool.Query(ctx, s.q.listAll, limit)
	case opts.AllOwners:
		rows, err = s.pool.Query(ctx, s.q.listAllBefore, uuidArg(opts.Before), limit)
	case opts.Before == uuid.Nil:
		rows, err = s.pool.Query(ctx, s.q.listOwner, opts.Owner, limit)
	default:
		rows, err = s.pool.Query(ctx, s.q.listOwnerBefore, opts.Owner, uuidArg(opts.Before), limit)
	}
	if err != nil {
		return nil, s.fail(ctx, err, what())
	}
	defer rows.Close()
	ks := []apikey.Key{}
	v := rowValues{s: s}
	targets := v.targets(true)
	for rows.Next() {
		if err := rows.Scan(targets...); err != nil {
			return nil, s.fail(ctx, err, what())
		}
		k, err := v.key(v.id.Bytes)
		if err != nil {
			return nil, err
		}
		ks = append(ks, k)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, err, what())
	}
	return ks, nil
}

// Update implements apikey.Store, in one UPDATE ... RETURNING statement.
// It never writes the owner, scopes, digest or creation time.
func (s *Store) Update(ctx context.Context, id uuid.UUID, u apikey.Update) (apikey.Key, error) {
	what := "updating key " + id.String()
	if err := s.begin(ctx, func() string { return what }); err != nil {
		return apikey.Key{}, err
	}
	if u.Label == nil && u.Active == nil && u.ExpiresAt == nil {
		k, err := s.Get(ctx, id)
		if errors.Is(err, apikey.ErrNotFound) {
			err = fmt.Errorf("%w: %s", apikey.ErrNotFound, id)
		}
		return k, err
	}
	var label, active, expires any
	if u.Label != nil {
		label = []byte(*u.Label)
	}
	if u.Active != nil {
		active = *u.Active
	}
	if u.ExpiresAt != nil {
		expires = timeArg(*u.ExpiresAt)
	}
	v := rowValues{s: s}
	err := s.pool.QueryRow(ctx, s.q.update, label, active, u.ExpiresAt != nil, expires, uuidArg(id)).Scan(v.targets(false)...)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return apikey.Key{}, fmt.Errorf("%w: %s", apikey.ErrNotFound, id)
	case err != nil:
		return apikey.Key{}, s.fail(ctx, err, what)
	}
	return v.key(id)
}

// Delete implements apikey.Store.
func (s *Store) Delete(ctx context.Context, id uuid.UUID) error {
	what := func() string { return "deleting key " + id.String() }
	if err := s.begin(ctx, what); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, s.q.del, uuidArg(id))
	if err != nil {
		return s.fail(ctx, err, what())
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", apikey.ErrNotFound, id)
	}
	return nil
}

// MarkUsed implements apikey.Store. The batch is one statement, and so
// applies wholly or not at all.
func (s *Store) MarkUsed(ctx context.Context, uses []apikey.Use) error {
	what := func() string { return fmt.Sprintf("recording use of %d keys", len(uses)) }
	if err := s.begin(ctx, what); err != nil {
		return err
	}
	if len(uses) == 0 {
		return nil
	}
	ids := make([]pgtype.UUID, len(uses))
	ats := make([]time.Time, len(uses))
	for i, u := range uses {
		ids[i], ats[i] = pgtype.UUID{Bytes: u.ID, Valid: true}, u.At
	}
	if _, err := s.pool.Exec(ctx, s.q.markUsed, ids, ats); err != nil {
		return s.fail(ctx, err, what())
	}
	return nil
}
