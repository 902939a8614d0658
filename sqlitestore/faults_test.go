package sqlitestore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/sqlitestore"
)

// seedFile writes a database holding one key at a new path and returns the
// path and the key's token.
func seedFile(t *testing.T) (path, token string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "keys.db")
	s, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, apikey.Options{Store: s})
	// More keys than fit in one page, so that the table has interior pages.
	for range 100 {
		_, tok, err := m.Create(context.Background(), apikey.CreateParams{Label: strings.Repeat("seed ", 20)})
		if err != nil {
			t.Fatal(err)
		}
		token = tok.Reveal()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, token
}

// wantOpenError checks that err is an error naming path and containing
// every one of words.
func wantOpenError(t *testing.T, err error, path string, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("opening %s succeeded, want an error", path)
	}
	for _, w := range append(words, path) {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
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
	if err == nil || k.ID != uuid.Nil {
		t.Fatalf("Verify over a failed store = %v, %v; want an error and no key", k.ID, err)
	}
	if errors.Is(err, apikey.ErrInvalidKey) {
		t.Fatalf("Verify over a failed store = %v, want a store error, not ErrInvalidKey", err)
	}
	return err
}

func TestFaultReadOnly(t *testing.T) {
	path, _ := seedFile(t)
	t.Run("handle", func(t *testing.T) {
		db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		_, err = sqlitestore.New(db)
		wantOpenError(t, err, path, "read-only")
	})
	t.Run("file", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes to read-only files; the handle case covers SQLite's side")
		}
		if err := os.Chmod(path, 0o444); err != nil {
			t.Fatal(err)
		}
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
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := sqlitestore.Open(path)
			wantOpenError(t, err, path)
			if !strings.Contains(err.Error(), "not a SQLite database") && !strings.Contains(err.Error(), "corrupt") {
				t.Errorf("error %q does not say the file is not a database", err)
			}
			after, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(after, content) {
				t.Fatalf("Open changed the file it refused (%v)", err)
			}
		})
	}
}

// TestFaultCorruptTable overwrites the key table's root page with garbage.
// The file still opens, and verification fails with a store error.
func TestFaultCorruptTable(t *testing.T) {
	path, token := seedFile(t)
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	var root, pageSize int64
	if err := db.QueryRow(`SELECT rootpage FROM sqlite_schema WHERE name = 'keyscope_keys'`).Scan(&root); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	db.Close()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	garbage := bytes.Repeat([]byte{0xa5}, int(pageSize))
	if _, err := f.WriteAt(garbage, (root-1)*pageSize); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s, err := sqlitestore.Open(path)
	if err != nil {
		wantOpenError(t, err, path, "corrupt")
		return
	}
	defer s.Close()
	for _, cache := range []bool{false, true} {
		err := failsClosed(t, s, token, cache)
		if !strings.Contains(err.Error(), "corrupt") {
			t.Errorf("error %q does not say the database is corrupt", err)
		}
	}
}

func TestFaultClosedStore(t *testing.T) {
	ctx := context.Background()
	path, token := seedFile(t)
	s, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, cache := range []bool{false, true} {
		if err := failsClosed(t, s, token, cache); !errors.Is(err, apikey.ErrClosed) {
			t.Errorf("Verify after Close: %v, want ErrClosed", err)
		}
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
		if !errors.Is(err, apikey.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// TestFaultHandleClosedUnderNew closes the application's handle behind the
// Store's back.
func TestFaultHandleClosedUnderNew(t *testing.T) {
	path, token := seedFile(t)
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlitestore.New(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db.Close()
	for _, cache := range []bool{false, true} {
		err := failsClosed(t, s, token, cache)
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error %q does not name the database %s", err, path)
		}
	}
}
