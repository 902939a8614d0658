package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/memstore"
	"github.com/keyscope/apikey/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// version1Insert and version1Args are how version 1 of this package, before
// keys had owners, stored a record: its insert statement, with the columns
// of schema version 1, and its arguments. They are kept as they were, not
// derived from today's columns and insertArgs, so that the files the
// upgrade tests make are the files version 1 made.
const version1Insert = `INSERT INTO keyscope_keys (id, label, scopes, active, created_at, last_used_at, expires_at, cloned_from, hint, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func version1Args(k apikey.Key) []any {
	var used, expires, clonedFrom any
	if !k.LastUsedAt.IsZero() {
		used = k.LastUsedAt.UnixMicro()
	}
	if !k.ExpiresAt.IsZero() {
		expires = k.ExpiresAt.UnixMicro()
	}
	if k.ClonedFrom != uuid.Nil {
		clonedFrom = k.ClonedFrom[:]
	}
	return []any{k.ID[:], k.Label, k.Scopes.String(), k.Active,
		k.CreatedAt.UnixMicro(), used, expires, clonedFrom, k.Hint, k.Digest.Bytes()}
}

// writeVersion1 makes the file at path a database as version 1 of this
// package left it: the schema of the first migration alone, in WAL mode,
// holding keys inserted as version 1 inserted them.
func writeVersion1(t *testing.T, path string, keys []apikey.Key) {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite3", fileURI(path)+"?_journal_mode=WAL")
	require.NoError(t, err, "sql.Open")
	defer db.Close()
	from, to, err := migrate(ctx, db, migrations()[:1])
	require.NoError(t, err, "applying the version-1 migration")
	require.Equal(t, [2]int{0, 1}, [2]int{from, to}, "versions of the version-1 migration")
	err = inImmediateTx(ctx, db, func(conn *sql.Conn) error {
		st, err := conn.PrepareContext(ctx, version1Insert)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, k := range keys {
			if _, err := st.ExecContext(ctx, version1Args(k)...); err != nil {
				return fmt.Errorf("key %s: %w", k.ID, err)
			}
		}
		return nil
	})
	require.NoError(t, err, "inserting keys as version 1 did")
	require.Equal(t, []string{"1 0001_keys.sql"}, schemaVersions(t, db), "keyscope_schema of the version-1 file")
	require.NotContains(t, keyColumns(t, db), "owner", "columns of the version-1 table")
	require.NoError(t, db.Close(), "closing the version-1 file")
}

// currentVersions are the rows of keyscope_schema in a database of the
// current version.
var currentVersions = []string{"1 0001_keys.sql", "2 0002_owner.sql", "3 0003_prefix_binding.sql", "4 0004_changes.sql"}

// schemaVersions returns the rows of keyscope_schema, as "version name".
func schemaVersions(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT version, name FROM keyscope_schema ORDER BY version`)
	require.NoError(t, err, "reading keyscope_schema")
	defer rows.Close()
	var vs []string
	for rows.Next() {
		var v int
		var name string
		require.NoError(t, rows.Scan(&v, &name), "reading keyscope_schema")
		vs = append(vs, fmt.Sprintf("%d %s", v, name))
	}
	require.NoError(t, rows.Err(), "reading keyscope_schema")
	return vs
}

// keyColumns returns the names of the columns of keyscope_keys.
func keyColumns(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM pragma_table_info('keyscope_keys')`)
	require.NoError(t, err, "reading the columns of keyscope_keys")
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		require.NoError(t, rows.Scan(&c), "reading the columns of keyscope_keys")
		cols = append(cols, c)
	}
	require.NoError(t, rows.Err(), "reading the columns of keyscope_keys")
	return cols
}

// version1Keys are keys minted by a Manager before keys had owners, with
// their tokens.
type version1Keys struct {
	opts   apikey.Options // of the Manager that minted them, but Store
	keys   []apikey.Key   // every record, newest first
	tokens map[uuid.UUID]string
}

// upgradeTime is the clock of the upgrade tests' Managers.
var upgradeTime = time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC)

// mintVersion1 mints keys through a Manager over a memstore: n plain keys,
// and with everyKind also one of every kind a Manager makes (scoped,
// expiring, used, deactivated, cloned, rolled).
func mintVersion1(t *testing.T, n int, everyKind bool) version1Keys {
	t.Helper()
	ctx := context.Background()
	mem := memstore.New()
	v1 := version1Keys{
		opts:   apikey.Options{Now: func() time.Time { return upgradeTime }, UsageInterval: -1, CacheTTL: -1},
		tokens: map[uuid.UUID]string{},
	}
	m := upgradeManager(t, mem, v1.opts)
	create := func(p apikey.CreateParams) apikey.Key {
		t.Helper()
		k, tok, err := m.Create(ctx, p)
		require.NoError(t, err, "Create %q", p.Label)
		v1.tokens[k.ID] = tok.Reveal()
		return k
	}
	for i := range n {
		create(apikey.CreateParams{Label: fmt.Sprintf("key %d", i)})
	}
	if everyKind {
		scopes, err := apikey.ParseScopes("campaigns:read,lists:write")
		require.NoError(t, err, "ParseScopes")
		scoped := create(apikey.CreateParams{Label: "scoped", Scopes: scopes})
		create(apikey.CreateParams{Label: "expiring", Scopes: apikey.ReadOnly(), ExpiresAt: upgradeTime.Add(30 * 24 * time.Hour)})
		used := create(apikey.CreateParams{Label: "used"})
		require.NoError(t, mem.MarkUsed(ctx, []apikey.Use{{ID: used.ID, At: upgradeTime.Add(-time.Hour)}}), "MarkUsed")
		revoked := create(apikey.CreateParams{Label: "deactivated"})
		_, err = m.Deactivate(ctx, revoked.ID)
		require.NoError(t, err, "Deactivate")
		c, tok, err := m.Clone(ctx, scoped.ID)
		require.NoError(t, err, "Clone")
		v1.tokens[c.ID] = tok.Reveal()
		r, tok, err := m.Roll(ctx, c.ID, time.Hour) // c now expires in an hour
		require.NoError(t, err, "Roll")
		v1.tokens[r.ID] = tok.Reveal()
	}
	var err error
	v1.keys, err = mem.List(ctx, apikey.ListOptions{AllOwners: true})
	require.NoError(t, err, "listing the minted keys")
	require.Len(t, v1.keys, len(v1.tokens), "keys minted")
	return v1
}

// upgradeManager returns a Manager over store with opts, closed when t
// ends.
func upgradeManager(t *testing.T, store apikey.Store, opts apikey.Options) *apikey.Manager {
	t.Helper()
	opts.Store = store
	m, err := apikey.NewManager(opts)
	require.NoError(t, err, "NewManager")
	t.Cleanup(func() { m.Close() })
	return m
}

// ids returns the IDs of ks, in order.
func ids(ks []apikey.Key) []uuid.UUID {
	out := make([]uuid.UUID, len(ks))
	for i, k := range ks {
		out[i] = k.ID
	}
	return out
}

// checkUpgraded checks that s, opened on a version-1 file of v1's keys,
// holds every record as it was, without owner, and that every token
// verifies as the key it was issued for.
func checkUpgraded(t *testing.T, s *Store, v1 version1Keys) {
	t.Helper()
	ctx := context.Background()
	assert.Equal(t, currentVersions, schemaVersions(t, s.read), "keyscope_schema after the upgrade")
	m := upgradeManager(t, s, v1.opts)
	for _, want := range v1.keys {
		got, err := s.Get(ctx, want.ID)
		if !assert.NoError(t, err, "Get %s after the upgrade", want.ID) {
			continue
		}
		assert.Empty(t, storetest.Diff(got, want), "record %s after the upgrade", want.ID)
		assert.Empty(t, got.Owner, "owner of %s after the upgrade", want.ID)

		k, err := m.Verify(ctx, v1.tokens[want.ID])
		if !want.Active {
			assert.ErrorIs(t, err, apikey.ErrInactive, "Verify of deactivated key %s after the upgrade", want.ID)
			continue
		}
		if !assert.NoError(t, err, "Verify of %s (%q) after the upgrade", want.ID, want.Label) {
			continue
		}
		assert.Equal(t, want.ID, k.ID, "key the token of %s verifies as", want.ID)
		assert.Equal(t, want.Label, k.Label, "label of %s", want.ID)
		assert.Equal(t, want.Scopes.String(), k.Scopes.String(), "scopes of %s", want.ID)
		assert.True(t, want.ExpiresAt.Equal(k.ExpiresAt), "expiry of %s: %v, want %v", want.ID, k.ExpiresAt, want.ExpiresAt)
		assert.Empty(t, k.Owner, "owner of %s as verified", want.ID)
	}
	for _, opts := range []apikey.ListOptions{{}, {AllOwners: true}} {
		listed, err := s.List(ctx, opts)
		require.NoError(t, err, "List(%+v) after the upgrade", opts)
		assert.Equal(t, ids(v1.keys), ids(listed), "IDs List(%+v) returns after the upgrade", opts)
	}
}

// TestUpgradeFromVersion1 opens a database that version 1 of this package
// wrote, with keys of every kind a Manager makes: Open migrates it in place
// to version 2, every record reads back as it was, with no owner, every
// token still verifies as its key, and keys with owners can then be added
// and listed by owner.
func TestUpgradeFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	v1 := mintVersion1(t, 3, true)
	writeVersion1(t, path, v1.keys)

	s, err := Open(path)
	require.NoError(t, err, "Open of the version-1 file")
	defer s.Close()
	assert.Contains(t, keyColumns(t, s.read), "owner", "columns after the upgrade")
	checkUpgraded(t, s, v1)

	m := upgradeManager(t, s, v1.opts)
	byOwner := map[string][]apikey.Key{}
	for i, owner := range []string{"acct_1", "acct_2", "acct_1", "acct_1", "acct_2"} {
		k, tok, err := m.Create(ctx, apikey.CreateParams{Owner: owner, Label: fmt.Sprintf("new %d", i)})
		require.NoError(t, err, "Create for %s", owner)
		byOwner[owner] = append([]apikey.Key{k}, byOwner[owner]...) // newest first
		got, err := m.Verify(ctx, tok.Reveal())
		require.NoError(t, err, "Verify of the new key %s", k.ID)
		assert.Equal(t, owner, got.Owner, "owner of the new key %s as verified", k.ID)
	}
	for owner, want := range byOwner {
		listed, err := s.List(ctx, apikey.ListOptions{Owner: owner})
		require.NoError(t, err, "List of %s", owner)
		assert.Equal(t, ids(want), ids(listed), "keys of %s", owner)
		page, err := s.List(ctx, apikey.ListOptions{Owner: owner, Before: want[0].ID, Limit: 1})
		require.NoError(t, err, "List of %s from a cursor", owner)
		assert.Equal(t, ids(want[1:2]), ids(page), "page of %s after its newest key", owner)
	}
	unowned, err := s.List(ctx, apikey.ListOptions{})
	require.NoError(t, err, "List of the keys without owner")
	assert.Equal(t, ids(v1.keys), ids(unowned), "keys without owner, after adding keys with owners")
	all, err := s.List(ctx, apikey.ListOptions{AllOwners: true})
	require.NoError(t, err, "List of every owner")
	assert.Len(t, all, len(v1.keys)+5, "keys of every owner")

	// Opening the upgraded file again migrates nothing.
	require.NoError(t, s.Close(), "Close")
	s, err = Open(path)
	require.NoError(t, err, "reopening the upgraded file")
	defer s.Close()
	assert.Equal(t, currentVersions, schemaVersions(t, s.read), "keyscope_schema after reopening")
}

// TestUpgradeFromVersion1ManyKeys upgrades a version-1 database of 10,000
// keys: every one is still there and verifies.
func TestUpgradeFromVersion1ManyKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	v1 := mintVersion1(t, 10_000, false)
	writeVersion1(t, path, v1.keys)
	s, err := Open(path)
	require.NoError(t, err, "Open of the version-1 file")
	defer s.Close()
	checkUpgraded(t, s, v1)
}

// TestFailedUpgradeLeavesVersion1 makes the upgrade fail: the application
// keeps a table of its own in the same file, with an index under the name
// the migration needs. Open must refuse the file naming the migration, and
// leave it exactly as version 1 wrote it, so that it opens once the
// obstacle is gone.
func TestFailedUpgradeLeavesVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	v1 := mintVersion1(t, 5, true)
	writeVersion1(t, path, v1.keys)
	db := openRaw(t, fileURI(path))
	_, err := db.Exec(`CREATE TABLE app_accounts (id TEXT); CREATE INDEX keyscope_keys_owner ON app_accounts (id)`)
	require.NoError(t, err, "making the application's table")
	require.NoError(t, db.Close(), "closing the application's handle")
	before := fileSum(t, path)

	_, err = Open(path)
	require.Error(t, err, "Open of a file the upgrade cannot apply to")
	assert.ErrorContains(t, err, "0002_owner.sql", "error of the failed upgrade")
	assert.ErrorContains(t, err, path, "error of the failed upgrade")

	assert.Equal(t, before, fileSum(t, path), "the file after the failed upgrade")
	db = openRaw(t, fileURI(path))
	assert.Equal(t, []string{"1 0001_keys.sql"}, schemaVersions(t, db), "keyscope_schema after the failed upgrade")
	assert.NotContains(t, keyColumns(t, db), "owner", "columns after the failed upgrade")
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM keyscope_keys`).Scan(&n), "counting keys after the failed upgrade")
	assert.Equal(t, len(v1.keys), n, "keys after the failed upgrade")

	_, err = db.Exec(`DROP INDEX keyscope_keys_owner`)
	require.NoError(t, err, "dropping the application's index")
	require.NoError(t, db.Close(), "closing the application's handle")
	s, err := Open(path)
	require.NoError(t, err, "Open once the obstacle is gone")
	defer s.Close()
	checkUpgraded(t, s, v1)
}

// TestListQueryPlans asks SQLite how it runs the queries of List: one
// owner's keys must be a range of the owner index, and every key a range
// of the primary key, each read in List order, with no scan of the whole
// table and no sort (a "TEMP B-TREE"), with and without the statistics
// ANALYZE gathers.
func TestListQueryPlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "plans.db"))
	require.NoError(t, err, "Open")
	defer s.Close()
	digest, err := apikey.DecodeDigest(append([]byte{byte(apikey.SHA256)}, bytes.Repeat([]byte{1}, 32)...))
	require.NoError(t, err, "DecodeDigest")
	var cursor []byte
	for i := range 1000 { // 20 owners of 50 keys
		k := apikey.Key{ID: uuid.Must(uuid.NewV7()), Owner: fmt.Sprintf("acct_%d", i%20), Label: "k", Hint: "h", Active: true, CreatedAt: upgradeTime, Digest: digest}
		require.NoError(t, s.Create(ctx, k), "Create")
		if i == 500 {
			cursor = k.ID[:]
		}
	}
	cases := []struct {
		name, query string
		args        []any
		plan        string
	}{
		{"one owner", listOwnerQuery, []any{"acct_3", 100},
			"SEARCH keyscope_keys USING INDEX keyscope_keys_owner (owner=?)"},
		{"one owner before a cursor", listOwnerBeforeQuery, []any{"acct_3", cursor, 100},
			"SEARCH keyscope_keys USING INDEX keyscope_keys_owner (owner=? AND id<?)"},
		{"every owner", listAllQuery, []any{100},
			"SCAN keyscope_keys"},
		{"every owner before a cursor", listAllBeforeQuery, []any{cursor, 100},
			"SEARCH keyscope_keys USING PRIMARY KEY (id<?)"},
	}
	for _, stats := range []string{"without statistics", "after ANALYZE"} {
		if stats == "after ANALYZE" {
			_, err := s.write.Exec("ANALYZE")
			require.NoError(t, err, "ANALYZE")
		}
		for _, tc := range cases {
			t.Run(stats+"/"+tc.name, func(t *testing.T) {
				assert.Equal(t, []string{tc.plan}, queryPlan(t, s.read, tc.query, tc.args...), "plan of %s", tc.query)
			})
		}
	}
}

// queryPlan returns the steps of SQLite's plan for query, one a line.
func queryPlan(t *testing.T, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+query, args...)
	require.NoError(t, err, "EXPLAIN QUERY PLAN %s", query)
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &unused, &detail), "reading the plan of %s", query)
		plan = append(plan, detail)
	}
	require.NoError(t, rows.Err(), "reading the plan of %s", query)
	return plan
}
