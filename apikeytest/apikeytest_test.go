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

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewKey(t *testing.T) {
	token, m := apikeytest.NewKey(t, "lists:read,profiles:write")
	k, err := m.Verify(context.Background(), token)
	require.NoError(t, err, "Verify(new token)")
	assert.Equal(t, "lists:read,profiles:write", k.Scopes.String(), "scopes")
	// Further keys in the same Manager.
	other := apikeytest.Mint(t, m, "lists:write")
	k2, err := m.Verify(context.Background(), other)
	assert.NoError(t, err, "Mint: Verify")
	assert.NotEqual(t, k.ID, k2.ID, "Mint: the same key again")
}

func TestNewManagerUsesGivenOptions(t *testing.T) {
	cat, err := apikey.NewCatalog("lists")
	require.NoError(t, err)
	m := apikeytest.NewManager(t, apikey.Options{Prefix: "test", Catalog: cat})
	tok := apikeytest.Mint(t, m, "lists:read")
	assert.True(t, strings.HasPrefix(tok, "test_"), "token %.8s... does not use the prefix", tok)
	tb := &fakeTB{TB: t}
	tb.run(func() { apikeytest.Mint(tb, m, "profiles:read") })
	assert.Contains(t, tb.fatal, `unknown resource "profiles"`, "Mint outside the catalog: fatal")
}

func TestMintFailsTestOnBadScopes(t *testing.T) {
	for _, scopes := range []string{"", "lists", "lists:maybe"} {
		tb := &fakeTB{TB: t}
		tb.run(func() { apikeytest.NewKey(tb, scopes) })
		assert.Contains(t, tb.fatal, "invalid scope", "NewKey(%q): fatal", scopes)
	}
}

func TestWithKey(t *testing.T) {
	r := httptest.NewRequest("GET", "/api/lists", nil)
	r2 := apikeytest.WithKey(t, r, "lists:read")
	k, ok := apikey.FromContext(r2.Context())
	require.True(t, ok, "FromContext found no key")
	assert.Equal(t, "lists:read", k.Scopes.String(), "scopes")
	assert.True(t, k.Active, "the key is not active")
	assert.NotEqual(t, uuid.Nil, k.ID, "the key has no ID")
	_, ok = apikey.FromContext(r.Context())
	assert.False(t, ok, "WithKey changed the original request")
	// A handler behind MustRequire sees the same kind of key.
	var seen apikey.Key
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen, _ = apikey.FromContext(r.Context()) })
	h.ServeHTTP(httptest.NewRecorder(), r2)
	assert.Equal(t, k.ID, seen.ID, "the key the handler saw")
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
