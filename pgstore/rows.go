package pgstore

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/keyscope/apikey"
)

// rowValues are the scan targets of one row of columns, optionally led by
// the id. Labels, scopes and digests are read from pgx's buffer directly
// (pgtype.BytesScanner), without the copy pgx would make of them first.
type rowValues struct {
	s *Store

	id                   pgtype.UUID
	owner, hint          string
	label                labelTarget
	scopes               scopesTarget
	active               bool
	created              time.Time
	used, expires        pgtype.Timestamptz
	clonedFrom           pgtype.UUID
	digest               digestTarget
	dest                 [11]any
	scopesErr, digestErr error
}

// targets returns the scan targets of v, with the id first if withID.
func (v *rowValues) targets(withID bool) []any {
	v.scopes.v, v.digest.v = v, v
	v.dest = [...]any{&v.id, &v.owner, &v.label, &v.scopes, &v.active, &v.created, &v.used, &v.expires, &v.clonedFrom, &v.hint, &v.digest}
	if withID {
		return v.dest[:]
	}
	return v.dest[1:]
}

// labelTarget receives a label, stored as bytea.
type labelTarget struct{ s string }

// ScanBytes implements pgtype.BytesScanner.
func (t *labelTarget) ScanBytes(b []byte) error {
	t.s = string(b)
	return nil
}

// scopesTarget receives the scopes column, parsed through the Store's
// cache of scope lists.
type scopesTarget struct {
	v  *rowValues
	sc apikey.Scopes
}

// ScanBytes implements pgtype.BytesScanner. A malformed list is reported
// by key, not here, so that the error names the key.
func (t *scopesTarget) ScanBytes(b []byte) error {
	t.sc, t.v.scopesErr = t.v.s.scopes.ParseBytes(b)
	return nil
}

// digestTarget receives the digest column.
type digestTarget struct {
	v *rowValues
	d apikey.Digest
}

// ScanBytes implements pgtype.BytesScanner. DecodeDigest copies b.
func (t *digestTarget) ScanBytes(b []byte) error {
	t.d, t.v.digestErr = apikey.DecodeDigest(b)
	return nil
}

// key returns the record scanned into v, whose ID is id.
func (v *rowValues) key(id uuid.UUID) (apikey.Key, error) {
	bad := func(what string, err error) (apikey.Key, error) {
		return apikey.Key{}, fmt.Errorf("pgstore: key %s has malformed %s: %w", id, what, err)
	}
	if v.scopesErr != nil {
		return bad("scopes", v.scopesErr)
	}
	if v.digestErr != nil {
		return bad("digest", v.digestErr)
	}
	if v.used.InfinityModifier != pgtype.Finite || v.expires.InfinityModifier != pgtype.Finite {
		return bad("times", errors.New("infinite timestamp"))
	}
	k := apikey.Key{
		ID:        id,
		Owner:     v.owner,
		Label:     v.label.s,
		Scopes:    v.scopes.sc,
		Active:    v.active,
		CreatedAt: v.created.UTC(),
		Hint:      v.hint,
		Digest:    v.digest.d,
	}
	if v.used.Valid {
		k.LastUsedAt = v.used.Time.UTC()
	}
	if v.expires.Valid {
		k.ExpiresAt = v.expires.Time.UTC()
	}
	if v.clonedFrom.Valid {
		k.ClonedFrom = v.clonedFrom.Bytes
	}
	return k, nil
}
