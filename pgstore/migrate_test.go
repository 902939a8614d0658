package pgstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/internal/pgtest"
	"github.com/keyscope/apikey/pgstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// versions returns the versions recorded in the schema's keyscope_schema,
// in order.
func versions(t *testing.T, url, schema string) []int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err, "connecting")
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT version FROM "+pgx.Identifier{schema, "keyscope_schema"}.Sanitize()+" ORDER BY version")
	require.NoError(t, err, "reading keyscope_schema")
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	require.NoError(t, err, "reading keyscope_schema")
	return vs
}

// allVersions returns 1, 2, ... LatestVersion.
func allVersions() []int {
	vs := make([]int, pgstore.LatestVersion)
	for i := range vs {
		vs[i] = i + 1
	}
	return vs
}

func TestReopenKeepsKeys(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewSchema(t)
	s, err := pgstore.Open(ctx, db.URL, pgstore.Options{Schema: db.Schema})
	require.NoError(t, err, "Open")
	k := record(t, "acct", "kept")
	require.NoError(t, s.Create(ctx, k), "Create")
	require.NoError(t, s.Close(), "Close")
	_, err = s.Get(ctx, k.ID)
	assert.ErrorIs(t, err, apikey.ErrClosed, "Get after Close")

	s, err = pgstore.Open(ctx, db.URL, pgstore.Options{Schema: db.Schema})
	require.NoError(t, err, "Open again")
	defer s.Close()
	got, err := s.Get(ctx, k.ID)
	require.NoError(t, err, "Get after reopening")
	assertKey(t, k, got, "key after reopening")
	assert.Equal(t, allVersions(), versions(t, db.URL, db.Schema), "versions after reopening")
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	ctx := context.Background()
	base := pgtest.NewSchema(t)
	for _, schema := range []string{base.Schema, base.Schema + "_made_by_open"} {
		t.Run(schema, func(t *testing.T) {
			t.Cleanup(func() {
				pgtest.Exec(t, "DROP SCHEMA IF EXISTS "+pgx.Identifier{base.Schema + "_made_by_open"}.Sanitize()+" CASCADE")
			})
			const n = 10
			start := make(chan struct{})
			errs := make([]error, n)
			stores := make([]*pgstore.Store, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					stores[i], errs[i] = pgstore.Open(ctx, base.URL, pgstore.Options{Schema: schema})
				}()
			}
			close(start)
			wg.Wait()
			for i := range n {
				if assert.NoError(t, errs[i], "Open %d", i) {
					defer stores[i].Close()
				}
			}
			assert.Equal(t, allVersions(), versions(t, base.URL, schema), "versions recorded")
			// Every instance works on the schema, and sees the others' keys.
			k := record(t, "", "shared")
			require.NoError(t, stores[0].Create(ctx, k), "Create")
			for i := range n {
				_, err := stores[i].Get(ctx, k.ID)
				assert.NoError(t, err, "Get through instance %d", i)
			}
		})
	}
}

func TestUpgradeFromVersion1(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewSchema(t)
	pool := newPool(t, db.URL)
	require.NoError(t, pgstore.MigrateTo(ctx, pool, db.Schema, 1), "migrating to version 1")
	require.Equal(t, []int{1}, versions(t, db.URL, db.Schema), "versions before the upgrade")
	k := record(t, "acct", "made at version 1")
	table := pgx.Identifier{db.Schema, "keyscope_keys"}.Sanitize()
	_, err := pool.Exec(ctx, "INSERT INTO "+table+` (id, owner, label, scopes, active, created_at, hint, digest)
		VALUES ($1, $2, $3, $4, true, $5, $6, $7)`, k.ID, k.Owner, []byte(k.Label), k.Scopes.String(), k.CreatedAt, k.Hint, k.Digest.Bytes())
	require.NoError(t, err, "storing a key at version 1")

	s, err := pgstore.New(ctx, pool, pgstore.Options{Schema: db.Schema})
	require.NoError(t, err, "New over a schema at version 1")
	defer s.Close()
	assert.Equal(t, allVersions(), versions(t, db.URL, db.Schema), "versions after the upgrade")
	got, err := s.Get(ctx, k.ID)
	require.NoError(t, err, "Get of a key made at version 1")
	assertKey(t, k, got, "key made at version 1")
	r := newRecorder()
	watch(t, ctx, s, r)
	require.NoError(t, s.Delete(ctx, k.ID), "Delete")
	r.expect(t, event(k.ID.String()), "report of a change after the upgrade")
}

// snapshot describes everything in schema: its relations, functions and
// triggers, and the rows of its tables.
func snapshot(t *testing.T, url, schema string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err, "connecting")
	defer conn.Close(ctx)
	var out []string
	query := func(sql string, args ...any) {
		rows, err := conn.Query(ctx, sql, args...)
		require.NoError(t, err, "%s", sql)
		for rows.Next() {
			vals, err := rows.Values()
			require.NoError(t, err, "%s", sql)
			out = append(out, fmt.Sprint(vals...))
		}
		require.NoError(t, rows.Err(), "%s", sql)
	}
	query(`SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 ORDER BY 1`, schema)
	query(`SELECT p.proname, md5(p.prosrc) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 ORDER BY 1`, schema)
	query(`SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 ORDER BY 1`, schema)
	query(`SELECT version, name, applied_at FROM ` + pgx.Identifier{schema, "keyscope_schema"}.Sanitize() + ` ORDER BY 1`)
	query(`SELECT k::text FROM ` + pgx.Identifier{schema, "keyscope_keys"}.Sanitize() + ` k ORDER BY id`)
	return strings.Join(out, "\n")
}

func TestNewerSchemaIsRefusedAndUntouched(t *testing.T) {
	ctx := context.Background()
	s, db := openStore(t)
	require.NoError(t, s.Create(ctx, record(t, "acct", "existing")), "Create")
	require.NoError(t, s.Close(), "Close")
	newer := pgstore.LatestVersion + 1
	pgtest.Exec(t, "INSERT INTO "+pgx.Identifier{db.Schema, "keyscope_schema"}.Sanitize()+" (version, name) VALUES ($1, 'from the future')", newer)
	before := snapshot(t, db.URL, db.Schema)

	_, err := pgstore.Open(ctx, db.URL, pgstore.Options{Schema: db.Schema})
	require.ErrorIs(t, err, pgstore.ErrNewerSchema, "Open of a newer schema")
	assert.Contains(t, err.Error(), fmt.Sprintf("version %d", newer), "error names the schema's version")
	assert.Contains(t, err.Error(), fmt.Sprintf("version %d", pgstore.LatestVersion), "error names the code's version")
	_, err = pgstore.New(ctx, newPool(t, db.URL), pgstore.Options{Schema: db.Schema})
	assert.ErrorIs(t, err, pgstore.ErrNewerSchema, "New over a newer schema")
	assert.Equal(t, before, snapshot(t, db.URL, db.Schema), "the schema changed")
}

func TestSchemaNames(t *testing.T) {
	ctx := context.Background()
	base := pgtest.NewSchema(t)
	accepted := map[string]string{
		"quotes and spaces": `we"ird sch'ema`,
		"dot and unicode":   "app.名前 🔑",
		"upper case":        "Keys",
		"a keyword":         "select",
		"SQL in the name":   `x"; DROP SCHEMA public; --`,
		"63 bytes":          strings.Repeat("s", 63),
		"channel hashed":    strings.Repeat("é", 25),
	}
	for name, schema := range accepted {
		t.Run(name, func(t *testing.T) {
			t.Cleanup(func() { pgtest.Exec(t, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE") })
			s, err := pgstore.Open(ctx, base.URL, pgstore.Options{Schema: schema})
			require.NoError(t, err, "Open")
			defer s.Close()
			assert.Equal(t, schema, s.Schema(), "Schema")
			r := newRecorder()
			watch(t, ctx, s, r)
			k := record(t, "", "in "+name)
			require.NoError(t, s.Create(ctx, k), "Create")
			got, err := s.Get(ctx, k.ID)
			require.NoError(t, err, "Get")
			assertKey(t, k, got, "Get")
			r.expect(t, event(k.ID.String()), "report on channel "+pgstore.Channel(schema))
			assert.Equal(t, allVersions(), versions(t, base.URL, schema), "versions")
		})
	}
	refused := map[string]string{
		"64 bytes":      strings.Repeat("s", 64),
		"a NUL byte":    "a\x00b",
		"a newline":     "a\nb",
		"invalid UTF-8": "a\xffb",
		"pg_ prefix":    "pg_keys",
		"PG_ prefix":    "PG_keys",
	}
	for name, schema := range refused {
		t.Run("refused: "+name, func(t *testing.T) {
			_, err := pgstore.Open(ctx, base.URL, pgstore.Options{Schema: schema})
			require.Error(t, err, "Open")
			assert.Contains(t, err.Error(), "pgstore: schema name", "error says what is wrong")
			_, err = pgstore.New(ctx, newPool(t, base.URL), pgstore.Options{Schema: schema})
			assert.Error(t, err, "New")
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	for name, conn := range map[string]string{
		"a malformed URL":      "postgres://%zz",
		"an unknown DSN key":   "host=/nonexistent nonsense",
		"a server not running": "host=/nonexistent-pgstore-dir dbname=x connect_timeout=2",
	} {
		t.Run(name, func(t *testing.T) {
			s, err := pgstore.Open(ctx, conn, pgstore.Options{})
			assert.Error(t, err, "Open")
			assert.Nil(t, s, "Store")
			if err != nil {
				assert.True(t, strings.HasPrefix(err.Error(), "pgstore: "), "error %q names the package", err)
			}
		})
	}
	_, err := pgstore.New(ctx, nil, pgstore.Options{})
	assert.Error(t, err, "New(nil)")
}
