package sqlitestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
)

func TestEmbeddedMigrations(t *testing.T) {
	ms, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.version != i+1 || strings.TrimSpace(m.sql) == "" {
			t.Errorf("migration %d: version %d, %d bytes of SQL", i, m.version, len(m.sql))
		}
	}
}

func TestLoadMigrationsRejectsBadSets(t *testing.T) {
	file := func(sql string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(sql)} }
	cases := map[string]struct {
		files fstest.MapFS
		bad   string // the file the error must name
	}{
		"gap":       {fstest.MapFS{"m/0001_a.sql": file("x"), "m/0003_c.sql": file("x")}, "0003_c.sql"},
		"duplicate": {fstest.MapFS{"m/0001_a.sql": file("x"), "m/0001_b.sql": file("x")}, "0001_b.sql"},
		"no number": {fstest.MapFS{"m/init.sql": file("x")}, "init.sql"},
		"from zero": {fstest.MapFS{"m/0000_a.sql": file("x")}, "0000_a.sql"},
		"empty":     {fstest.MapFS{"m/README": file("x")}, "no migrations"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := loadMigrations(tc.files, "m")
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Fatalf("err = %v, want one naming %q", err, tc.bad)
			}
		})
	}
}

func openRaw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func tables(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

func testMigrations(t *testing.T, sqls ...string) []migration {
	t.Helper()
	fsys := fstest.MapFS{}
	for i, s := range sqls {
		fsys[fmt.Sprintf("m/%04d_m.sql", i+1)] = &fstest.MapFile{Data: []byte(s)}
	}
	ms, err := loadMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestMigrateAllOrNothing(t *testing.T) {
	ctx := context.Background()
	db := openRaw(t, filepath.Join(t.TempDir(), "m.db"))
	ms := testMigrations(t,
		"CREATE TABLE a (x); INSERT INTO a VALUES (1);",
		"CREATE TABLE b (x); INSERT INTO no_such_table VALUES (1);",
	)
	if _, _, err := migrate(ctx, db, ms); err == nil || !strings.Contains(err.Error(), "0002_m.sql") {
		t.Fatalf("migrate with a failing second migration: err = %v, want one naming it", err)
	}
	if got := tables(t, db); got != "" {
		t.Fatalf("after a failed migration the database has tables %q, want none", got)
	}
}

func TestMigrateUpgrades(t *testing.T) {
	ctx := context.Background()
	db := openRaw(t, filepath.Join(t.TempDir(), "m.db"))
	v1 := "CREATE TABLE a (x); INSERT INTO a VALUES (1);"
	v2 := "CREATE TABLE b (x); INSERT INTO b SELECT x + 1 FROM a;"
	if from, to, err := migrate(ctx, db, testMigrations(t, v1)); err != nil || from != 0 || to != 1 {
		t.Fatalf("first migration: %d -> %d, %v", from, to, err)
	}
	if from, to, err := migrate(ctx, db, testMigrations(t, v1, v2)); err != nil || from != 1 || to != 2 {
		t.Fatalf("upgrade: %d -> %d, %v", from, to, err)
	}
	if from, to, err := migrate(ctx, db, testMigrations(t, v1, v2)); err != nil || from != 2 || to != 2 {
		t.Fatalf("up to date: %d -> %d, %v", from, to, err)
	}
	var b int
	if err := db.QueryRow(`SELECT x FROM b`).Scan(&b); err != nil || b != 2 {
		t.Fatalf("upgrade did not run on the existing data: %d, %v", b, err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM keyscope_schema`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("keyscope_schema has %d rows, %v; want 2", n, err)
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestOpenRefusesNewerSchema writes a database as a future version would
// and checks that Open and New refuse it and leave the file as it was.
func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "future.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	k := apikey.Key{ID: uuid.Must(uuid.NewV7()), Label: "from the past", Scopes: apikey.FullAccess(), Hint: "h"}
	k.Digest, _ = apikey.DecodeDigest(append([]byte{byte(apikey.SHA256)}, bytes.Repeat([]byte{1}, 32)...))
	if err := s.Create(ctx, k); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	latest := len(migrations())
	if _, err := db.Exec(`INSERT INTO keyscope_schema VALUES (?, 'future.sql', 0)`, latest+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := fileSum(t, path)

	check := func(err error) {
		t.Helper()
		if !errors.Is(err, errNewerSchema) || !strings.Contains(err.Error(), path) {
			t.Fatalf("err = %v, want one naming %s and saying its schema is newer", err, path)
		}
		if after := fileSum(t, path); after != before {
			t.Fatal("the refused database file changed")
		}
	}
	_, err = Open(path)
	check(err)
	db = openRaw(t, "file:"+path+"?_journal_mode=WAL")
	_, err = New(db)
	check(err)
}

func TestConcurrentOpensMigrateOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "race.db")
	const n = 8
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(path)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var versions int
	if err := stores[0].read.QueryRow(`SELECT count(*) FROM keyscope_schema`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if versions != len(migrations()) {
		t.Fatalf("keyscope_schema has %d rows after %d concurrent opens, want %d", versions, n, len(migrations()))
	}
}
