package memstore_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/memstore"
)

// perOwner is the number of keys each owner of a benchmark store holds.
const perOwner = 100

// benchStore is a store filled for the benchmarks.
type benchStore struct {
	s      *memstore.Store
	owners []string
	ids    []uuid.UUID // in creation order, so ascending
}

var (
	benchMu     sync.Mutex
	benchStores = map[int]*benchStore{}
)

// filled returns a store of total synthetic keys, perOwner to an owner,
// built once per size and process however often the benchmarks run. The
// owners' keys are created interleaved, as those of many accounts are, so
// that an owner's keys lie scattered among all the others.
func filled(b *testing.B, total int) *benchStore {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if f, ok := benchStores[total]; ok {
		return f
	}
	digest, err := apikey.DecodeDigest(append([]byte{byte(apikey.SHA256)}, bytes.Repeat([]byte{0xab}, 32)...))
	if err != nil {
		b.Fatalf("DecodeDigest: %v", err)
	}
	f := &benchStore{s: memstore.New(), owners: make([]string, total/perOwner), ids: make([]uuid.UUID, total)}
	for i := range f.owners {
		f.owners[i] = fmt.Sprintf("acct_%d", i)
	}
	ctx, created := context.Background(), time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC)
	for i := range total {
		id, err := uuid.NewV7()
		if err != nil {
			b.Fatalf("uuid.NewV7: %v", err)
		}
		k := apikey.Key{
			ID:        id,
			Owner:     f.owners[i%len(f.owners)],
			Label:     "benchmark key",
			Scopes:    apikey.FullAccess(),
			Active:    true,
			CreatedAt: created,
			Hint:      "sk_…a1b2",
			Digest:    digest,
		}
		if err := f.s.Create(ctx, k); err != nil {
			b.Fatalf("Create: %v", err)
		}
		f.ids[i] = id
	}
	benchStores[total] = f
	runtime.GC() // so that the benchmark does not pay for the filling
	return f
}

// benchSizes are the total numbers of keys the List benchmarks compare.
var benchSizes = []struct {
	name  string
	total int
}{
	{"total=100k", 100_000},
	{"total=1M", 1_000_000},
}

// BenchmarkListOwner lists one owner's 100 keys, each time another
// owner's, among 100k and 1M keys: the cost must not grow with the total.
func BenchmarkListOwner(b *testing.B) {
	ctx := context.Background()
	for _, size := range benchSizes {
		f := filled(b, size.total)
		b.Run(size.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				// A stride coprime with the number of owners visits them all
				// in an order that defeats the caches of the last few.
				opts := apikey.ListOptions{Owner: f.owners[i*7919%len(f.owners)], Limit: perOwner}
				ks, err := f.s.List(ctx, opts)
				if err != nil || len(ks) != perOwner {
					b.Fatalf("List(%+v) = %d keys, %v", opts, len(ks), err)
				}
			}
		})
	}
}

// BenchmarkListAll lists a page of 100 keys of every owner, from cursors
// spread over the whole store.
func BenchmarkListAll(b *testing.B) {
	ctx := context.Background()
	for _, size := range benchSizes {
		f := filled(b, size.total)
		b.Run(size.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				const page = 100
				opts := apikey.ListOptions{AllOwners: true, Before: f.ids[page+i*7919%(len(f.ids)-page)], Limit: page}
				ks, err := f.s.List(ctx, opts)
				if err != nil || len(ks) != page {
					b.Fatalf("List(%+v) = %d keys, %v", opts, len(ks), err)
				}
			}
		})
	}
}
