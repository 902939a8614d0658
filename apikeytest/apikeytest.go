// Package apikeytest helps an application test its own handlers that sit
// behind keyscope's middleware. It mints real keys against an in-memory
// store, so the handler under test sees exactly what it sees in production.
//
// In a handler test, one line gives a token and the Manager that accepts it:
//
//	token, m := apikeytest.NewKey(t, "lists:read")
//	srv := httptest.NewServer(app.Routes(m)) // the app builds its Guard from m
//	req, _ := http.NewRequest("GET", srv.URL+"/api/lists", nil)
//	req.Header.Set("Authorization", "Bearer "+token)
//
// To call a handler directly, without the middleware, WithKey puts a
// verified key in the request's context as the middleware would:
//
//	h.ServeHTTP(rec, apikeytest.WithKey(t, req, "lists:read"))
//
// The keys above have no owner. An app that serves several accounts mints
// keys that belong to them with MintFor and WithKeyFor, to check that a
// handler scoping its queries by the key's Owner shows each account only
// its own data:
//
//	m := apikeytest.NewManager(t, apikey.Options{})
//	acme := apikeytest.MintFor(t, m, "acct_acme", "lists:read")
//	globex := apikeytest.MintFor(t, m, "acct_globex", "lists:read")
//	srv := httptest.NewServer(app.Routes(m))
//	// GET /api/lists with acme's token must list acme's lists, never globex's.
//
//	// A handler called directly sees a key whose Owner is "acct_acme":
//	h.ServeHTTP(rec, apikeytest.WithKeyFor(t, req, "acct_acme", "lists:read"))
package apikeytest

import (
	"context"
	"net/http"
	"testing"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/memstore"
)

// NewManager returns a Manager for opts over a new in-memory store (unless
// opts.Store is set) and closes it when the test ends. It fails the test if
// opts is invalid.
func NewManager(t testing.TB, opts apikey.Options) *apikey.Manager {
	t.Helper()
	if opts.Store == nil {
		opts.Store = memstore.New()
	}
	m, err := apikey.NewManager(opts)
	if err != nil {
		t.Fatalf("apikeytest: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("apikeytest: closing manager: %v", err)
		}
	})
	return m
}

// Mint creates a key without an owner with the given comma-separated scopes
// ("lists:read,profiles:write") in m and returns its plaintext token. It
// fails the test if the scopes do not parse or m refuses them.
func Mint(t testing.TB, m *apikey.Manager, scopes string) string {
	t.Helper()
	return MintFor(t, m, "", scopes)
}

// MintFor is Mint for a key that belongs to owner, an account of the
// application such as "acct_42" ("" for none). It fails the test if
// [apikey.CheckOwner] refuses owner.
func MintFor(t testing.TB, m *apikey.Manager, owner, scopes string) string {
	t.Helper()
	_, tok := create(t, m, owner, scopes)
	return tok.Reveal()
}

// NewKey returns the token of a new key with the given scopes and the
// Manager, over a new in-memory store, that accepts it. The Manager is
// closed when the test ends.
func NewKey(t testing.TB, scopes string) (token string, m *apikey.Manager) {
	t.Helper()
	m = NewManager(t, apikey.Options{})
	return Mint(t, m, scopes), m
}

// WithKey returns a shallow copy of r whose context carries a freshly
// minted, verified key without an owner with the given scopes, as
// keyscope's middleware passes it to a handler (read it with
// apikey.FromContext).
func WithKey(t testing.TB, r *http.Request, scopes string) *http.Request {
	t.Helper()
	return WithKeyFor(t, r, "", scopes)
}

// WithKeyFor is WithKey for a key that belongs to owner ("" for none): the
// handler finds owner in the key's Owner. It fails the test if
// [apikey.CheckOwner] refuses owner.
func WithKeyFor(t testing.TB, r *http.Request, owner, scopes string) *http.Request {
	t.Helper()
	m := NewManager(t, apikey.Options{})
	_, tok := create(t, m, owner, scopes)
	k, err := m.Verify(context.Background(), tok.Reveal())
	if err != nil {
		t.Fatalf("apikeytest: verifying the new key: %v", err)
	}
	return r.WithContext(apikey.NewContext(r.Context(), k))
}

// create creates a key for owner with scopes in m, or fails the test.
func create(t testing.TB, m *apikey.Manager, owner, scopes string) (apikey.Key, apikey.Token) {
	t.Helper()
	s, err := apikey.ParseScopes(scopes)
	if err != nil {
		t.Fatalf("apikeytest: %v", err)
	}
	k, tok, err := m.Create(context.Background(), apikey.CreateParams{Owner: owner, Label: "apikeytest " + scopes, Scopes: s})
	if err != nil {
		t.Fatalf("apikeytest: creating key: %v", err)
	}
	return k, tok
}
