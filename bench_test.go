package apikey_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/memstore"
)

// fillStore adds n records to s directly (fast), and returns a Manager over
// s with one real key whose token the benchmarks verify.
func fillStore(b *testing.B, n int) (*apikey.Manager, string) {
	b.Helper()
	s := memstore.New()
	m, err := apikey.NewManager(apikey.Options{Store: s})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	ctx := context.Background()
	_, tok, err := m.Create(ctx, apikey.CreateParams{Label: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	proto, err := s.Get(ctx, mustVerify(b, m, tok.Reveal()).ID)
	if err != nil {
		b.Fatal(err)
	}
	for i := 1; i < n; i++ {
		k := proto
		k.ID = uuid.Must(uuid.NewV7())
		k.Label = fmt.Sprintf("filler %d", i)
		if err := s.Create(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
	return m, tok.Reveal()
}

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
	m, err := apikey.NewManager(apikey.Options{Store: memstore.New()})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
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
			m, err := apikey.NewManager(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			_, tok, err := m.Create(context.Background(), apikey.CreateParams{Label: name})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				mustVerify(b, m, tok.Reveal())
			}
		})
	}
}

func BenchmarkScopeCheck(b *testing.B) {
	s, err := apikey.ParseScopes("campaigns:read,catalogs:read,data-privacy:write,lists:write,profiles:read,segments:read")
	if err != nil {
		b.Fatal(err)
	}
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
