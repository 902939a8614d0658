package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/memstore"
	"github.com/stretchr/testify/require"
)

// The benchmarks share one fixture, built once per test binary: 100,000
// keys minted by a Manager, held both in a memstore and in a sqlitestore
// file, and a random sample of them to verify.
const (
	benchKeys   = 100_000
	benchSample = 1024
)

type benchFixture struct {
	dir    string
	sqlite *Store
	mem    *memstore.Store
	tokens []string    // of the sample
	ids    []uuid.UUID // of the sample
}

var (
	benchOnce sync.Once
	bench     *benchFixture
	benchErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bench != nil {
		bench.sqlite.Close()
		os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

func benchSetup(b *testing.B) *benchFixture {
	b.Helper()
	benchOnce.Do(func() { bench, benchErr = newBenchFixture() })
	require.NoError(b, benchErr, "building the benchmark fixture")
	return bench
}

func newBenchFixture() (*benchFixture, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sqlitestore-bench-")
	if err != nil {
		return nil, err
	}
	f := &benchFixture{dir: dir, mem: memstore.New()}
	// Mint into the memstore, which is quick, then copy the records into
	// SQLite in one transaction.
	mint, err := apikey.NewManager(apikey.Options{Store: f.mem, UsageInterval: -1, CacheTTL: -1})
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	sample := map[int]bool{}
	for len(sample) < benchSample {
		sample[rng.IntN(benchKeys)] = true
	}
	for i := range benchKeys {
		k, tok, err := mint.Create(ctx, apikey.CreateParams{Label: fmt.Sprintf("bench key %d", i)})
		if err != nil {
			return nil, err
		}
		if sample[i] {
			f.tokens = append(f.tokens, tok.Reveal())
			f.ids = append(f.ids, k.ID)
		}
	}
	rng.Shuffle(len(f.tokens), func(i, j int) {
		f.tokens[i], f.tokens[j] = f.tokens[j], f.tokens[i]
		f.ids[i], f.ids[j] = f.ids[j], f.ids[i]
	})
	if f.sqlite, err = Open(filepath.Join(dir, "bench.db")); err != nil {
		return nil, err
	}
	all, err := f.mem.List(ctx, apikey.ListOptions{})
	if err != nil {
		return nil, err
	}
	err = inImmediateTx(ctx, f.sqlite.write, func(conn *sql.Conn) error {
		st, err := conn.PrepareContext(ctx, `INSERT INTO keyscope_keys (id, `+columns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, k := range all {
			if _, err := st.ExecContext(ctx, insertArgs(k)...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, err := f.sqlite.write.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return nil, err
	}
	return f, nil
}

// run runs op over the sample, on one goroutine and on GOMAXPROCS of them.
// The timed loops report errors with b.Fatal and b.Error rather than
// require and assert, which would call b.Helper on every iteration.
func run(b *testing.B, n int, op func(i int) error) {
	b.Run("single", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := op(i % n); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var start sync.Mutex
		next := 0
		b.RunParallel(func(pb *testing.PB) {
			start.Lock()
			i := next * 7919 // goroutines start at different keys
			next++
			start.Unlock()
			for pb.Next() {
				if err := op(i % n); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

// BenchmarkPointLookup is the floor: the query Get runs, prepared, by
// primary key on the 100,000-row table, its row fetched with the cheapest
// scan database/sql offers (no conversion, no copies of blobs) and nothing
// decoded.
func BenchmarkPointLookup(b *testing.B) {
	f := benchSetup(b)
	ctx := context.Background()
	st, err := f.sqlite.read.Prepare(`SELECT ` + columns + ` FROM keyscope_keys WHERE id = ?`)
	require.NoError(b, err, "Prepare")
	defer st.Close()
	run(b, len(f.ids), func(i int) error {
		v := new(rowValues) // one allocation for all the targets, as in Get
		id := f.ids[i]
		rows, err := st.QueryContext(ctx, id[:])
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			return fmt.Errorf("key %s not found: %v", id, rows.Err())
		}
		if err := rows.Scan(&v.label, &v.scopes, &v.active, &v.created, &v.used, &v.expires, &v.clonedFrom, &v.hint, &v.digest); err != nil {
			return err
		}
		return rows.Close()
	})
}

// BenchmarkVerify verifies the sample through a Manager over each store,
// with the verification cache off and on. Usage tracking is off: in steady
// state it costs a comparison per verification, and it would make the
// figures depend on the time since the fixture was built.
func BenchmarkVerify(b *testing.B) {
	f := benchSetup(b)
	ctx := context.Background()
	stores := []struct {
		name  string
		store apikey.Store
	}{{"sqlite", f.sqlite}, {"memstore", f.mem}}
	for _, st := range stores {
		for _, cache := range []struct {
			name string
			ttl  time.Duration
		}{{"off", -1}, {"on", time.Hour}} {
			b.Run("store="+st.name+"/cache="+cache.name, func(b *testing.B) {
				m, err := apikey.NewManager(apikey.Options{Store: st.store, UsageInterval: -1, CacheTTL: cache.ttl})
				require.NoError(b, err, "NewManager")
				defer m.Close()
				for _, tok := range f.tokens { // warm the cache, if on
					_, err := m.Verify(ctx, tok)
					require.NoError(b, err, "Verify while warming the cache")
				}
				run(b, len(f.tokens), func(i int) error {
					_, err := m.Verify(ctx, f.tokens[i])
					return err
				})
			})
		}
	}
}

// BenchmarkCreate mints keys through a Manager into an empty sqlitestore
// and into a memstore.
func BenchmarkCreate(b *testing.B) {
	ctx := context.Background()
	for _, name := range []string{"sqlite", "memstore"} {
		b.Run("store="+name, func(b *testing.B) {
			var store apikey.Store = memstore.New()
			if name == "sqlite" {
				s, err := Open(filepath.Join(b.TempDir(), "create.db"))
				require.NoError(b, err, "Open")
				defer s.Close()
				store = s
			}
			m, err := apikey.NewManager(apikey.Options{Store: store, UsageInterval: -1})
			require.NoError(b, err, "NewManager")
			defer m.Close()
			b.ReportAllocs()
			for b.Loop() { // b.Fatal rather than require: see run
				if _, _, err := m.Create(ctx, apikey.CreateParams{Label: "bench"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
