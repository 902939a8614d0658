package sqlitestore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzOpenPath opens databases under arbitrary file names: the URI that
// Open builds must name exactly that file, whatever characters it holds.
func FuzzOpenPath(f *testing.F) {
	for _, name := range []string{"keys.db", "a?b.db", "a#b", "100%", "%41", "x&mode=ro", ":memory:", "file:x", " ", "ü?#%&=;"} {
		f.Add(name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") ||
			!utf8.ValidString(name) || len(name) > 200 {
			t.Skip()
		}
		dir := t.TempDir()
		path := filepath.Join(dir, name)
		s, err := Open(path)
		require.NoError(t, err, "Open(%q)", path)
		s.Close()
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			assert.Equal(t, name, e.Name(), "Open(%q) left a file named %q", path, e.Name())
		}
		assert.NotEmpty(t, entries, "Open(%q) created no file", path)
	})
}

// FuzzGetDecodesAnyRow writes arbitrary values into a row behind the
// Store's back, as a damaged or tampered file would hold, and reads it:
// Get must return an error or a record, never panic, and a record must
// carry the values as written.
func FuzzGetDecodesAnyRow(f *testing.F) {
	f.Add("label", "*:write", int64(1), int64(1800000000000000), int64(0), []byte{1}, "hint", "")
	f.Add("", "", int64(0), int64(-1), int64(1), []byte{3, 0, 0, 0, 2, 0, 0, 0, 8, 1}, "", "acct_42")
	f.Add("x", "lists:wrote", int64(1), int64(0), int64(0), []byte{}, "h", "clé 商店 🔑")
	f.Add("x", ",,,", int64(1), int64(1<<62), int64(0), []byte{9, 9}, "h", "a\x00b\xff")
	s, err := Open(filepath.Join(f.TempDir(), "fuzz.db"))
	require.NoError(f, err)
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, label, scopes string, active, created, expires int64, digest []byte, hint, owner string) {
		ctx := context.Background()
		id := uuid.New()
		var exp any
		if expires != 0 {
			exp = expires
		}
		_, err := s.write.ExecContext(ctx, `INSERT INTO keyscope_keys (id, `+columns+`) VALUES (?, ?, ?, ?, ?, NULL, ?, NULL, ?, ?, ?)`,
			id[:], label, scopes, active, created, exp, hint, digest, owner)
		if err != nil {
			t.Skip() // refused by the schema's constraints
		}
		k, err := s.Get(ctx, id)
		if err != nil {
			assert.NotErrorIs(t, err, apikey.ErrNotFound, "Get of a stored row")
			return
		}
		type row struct {
			ID                 uuid.UUID
			Owner, Label, Hint string
			Active             bool
			Created            int64
			Scopes, Digest     string
		}
		assert.Equal(t, row{id, owner, label, hint, active != 0, created, canonical(t, scopes), string(digest)},
			row{k.ID, k.Owner, k.Label, k.Hint, k.Active, k.CreatedAt.UnixMicro(), k.Scopes.String(), string(k.Digest.Bytes())},
			"Get decoded the row as %+v", k)
	})
}

// canonical returns the canonical form of a scope list Get accepted.
func canonical(t *testing.T, list string) string {
	if list == "" {
		return ""
	}
	sc, err := apikey.ParseScopes(list)
	require.NoError(t, err, "Get accepted scopes %q that do not parse", list)
	return sc.String()
}
