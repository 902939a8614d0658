package pgstore_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/internal/pgtest"
	"github.com/keyscope/apikey/memstore"
	"github.com/keyscope/apikey/pgstore"
	"github.com/stretchr/testify/require"
)

// benchRows is the number of keys in the benchmarks' table.
const benchRows = 100_000

// benchTokens is the number of keys made through a Manager, whose tokens
// the benchmarks verify in turn.
const benchTokens = 100

// fixture is the benchmarks' table: benchRows keys, of which the first
// benchTokens have tokens, built once per test binary.
type fixture struct {
	db     pgtest.DB
	store  *pgstore.Store // over db; never closed, the binary's end does
	pool   *pgxpool.Pool  // a pool of pgx's defaults on db
	ids    []uuid.UUID
	tokens []string
}

var (
	benchOnce    sync.Once
	benchFix     *fixture
	benchFixErr  error
	benchMemOnce sync.Once
	benchMem     *apikey.Manager
	benchMemToks []string
)

// benchFixture returns the fixture, building it on the first call: the
// keys with tokens through a Manager, the rest in one INSERT ... SELECT
// from generate_series, in about a second.
func benchFixture(b *testing.B) *fixture {
	b.Helper()
	db := pgtest.SharedSchema(b, "pgstore benchmarks")
	benchOnce.Do(func() {
		ctx := context.Background()
		f := &fixture{db: db}
		start := time.Now()
		f.store, benchFixErr = pgstore.Open(ctx, db.URL, pgstore.Options{Schema: db.Schema})
		if benchFixErr != nil {
			return
		}
		f.pool, benchFixErr = pgxpool.New(ctx, db.URL)
		if benchFixErr != nil {
			return
		}
		m, err := apikey.NewManager(apikey.Options{Store: f.store, UsageInterval: -1})
		if err != nil {
			benchFixErr = err
			return
		}
		defer m.Close()
		for range benchTokens {
			k, tok, err := m.Create(ctx, apikey.CreateParams{Owner: "acct_bench", Label: "benchmark key", Scopes: apikey.ReadOnly()})
			if err != nil {
				benchFixErr = err
				return
			}
			f.ids, f.tokens = append(f.ids, k.ID), append(f.tokens, tok.Reveal())
		}
		stored, err := f.store.Get(ctx, f.ids[0])
		if err != nil {
			benchFixErr = err
			return
		}
		digest := stored.Digest.Bytes()
		_, benchFixErr = f.pool.Exec(ctx, `INSERT INTO keyscope_keys (id, owner, label, scopes, active, created_at, hint, digest)
			SELECT gen_random_uuid(), 'acct_' || (i % 1000), convert_to('filler ' || i, 'UTF8'), '*:read', true,
				now(), 'sk_…0000', $1
			FROM generate_series(1, $2::int) AS i`, digest, benchRows-benchTokens)
		if benchFixErr != nil {
			return
		}
		_, benchFixErr = f.pool.Exec(ctx, `ANALYZE keyscope_keys`)
		benchFix = f
		b.Logf("built a table of %d keys in %v", benchRows, time.Since(start).Round(time.Millisecond))
	})
	require.NoError(b, benchFixErr, "building the benchmark table")
	return benchFix
}

// BenchmarkVerify verifies tokens through a Manager over pgstore without
// its cache, so that every Verify reads the key from PostgreSQL: compare
// with BenchmarkRawPointLookup, the same read made with pgx directly.
func BenchmarkVerify(b *testing.B) {
	f := benchFixture(b)
	m, err := apikey.NewManager(apikey.Options{Store: f.store, CacheTTL: -1, UsageInterval: -1})
	require.NoError(b, err, "NewManager")
	defer m.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := m.Verify(ctx, f.tokens[i%benchTokens]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawPointLookup reads the columns of a key by primary key with
// pgx alone, into plain Go values: the floor under BenchmarkVerify.
func BenchmarkRawPointLookup(b *testing.B) {
	f := benchFixture(b)
	ctx := context.Background()
	query := `SELECT owner, label, scopes, active, created_at, last_used_at, expires_at, cloned_from, hint, digest
		FROM ` + pgx.Identifier{f.db.Schema, "keyscope_keys"}.Sanitize() + ` WHERE id = $1`
	var (
		owner, scopes, hint string
		label, digest       []byte
		active              bool
		created             time.Time
		used, expires       pgtype.Timestamptz
		cloned              pgtype.UUID
	)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		err := f.pool.QueryRow(ctx, query, f.ids[i%benchTokens]).Scan(&owner, &label, &scopes, &active, &created, &used, &expires, &cloned, &hint, &digest)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCached verifies tokens through a Manager with its cache
// on, over pgstore and over memstore, each of benchRows keys.
func BenchmarkVerifyCached(b *testing.B) {
	b.Run("pgstore", func(b *testing.B) {
		f := benchFixture(b)
		m, err := apikey.NewManager(apikey.Options{Store: f.store, UsageInterval: -1})
		require.NoError(b, err, "NewManager")
		defer m.Close()
		benchVerify(b, m, f.tokens)
	})
	b.Run("memstore", func(b *testing.B) {
		benchMemOnce.Do(func() {
			ctx := context.Background()
			s := memstore.New()
			m, err := apikey.NewManager(apikey.Options{Store: s, UsageInterval: -1})
			require.NoError(b, err, "NewManager")
			for range benchTokens {
				_, tok, err := m.Create(ctx, apikey.CreateParams{Owner: "acct_bench", Label: "benchmark key", Scopes: apikey.ReadOnly()})
				require.NoError(b, err, "Create")
				benchMemToks = append(benchMemToks, tok.Reveal())
			}
			for range benchRows - benchTokens {
				require.NoError(b, s.Create(ctx, record(b, "acct_filler", "filler")), "Create")
			}
			benchMem = m
		})
		benchVerify(b, benchMem, benchMemToks)
	})
}

// benchVerify verifies tokens in turn through m.
func benchVerify(b *testing.B, m *apikey.Manager, tokens []string) {
	ctx := context.Background()
	for _, tok := range tokens { // fill the cache
		if _, err := m.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := m.Verify(ctx, tokens[i%len(tokens)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreate creates keys through a Manager over pgstore, one at a
// time, and reports the median and 99th percentile of their latencies
// beside the mean.
func BenchmarkCreate(b *testing.B) {
	f := benchFixture(b)
	m, err := apikey.NewManager(apikey.Options{Store: f.store, UsageInterval: -1})
	require.NoError(b, err, "NewManager")
	defer m.Close()
	ctx := context.Background()
	var lat []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if _, _, err := m.Create(ctx, apikey.CreateParams{Owner: "acct_create", Label: "created"}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns/op")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns/op")
}
