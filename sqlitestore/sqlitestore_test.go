package sqlitestore_test

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/sqlitestore"
	"github.com/keyscope/apikey/storetest"
)

// openTemp opens a Store on a new file in t's temporary directory and
// closes it when t ends.
func openTemp(t testing.TB) (*sqlitestore.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.db")
	s, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// reopen closes s and opens the file at path again.
func reopen(t testing.TB, s *sqlitestore.Store, path string) *sqlitestore.Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newManager(t testing.TB, opts apikey.Options) *apikey.Manager {
	t.Helper()
	if opts.UsageInterval == 0 {
		opts.UsageInterval = -1
	}
	m, err := apikey.NewManager(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) apikey.Store {
		s, _ := openTemp(t)
		return s
	})
}

// TestConformanceNew runs the suite over a handle the application opened,
// with go-sqlite3's defaults and WAL, as the package documentation
// suggests.
func TestConformanceNew(t *testing.T) {
	storetest.Run(t, func(t *testing.T) apikey.Store {
		db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "app.db")+"?_journal_mode=WAL&_txlock=immediate")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := sqlitestore.New(db)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestReopenReadsBackEverything writes keys of every kind, closes the
// store, opens the file again and compares every field.
func TestReopenReadsBackEverything(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	now := time.Date(2026, 11, 23, 10, 30, 0, 123456789, time.FixedZone("CET", 3600))
	clock := func() time.Time { return now }
	managers := map[string]apikey.Options{
		"sha256":      {Hash: apikey.SHA256},
		"hmac-sha256": {Hash: apikey.HMACSHA256, Pepper: bytes.Repeat([]byte("p"), 32)},
		"argon2id":    {Hash: apikey.Argon2id, Argon2: apikey.Argon2Params{Time: 1, Memory: 64}},
	}
	tokens := map[uuid.UUID]string{}
	mgrs := map[uuid.UUID]string{}
	for name, opts := range managers {
		opts.Store, opts.Now = s, clock
		m := newManager(t, opts)
		scopes, err := apikey.ParseScopes("campaigns:read,lists:write,*:read")
		if err != nil {
			t.Fatal(err)
		}
		k, tok, err := m.Create(ctx, apikey.CreateParams{Label: name + " key", Scopes: scopes, ExpiresAt: now.Add(90 * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		tokens[k.ID], mgrs[k.ID] = tok.Reveal(), name
		c, ctok, err := m.Clone(ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		tokens[c.ID], mgrs[c.ID] = ctok.Reveal(), name
		r, rtok, err := m.Roll(ctx, c.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tokens[r.ID], mgrs[r.ID] = rtok.Reveal(), name
		if _, err := m.Deactivate(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	// A record with every optional field set, written directly.
	full := apikey.Key{
		ID: uuid.Must(uuid.NewV7()), Label: "direct", Scopes: apikey.ReadOnly(), Active: true,
		CreatedAt:  time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		LastUsedAt: time.Date(2030, 1, 2, 3, 4, 5, 1000, time.UTC),
		ExpiresAt:  time.Date(2100, 6, 7, 8, 9, 10, 11000, time.UTC),
		ClonedFrom: uuid.Must(uuid.NewV7()), Hint: "sk_…zzzz",
	}
	var err error
	full.Digest, err = apikey.DecodeDigest(append([]byte{byte(apikey.SHA256)}, bytes.Repeat([]byte{9}, 32)...))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, full); err != nil {
		t.Fatal(err)
	}
	used := now.Add(time.Minute).UTC().Truncate(time.Microsecond)
	var uses []apikey.Use
	for id := range tokens {
		uses = append(uses, apikey.Use{ID: id, At: used})
	}
	if err := s.MarkUsed(ctx, uses[:2]); err != nil {
		t.Fatal(err)
	}

	before, err := s.List(ctx, apikey.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 10 {
		t.Fatalf("stored %d keys, want 10", len(before))
	}
	s = reopen(t, s, path)
	after, err := s.List(ctx, apikey.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("after reopening: %d keys, want %d", len(after), len(before))
	}
	var clones, inactive, usedN, expiring int
	for i := range before {
		if d := storetest.Diff(after[i], before[i]); d != "" {
			t.Errorf("key %s after reopening: %s", before[i].ID, d)
		}
		k := after[i]
		if !k.CreatedAt.IsZero() && k.CreatedAt.Location() != time.UTC {
			t.Errorf("key %s: CreatedAt in %v, want UTC", k.ID, k.CreatedAt.Location())
		}
		if k.ClonedFrom != uuid.Nil {
			clones++
		}
		if !k.Active {
			inactive++
		}
		if k.LastUsedAt.Equal(used) {
			usedN++
		}
		if !k.ExpiresAt.IsZero() {
			expiring++
		}
	}
	// Every key expires: clones and rolled keys inherit their source's expiry.
	if clones != 7 || inactive != 3 || usedN != 2 || expiring != 10 {
		t.Errorf("after reopening: %d clones, %d inactive, %d used, %d expiring; want 7, 3, 2, 10", clones, inactive, usedN, expiring)
	}
	got, err := s.Get(ctx, full.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := storetest.Diff(got, full); d != "" {
		t.Errorf("record with every field set, after reopening: %s", d)
	}
	// The tokens still verify, with digests of each algorithm read back.
	for id, tok := range tokens {
		opts := managers[mgrs[id]]
		opts.Store, opts.Now = s, clock
		k, err := newManager(t, opts).Verify(ctx, tok)
		switch {
		case err == nil && k.ID != id:
			t.Errorf("token of %s verified as %s", id, k.ID)
		case err != nil && !errors.Is(err, apikey.ErrInactive):
			t.Errorf("%s token of %s after reopening: %v", mgrs[id], id, err)
		}
	}
}

// TestLabelsStoredExactly stores hostile and unusual labels through the
// Manager and reads them back, before and after reopening.
func TestLabelsStoredExactly(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	m := newManager(t, apikey.Options{Store: s})
	labels := map[string]string{
		"single quotes":  `it's O'Brien's key`,
		"double quotes":  `say "hello"`,
		"backslashes":    `C:\keys\new\table`,
		"NUL bytes":      "a\x00b\x00\x00c",
		"only a NUL":     "\x00",
		"10 kB":          strings.Repeat("0123456789", 1024),
		"16 kB maximum":  strings.Repeat("x", apikey.MaxLabelLen),
		"SQL injection":  `'); DROP TABLE keyscope_keys; --`,
		"SQL comment":    "/* */ -- ; SELECT * FROM sqlite_schema",
		"LIKE wildcards": "100% _match_ [a-z]",
		"unicode":        "clé für 商店 🔑 \u202e",
		"control chars":  "tab\tnewline\nreturn\r\x01\x7f",
	}
	ids := map[string]uuid.UUID{}
	for name, label := range labels {
		k, _, err := m.Create(ctx, apikey.CreateParams{Label: label})
		if err != nil {
			t.Fatalf("%s: Create: %v", name, err)
		}
		ids[name] = k.ID
	}
	renamed := map[string]string{}
	for name, label := range labels {
		if len(label) < apikey.MaxLabelLen {
			renamed[name] = label + "'\x00--"
			if _, err := m.Rename(ctx, ids[name], renamed[name]); err != nil {
				t.Fatalf("%s: Rename: %v", name, err)
			}
		} else {
			renamed[name] = label
		}
	}
	check := func(s *sqlitestore.Store, when string) {
		for name, want := range renamed {
			k, err := s.Get(ctx, ids[name])
			if err != nil {
				t.Fatalf("%s %s: %v", name, when, err)
			}
			if k.Label != want {
				t.Errorf("%s %s: label %.60q, want %.60q", name, when, k.Label, want)
			}
		}
		all, err := s.List(ctx, apikey.ListOptions{})
		if err != nil || len(all) != len(labels) {
			t.Fatalf("List %s: %d keys, %v; want %d (is the table still there?)", when, len(all), err, len(labels))
		}
	}
	check(s, "before reopening")
	check(reopen(t, s, path), "after reopening")
}

func TestOpenPathsWithURICharacters(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"keys?mode=ro.db", "a #b.db", "100%25.db", "x&_query_only=1.db", ":memory:"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			s, err := sqlitestore.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			m := newManager(t, apikey.Options{Store: s})
			k, _, err := m.Create(ctx, apikey.CreateParams{Label: "weird path"})
			if err != nil {
				t.Fatal(err)
			}
			s = reopen(t, s, path)
			if _, err := s.Get(ctx, k.ID); err != nil {
				t.Fatalf("key not found after reopening %q: %v", path, err)
			}
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("database is not at %q: %v", path, err)
			}
		})
	}
}

func TestNewLeavesHandleOpen(t *testing.T) {
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "app.db")+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE app_users (name TEXT)`); err != nil {
		t.Fatal(err)
	}
	s, err := sqlitestore.New(db)
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := newManager(t, apikey.Options{Store: s}).Create(context.Background(), apikey.CreateParams{Label: "shared file"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), k.ID); !errors.Is(err, apikey.ErrClosed) {
		t.Fatalf("Get after Close: %v, want ErrClosed", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM keyscope_keys`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the application's handle after Store.Close: %d keys, %v", n, err)
	}
	if _, err := db.Exec(`INSERT INTO app_users VALUES ('still mine')`); err != nil {
		t.Fatalf("the application's own table: %v", err)
	}
}

func TestNewInMemory(t *testing.T) {
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	s, err := sqlitestore.New(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := newManager(t, apikey.Options{Store: s, CacheTTL: -1})
	_, tok, err := m.Create(context.Background(), apikey.CreateParams{Label: "in memory"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(context.Background(), tok.Reveal()); err != nil {
		t.Fatal(err)
	}
}

// fakeDriver is a database/sql driver that is not go-sqlite3.
type fakeDriver struct{}

func (fakeDriver) Open(string) (driver.Conn, error) { return nil, errors.New("fake driver") }

func init() { sql.Register("keyscope-fake", fakeDriver{}) }

func TestNewRefusesOtherDrivers(t *testing.T) {
	db, err := sql.Open("keyscope-fake", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := sqlitestore.New(db); err == nil || !strings.Contains(err.Error(), "go-sqlite3") {
		t.Fatalf("New with another driver: err = %v, want one naming go-sqlite3", err)
	}
	if _, err := sqlitestore.New(nil); err == nil {
		t.Fatal("New(nil) succeeded")
	}
}

// settableClock is an Options.Now that tests move forward.
type settableClock struct{ ns atomic.Int64 }

func newSettableClock() *settableClock {
	c := &settableClock{}
	c.ns.Store(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *settableClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *settableClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestCacheAndChangesToTheFile runs two Managers with the verification
// cache on, over two Stores on the same file, as two processes would.
// Changes through a Manager reach its own next verification at once, and
// the other's within the TTL.
func TestCacheAndChangesToTheFile(t *testing.T) {
	ctx := context.Background()
	const ttl = 2 * time.Second
	s1, path := openTemp(t)
	s2, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	clock := newSettableClock()
	m1 := newManager(t, apikey.Options{Store: s1, Now: clock.Now, CacheTTL: ttl})
	m2 := newManager(t, apikey.Options{Store: s2, Now: clock.Now, CacheTTL: ttl})
	k, tok, err := m1.Create(ctx, apikey.CreateParams{Label: "two processes"})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(m *apikey.Manager, want error) {
		t.Helper()
		_, err := m.Verify(ctx, tok.Reveal())
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Fatalf("Verify = %v, want %v", err, want)
		}
	}
	verify(m1, nil)
	verify(m2, nil) // both have it cached now

	if _, err := m1.Deactivate(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	verify(m1, apikey.ErrInactive) // same Manager: at once
	verify(m2, nil)                // other process: cached, for now
	clock.Advance(ttl)
	verify(m2, apikey.ErrInactive) // within the TTL
	verify(m1, apikey.ErrInactive) // m1 caches the inactive record anew

	if _, err := m2.Activate(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	verify(m2, nil)
	verify(m1, apikey.ErrInactive)
	clock.Advance(ttl)
	verify(m1, nil)

	if err := m1.Delete(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	verify(m1, apikey.ErrInvalidKey)
	clock.Advance(ttl)
	verify(m2, apikey.ErrInvalidKey)
}

// TestReadersDoNotWaitForWriters holds a write transaction open on the file
// from another connection and reads through the Store meanwhile. Were reads
// to wait for the writer, they would fail with "database is locked" once
// the busy timeout ran out, since the writer only finishes after them.
func TestReadersDoNotWaitForWriters(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	m := newManager(t, apikey.Options{Store: s, CacheTTL: -1})
	k, tok, err := m.Create(ctx, apikey.CreateParams{Label: "read while written"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "UPDATE keyscope_keys SET active = 0 WHERE id = ?", k.ID[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(ctx, tok.Reveal()); err != nil {
		t.Fatalf("Verify while another connection writes: %v (want the committed, active key)", err)
	}
	if ks, err := s.List(ctx, apikey.ListOptions{}); err != nil || len(ks) != 1 {
		t.Fatalf("List while another connection writes: %d keys, %v", len(ks), err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(ctx, tok.Reveal()); !errors.Is(err, apikey.ErrInactive) {
		t.Fatalf("Verify after the other connection committed: %v, want ErrInactive", err)
	}
}
