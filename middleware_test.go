package apikey_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/keyscope/apikey/memstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// errStoreDown is the failure of a store that is down; it must never
// reach a client.
var errStoreDown = errors.New("disk on fire at /var/lib/keys.db")

func mustCreate(t *testing.T, m *apikey.Manager, scopes string, expires time.Time) (apikey.Key, string) {
	t.Helper()
	s, err := apikey.ParseScopes(scopes)
	require.NoError(t, err)
	k, tok, err := m.Create(context.Background(), apikey.CreateParams{Label: "test " + scopes, Scopes: s, ExpiresAt: expires})
	require.NoError(t, err)
	return k, tok.Reveal()
}

func mustGuard(t testing.TB, m *apikey.Manager, opts apikey.GuardOptions) *apikey.Guard {
	t.Helper()
	g, err := apikey.NewGuard(m, opts)
	require.NoError(t, err)
	return g
}

// downGuard returns a Guard, with the default options, over a store whose
// every Get fails with errStoreDown.
func downGuard(t *testing.T) *apikey.Guard {
	t.Helper()
	store := apikeytest.NewFaultStore(memstore.New())
	store.Fail(apikeytest.MethodGet, errStoreDown)
	return mustGuard(t, apikeytest.NewManager(t, apikey.Options{Store: store}), apikey.GuardOptions{})
}

// settableClock is a time source a test moves on, as newClock's.
type settableClock interface {
	Now() time.Time
	Add(time.Duration)
}

// mustDeadKeys creates in m two keys with the scope lists:read: one it
// deactivates and one it lets expire by moving clk, the clock of m, on. It
// returns the inactive key and the two tokens.
func mustDeadKeys(t *testing.T, m *apikey.Manager, clk settableClock) (inactive apikey.Key, inactiveTok, expiredTok string) {
	t.Helper()
	inactive, inactiveTok = mustCreate(t, m, "lists:read", time.Time{})
	_, err := m.Deactivate(context.Background(), inactive.ID)
	require.NoError(t, err)
	_, expiredTok = mustCreate(t, m, "lists:read", clk.Now().Add(time.Hour))
	clk.Add(2 * time.Hour)
	return inactive, inactiveTok, expiredTok
}

// bearerRequest returns a request for target carrying token, if any, in an
// Authorization header.
func bearerRequest(method, target, token string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

// wrongSecretStore returns a new store holding, under the ID id, an active
// copy of the record other of store: the secret of id's token is then wrong
// for it.
func wrongSecretStore(t *testing.T, store apikey.Store, id, other uuid.UUID) apikey.Store {
	t.Helper()
	ctx := context.Background()
	rec, err := store.Get(ctx, other)
	require.NoError(t, err)
	rec.ID, rec.Active = id, true
	wrong := memstore.New()
	require.NoError(t, wrong.Create(ctx, rec))
	return wrong
}

// assertCallersKey checks that got is the record of want as a caller of
// the Guard sees it: the same ID and scopes, and no digest.
func assertCallersKey(t *testing.T, want, got apikey.Key) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID)
	assert.True(t, got.Scopes.Equal(want.Scopes), "scopes %q, want %q", got.Scopes, want.Scopes)
	assert.True(t, got.Digest.IsZero(), "the key's digest was handed out")
}

// reached is a handler that records the key it was given.
type reached struct {
	mu   sync.Mutex
	keys []apikey.Key
}

func (h *reached) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k, ok := apikey.FromContext(r.Context())
	if !ok {
		http.Error(w, "no key in context", http.StatusInternalServerError)
		return
	}
	h.mu.Lock()
	h.keys = append(h.keys, k)
	h.mu.Unlock()
	io.WriteString(w, "ok")
}

func (h *reached) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.keys)
}

// TestMustRequireResponses is the table of every answer MustRequire
// gives: status, headers and body.
func TestMustRequireResponses(t *testing.T) {
	clk := newClock()
	store := memstore.New()
	m := apikeytest.NewManager(t, apikey.Options{Store: store, Now: clk.Now})
	readKey, readTok := mustCreate(t, m, "lists:read", time.Time{})
	_, writeTok := mustCreate(t, m, "lists:write,profiles:read", time.Time{})
	other, otherTok := mustCreate(t, m, "profiles:read", time.Time{})
	_, inactiveTok, expiredTok := mustDeadKeys(t, m, clk)

	// A token of another Manager's store: well-formed, unknown here.
	unknownTok, _ := apikeytest.NewKey(t, "lists:read")
	// Each manager gets its own guard, all with the default options.
	guardOf := map[string]*apikey.Guard{
		"main":  mustGuard(t, m, apikey.GuardOptions{}),
		"wrong": mustGuard(t, apikeytest.NewManager(t, apikey.Options{Store: wrongSecretStore(t, store, readKey.ID, other.ID)}), apikey.GuardOptions{}),
		"down":  downGuard(t),
	}

	ok := response{status: 200, ctype: "text/plain; charset=utf-8", body: "ok"}
	noCred := errorResponse(401, `Bearer realm="api"`, "", noCredentialBody)
	invalid := errorResponse(401, `Bearer realm="api", error="invalid_token"`, "", invalidKeyBody)
	conflict := errorResponse(400, `Bearer realm="api", error="invalid_request"`, "", conflictBody)
	lacksListsRead := insufficientResponse("lists:read")
	lacksBoth := insufficientResponse("lists:write profiles:write")
	unavailable := errorResponse(503, "", "", unavailableBody)

	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	tamper := func(tok string) string { // flip one character: the checksum fails
		b := []byte(tok)
		if b[10] == 'A' {
			b[10] = 'B'
		} else {
			b[10] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name     string
		guard    string
		required []string
		target   string
		header   http.Header
		want     response
	}{
		{"BearerHeader", "main", []string{"lists:read"}, "/", bearer(readTok), ok},
		{"XAPIKeyHeader", "main", []string{"lists:read"}, "/", http.Header{"X-Api-Key": {readTok}}, ok},
		{"SchemeLowercase", "main", []string{"lists:read"}, "/", http.Header{"Authorization": {"bearer " + readTok}}, ok},
		{"SchemeUppercase", "main", []string{"lists:read"}, "/", http.Header{"Authorization": {"BEARER " + readTok}}, ok},
		{"SchemeMixedCaseExtraSpaces", "main", []string{"lists:read"}, "/", http.Header{"Authorization": {"BeArEr   " + readTok + "  "}}, ok},
		{"SameTokenInBothHeaders", "main", []string{"lists:read"}, "/", http.Header{"Authorization": {"Bearer " + readTok}, "X-Api-Key": {readTok}}, ok},
		{"SameBearerHeaderTwice", "main", []string{"lists:read"}, "/", http.Header{"Authorization": {"Bearer " + readTok, "Bearer " + readTok}}, ok},
		{"WriteCoversRead", "main", []string{"lists:read"}, "/", bearer(writeTok), ok},
		{"NoScopesNeedsAnyValidKey", "main", nil, "/", bearer(otherTok), ok},
		{"SeveralScopes", "main", []string{"lists:read", "profiles:read"}, "/", bearer(writeTok), ok},

		{"NoCredential", "main", []string{"lists:read"}, "/", nil, noCred},
		{"OtherAuthScheme", "main", []string{"lists:read"}, "/", http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, noCred},
		{"SchemeWithoutSeparator", "main", []string{"lists:read"}, "/", http.Header{"Authorization": {"Bearer" + readTok}}, noCred},
		{"EmptyXAPIKey", "main", []string{"lists:read"}, "/", http.Header{"X-Api-Key": {""}}, noCred},
		{"QueryIgnoredByDefault", "main", []string{"lists:read"}, "/?api_key=" + readTok + "&access_token=" + readTok, nil, noCred},
		{"CookieIgnoredByDefault", "main", []string{"lists:read"}, "/", http.Header{"Cookie": {"api_key=" + readTok}}, noCred},

		{"Malformed", "main", []string{"lists:read"}, "/", bearer("sk_notatoken"), invalid},
		{"BadChecksum", "main", []string{"lists:read"}, "/", bearer(tamper(readTok)), invalid},
		{"WrongPrefix", "main", []string{"lists:read"}, "/", bearer("pk" + readTok[2:]), invalid},
		{"Unknown", "main", []string{"lists:read"}, "/", bearer(unknownTok), invalid},
		{"WrongSecret", "wrong", []string{"lists:read"}, "/", bearer(readTok), invalid},
		{"Inactive", "main", []string{"lists:read"}, "/", bearer(inactiveTok), invalid},
		{"Expired", "main", []string{"lists:read"}, "/", bearer(expiredTok), invalid},
		{"BearerWithoutToken", "main", []string{"lists:read"}, "/", http.Header{"Authorization": {"Bearer"}}, invalid},
		{"BearerWithBlankToken", "main", []string{"lists:read"}, "/", http.Header{"Authorization": {"Bearer   "}}, invalid},
		{"TokenWithSpace", "main", []string{"lists:read"}, "/", bearer(readTok[:20] + " " + readTok[20:]), invalid},

		{"BearerAndXAPIKeyDiffer", "main", []string{"lists:read"}, "/", http.Header{"Authorization": {"Bearer " + readTok}, "X-Api-Key": {writeTok}}, conflict},
		{"TwoDifferentBearerHeaders", "main", []string{"lists:read"}, "/", http.Header{"Authorization": {"Bearer " + readTok, "Bearer " + writeTok}}, conflict},
		{"TwoDifferentXAPIKeyHeaders", "main", []string{"lists:read"}, "/", http.Header{"X-Api-Key": {readTok, writeTok}}, conflict},
		{"ValidAndInvalidCredential", "main", []string{"lists:read"}, "/", http.Header{"Authorization": {"Bearer " + readTok}, "X-Api-Key": {"sk_junk"}}, conflict},

		{"LacksScope", "main", []string{"lists:read"}, "/", bearer(otherTok), lacksListsRead},
		{"ReadDoesNotCoverWriteAndAllMissingAreNamed", "main", []string{"lists:write", "profiles:write"}, "/", bearer(otherTok), lacksBoth},
		{"InactiveLackingScopeIsStillInvalid", "main", []string{"profiles:write"}, "/", bearer(inactiveTok), invalid},

		{"StoreDown", "down", []string{"lists:read"}, "/", bearer(readTok), unavailable},
		{"StoreDownNoCredentialStill401", "down", []string{"lists:read"}, "/", nil, noCred},
		{"StoreDownMalformedStill401", "down", []string{"lists:read"}, "/", bearer("sk_junk"), invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &reached{}
			mw, err := guardOf[tc.guard].Require(tc.required...)
			require.NoError(t, err)
			req := httptest.NewRequest("GET", tc.target, nil)
			for k, vs := range tc.header {
				req.Header[k] = vs
			}
			rec := httptest.NewRecorder()
			mw(h).ServeHTTP(rec, req)
			assert.Equal(t, tc.want, responseOf(rec))
			assert.Equal(t, tc.want.status == 200, h.count() == 1, "handler reached %d times", h.count())
			assert.NotContains(t, rec.Body.String(), "fire", "the body leaks the store's error")
			assert.NotContains(t, rec.Body.String(), "apikey:", "the body leaks an error message")
		})
	}
}

// TestInvalidKeysAnsweredAlike checks the whole response, every header
// included, is the same for every kind of key that does not verify.
func TestInvalidKeysAnsweredAlike(t *testing.T) {
	clk := newClock()
	store := memstore.New()
	m := apikeytest.NewManager(t, apikey.Options{Store: store, Now: clk.Now})
	good, goodTok := mustCreate(t, m, "lists:read", time.Time{})
	inactive, inactiveTok, expiredTok := mustDeadKeys(t, m, clk)
	unknownTok, _ := apikeytest.NewKey(t, "lists:read")
	g := mustGuard(t, m, apikey.GuardOptions{})
	gWrong := mustGuard(t, apikeytest.NewManager(t, apikey.Options{Store: wrongSecretStore(t, store, good.ID, inactive.ID)}), apikey.GuardOptions{})

	serve := func(g *apikey.Guard, tok string) (int, http.Header, string) {
		rec := httptest.NewRecorder()
		g.MustRequire("lists:read")(&reached{}).ServeHTTP(rec, bearerRequest("GET", "/", tok))
		return rec.Code, rec.Result().Header, rec.Body.String()
	}
	wantCode, wantHdr, wantBody := serve(g, "sk_malformed")
	require.Equal(t, http.StatusUnauthorized, wantCode, "status for a malformed key")
	for name, c := range map[string]struct {
		g   *apikey.Guard
		tok string
	}{
		"unknown": {g, unknownTok}, "wrong secret": {gWrong, goodTok},
		"inactive": {g, inactiveTok}, "expired": {g, expiredTok},
	} {
		code, hdr, body := serve(c.g, c.tok)
		assert.Equal(t, wantCode, code, "%s key: status, want as malformed", name)
		assert.Equal(t, wantHdr, hdr, "%s key: headers, want as malformed", name)
		assert.Equal(t, wantBody, body, "%s key: body, want as malformed", name)
	}
}

// TestCheckErrors is the pure check: the typed errors a caller without an
// HTTP response (a test, a gRPC gateway) tells apart.
func TestCheckErrors(t *testing.T) {
	m := apikeytest.NewManager(t, apikey.Options{})
	key, tok := mustCreate(t, m, "lists:read", time.Time{})
	g := mustGuard(t, m, apikey.GuardOptions{})
	down := downGuard(t)
	listsWrite := apikey.Scope{Resource: "lists", Access: apikey.Write}
	listsRead := apikey.Scope{Resource: "lists", Access: apikey.Read}

	req := func(h ...string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		for i := 0; i < len(h); i += 2 {
			r.Header.Add(h[i], h[i+1])
		}
		return r
	}
	tests := []struct {
		name     string
		g        *apikey.Guard
		r        *http.Request
		required []apikey.Scope
		want     error
		status   int
	}{
		{"NoCredential", g, req(), nil, apikey.ErrNoCredential, 401},
		{"Invalid", g, req("X-API-Key", "sk_x"), nil, apikey.ErrInvalidKey, 401},
		{"Conflicting", g, req("X-API-Key", tok, "Authorization", "Bearer sk_x"), nil, apikey.ErrConflictingCredentials, 400},
		{"InsufficientScope", g, req("X-API-Key", tok), []apikey.Scope{listsRead, listsWrite}, apikey.ErrInsufficientScope, 403},
		{"StoreFailure", down, req("X-API-Key", tok), nil, errStoreDown, 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := tc.g.Check(tc.r, tc.required...)
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, uuid.Nil, k.ID, "Check returned a key with an error")
			assert.True(t, k.Scopes.IsZero(), "Check returned scopes with an error")
			assert.Equal(t, tc.status, apikey.ErrorStatus(err))
		})
	}

	k, err := g.Check(req("X-API-Key", tok), listsRead)
	require.NoError(t, err)
	assertCallersKey(t, key, k)
	_, err = g.Check(req("X-API-Key", tok), listsWrite)
	var se *apikey.InsufficientScopeError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, key.ID, se.KeyID)
	assert.Equal(t, []apikey.Scope{listsWrite}, se.Missing)
}

// TestRouterCheckErrors is the pure route check, without an HTTP server:
// the key for a request the route allows, and for every other request the
// error the Router would answer, without a response being written.
func TestRouterCheckErrors(t *testing.T) {
	m := apikeytest.NewManager(t, apikey.Options{})
	key, tok := mustCreate(t, m, "profiles:read,lists:read", time.Time{})
	handled := 0
	g := mustGuard(t, m, apikey.GuardOptions{ErrorHandler: func(http.ResponseWriter, *http.Request, error) { handled++ }})
	p := testRouter(t, g)

	tests := []struct {
		name, method, target, token string
		want                        error
		missing                     string               // for ErrInsufficientScope, the scopes the error names
		include                     *apikey.IncludeError // for ErrInvalidInclude, the error
	}{
		{"NoCredential", "GET", "/api/profiles", "", apikey.ErrNoCredential, "", nil},
		{"NoCredentialBeforeRoute", "GET", "/nothing", "", apikey.ErrNoCredential, "", nil},
		{"NoCredentialBeforeMethod", "OPTIONS", "/api/profiles", "", apikey.ErrNoCredential, "", nil},
		{"InvalidKey", "GET", "/api/profiles", "sk_forged", apikey.ErrInvalidKey, "", nil},
		{"InsufficientScope", "GET", "/api/profiles/7?include=lists,files", tok, apikey.ErrInsufficientScope, "files:read", nil},
		{"InsufficientScopes", "POST", "/api/profiles?include=lists", tok, apikey.ErrInsufficientScope, "profiles:write", nil},
		{"NoRoute", "GET", "/nothing", tok, apikey.ErrNoRoute, "", nil},
		{"NotCanonical", "GET", "/api/lists/../profiles", tok, apikey.ErrNoRoute, "", nil},
		{"MethodNotAllowed", "OPTIONS", "/api/profiles", tok, apikey.ErrMethodNotAllowed, "", nil},
		{"UndeclaredInclude", "GET", "/api/profiles?include=files", tok, apikey.ErrInvalidInclude, "",
			&apikey.IncludeError{Route: "GET /api/profiles", Value: "files", Reason: "is not an include of this route"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := p.Check(bearerRequest(tc.method, tc.target, tc.token))
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, uuid.Nil, k.ID, "Check returned a key with an error")
			if tc.missing != "" {
				var se *apikey.InsufficientScopeError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, key.ID, se.KeyID)
				assert.Equal(t, tc.missing, scopeList(se.Missing))
			}
			if tc.include != nil {
				var ie *apikey.IncludeError
				require.ErrorAs(t, err, &ie)
				assert.Equal(t, tc.include, ie)
			}
		})
	}

	k, err := p.Check(bearerRequest("GET", "/api/profiles/7?include=lists", tok))
	require.NoError(t, err)
	assertCallersKey(t, key, k)
	assert.Zero(t, handled, "Check called the ErrorHandler")
}

// scopeList formats scopes as a comma-separated list.
func scopeList(scopes []apikey.Scope) string {
	s := make([]string, len(scopes))
	for i, sc := range scopes {
		s[i] = sc.String()
	}
	return strings.Join(s, ",")
}

func TestFromContext(t *testing.T) {
	m := apikeytest.NewManager(t, apikey.Options{})
	key, tok := mustCreate(t, m, "lists:read", time.Time{})
	g := mustGuard(t, m, apikey.GuardOptions{})
	h := &reached{}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-API-Key", tok)
	rec := httptest.NewRecorder()
	g.MustRequire("lists:read")(h).ServeHTTP(rec, req)
	require.Equal(t, 200, rec.Code)
	require.Equal(t, 1, h.count(), "times the handler was reached")
	got := h.keys[0]
	assertCallersKey(t, key, got)
	assert.Equal(t, key.Label, got.Label)
	_, ok := apikey.FromContext(req.Context())
	assert.False(t, ok, "the caller's request was changed: its context carries a key")
	_, ok = apikey.FromContext(context.Background())
	assert.False(t, ok, "FromContext(Background) reports a key")
}

func TestRequireRejectsBadScopes(t *testing.T) {
	cat, err := apikey.NewCatalog("lists", "profiles")
	require.NoError(t, err)
	g := mustGuard(t, apikeytest.NewManager(t, apikey.Options{Catalog: cat}), apikey.GuardOptions{})
	for _, tc := range []struct{ scope, wantMsg string }{
		{"lists", `"lists"`},
		{"lists:maybe", `"lists:maybe"`},
		{"Lists:read", `"Lists:read"`},
		{"lists:none", `"lists:none"`},
		{"list:read", `did you mean "lists"`},
		{"lists:read,profiles:read", `"lists:read,profiles:read"`},
	} {
		t.Run(tc.scope, func(t *testing.T) {
			_, err := g.Require("profiles:read", tc.scope)
			assert.ErrorIs(t, err, apikey.ErrInvalidScope)
			assert.ErrorContains(t, err, tc.wantMsg)
			var panicked any
			func() {
				defer func() { panicked = recover() }()
				g.MustRequire(tc.scope)
			}()
			perr, _ := panicked.(error)
			assert.ErrorIs(t, perr, apikey.ErrInvalidScope, "MustRequire panicked with %v", panicked)
			assert.Equal(t, err, perr, "MustRequire panicked with an error other than Require's")
		})
	}
	_, err = g.Require("*:read", "lists:write")
	assert.NoError(t, err)
}

func TestNewGuardOptions(t *testing.T) {
	m := apikeytest.NewManager(t, apikey.Options{})
	for name, opts := range map[string]apikey.GuardOptions{
		"QuoteInRealm":     {Realm: `a"b`},
		"BackslashInRealm": {Realm: `a\b`},
		"NewlineInRealm":   {Realm: "a\nb"},
		"NonASCIIRealm":    {Realm: "café"},
		"NilExtractor":     {Extractors: []apikey.Extractor{apikey.BearerToken, nil}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := apikey.NewGuard(m, opts)
			assert.Error(t, err, "NewGuard accepted invalid options")
		})
	}
	_, err := apikey.NewGuard(nil, apikey.GuardOptions{})
	assert.Error(t, err, "NewGuard accepted a nil Manager")
}

// TestGuardOptions covers the realm, opt-in extractors and a replacement
// error handler.
func TestGuardOptions(t *testing.T) {
	m := apikeytest.NewManager(t, apikey.Options{})
	_, tok := mustCreate(t, m, "lists:read", time.Time{})

	t.Run("Realm", func(t *testing.T) {
		g := mustGuard(t, m, apikey.GuardOptions{Realm: "shop admin"})
		rec := httptest.NewRecorder()
		g.MustRequire("lists:read")(&reached{}).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		assert.Equal(t, `Bearer realm="shop admin"`, rec.Header().Get("WWW-Authenticate"))
	})
	t.Run("QueryOptIn", func(t *testing.T) {
		g := mustGuard(t, m, apikey.GuardOptions{Extractors: []apikey.Extractor{apikey.QueryToken("api_key")}})
		for target, want := range map[string]int{
			"/?api_key=" + tok:                     200,
			"/?api_key=" + tok + "&api_key=" + tok: 200,
			"/?api_key=" + tok + "&api_key=sk_x":   400,
			"/?access_token=" + tok:                401,
		} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", target, nil)
			req.Header.Set("Authorization", "Bearer "+tok) // not consulted: not listed
			g.MustRequire("lists:read")(&reached{}).ServeHTTP(rec, req)
			assert.Equal(t, want, rec.Code, "status for %s", target)
		}
	})
	t.Run("CookieOptIn", func(t *testing.T) {
		g := mustGuard(t, m, apikey.GuardOptions{Extractors: []apikey.Extractor{apikey.BearerToken, apikey.CookieToken("key")}})
		for cookie, want := range map[string]int{
			"key=" + tok:                200,
			"key=" + tok + "; key=sk_x": 400,
			"other=" + tok:              401,
		} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Cookie", cookie)
			g.MustRequire("lists:read")(&reached{}).ServeHTTP(rec, req)
			assert.Equal(t, want, rec.Code, "status for cookie %q", cookie)
		}
	})
	t.Run("CustomExtractorError", func(t *testing.T) {
		broken := func(*http.Request) (string, error) { return "", errors.New("cannot decode header") }
		g := mustGuard(t, m, apikey.GuardOptions{Extractors: []apikey.Extractor{broken}})
		_, err := g.Check(httptest.NewRequest("GET", "/", nil))
		assert.ErrorIs(t, err, apikey.ErrInvalidKey)
	})
	t.Run("ErrorHandler", func(t *testing.T) {
		var gotErr error
		g := mustGuard(t, m, apikey.GuardOptions{ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			gotErr = err
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(apikey.ErrorStatus(err))
			io.WriteString(w, "go away")
		}})
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-API-Key", tok)
		g.MustRequire("lists:write")(&reached{}).ServeHTTP(rec, req)
		assert.Equal(t, 403, rec.Code)
		assert.Equal(t, "go away", rec.Body.String(), "the body is not the custom handler's")
		assert.ErrorIs(t, gotErr, apikey.ErrInsufficientScope)
	})
}

// TestEveryHashVerifies runs the guard over keys digested with each
// algorithm: the right secret passes and a wrong one (a record with the
// key's ID and another key's digest) fails, so the digest comparison stays
// correct.
func TestEveryHashVerifies(t *testing.T) {
	pepper := []byte("0123456789abcdef0123456789abcdef")
	for _, alg := range []apikey.HashAlgorithm{apikey.SHA256, apikey.HMACSHA256, apikey.Argon2id} {
		t.Run(alg.String(), func(t *testing.T) {
			opts := apikey.Options{Hash: alg, Pepper: pepper, Argon2: apikey.Argon2Params{Memory: 64}}
			store := memstore.New()
			opts.Store = store
			m := apikeytest.NewManager(t, opts)
			key, tok := mustCreate(t, m, "lists:read", time.Time{})
			other, _ := mustCreate(t, m, "lists:read", time.Time{})
			opts.Store = wrongSecretStore(t, store, key.ID, other.ID)
			mWrong := apikeytest.NewManager(t, opts)

			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("X-API-Key", tok)
			_, err := mustGuard(t, m, apikey.GuardOptions{}).Check(r)
			assert.NoError(t, err, "right secret")
			_, err = mustGuard(t, mWrong, apikey.GuardOptions{}).Check(r)
			assert.ErrorIs(t, err, apikey.ErrInvalidKey, "wrong secret")
		})
	}
}

// TestMustRequireThroughServer runs the middleware on a real ServeMux
// behind httptest.Server, with a real client.
func TestMustRequireThroughServer(t *testing.T) {
	m := apikeytest.NewManager(t, apikey.Options{})
	_, readTok := mustCreate(t, m, "lists:read", time.Time{})
	_, writeTok := mustCreate(t, m, "lists:write", time.Time{})
	g := mustGuard(t, m, apikey.GuardOptions{})
	mux := http.NewServeMux()
	list := &reached{}
	create := &reached{}
	mux.Handle("GET /api/lists", g.MustRequire("lists:read")(list))
	mux.Handle("POST /api/lists", g.MustRequire("lists:write")(create))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, tc := range []struct {
		method, token string
		want          int
	}{
		{"GET", readTok, 200}, {"GET", writeTok, 200}, {"GET", "", 401},
		{"POST", readTok, 403}, {"POST", writeTok, 200}, {"POST", "sk_bad", 401},
	} {
		req, err := http.NewRequest(tc.method, srv.URL+"/api/lists", nil)
		require.NoError(t, err)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, tc.want, resp.StatusCode, "%s with %.8s: body %s", tc.method, tc.token, body)
		if resp.StatusCode != 200 {
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"), "%s: Cache-Control of an error response", tc.method)
		}
	}
	assert.Equal(t, 2, list.count(), "times the GET handler was reached")
	assert.Equal(t, 1, create.count(), "times the POST handler was reached")
}

// FuzzGuardHeaders throws arbitrary credential headers at a Guard: it must
// never panic, never pass (no fuzzed token is a valid key), and always
// refuse with one of the credential errors.
func FuzzGuardHeaders(f *testing.F) {
	m := apikeytest.NewManager(f, apikey.Options{})
	_, _, err := m.Create(context.Background(), apikey.CreateParams{Label: "fuzz"})
	require.NoError(f, err)
	// Seeds near a valid token of another store: mutations of them cannot
	// become a valid key of this one, whose secret the fuzzer never sees.
	tok, _ := apikeytest.NewKey(f, "lists:read")
	g, err := apikey.NewGuard(m, apikey.GuardOptions{})
	require.NoError(f, err)
	f.Add("Bearer "+tok[:len(tok)-1]+"x", "")
	f.Add("Bearer sk_abc", "sk_abc")
	f.Add("", tok[:len(tok)-2])
	f.Add("bearer", "")
	f.Add("Basic x", "sk_"+strings.Repeat("0", 72))
	f.Fuzz(func(t *testing.T, auth, apiKey string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{auth}
		r.Header["X-Api-Key"] = []string{apiKey}
		_, err := g.Check(r)
		require.Error(t, err, "fuzzed credentials %q, %q verified", auth, apiKey)
		assert.True(t, errors.Is(err, apikey.ErrNoCredential) || errors.Is(err, apikey.ErrInvalidKey) ||
			errors.Is(err, apikey.ErrConflictingCredentials), "Check with credentials %q, %q = %v", auth, apiKey, err)
	})
}
