package pgstore_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/internal/pgtest"
	"github.com/keyscope/apikey/pgstore"
	"github.com/keyscope/apikey/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain shares one PostgreSQL cluster among the package's tests, and
// stops it at the end.
func TestMain(m *testing.M) { pgtest.Main(m) }

// openStore opens a Store on a fresh schema, closed when t ends.
func openStore(t testing.TB) (*pgstore.Store, pgtest.DB) {
	t.Helper()
	db := pgtest.NewSchema(t)
	s, err := pgstore.Open(context.Background(), db.URL, pgstore.Options{Schema: db.Schema})
	require.NoError(t, err, "Open")
	t.Cleanup(func() { s.Close() })
	return s, db
}

// newPool returns a pool on url, closed when t ends.
func newPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err, "pgxpool.New")
	t.Cleanup(pool.Close)
	return pool
}

// newManager returns a Manager over s, closed when t ends. Usage tracking
// is off unless opts sets UsageInterval.
func newManager(t testing.TB, opts apikey.Options) *apikey.Manager {
	t.Helper()
	if opts.UsageInterval == 0 {
		opts.UsageInterval = -1
	}
	m, err := apikey.NewManager(opts)
	require.NoError(t, err, "NewManager")
	t.Cleanup(func() { m.Close() })
	return m
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) apikey.Store {
		s, _ := openStore(t)
		return s
	})
}

// TestConformanceNew runs the suite over a pool the application made,
// with pgx's defaults, in the schema its search_path names.
func TestConformanceNew(t *testing.T) {
	storetest.Run(t, func(t *testing.T) apikey.Store {
		db := pgtest.NewSchema(t)
		s, err := pgstore.New(context.Background(), newPool(t, db.URL), pgstore.Options{Schema: db.Schema})
		require.NoError(t, err, "New")
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// assertKey checks that got is the record want, field by field.
func assertKey(t testing.TB, want, got apikey.Key, msgAndArgs ...any) bool {
	t.Helper()
	if d := storetest.Diff(got, want); d != "" {
		return assert.Fail(t, "records differ: "+d, msgAndArgs...)
	}
	return true
}
