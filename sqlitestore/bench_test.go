package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/memstore"
	"github.com/stretchr/testify/require"
)

// The lookup and Verify benchmarks share one fixture, built once per test
// binary: 100,000 keys minted by a Manager, held both in a memstore and in a
// sqlitestore file, and a random sample of them to verify.
// BenchmarkListOwner has fixtures of its own, of synthetic keys.
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
	for _, f := range ownersFixtures.m {
		f.store.Close()
		os.RemoveAll(f.dir)
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
		st, err := conn.PrepareContext(ctx, insertQuery)
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
		if err := rows.Scan(&v.label, &v.scopes, &v.active, &v.created, &v.used, &v.expires, &v.clonedFrom, &v.hint, &v.digest, &v.owner); err != nil {
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

// ownerKeys is how many keys each owner has in the fixtures of
// BenchmarkListOwner, and the page it lists.
const ownerKeys = 100

// BenchmarkListOwner lists one owner's keys, a page of ownerKeys, among
// 100,000 and among 1,000,000 keys (1,000 and 10,000 owners): the owner
// index must keep the cost the same whatever the total.
func BenchmarkListOwner(b *testing.B) {
	ctx := context.Background()
	for _, total := range []struct {
		name string
		n    int
	}{{"100k", 100_000}, {"1M", 1_000_000}} {
		b.Run("total="+total.name, func(b *testing.B) {
			f := ownersSetup(b, total.n)
			opts := apikey.ListOptions{Limit: ownerKeys}
			b.ReportAllocs()
			i := 0
			for b.Loop() { // b.Fatal rather than require: see run
				opts.Owner = f.owners[i%len(f.owners)]
				ks, err := f.store.List(ctx, opts)
				if err != nil {
					b.Fatal(err)
				}
				if len(ks) != ownerKeys {
					b.Fatalf("List of owner %q: %d keys, want %d", opts.Owner, len(ks), ownerKeys)
				}
				i++
			}
		})
	}
}

// ownersFixture is a database of synthetic keys, ownerKeys per owner.
type ownersFixture struct {
	dir    string
	store  *Store
	owners []string // every owner, in random order
}

// ownersFixtures are built once per total number of keys and test binary,
// however many times the benchmarks run; TestMain removes them.
var ownersFixtures = struct {
	sync.Mutex
	m map[int]*ownersFixture
}{m: map[int]*ownersFixture{}}

func ownersSetup(b *testing.B, total int) *ownersFixture {
	b.Helper()
	ownersFixtures.Lock()
	defer ownersFixtures.Unlock()
	if f := ownersFixtures.m[total]; f != nil {
		return f
	}
	f, err := newOwnersFixture(total)
	require.NoError(b, err, "building the fixture of %d keys", total)
	ownersFixtures.m[total] = f
	return f
}

// newOwnersFixture writes total synthetic keys, as an application with
// total/ownerKeys accounts would have made them over the years: one a
// minute, each by a random account. So each owner's keys are spread over
// the whole table, and the owner index grew by inserts at random places,
// as it does in use. The records go in by the Store's own insert, in one
// transaction on its write handle: minting a million keys through a
// Manager would take minutes.
func newOwnersFixture(total int) (_ *ownersFixture, err error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sqlitestore-owners-")
	if err != nil {
		return nil, err
	}
	f := &ownersFixture{dir: dir}
	defer func() {
		if err != nil {
			if f.store != nil {
				f.store.Close()
			}
			os.RemoveAll(dir)
		}
	}()
	if f.store, err = Open(filepath.Join(dir, "owners.db")); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(3, uint64(total)))
	f.owners = make([]string, total/ownerKeys)
	for i := range f.owners {
		f.owners[i] = fmt.Sprintf("acct_%07d", i)
	}
	order := make([]int32, total) // the owner of each key, in creation order
	for i := range order {
		order[i] = int32(i / ownerKeys)
	}
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	rng.Shuffle(len(f.owners), func(i, j int) { f.owners[i], f.owners[j] = f.owners[j], f.owners[i] })

	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	scopes := apikey.FullAccess()
	digest := make([]byte, 1+32)
	digest[0] = byte(apikey.SHA256)
	w := f.store.write
	// A page cache large enough for the whole owner index, so that the
	// inserts at random places in it do not spill to the file and read it
	// back; restored afterwards.
	if _, err := w.ExecContext(ctx, "PRAGMA cache_size = -262144"); err != nil {
		return nil, err
	}
	err = inImmediateTx(ctx, w, func(conn *sql.Conn) error {
		st, err := conn.PrepareContext(ctx, insertQuery)
		if err != nil {
			return err
		}
		defer st.Close()
		for i, owner := range order {
			created := start.Add(time.Duration(i) * time.Minute)
			var k apikey.Key
			k.ID = syntheticV7(created, rng)
			k.Owner = f.owners[owner]
			k.Label = "key " + strconv.Itoa(i)
			k.Scopes = scopes
			k.Active = true
			k.CreatedAt = created
			k.Hint = "sk_…" + k.ID.String()[32:]
			for j := 1; j < len(digest); j += 8 {
				binary.LittleEndian.PutUint64(digest[j:], rng.Uint64())
			}
			if k.Digest, err = apikey.DecodeDigest(digest); err != nil {
				return err
			}
			if _, err := st.ExecContext(ctx, insertArgs(k)...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, err := w.ExecContext(ctx, "PRAGMA cache_size = -2000"); err != nil {
		return nil, err
	}
	// Readers then read the database file, not a WAL of every page.
	if _, err := w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return nil, err
	}
	return f, nil
}

// syntheticV7 returns a UUIDv7 of time t with random bits from rng: the
// IDs of keys made at increasing times sort in that order.
func syntheticV7(t time.Time, rng *rand.Rand) uuid.UUID {
	var id uuid.UUID
	binary.BigEndian.PutUint64(id[:8], uint64(t.UnixMilli())<<16|rng.Uint64()&0x0fff|0x7000)
	binary.BigEndian.PutUint64(id[8:], rng.Uint64()&(1<<62-1)|1<<63)
	return id
}

// BenchmarkWatchPoll measures one idle poll of a Watch, on a connection of
// its own to a file of 1,000 keys whose log holds their creation: asking
// whether another connection committed (PRAGMA data_version), which is
// what a Watch on a Store made by Open does each PollInterval, against
// reading the log after its last row, which is what one on a Store made by
// New does.
func BenchmarkWatchPoll(b *testing.B) {
	ctx := context.Background()
	s, err := Open(filepath.Join(b.TempDir(), "poll.db"))
	require.NoError(b, err, "Open")
	defer s.Close()
	d, err := apikey.DecodeDigest(append([]byte{byte(apikey.SHA256)}, make([]byte, 32)...))
	require.NoError(b, err, "DecodeDigest")
	for i := range 1000 {
		k := apikey.Key{ID: uuid.Must(uuid.NewV7()), Label: fmt.Sprint(i), Active: true, Hint: "h", Digest: d}
		require.NoError(b, s.Create(ctx, k), "Create")
	}
	wa := watch{s: s, w: nil, version: -1}
	db, err := wa.connect()
	require.NoError(b, err, "connect")
	defer wa.close()
	var last int64
	require.NoError(b, db.QueryRow(lastSeqQuery).Scan(&last), "reading the last seq")
	b.Run("data_version", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := dataVersion(ctx, db); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("change log", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if batch, _, err := readChanges(ctx, db, last); err != nil || len(batch) != 0 {
				b.Fatal(err, len(batch))
			}
		}
	})
}
