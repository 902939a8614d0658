package sqlitestore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/sqlitestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// v3Token is an entry of testdata/v3-tokens.json.
type v3Token struct {
	Hash, Owner, ID, Token string
	Active                 bool
}

// schemaVersion returns the schema version of the database behind db.
func schemaVersion(t *testing.T, db *sql.DB) int {
	t.Helper()
	var v int
	require.NoError(t, db.QueryRow(`SELECT max(version) FROM keyscope_schema`).Scan(&v), "reading the schema version")
	return v
}

// TestUpgradeFromVersion3 opens a database written by the code of schema
// version 3, before the change log (see testdata/README.md): Open upgrades
// it to version 4, every old token verifies as before (or is refused as
// inactive, as before), and changes to the old keys made through one Store
// are reported by a Watch on another.
func TestUpgradeFromVersion3(t *testing.T) {
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join("testdata", "v3.db"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "keys.db")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	js, err := os.ReadFile(filepath.Join("testdata", "v3-tokens.json"))
	require.NoError(t, err)
	var toks []v3Token
	require.NoError(t, json.Unmarshal(js, &toks), "testdata/v3-tokens.json")
	require.Len(t, toks, 12, "tokens in testdata/v3-tokens.json")

	raw, err := sql.Open("sqlite3", path)
	require.NoError(t, err, "sql.Open")
	assert.Equal(t, 3, schemaVersion(t, raw), "schema version of the file as committed")
	require.NoError(t, raw.Close(), "closing the plain handle")

	s := openStore(t, path)
	read, _ := sqlitestore.Handles(s)
	assert.Equal(t, 4, schemaVersion(t, read), "schema version after opening")
	other := openStore(t, path)
	assert.Equal(t, 4, schemaVersion(t, read), "schema version after opening again")

	// The pepper lets one Manager verify every algorithm.
	m := newManager(t, apikey.Options{Store: s, CacheTTL: -1, UsageInterval: -1, Hash: apikey.HMACSHA256, Pepper: prefixV1Pepper})
	for _, tok := range toks {
		k, err := m.Verify(ctx, tok.Token)
		if !tok.Active {
			assert.ErrorIs(t, err, apikey.ErrInactive, "%s key of owner %q, deactivated before the upgrade", tok.Hash, tok.Owner)
			continue
		}
		if assert.NoError(t, err, "%s key of owner %q", tok.Hash, tok.Owner) {
			assert.Equal(t, tok.ID, k.ID.String(), "ID")
			assert.Equal(t, tok.Owner, k.Owner, "Owner")
		}
	}

	w := startWatch(t, other)
	for _, tok := range toks {
		id := uuid.MustParse(tok.ID)
		switch {
		case tok.Active && tok.Owner == "":
			_, err = m.Deactivate(ctx, id)
		case tok.Active:
			err = m.Delete(ctx, id)
		default:
			_, err = m.Activate(ctx, id)
		}
		require.NoError(t, err, "changing the old key %s", tok.ID)
		w.waitChanged(t, id)
	}
	for _, tok := range toks {
		_, err := m.Verify(ctx, tok.Token)
		switch {
		case tok.Active && tok.Owner == "":
			assert.ErrorIs(t, err, apikey.ErrInactive, "%s key deactivated after the upgrade", tok.Hash)
		case tok.Active:
			assert.ErrorIs(t, err, apikey.ErrInvalidKey, "%s key deleted after the upgrade", tok.Hash)
		default:
			assert.NoError(t, err, "%s key activated after the upgrade", tok.Hash)
		}
	}
}
