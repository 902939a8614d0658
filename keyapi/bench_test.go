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
	"github.com/keyscope/apikey/keyapi"
	"github.com/keyscope/apikey/memstore"
)

// benchStore is a store the benchmarks run against.
type benchStore struct {
	name string
	open func(b *testing.B) apikey.Store
}

var benchStores = []benchStore{
	{"memstore", func(b *testing.B) apikey.Store { return memstore.New() }},
}

// benchServer serves the management API over loopback HTTP, behind a
// bearer-token check like keyscope's middleware, and returns the server and
// an admin token.
func benchServer(b *testing.B, st apikey.Store) (*httptest.Server, *apikey.Manager, string) {
	b.Helper()
	m, err := apikey.NewManager(apikey.Options{Store: st, UsageInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	h, err := keyapi.NewHandler(m, keyapi.Options{Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	_, tok, err := m.Create(context.Background(), apikey.CreateParams{Label: "admin"})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(withBearer(m, h))
	b.Cleanup(srv.Close)
	return srv, m, tok.Reveal()
}

// send performs one request and returns how long it took, failing unless
// the status is want.
func send(b *testing.B, c *http.Client, req func() *http.Request, want int) time.Duration {
	start := time.Now()
	resp, err := c.Do(req())
	if err != nil {
		b.Fatal(err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil || resp.StatusCode != want {
		b.Fatalf("status %d, want %d: %v", resp.StatusCode, want, err)
	}
	return d
}

// reportMedian reports the median of the request latencies as p50-ns/op.
func reportMedian(b *testing.B, ds []time.Duration) {
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
			c := srv.Client()
			body := `{"label":"bench","scopes":"campaigns:read,lists:write"}`
			req := func() *http.Request {
				r, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader(body))
				r.Header.Set("Authorization", "Bearer "+tok)
				r.Header.Set("Content-Type", "application/json")
				return r
			}
			ds := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				ds = append(ds, send(b, c, req, http.StatusCreated))
			}
			b.StopTimer()
			reportMedian(b, ds)
		})
	}
}

// BenchmarkList10kHTTP lists a page of a store holding 10,000 keys.
func BenchmarkList10kHTTP(b *testing.B) {
	const n = 10_000
	for _, bs := range benchStores {
		b.Run(bs.name, func(b *testing.B) {
			srv, m, tok := benchServer(b, bs.open(b))
			ctx := context.Background()
			for i := range n - 1 {
				if _, _, err := m.Create(ctx, apikey.CreateParams{Label: fmt.Sprintf("key %d", i)}); err != nil {
					b.Fatal(err)
				}
			}
			c := srv.Client()
			for _, limit := range []int{keyapi.DefaultPageSize, keyapi.MaxPageSize} {
				b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) {
					url := fmt.Sprintf("%s/?limit=%d", srv.URL, limit)
					req := func() *http.Request {
						r, _ := http.NewRequest("GET", url, nil)
						r.Header.Set("Authorization", "Bearer "+tok)
						return r
					}
					ds := make([]time.Duration, 0, b.N)
					b.ReportAllocs()
					b.ResetTimer()
					for range b.N {
						ds = append(ds, send(b, c, req, http.StatusOK))
					}
					b.StopTimer()
					reportMedian(b, ds)
				})
			}
		})
	}
}
