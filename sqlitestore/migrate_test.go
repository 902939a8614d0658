package sqlitestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEmbeddedMigrations(t *testing.T) {
	ms, err := loadMigrations(migrationFiles, "migrations")
	require.NoError(t, err, "loadMigrations")
	for i, m := range ms {
		assert.Equal(t, i+1, m.Version, "version of migration %d, %s", i, m.Name)
		assert.NotEmpty(t, strings.TrimSpace(m.SQL), "SQL of migration %d, %s", i, m.Name)
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
			assert.ErrorContains(t, err, tc.bad)
		})
	}
}

func openRaw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	require.NoError(t, err, "sql.Open")
	t.Cleanup(func() { db.Close() })
	return db
}

func tables(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
	require.NoError(t, err, "listing tables")
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n), "listing tables")
		names = append(names, n)
	}
	require.NoError(t, rows.Err(), "listing tables")
	return strings.Join(names, ",")
}

func testMigrations(t *testing.T, sqls ...string) []migration {
	t.Helper()
	fsys := fstest.MapFS{}
	for i, s := range sqls {
		fsys[fmt.Sprintf("m/%04d_m.sql", i+1)] = &fstest.MapFile{Data: []byte(s)}
	}
	ms, err := loadMigrations(fsys, "m")
	require.NoError(t, err, "loadMigrations")
	return ms
}

func TestMigrateAllOrNothing(t *testing.T) {
	ctx := context.Background()
	db := openRaw(t, filepath.Join(t.TempDir(), "m.db"))
	ms := testMigrations(t,
		"CREATE TABLE a (x); INSERT INTO a VALUES (1);",
		"CREATE TABLE b (x); INSERT INTO no_such_table VALUES (1);",
	)
	_, _, err := migrate(ctx, db, ms)
	assert.ErrorContains(t, err, "0002_m.sql", "migrate with a failing second migration")
	assert.Empty(t, tables(t, db), "tables after a failed migration")
}

func TestMigrateUpgrades(t *testing.T) {
	ctx := context.Background()
	db := openRaw(t, filepath.Join(t.TempDir(), "m.db"))
	v1 := "CREATE TABLE a (x); INSERT INTO a VALUES (1);"
	v2 := "CREATE TABLE b (x); INSERT INTO b SELECT x + 1 FROM a;"
	// The steps run in order, on the same database.
	for _, step := range []struct {
		name     string
		ms       []migration
		from, to int
	}{
		{"first migration", testMigrations(t, v1), 0, 1},
		{"upgrade", testMigrations(t, v1, v2), 1, 2},
		{"up to date", testMigrations(t, v1, v2), 2, 2},
	} {
		from, to, err := migrate(ctx, db, step.ms)
		require.NoError(t, err, step.name)
		assert.Equal(t, step.from, from, "%s: version found", step.name)
		assert.Equal(t, step.to, to, "%s: version left", step.name)
	}
	var b int
	require.NoError(t, db.QueryRow(`SELECT x FROM b`).Scan(&b), "reading the table the upgrade made")
	assert.Equal(t, 2, b, "value the upgrade computed from the existing data")
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM keyscope_schema`).Scan(&n), "counting keyscope_schema")
	assert.Equal(t, 2, n, "rows of keyscope_schema")
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err, "ReadFile")
	return sha256.Sum256(b)
}

// TestOpenRefusesNewerSchema writes a database as a future version would
// and checks that Open and New refuse it and leave the file as it was.
func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "future.db")
	s, err := Open(path)
	require.NoError(t, err, "Open")
	k := apikey.Key{ID: uuid.Must(uuid.NewV7()), Label: "from the past", Scopes: apikey.FullAccess(), Hint: "h"}
	k.Digest, err = apikey.DecodeDigest(append([]byte{byte(apikey.SHA256)}, bytes.Repeat([]byte{1}, 32)...))
	require.NoError(t, err, "DecodeDigest")
	require.NoError(t, s.Create(ctx, k), "Create")
	s.Close()
	db, err := sql.Open("sqlite3", path)
	require.NoError(t, err, "sql.Open")
	latest := len(migrations())
	_, err = db.Exec(`INSERT INTO keyscope_schema VALUES (?, 'future.sql', 0)`, latest+1)
	require.NoError(t, err, "recording a future migration")
	db.Close()
	before := fileSum(t, path)

	check := func(opener string, err error) {
		t.Helper()
		assert.ErrorIs(t, err, errNewerSchema, opener)
		assert.ErrorContains(t, err, path, opener)
		assert.Equal(t, before, fileSum(t, path), "%s changed the database file it refused", opener)
	}
	_, err = Open(path)
	check("Open", err)
	db = openRaw(t, "file:"+path+"?_journal_mode=WAL")
	_, err = New(db)
	check("New", err)
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
		require.NoError(t, err, "Open %d", i)
		defer stores[i].Close()
	}
	var versions int
	require.NoError(t, stores[0].read.QueryRow(`SELECT count(*) FROM keyscope_schema`).Scan(&versions), "counting keyscope_schema")
	assert.Equal(t, len(migrations()), versions, "rows of keyscope_schema after %d concurrent opens", n)
}
