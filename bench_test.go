package apikey_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/keyscope/apikey/memstore"
	"github.com/stretchr/testify/require"
)

// The benchmarks check errors in their timed loops with a plain if, not with
// require, whose t.Helper call would weigh on what they measure.

// fillStore adds n records to s directly (fast), and returns a Manager over
// s with one real key whose token the benchmarks verify.
func fillStore(b *testing.B, n int) (*apikey.Manager, string) {
	b.Helper()
	s := memstore.New()
	m := apikeytest.NewManager(b, apikey.Options{Store: s})
	ctx := context.Background()
	_, tok, err := m.Create(ctx, apikey.CreateParams{Label: "bench"})
	require.NoError(b, err)
	proto, err := s.Get(ctx, mustVerify(b, m, tok.Reveal()).ID)
	require.NoError(b, err)
	for i := 1; i < n; i++ {
		k := proto
		k.ID = uuid.Must(uuid.NewV7())
		k.Label = fmt.Sprintf("filler %d", i)
		require.NoError(b, s.Create(ctx, k))
	}
	return m, tok.Reveal()
}

// mustVerify verifies tok, failing the benchmark if it does not verify.
func mustVerify(b *testing.B, m *apikey.Manager, tok string) apikey.Key {
	k, err := m.Verify(context.Background(), tok)
	if err != nil {
		b.Fatal(err)
	}
	return k
}

var benchSizes = []int{1_000, 100_000, 1_000_000}

func BenchmarkVerifyMemstore(b *testing.B) {
	for _, n := range benchSizes {
		m, tok := fillStore(b, n)
		ctx := context.Background()
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("keys=%d/parallel", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := m.Verify(ctx, tok); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkVerifyOwner compares, in one store of 100k keys, a key with an
// owner and one without: an owner must cost nothing on the hot path.
func BenchmarkVerifyOwner(b *testing.B) {
	m, noOwner := fillStore(b, 100_000)
	_, tok, err := m.Create(context.Background(), apikey.CreateParams{Label: "bench", Owner: "acct_0042"})
	require.NoError(b, err)
	ctx := context.Background()
	for _, tc := range []struct{ name, token string }{
		{"owner=none", noOwner},
		{"owner=acct_0042", tok.Reveal()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Verify(ctx, tc.token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyRejects(b *testing.B) {
	m, tok := fillStore(b, 1000)
	var wrong [32]byte
	cases := map[string]string{
		"malformed":    tok[:len(tok)-1] + "!",
		"unknown id":   apikey.FormatToken("sk", uuid.Must(uuid.NewV7()), wrong),
		"wrong secret": apikey.FormatToken("sk", mustVerify(b, m, tok).ID, wrong),
	}
	for name, bad := range cases {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Verify(context.Background(), bad); err == nil {
					b.Fatal("verified")
				}
			}
		})
	}
}

func BenchmarkCreateMemstore(b *testing.B) {
	m := apikeytest.NewManager(b, apikey.Options{Store: memstore.New()})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.Create(ctx, apikey.CreateParams{Label: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHashes(b *testing.B) {
	for name, opts := range map[string]apikey.Options{
		"hmac-sha256": {Hash: apikey.HMACSHA256, Pepper: make([]byte, 32)},
		"argon2id":    {Hash: apikey.Argon2id},
	} {
		b.Run(name, func(b *testing.B) {
			opts.Store, opts.UsageInterval = memstore.New(), time.Hour
			m := apikeytest.NewManager(b, opts)
			_, tok, err := m.Create(context.Background(), apikey.CreateParams{Label: name})
			require.NoError(b, err)
			b.ReportAllocs()
			for b.Loop() {
				mustVerify(b, m, tok.Reveal())
			}
		})
	}
}

func BenchmarkScopeCheck(b *testing.B) {
	s, err := apikey.ParseScopes("campaigns:read,catalogs:read,data-privacy:write,lists:write,profiles:read,segments:read")
	require.NoError(b, err)
	one := apikey.Scope{Resource: "profiles", Access: apikey.Read}
	two := []apikey.Scope{{Resource: "profiles", Access: apikey.Read}, {Resource: "lists", Access: apikey.Read}}
	b.Run("one", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !s.Allows(one) {
				b.Fatal("denied")
			}
		}
	})
	b.Run("two", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !s.AllowsAll(two...) {
				b.Fatal("denied")
			}
		}
	})
	b.Run("wildcard", func(b *testing.B) {
		full := apikey.FullAccess()
		b.ReportAllocs()
		for b.Loop() {
			if !full.Allows(one) {
				b.Fatal("denied")
			}
		}
	})
}

func BenchmarkParseScopes(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := apikey.ParseScopes("campaigns:read, lists:write,profiles:read"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCache verifies 1000 keys in turn through a memstore, with
// the verification cache off and on, on one goroutine and on all of them.
func BenchmarkVerifyCache(b *testing.B) {
	for _, cache := range []struct {
		name string
		ttl  time.Duration
	}{{"off", -1}, {"on", time.Hour}} {
		m, err := apikey.NewManager(apikey.Options{Store: memstore.New(), CacheTTL: cache.ttl})
		require.NoError(b, err)
		ctx := context.Background()
		toks := make([]string, 1000)
		for i := range toks {
			_, tok, err := m.Create(ctx, apikey.CreateParams{Label: fmt.Sprint("bench ", i)})
			require.NoError(b, err)
			toks[i] = tok.Reveal()
		}
		// Warm the cache, and record a use of every key, so that the
		// benchmark sees the steady state: keys used within the last
		// UsageInterval, which the usage tracker skips.
		for _, tok := range toks {
			mustVerify(b, m, tok)
		}
		require.NoError(b, m.Flush(ctx))
		b.Run("cache="+cache.name+"/single", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := m.Verify(ctx, toks[i%len(toks)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run("cache="+cache.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			var mu sync.Mutex
			next := 0
			b.RunParallel(func(pb *testing.PB) {
				mu.Lock()
				i := next * 7919 // goroutines start at different keys
				next++
				mu.Unlock()
				for pb.Next() {
					if _, err := m.Verify(ctx, toks[i%len(toks)]); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
		})
		m.Close()
	}
}

// okHandler is the handler every middleware benchmark serves: the cost of a
// round is measured with and without the middleware in front of it.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	w.Write([]byte("ok\n"))
})

// benchServe serves req to h in b's loop, each time through a new
// httptest.NewRecorder, failing unless h answers 200.
func benchServe(b *testing.B, req *http.Request, h http.Handler) {
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// BenchmarkMustRequire serves one request with a valid key (memstore)
// through httptest.NewRecorder, bare and behind MustRequire. The cost of
// the middleware is the difference of the two.
func BenchmarkMustRequire(b *testing.B) {
	token, m := apikeytest.NewKey(b, "lists:read")
	g, err := apikey.NewGuard(m, apikey.GuardOptions{})
	require.NoError(b, err)
	req := httptest.NewRequest("GET", "/api/lists", nil)
	req.Header.Set("Authorization", "Bearer "+token)

	b.Run("bare", func(b *testing.B) { benchServe(b, req, okHandler) })
	b.Run("guarded", func(b *testing.B) { benchServe(b, req, g.MustRequire("lists:read")(okHandler)) })
}

// BenchmarkRouter serves a request with an include through a ServeMux
// with two routes, and through a Router over the same table: the cost of
// the guard is the difference of the two.
func BenchmarkRouter(b *testing.B) {
	token, m := apikeytest.NewKey(b, "profiles:read,lists:read")
	g, err := apikey.NewGuard(m, apikey.GuardOptions{})
	require.NoError(b, err)
	cat, err := apikey.NewCatalog("profiles", "lists")
	require.NoError(b, err)
	rt, err := apikey.NewRouter(g, cat, []apikey.Route{
		{Pattern: "GET /api/profiles/{id}", Resource: "profiles", Includes: []string{"lists"}, Handler: okHandler},
		{Pattern: "GET /api/lists/{id}", Resource: "lists", Handler: okHandler},
	})
	require.NoError(b, err)
	mux := http.NewServeMux()
	mux.Handle("GET /api/profiles/{id}", okHandler)
	mux.Handle("GET /api/lists/{id}", okHandler)
	req := httptest.NewRequest("GET", "/api/profiles/42?include=lists", nil)
	req.Header.Set("Authorization", "Bearer "+token)

	b.Run("bare", func(b *testing.B) { benchServe(b, req, mux) })
	b.Run("guarded", func(b *testing.B) { benchServe(b, req, rt) })
}

// BenchmarkCheck is the pure check alone, with no handler or recorder.
func BenchmarkCheck(b *testing.B) {
	token, m := apikeytest.NewKey(b, "lists:read")
	g, err := apikey.NewGuard(m, apikey.GuardOptions{})
	require.NoError(b, err)
	req := httptest.NewRequest("GET", "/api/lists", nil)
	req.Header.Set("X-API-Key", token)
	need := apikey.Scope{Resource: "lists", Access: apikey.Read}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Check(req, need); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkArgon2idFlood is issue 10's item 6: 16 goroutines send forged
// secrets for one known key ID, of a deactivated key, while 100 other keys
// are verified for the first time (cache cold), one after another, with
// Argon2id at its default parameters. It reports the median verification
// time of the other keys when quiet and under the flood, in ms, and their
// ratio; forged tokens for one ID should cost that ID, not everyone, so the
// ratio should stay under 2. Each round mints its keys anew, so run it with
// -benchtime 1x: a round takes seconds.
func BenchmarkArgon2idFlood(b *testing.B) {
	const others, attackers = 100, 16
	ctx := context.Background()
	var quiet, flooded []time.Duration
	for b.Loop() {
		store := memstore.New()
		minter, err := apikey.NewManager(apikey.Options{Store: store, Hash: apikey.Argon2id, UsageInterval: -1})
		require.NoError(b, err)
		target, _, err := minter.Create(ctx, apikey.CreateParams{Label: "flooded"})
		require.NoError(b, err)
		_, err = minter.Deactivate(ctx, target.ID)
		require.NoError(b, err)
		toks := make([]string, others)
		for i := range toks {
			_, tok, err := minter.Create(ctx, apikey.CreateParams{Label: fmt.Sprint("other ", i)})
			require.NoError(b, err)
			toks[i] = tok.Reveal()
		}
		forged := apikey.FormatToken(apikey.DefaultPrefix, target.ID, [32]byte{1})

		// firstVerifications verifies every other key once through a new
		// Manager, whose cache is cold, and returns how long each took.
		firstVerifications := func(m *apikey.Manager) []time.Duration {
			d := make([]time.Duration, 0, others)
			for _, tok := range toks {
				start := time.Now()
				if _, err := m.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
				d = append(d, time.Since(start))
			}
			return d
		}
		newManager := func() *apikey.Manager {
			m, err := apikey.NewManager(apikey.Options{Store: store, UsageInterval: -1})
			require.NoError(b, err)
			return m
		}

		quiet = append(quiet, firstVerifications(newManager())...)

		m := newManager()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range attackers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := m.Verify(ctx, forged); !errors.Is(err, apikey.ErrInvalidKey) {
						b.Errorf("forged token: %v", err)
						return
					}
				}
			}()
		}
		flooded = append(flooded, firstVerifications(m)...)
		close(stop)
		wg.Wait()
	}
	q, f := median(quiet), median(flooded)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(q)/1e6, "quiet-p50-ms")
	b.ReportMetric(float64(f)/1e6, "flood-p50-ms")
	b.ReportMetric(float64(f)/float64(q), "flood/quiet")
}

// median returns the median of d, which it sorts.
func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}
