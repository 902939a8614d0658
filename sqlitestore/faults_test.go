package sqlitestore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/sqlitestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seedFile writes a database holding one key at a new path and returns the
// path and the key's token.
func seedFile(t *testing.T) (path, token string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "keys.db")
	s, err := sqlitestore.Open(path)
	require.NoError(t, err, "Open")
	m := newManager(t, apikey.Options{Store: s})
	// More keys than fit in one page, so that the table has interior pages.
	for range 100 {
		_, tok, err := m.Create(context.Background(), apikey.CreateParams{Label: strings.Repeat("seed ", 20)})
		require.NoError(t, err, "Manager.Create")
		token = tok.Reveal()
	}
	require.NoError(t, s.Close(), "Close")
	return path, token
}

// wantOpenError checks that err is an error naming path and containing
// every one of words.
func wantOpenError(t *testing.T, err error, path string, words ...string) {
	t.Helper()
	require.Error(t, err, "opening %s", path)
	for _, w := range append(words, path) {
		assert.ErrorContains(t, err, w, "opening %s", path)
	}
}

// failsClosed checks that verifying token through a Manager over s gives
// an error that is not ErrInvalidKey (which would tell a client its key is
// bad when the store is) and no key.
func failsClosed(t *testing.T, s apikey.Store, token string, cache bool) error {
	t.Helper()
	opts := apikey.Options{Store: s}
	if !cache {
		opts.CacheTTL = -1
	}
	k, err := newManager(t, opts).Verify(context.Background(), token)
	require.Error(t, err, "Verify over a failed store")
	assert.Zero(t, k.ID, "ID of the key Verify over a failed store returned")
	assert.NotErrorIs(t, err, apikey.ErrInvalidKey, "Verify over a failed store: want a store error")
	return err
}

func TestFaultReadOnly(t *testing.T) {
	path, _ := seedFile(t)
	t.Run("handle", func(t *testing.T) {
		db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
		require.NoError(t, err, "sql.Open")
		defer db.Close()
		_, err = sqlitestore.New(db)
		wantOpenError(t, err, path, "read-only")
	})
	t.Run("file", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes to read-only files; the handle case covers SQLite's side")
		}
		require.NoError(t, os.Chmod(path, 0o444), "Chmod")
		_, err := sqlitestore.Open(path)
		wantOpenError(t, err, path, "read-only")
	})
}

func TestFaultDirectory(t *testing.T) {
	dir := t.TempDir()
	_, err := sqlitestore.Open(dir)
	wantOpenError(t, err, dir, "directory")
	missing := filepath.Join(dir, "no such dir", "keys.db")
	_, err = sqlitestore.Open(missing)
	wantOpenError(t, err, missing, "cannot open")
}

func TestFaultGarbageFile(t *testing.T) {
	for name, content := range map[string][]byte{
		"random bytes": func() []byte {
			b := make([]byte, 64<<10)
			rand.Read(b)
			return b
		}(),
		"text":             []byte(strings.Repeat("not a database\n", 1000)),
		"truncated header": []byte("SQLite format 3\x00\x10\x00\x02\x02"),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.db")
			require.NoError(t, os.WriteFile(path, content, 0o600), "WriteFile")
			_, err := sqlitestore.Open(path)
			wantOpenError(t, err, path)
			assert.Regexp(t, "not a SQLite database|corrupt", err.Error(), "the error must say the file is not a database")
			after, err := os.ReadFile(path)
			require.NoError(t, err, "reading the refused file")
			assert.True(t, bytes.Equal(after, content), "Open changed the file it refused")
		})
	}
}

// TestFaultCorruptTable overwrites the key table's root page with garbage.
// The file still opens, and verification fails with a store error.
func TestFaultCorruptTable(t *testing.T) {
	path, token := seedFile(t)
	db, err := sql.Open("sqlite3", path)
	require.NoError(t, err, "sql.Open")
	var root, pageSize int64
	require.NoError(t, db.QueryRow(`SELECT rootpage FROM sqlite_schema WHERE name = 'keyscope_keys'`).Scan(&root), "reading the root page")
	require.NoError(t, db.QueryRow(`PRAGMA page_size`).Scan(&pageSize), "reading the page size")
	db.Close()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err, "opening the file to damage it")
	garbage := bytes.Repeat([]byte{0xa5}, int(pageSize))
	_, err = f.WriteAt(garbage, (root-1)*pageSize)
	require.NoError(t, err, "overwriting the root page")
	f.Close()

	s, err := sqlitestore.Open(path)
	if err != nil {
		wantOpenError(t, err, path, "corrupt")
		return
	}
	defer s.Close()
	for _, cache := range []bool{false, true} {
		assert.ErrorContains(t, failsClosed(t, s, token, cache), "corrupt", "Verify, cache %v", cache)
	}
}

func TestFaultClosedStore(t *testing.T) {
	ctx := context.Background()
	path, token := seedFile(t)
	s, err := sqlitestore.Open(path)
	require.NoError(t, err, "Open")
	require.NoError(t, s.Close(), "Close")
	assert.NoError(t, s.Close(), "second Close")
	for _, cache := range []bool{false, true} {
		assert.ErrorIs(t, failsClosed(t, s, token, cache), apikey.ErrClosed, "Verify after Close, cache %v", cache)
	}
	id := uuid.Must(uuid.NewV7())
	label := "x"
	calls := map[string]error{
		"Create":   s.Create(ctx, apikey.Key{ID: id}),
		"Update":   func() error { _, err := s.Update(ctx, id, apikey.Update{Label: &label}); return err }(),
		"Delete":   s.Delete(ctx, id),
		"List":     func() error { _, err := s.List(ctx, apikey.ListOptions{}); return err }(),
		"MarkUsed": s.MarkUsed(ctx, []apikey.Use{{ID: id}}),
	}
	for name, err := range calls {
		assert.ErrorIs(t, err, apikey.ErrClosed, "%s after Close", name)
	}
}

// TestFaultHandleClosedUnderNew closes the application's handle behind the
// Store's back.
func TestFaultHandleClosedUnderNew(t *testing.T) {
	path, token := seedFile(t)
	db, err := sql.Open("sqlite3", path)
	require.NoError(t, err, "sql.Open")
	s, err := sqlitestore.New(db)
	require.NoError(t, err, "New")
	defer s.Close()
	db.Close()
	for _, cache := range []bool{false, true} {
		assert.ErrorContains(t, failsClosed(t, s, token, cache), path, "Verify, cache %v: the error must name the database", cache)
	}
}
