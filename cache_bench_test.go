package apikey_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/memstore"
)

// BenchmarkVerifyCache verifies 1000 keys in turn through a memstore, with
// the verification cache off and on, on one goroutine and on all of them.
func BenchmarkVerifyCache(b *testing.B) {
	for _, cache := range []struct {
		name string
		ttl  time.Duration
	}{{"off", -1}, {"on", time.Hour}} {
		m, err := apikey.NewManager(apikey.Options{Store: memstore.New(), CacheTTL: cache.ttl})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		toks := make([]string, 1000)
		for i := range toks {
			_, tok, err := m.Create(ctx, apikey.CreateParams{Label: fmt.Sprint("bench ", i)})
			if err != nil {
				b.Fatal(err)
			}
			toks[i] = tok.Reveal()
		}
		// Warm the cache, and record a use of every key, so that the
		// benchmark sees the steady state: keys used within the last
		// UsageInterval, which the usage tracker skips.
		for _, tok := range toks {
			if _, err := m.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
		if err := m.Flush(ctx); err != nil {
			b.Fatal(err)
		}
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
