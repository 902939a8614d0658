package apikey_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
)

// okHandler is the handler every middleware benchmark serves: the cost of a
// round is measured with and without the middleware in front of it.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	w.Write([]byte("ok\n"))
})

// BenchmarkMustRequire serves one request with a valid key (memstore)
// through httptest.NewRecorder, bare and behind MustRequire. The cost of
// the middleware is the difference of the two.
func BenchmarkMustRequire(b *testing.B) {
	token, m := apikeytest.NewKey(b, "lists:read")
	g, err := apikey.NewGuard(m, apikey.GuardOptions{})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/api/lists", nil)
	req.Header.Set("Authorization", "Bearer "+token)

	run := func(b *testing.B, h http.Handler) {
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	}
	b.Run("bare", func(b *testing.B) { run(b, okHandler) })
	b.Run("guarded", func(b *testing.B) { run(b, g.MustRequire("lists:read")(okHandler)) })
}

// BenchmarkEnforce is BenchmarkMustRequire for a Policy with a wildcard
// route and an include, in front of a ServeMux.
func BenchmarkEnforce(b *testing.B) {
	token, m := apikeytest.NewKey(b, "profiles:read,lists:read")
	g, err := apikey.NewGuard(m, apikey.GuardOptions{})
	if err != nil {
		b.Fatal(err)
	}
	cat, err := apikey.NewCatalog("profiles", "lists")
	if err != nil {
		b.Fatal(err)
	}
	p, err := apikey.NewPolicy(cat, []apikey.Route{
		{Pattern: "/api/profiles/{id}", Resource: "profiles", Includes: []string{"lists"}},
		{Pattern: "/api/lists/{id}", Resource: "lists"},
	})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/profiles/{id}", okHandler)
	mux.Handle("/api/lists/{id}", okHandler)
	req := httptest.NewRequest("GET", "/api/profiles/42?include=lists", nil)
	req.Header.Set("Authorization", "Bearer "+token)

	run := func(b *testing.B, h http.Handler) {
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	}
	b.Run("bare", func(b *testing.B) { run(b, mux) })
	b.Run("enforced", func(b *testing.B) { run(b, g.Enforce(p)(mux)) })
}

// BenchmarkCheck is the pure check alone, with no handler or recorder.
func BenchmarkCheck(b *testing.B) {
	token, m := apikeytest.NewKey(b, "lists:read")
	g, err := apikey.NewGuard(m, apikey.GuardOptions{})
	if err != nil {
		b.Fatal(err)
	}
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
