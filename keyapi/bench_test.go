package keyapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/keyscope/apikey/keyapi"
	"github.com/keyscope/apikey/memstore"
	"github.com/stretchr/testify/require"
)

// benchStore is a store the benchmarks run against.
type benchStore struct {
	name string
	open func(b *testing.B) apikey.Store
}

// benchStores are the stores the benchmarks run against;
// bench_sqlite_test.go adds sqlitestore where cgo is available.
var benchStores = []benchStore{
	{"memstore", func(b *testing.B) apikey.Store { return memstore.New() }},
}

// benchOwner is the account the benchmarks' admin key belongs to.
const benchOwner = "acct_bench"

// benchServer serves the management API over loopback HTTP, behind a
// bearer-token check like keyscope's middleware, and returns the server and
// the token of an admin key of benchOwner.
func benchServer(b *testing.B, st apikey.Store) (*httptest.Server, *apikey.Manager, string) {
	b.Helper()
	m := apikeytest.NewManager(b, apikey.Options{Store: st, UsageInterval: -1})
	h, err := keyapi.NewHandler(m, keyapi.Options{Logger: discardLogger()})
	require.NoError(b, err)
	scopes, err := apikey.ParseScopes(adminScopes)
	require.NoError(b, err)
	_, tok, err := m.Create(context.Background(), apikey.CreateParams{Owner: benchOwner, Label: "admin", Scopes: scopes})
	require.NoError(b, err)
	srv := httptest.NewServer(withBearer(m, h))
	b.Cleanup(srv.Close)
	return srv, m, tok.Reveal()
}

// send performs one request and returns how long it took, failing unless
// the status is want.
func send(b *testing.B, c *http.Client, req func() *http.Request, want int) time.Duration {
	start := time.Now()
	resp, err := c.Do(req())
	require.NoError(b, err)
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	require.NoError(b, err)
	require.Equal(b, want, resp.StatusCode)
	return d
}

// measure sends b.N requests, each expecting the status want, and reports
// the median of their latencies as p50-ns/op.
func measure(b *testing.B, c *http.Client, req func() *http.Request, want int) {
	ds := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ds = append(ds, send(b, c, req, want))
	}
	b.StopTimer()
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Nanoseconds()), "p50-ns/op")
}

func BenchmarkCreateHTTP(b *testing.B) {
	for _, bs := range benchStores {
		b.Run(bs.name, func(b *testing.B) {
			srv, _, tok := benchServer(b, bs.open(b))
			body := `{"label":"bench","scopes":"campaigns:read,lists:write"}`
			measure(b, srv.Client(), func() *http.Request {
				r, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader(body))
				r.Header.Set("Authorization", "Bearer "+tok)
				r.Header.Set("Content-Type", "application/json")
				return r
			}, http.StatusCreated)
		})
	}
}

// BenchmarkList10kHTTP lists a page of the caller's owner's 10,000 keys,
// in a store that holds as many keys of 100 other owners, created
// interleaved with them.
func BenchmarkList10kHTTP(b *testing.B) {
	const n = 10_000
	for _, bs := range benchStores {
		b.Run(bs.name, func(b *testing.B) {
			srv, m, tok := benchServer(b, bs.open(b))
			ctx := context.Background()
			for i := range n - 1 {
				for _, owner := range []string{benchOwner, fmt.Sprintf("acct_%d", i%100)} {
					_, _, err := m.Create(ctx, apikey.CreateParams{Owner: owner, Label: fmt.Sprintf("key %d", i)})
					require.NoError(b, err)
				}
			}
			for _, limit := range []int{keyapi.DefaultPageSize, keyapi.MaxPageSize} {
				b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) {
					url := fmt.Sprintf("%s/?limit=%d", srv.URL, limit)
					measure(b, srv.Client(), func() *http.Request {
						r, _ := http.NewRequest("GET", url, nil)
						r.Header.Set("Authorization", "Bearer "+tok)
						return r
					}, http.StatusOK)
				})
			}
		})
	}
}
