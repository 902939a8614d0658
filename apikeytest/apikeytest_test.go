package apikeytest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
)

func TestNewKey(t *testing.T) {
	token, m := apikeytest.NewKey(t, "lists:read,profiles:write")
	k, err := m.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("Verify(new token) = %v", err)
	}
	if got := k.Scopes.String(); got != "lists:read,profiles:write" {
		t.Errorf("scopes = %q", got)
	}
	// Further keys in the same Manager.
	other := apikeytest.Mint(t, m, "lists:write")
	if k2, err := m.Verify(context.Background(), other); err != nil || k2.ID == k.ID {
		t.Errorf("Mint: Verify = %v, %v", k2.ID, err)
	}
}

func TestNewManagerUsesGivenOptions(t *testing.T) {
	cat, err := apikey.NewCatalog("lists")
	if err != nil {
		t.Fatal(err)
	}
	m := apikeytest.NewManager(t, apikey.Options{Prefix: "test", Catalog: cat})
	if tok := apikeytest.Mint(t, m, "lists:read"); !strings.HasPrefix(tok, "test_") {
		t.Errorf("token %.8s... does not use the prefix", tok)
	}
	tb := &fakeTB{TB: t}
	tb.run(func() { apikeytest.Mint(tb, m, "profiles:read") })
	if !strings.Contains(tb.fatal, `unknown resource "profiles"`) {
		t.Errorf("Mint outside the catalog: fatal %q", tb.fatal)
	}
}

func TestMintFailsTestOnBadScopes(t *testing.T) {
	for _, scopes := range []string{"", "lists", "lists:maybe"} {
		tb := &fakeTB{TB: t}
		tb.run(func() { apikeytest.NewKey(tb, scopes) })
		if !strings.Contains(tb.fatal, "invalid scope") {
			t.Errorf("NewKey(%q): fatal %q, want an invalid scope failure", scopes, tb.fatal)
		}
	}
}

func TestWithKey(t *testing.T) {
	r := httptest.NewRequest("GET", "/api/lists", nil)
	r2 := apikeytest.WithKey(t, r, "lists:read")
	k, ok := apikey.FromContext(r2.Context())
	if !ok || k.Scopes.String() != "lists:read" || !k.Active || k.ID.String() == "" {
		t.Fatalf("FromContext = %+v, %v", k, ok)
	}
	if _, ok := apikey.FromContext(r.Context()); ok {
		t.Error("WithKey changed the original request")
	}
	// A handler behind MustRequire sees the same kind of key.
	var seen apikey.Key
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen, _ = apikey.FromContext(r.Context()) })
	h.ServeHTTP(httptest.NewRecorder(), r2)
	if seen.ID != k.ID {
		t.Errorf("handler saw key %v, want %v", seen.ID, k.ID)
	}
}

// fakeTB records a fatal failure instead of failing the real test.
type fakeTB struct {
	testing.TB
	mu    sync.Mutex
	fatal string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// run calls fn in a goroutine, as testing does, so that Fatalf can end it.
func (f *fakeTB) run(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}
