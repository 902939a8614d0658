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

func TestMintFor(t *testing.T) {
	tests := []struct {
		name, owner string
	}{
		{"AccountID", "acct_42"},
		{"Unicode", "bücher-köln"},
		{"LongestOwner", strings.Repeat("o", apikey.MaxOwnerLen)},
		{"NoOwner", ""},
	}
	ctx := context.Background()
	m := apikeytest.NewManager(t, apikey.Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token := apikeytest.MintFor(t, m, tc.owner, "lists:read")
			k, err := m.Verify(ctx, token)
			require.NoError(t, err, "Verify(new token)")
			assert.Equal(t, tc.owner, k.Owner, "the verified key's owner")
			assert.Equal(t, "lists:read", k.Scopes.String(), "scopes")
			stored, err := m.Get(ctx, k.ID)
			require.NoError(t, err, "Get(new key)")
			assert.Equal(t, tc.owner, stored.Owner, "the stored key's owner")
		})
	}
}

func TestMintLeavesTheOwnerEmpty(t *testing.T) {
	token, m := apikeytest.NewKey(t, "lists:read")
	k, err := m.Verify(context.Background(), token)
	require.NoError(t, err)
	assert.Empty(t, k.Owner, "NewKey's owner")
	k, err = m.Verify(context.Background(), apikeytest.Mint(t, m, "lists:read"))
	require.NoError(t, err)
	assert.Empty(t, k.Owner, "Mint's owner")
	r := apikeytest.WithKey(t, httptest.NewRequest("GET", "/", nil), "lists:read")
	k, _ = apikey.FromContext(r.Context())
	assert.Empty(t, k.Owner, "WithKey's owner")
}

func TestMintForFailsTestOnBadOwner(t *testing.T) {
	tests := []struct {
		name, owner, fatal string
	}{
		{"LeadingSpace", " acme", `owner " acme" starts or ends with white space`},
		{"ControlCharacter", "ac\x00me", `owner "ac\x00me" holds a control character`},
		{"InvalidUTF8", "acme\xff", `owner "acme\xff" is not valid UTF-8`},
		{"TooLong", strings.Repeat("o", apikey.MaxOwnerLen+1), "more than 128"},
	}
	m := apikeytest.NewManager(t, apikey.Options{})
	r := httptest.NewRequest("GET", "/", nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := &fakeTB{TB: t}
			tb.run(func() { apikeytest.MintFor(tb, m, tc.owner, "lists:read") })
			assert.Contains(t, tb.fatal, tc.fatal, "MintFor: fatal")
			tb = &fakeTB{TB: t}
			tb.run(func() { apikeytest.WithKeyFor(tb, r, tc.owner, "lists:read") })
			assert.Contains(t, tb.fatal, tc.fatal, "WithKeyFor: fatal")
		})
	}
	keys, err := m.List(context.Background(), apikey.ListOptions{AllOwners: true})
	require.NoError(t, err)
	assert.Empty(t, keys, "keys minted for bad owners")
}

func TestWithKeyFor(t *testing.T) {
	r := httptest.NewRequest("GET", "/api/lists", nil)
	r2 := apikeytest.WithKeyFor(t, r, "acct_42", "lists:read")
	k, ok := apikey.FromContext(r2.Context())
	require.True(t, ok, "FromContext found no key")
	assert.Equal(t, "acct_42", k.Owner, "owner")
	assert.Equal(t, "lists:read", k.Scopes.String(), "scopes")
	assert.True(t, k.Active, "the key is not active")
	_, ok = apikey.FromContext(r.Context())
	assert.False(t, ok, "WithKeyFor changed the original request")
}

// TestOwnersSeeOnlyTheirData walks the package doc's example: a handler
// behind the Guard that scopes its data by the key's owner shows each
// account its own lists and no one else's.
func TestOwnersSeeOnlyTheirData(t *testing.T) {
	lists := map[string][]string{"acct_acme": {"acme newsletter"}, "acct_globex": {"globex launch"}}
	m := apikeytest.NewManager(t, apikey.Options{})
	guard, err := apikey.NewGuard(m, apikey.GuardOptions{})
	require.NoError(t, err)
	showLists := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, _ := apikey.FromContext(r.Context())
		fmt.Fprint(w, strings.Join(lists[k.Owner], ","))
	})
	h := guard.MustRequire("lists:read")(showLists)
	tokens := map[string]string{
		"acct_acme":   apikeytest.MintFor(t, m, "acct_acme", "lists:read"),
		"acct_globex": apikeytest.MintFor(t, m, "acct_globex", "lists:read"),
		"":            apikeytest.Mint(t, m, "lists:read"),
	}
	for owner, token := range tokens {
		t.Run(fmt.Sprintf("Owner%q", owner), func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/lists", nil)
			r.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			require.Equal(t, http.StatusOK, rec.Code, "status: %s", rec.Body)
			assert.Equal(t, strings.Join(lists[owner], ","), rec.Body.String(), "the lists shown")
		})
	}
	// Called directly, the handler sees the owner WithKeyFor gives.
	rec := httptest.NewRecorder()
	showLists.ServeHTTP(rec, apikeytest.WithKeyFor(t, httptest.NewRequest("GET", "/api/lists", nil), "acct_globex", "lists:read"))
	assert.Equal(t, "globex launch", rec.Body.String(), "WithKeyFor: the lists shown")
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
