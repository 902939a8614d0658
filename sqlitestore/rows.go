package sqlitestore

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
)

// columns are the columns of a key record after its id, in the order of
// insertArgs and of the scan targets of scan.
const columns = `label, scopes, active, created_at, last_used_at, expires_at, cloned_from, hint, digest, owner`

// insertArgs returns the arguments of the insert statement for k.
func insertArgs(k apikey.Key) []any {
	return []any{k.ID[:], k.Label, k.Scopes.String(), k.Active,
		micros(k.CreatedAt), nullMicros(k.LastUsedAt), nullMicros(k.ExpiresAt),
		nullID(k.ClonedFrom), k.Hint, k.Digest.Bytes(), k.Owner}
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
	label, scopes, hint, owner     string
	active, created, used, expires any
}

// scan decodes the current row of rows. With withID the row starts with
// the id column; otherwise the key's ID is id.
func (s *Store) scan(rows *sql.Rows, id uuid.UUID, withID bool) (apikey.Key, error) {
	v := new(rowValues)
	dest := [...]any{&v.id, &v.label, &v.scopes, &v.active, &v.created, &v.used, &v.expires, &v.clonedFrom, &v.hint, &v.digest, &v.owner}
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
	k := apikey.Key{ID: id, Owner: v.owner, Label: v.label, Hint: v.hint}
	bad := func(what string, err error) (apikey.Key, error) {
		return apikey.Key{}, fmt.Errorf("key %s has malformed %s: %w", id, what, err)
	}
	var err error
	if k.Scopes, err = s.scopes.Parse(v.scopes); err != nil {
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
