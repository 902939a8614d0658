package sqlitestore_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/sqlitestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// prefixV1Pepper is the pepper of the HMAC-SHA256 keys in
// testdata/prefix-v1.db.
var prefixV1Pepper = []byte("keyscope testdata pepper, 32+ bytes long")

// prefixV1Token is an entry of testdata/prefix-v1-tokens.json.
type prefixV1Token struct {
	Prefix, Hash, Owner, ID, Token string
}

// openPrefixV1 copies testdata/prefix-v1.db, written by the code before
// digests bound the token prefix (see testdata/README.md), to a temporary
// directory, opens the copy, and returns it with the tokens of its keys.
func openPrefixV1(t *testing.T) (*sqlitestore.Store, []prefixV1Token) {
	t.Helper()
	db, err := os.ReadFile(filepath.Join("testdata", "prefix-v1.db"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "keys.db")
	require.NoError(t, os.WriteFile(path, db, 0o600))
	js, err := os.ReadFile(filepath.Join("testdata", "prefix-v1-tokens.json"))
	require.NoError(t, err)
	var toks []prefixV1Token
	require.NoError(t, json.Unmarshal(js, &toks), "testdata/prefix-v1-tokens.json")
	require.Len(t, toks, 18, "tokens in testdata/prefix-v1-tokens.json")
	s, err := sqlitestore.Open(path)
	require.NoError(t, err, "Open")
	t.Cleanup(func() { s.Close() })
	return s, toks
}

// everyHash is one Options setting per digest algorithm.
var everyHash = []apikey.Options{
	{Hash: apikey.SHA256},
	{Hash: apikey.HMACSHA256, Pepper: prefixV1Pepper},
	{Hash: apikey.Argon2id, Argon2: apikey.Argon2Params{Time: 1, Memory: 64}},
}

var cacheSettings = []struct {
	name string
	ttl  time.Duration
}{{"cache off", -1}, {"cache on", time.Hour}}

// TestDatabaseWrittenBeforePrefixBinding opens a database whose keys were
// minted before digests bound the token prefix. Every key keeps verifying
// with its token, under the prefix its hint names and no other; keys
// minted now into the same file verify only under their own prefix.
func TestDatabaseWrittenBeforePrefixBinding(t *testing.T) {
	ctx := context.Background()
	s, toks := openPrefixV1(t)
	read, _ := sqlitestore.Handles(s)
	var version int
	require.NoError(t, read.QueryRow(`SELECT max(version) FROM keyscope_schema`).Scan(&version))
	assert.Equal(t, 4, version, "schema version of the file after opening: the file was at 2")
	for _, c := range cacheSettings {
		t.Run("old keys/"+c.name, func(t *testing.T) {
			managers := map[string]*apikey.Manager{}
			for _, prefix := range []string{"sk", "acme_test", "acme_live"} {
				// The pepper lets one Manager verify every algorithm.
				managers[prefix] = newManager(t, apikey.Options{Store: s, Prefix: prefix, CacheTTL: c.ttl,
					Hash: apikey.HMACSHA256, Pepper: prefixV1Pepper})
			}
			for _, tok := range toks {
				stored, err := s.Get(ctx, uuid.MustParse(tok.ID))
				require.NoError(t, err, "Get %s", tok.ID)
				require.False(t, stored.Digest.BindsPrefix(), "digest of %s in the old file binds a prefix", tok.ID)
				require.Equal(t, tok.Hash, stored.Digest.Algorithm().String(), "algorithm of %s", tok.ID)
				for prefix, m := range managers {
					text := prefix + strings.TrimPrefix(tok.Token, tok.Prefix)
					k, err := m.Verify(ctx, text)
					if prefix != tok.Prefix {
						assert.ErrorIs(t, err, apikey.ErrInvalidKey, "%s %s key of owner %q, re-prefixed %s", tok.Prefix, tok.Hash, tok.Owner, prefix)
						_, err = m.Revoke(ctx, text)
						assert.ErrorIs(t, err, apikey.ErrInvalidKey, "Revoke of a %s key re-prefixed %s", tok.Prefix, prefix)
						continue
					}
					if assert.NoError(t, err, "%s %s key of owner %q, verified under %s", tok.Prefix, tok.Hash, tok.Owner, prefix) {
						assert.Equal(t, tok.ID, k.ID.String(), "ID")
						assert.Equal(t, tok.Owner, k.Owner, "Owner")
					}
				}
			}
		})
	}
	for _, base := range everyHash {
		for _, c := range cacheSettings {
			t.Run("new keys/"+base.Hash.String()+"/"+c.name, func(t *testing.T) {
				mk := func(prefix string) *apikey.Manager {
					opts := base
					opts.Store, opts.Prefix, opts.CacheTTL = s, prefix, c.ttl
					return newManager(t, opts)
				}
				test, live := mk("acme_test"), mk("acme_live")
				_, tok, err := test.Create(ctx, apikey.CreateParams{Label: "new test key"})
				require.NoError(t, err, "Create")
				forged := "acme_live" + strings.TrimPrefix(tok.Reveal(), "acme_test")
				_, err = test.Verify(ctx, tok.Reveal())
				require.NoError(t, err, "the new key under its own prefix")
				for i := range 2 {
					_, err = live.Verify(ctx, forged)
					assert.ErrorIs(t, err, apikey.ErrInvalidKey, "the new test key re-prefixed to acme_live, verification %d", i+1)
				}
				_, err = live.Revoke(ctx, forged)
				assert.ErrorIs(t, err, apikey.ErrInvalidKey, "Revoke of the new test key re-prefixed to acme_live")
				_, err = test.Verify(ctx, tok.Reveal())
				assert.NoError(t, err, "the new key after the forged attempts")
			})
		}
	}
}
