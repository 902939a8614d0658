package apikey_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/keyscope/apikey/memstore"
)

// errStoreDown is the failure of a store that is down; it must never
// reach a client.
var errStoreDown = errors.New("disk on fire at /var/lib/keys.db")

func mustCreate(t *testing.T, m *apikey.Manager, scopes string, expires time.Time) (apikey.Key, string) {
	t.Helper()
	s, err := apikey.ParseScopes(scopes)
	if err != nil {
		t.Fatal(err)
	}
	k, tok, err := m.Create(context.Background(), apikey.CreateParams{Label: "test " + scopes, Scopes: s, ExpiresAt: expires})
	if err != nil {
		t.Fatal(err)
	}
	return k, tok.Reveal()
}

func mustGuard(t *testing.T, m *apikey.Manager, opts apikey.GuardOptions) *apikey.Guard {
	t.Helper()
	g, err := apikey.NewGuard(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
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

// response is what a test compares: status, the headers keyscope sets, and
// the body.
type response struct {
	status  int
	www     string
	cache   string
	ctype   string
	allow   string
	nosniff string
	body    string
}

func responseOf(rec *httptest.ResponseRecorder) response {
	h := rec.Result().Header
	return response{
		status:  rec.Code,
		www:     h.Get("WWW-Authenticate"),
		cache:   h.Get("Cache-Control"),
		ctype:   h.Get("Content-Type"),
		allow:   h.Get("Allow"),
		nosniff: h.Get("X-Content-Type-Options"),
		body:    rec.Body.String(),
	}
}

// TestMustRequireResponses is the table of every answer MustRequire
// gives: status, headers and body.
func TestMustRequireResponses(t *testing.T) {
	clk := newClock()
	store := memstore.New()
	m := apikeytest.NewManager(t, apikey.Options{Store: store, Now: clk.Now})
	ctx := context.Background()

	_, readTok := mustCreate(t, m, "lists:read", time.Time{})
	_, writeTok := mustCreate(t, m, "lists:write,profiles:read", time.Time{})
	_, otherTok := mustCreate(t, m, "profiles:read", time.Time{})
	inactive, inactiveTok := mustCreate(t, m, "lists:read", time.Time{})
	if _, err := m.Deactivate(ctx, inactive.ID); err != nil {
		t.Fatal(err)
	}
	_, expiredTok := mustCreate(t, m, "lists:read", clk.Now().Add(time.Hour))
	clk.Add(2 * time.Hour)

	// A token of another Manager's store: well-formed, unknown here.
	unknownTok, _ := apikeytest.NewKey(t, "lists:read")
	// A record with readTok's ID but another key's digest: the secret of
	// readTok is then wrong for it.
	readKey, err := m.Verify(ctx, readTok)
	if err != nil {
		t.Fatal(err)
	}
	other, err := m.Verify(ctx, otherTok)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := store.Get(ctx, other.ID)
	if err != nil {
		t.Fatal(err)
	}
	rec.ID = readKey.ID
	wrongStore := memstore.New()
	if err := wrongStore.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// Each manager gets its own guard, all with the default options.
	guardOf := map[string]*apikey.Guard{
		"main":  mustGuard(t, m, apikey.GuardOptions{}),
		"wrong": mustGuard(t, apikeytest.NewManager(t, apikey.Options{Store: wrongStore}), apikey.GuardOptions{}),
		"down":  mustGuard(t, apikeytest.NewManager(t, apikey.Options{Store: &countingStore{Store: memstore.New(), failGet: errStoreDown}}), apikey.GuardOptions{}),
	}

	ok := response{status: 200, ctype: "text/plain; charset=utf-8", body: "ok"}
	noCred := response{
		status: 401, www: `Bearer realm="api"`, cache: "no-store", ctype: "application/json", nosniff: "nosniff",
		body: `{"error":"unauthorized","error_description":"an API key is required"}` + "\n",
	}
	invalid := response{
		status: 401, www: `Bearer realm="api", error="invalid_token"`, cache: "no-store", ctype: "application/json", nosniff: "nosniff",
		body: `{"error":"invalid_token","error_description":"the API key is not valid"}` + "\n",
	}
	conflict := response{
		status: 400, www: `Bearer realm="api", error="invalid_request"`, cache: "no-store", ctype: "application/json", nosniff: "nosniff",
		body: `{"error":"invalid_request","error_description":"the request carries more than one API key"}` + "\n",
	}
	lacksListsRead := response{
		status: 403, www: `Bearer realm="api", error="insufficient_scope", scope="lists:read"`, cache: "no-store", ctype: "application/json", nosniff: "nosniff",
		body: `{"error":"insufficient_scope","error_description":"the API key lacks a required scope","scope":"lists:read"}` + "\n",
	}
	lacksBoth := response{
		status: 403, www: `Bearer realm="api", error="insufficient_scope", scope="lists:write profiles:write"`, cache: "no-store", ctype: "application/json", nosniff: "nosniff",
		body: `{"error":"insufficient_scope","error_description":"the API key lacks a required scope","scope":"lists:write profiles:write"}` + "\n",
	}
	unavailable := response{
		status: 503, cache: "no-store", ctype: "application/json", nosniff: "nosniff",
		body: `{"error":"temporarily_unavailable","error_description":"the API key could not be checked; try again later"}` + "\n",
	}

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
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("GET", tc.target, nil)
			for k, vs := range tc.header {
				req.Header[k] = vs
			}
			rec := httptest.NewRecorder()
			mw(h).ServeHTTP(rec, req)
			if got := responseOf(rec); got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if want := tc.want.status == 200; (h.count() == 1) != want {
				t.Errorf("handler reached %d times, want reached=%v", h.count(), want)
			}
			if strings.Contains(rec.Body.String(), "fire") || strings.Contains(rec.Body.String(), "apikey:") {
				t.Errorf("body leaks an error message: %s", rec.Body)
			}
		})
	}
}

// TestInvalidKeysAnsweredAlike checks the whole response, every header
// included, is the same for every kind of key that does not verify.
func TestInvalidKeysAnsweredAlike(t *testing.T) {
	clk := newClock()
	store := memstore.New()
	m := apikeytest.NewManager(t, apikey.Options{Store: store, Now: clk.Now})
	ctx := context.Background()
	good, goodTok := mustCreate(t, m, "lists:read", time.Time{})
	inactive, inactiveTok := mustCreate(t, m, "lists:read", time.Time{})
	if _, err := m.Deactivate(ctx, inactive.ID); err != nil {
		t.Fatal(err)
	}
	_, expiredTok := mustCreate(t, m, "lists:read", clk.Now().Add(time.Minute))
	clk.Add(time.Hour)
	unknownTok, _ := apikeytest.NewKey(t, "lists:read")
	// wrong secret: goodTok against a store holding good's ID with another digest
	rec, err := store.Get(ctx, inactive.ID)
	if err != nil {
		t.Fatal(err)
	}
	rec.ID, rec.Active = good.ID, true
	wrong := memstore.New()
	if err := wrong.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	g := mustGuard(t, m, apikey.GuardOptions{})
	gWrong := mustGuard(t, apikeytest.NewManager(t, apikey.Options{Store: wrong}), apikey.GuardOptions{})

	serve := func(g *apikey.Guard, tok string) (int, http.Header, string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		g.MustRequire("lists:read")(&reached{}).ServeHTTP(rec, req)
		return rec.Code, rec.Result().Header, rec.Body.String()
	}
	wantCode, wantHdr, wantBody := serve(g, "sk_malformed")
	if wantCode != http.StatusUnauthorized {
		t.Fatalf("malformed key: status %d", wantCode)
	}
	for name, c := range map[string]struct {
		g   *apikey.Guard
		tok string
	}{
		"unknown": {g, unknownTok}, "wrong secret": {gWrong, goodTok},
		"inactive": {g, inactiveTok}, "expired": {g, expiredTok},
	} {
		code, hdr, body := serve(c.g, c.tok)
		if code != wantCode || body != wantBody || !headersEqual(hdr, wantHdr) {
			t.Errorf("%s key: %d %v %q, want as malformed: %d %v %q", name, code, hdr, body, wantCode, wantHdr, wantBody)
		}
	}
}

func headersEqual(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestCheckErrors is the pure check: the typed errors a caller without an
// HTTP response (a test, a gRPC gateway) tells apart.
func TestCheckErrors(t *testing.T) {
	m := apikeytest.NewManager(t, apikey.Options{})
	key, tok := mustCreate(t, m, "lists:read", time.Time{})
	g := mustGuard(t, m, apikey.GuardOptions{})
	down := mustGuard(t, apikeytest.NewManager(t, apikey.Options{Store: &countingStore{Store: memstore.New(), failGet: errStoreDown}}), apikey.GuardOptions{})
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
			if !errors.Is(err, tc.want) {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
			if k.ID != uuid.Nil || !k.Scopes.IsZero() {
				t.Errorf("Check returned key %v with error", k.ID)
			}
			if got := apikey.ErrorStatus(err); got != tc.status {
				t.Errorf("ErrorStatus = %d, want %d", got, tc.status)
			}
		})
	}

	k, err := g.Check(req("X-API-Key", tok), listsRead)
	if err != nil || k.ID != key.ID || !k.Scopes.Equal(key.Scopes) || !k.Digest.IsZero() {
		t.Errorf("Check = %v, %v; want key %v without digest", k.ID, err, key.ID)
	}
	_, err = g.Check(req("X-API-Key", tok), listsWrite)
	var se *apikey.InsufficientScopeError
	if !errors.As(err, &se) || se.KeyID != key.ID || !slices.Equal(se.Missing, []apikey.Scope{listsWrite}) {
		t.Errorf("Check = %v, want InsufficientScopeError for %v missing lists:write", err, key.ID)
	}
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
	if rec.Code != 200 || h.count() != 1 {
		t.Fatalf("status %d, handler reached %d times", rec.Code, h.count())
	}
	got := h.keys[0]
	if got.ID != key.ID || got.Label != key.Label || !got.Scopes.Equal(key.Scopes) || !got.Digest.IsZero() {
		t.Errorf("handler got key %+v, want %+v", got, key)
	}
	if _, ok := apikey.FromContext(req.Context()); ok {
		t.Error("the caller's request was changed: its context carries a key")
	}
	if _, ok := apikey.FromContext(context.Background()); ok {
		t.Error("FromContext(Background) reports a key")
	}
}

func TestRequireRejectsBadScopes(t *testing.T) {
	cat, err := apikey.NewCatalog("lists", "profiles")
	if err != nil {
		t.Fatal(err)
	}
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
			if !errors.Is(err, apikey.ErrInvalidScope) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("Require(%q) = %v, want ErrInvalidScope mentioning %s", tc.scope, err, tc.wantMsg)
			}
			defer func() {
				v := recover()
				if err, _ := v.(error); !errors.Is(err, apikey.ErrInvalidScope) || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Errorf("MustRequire(%q) panicked with %v, want a message mentioning %s", tc.scope, v, tc.wantMsg)
				}
			}()
			g.MustRequire(tc.scope)
		})
	}
	if _, err := g.Require("*:read", "lists:write"); err != nil {
		t.Errorf("Require(*:read, lists:write) = %v", err)
	}
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
			if _, err := apikey.NewGuard(m, opts); err == nil {
				t.Error("NewGuard accepted invalid options")
			}
		})
	}
	if _, err := apikey.NewGuard(nil, apikey.GuardOptions{}); err == nil {
		t.Error("NewGuard accepted a nil Manager")
	}
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
		if got, want := rec.Header().Get("WWW-Authenticate"), `Bearer realm="shop admin"`; got != want {
			t.Errorf("WWW-Authenticate = %q, want %q", got, want)
		}
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
			if rec.Code != want {
				t.Errorf("%s: status %d, want %d", target, rec.Code, want)
			}
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
			if rec.Code != want {
				t.Errorf("cookie %q: status %d, want %d", cookie, rec.Code, want)
			}
		}
	})
	t.Run("CustomExtractorError", func(t *testing.T) {
		broken := func(*http.Request) (string, error) { return "", errors.New("cannot decode header") }
		g := mustGuard(t, m, apikey.GuardOptions{Extractors: []apikey.Extractor{broken}})
		_, err := g.Check(httptest.NewRequest("GET", "/", nil))
		if !errors.Is(err, apikey.ErrInvalidKey) {
			t.Errorf("Check = %v, want ErrInvalidKey", err)
		}
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
		if rec.Code != 403 || rec.Body.String() != "go away" || !errors.Is(gotErr, apikey.ErrInsufficientScope) {
			t.Errorf("got %d %q with error %v, want 403 from the custom handler", rec.Code, rec.Body, gotErr)
		}
	})
}

func TestWriteErrorEscapesRealm(t *testing.T) {
	rec := httptest.NewRecorder()
	apikey.WriteError(rec, "a\"b\\c\r\nd", apikey.ErrNoCredential)
	if got, want := rec.Header().Get("WWW-Authenticate"), `Bearer realm="a\"b\\cd"`; got != want {
		t.Errorf("WWW-Authenticate = %q, want %q", got, want)
	}
}

// TestEveryHashVerifies runs the guard over keys digested with each
// algorithm: the right secret passes and a wrong one (a record with the
// key's ID and another key's digest) fails, so the digest comparison stays
// correct.
func TestEveryHashVerifies(t *testing.T) {
	pepper := []byte("0123456789abcdef0123456789abcdef")
	ctx := context.Background()
	for _, alg := range []apikey.HashAlgorithm{apikey.SHA256, apikey.HMACSHA256, apikey.Argon2id} {
		t.Run(alg.String(), func(t *testing.T) {
			opts := apikey.Options{Hash: alg, Pepper: pepper, Argon2: apikey.Argon2Params{Memory: 64}}
			store := memstore.New()
			opts.Store = store
			m := apikeytest.NewManager(t, opts)
			key, tok := mustCreate(t, m, "lists:read", time.Time{})
			other, _ := mustCreate(t, m, "lists:read", time.Time{})
			rec, err := store.Get(ctx, other.ID)
			if err != nil {
				t.Fatal(err)
			}
			rec.ID = key.ID
			wrong := memstore.New()
			if err := wrong.Create(ctx, rec); err != nil {
				t.Fatal(err)
			}
			opts.Store = wrong
			mWrong := apikeytest.NewManager(t, opts)

			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("X-API-Key", tok)
			if _, err := mustGuard(t, m, apikey.GuardOptions{}).Check(r); err != nil {
				t.Errorf("right secret: Check = %v", err)
			}
			if _, err := mustGuard(t, mWrong, apikey.GuardOptions{}).Check(r); !errors.Is(err, apikey.ErrInvalidKey) {
				t.Errorf("wrong secret: Check = %v, want ErrInvalidKey", err)
			}
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
		if err != nil {
			t.Fatal(err)
		}
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s with %.8s: status %d (%s), want %d", tc.method, tc.token, resp.StatusCode, body, tc.want)
		}
		if resp.StatusCode != 200 && resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: error response without Cache-Control: no-store", tc.method)
		}
	}
	if list.count() != 2 || create.count() != 1 {
		t.Errorf("handlers reached %d and %d times, want 2 and 1", list.count(), create.count())
	}
}

// FuzzBearerToken checks the Authorization header parser: it never panics,
// a token it returns is trimmed and comes from a Bearer scheme, and it
// round-trips.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{
		"Bearer sk_abc", "bearer sk_abc", "BEARER  sk_abc ", "Bearer", "Bearer ", "Bearer\tx",
		"Basic dXNlcjpwYXNz", "Bearerx", "Bearer a b", "", " ", "Bearer \x00", "bearer\u00a0x", "\tBearer x\t",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := &http.Request{Header: http.Header{"Authorization": {v}}}
		tok, err := apikey.BearerToken(r)
		trimmed := strings.Trim(v, " \t")
		isBearer := len(trimmed) >= 6 && strings.EqualFold(trimmed[:6], "bearer") && !strings.ContainsFunc(trimmed[:6], func(c rune) bool { return c > 0x7f }) &&
			(len(trimmed) == 6 || trimmed[6] == ' ' || trimmed[6] == '\t')
		switch {
		case err != nil:
			if !errors.Is(err, apikey.ErrInvalidKey) || tok != "" || !isBearer || strings.Trim(trimmed[6:], " \t") != "" {
				t.Fatalf("BearerToken(%q) = %q, %v", v, tok, err)
			}
		case tok == "":
			if isBearer {
				t.Fatalf("BearerToken(%q) found no token in a Bearer header", v)
			}
		default:
			if !isBearer || tok != strings.Trim(trimmed[7:], " \t") {
				t.Fatalf("BearerToken(%q) = %q", v, tok)
			}
			r.Header.Set("Authorization", "Bearer "+tok)
			if again, err := apikey.BearerToken(r); again != tok || err != nil {
				t.Fatalf("round trip of %q gave %q, %v", tok, again, err)
			}
		}
	})
}

// FuzzGuardHeaders throws arbitrary credential headers at a Guard: it must
// never panic, never pass (no fuzzed token is a valid key), and always
// refuse with one of the credential errors.
func FuzzGuardHeaders(f *testing.F) {
	m := apikeytest.NewManager(f, apikey.Options{})
	if _, _, err := m.Create(context.Background(), apikey.CreateParams{Label: "fuzz"}); err != nil {
		f.Fatal(err)
	}
	// Seeds near a valid token of another store: mutations of them cannot
	// become a valid key of this one, whose secret the fuzzer never sees.
	tok, _ := apikeytest.NewKey(f, "lists:read")
	g, err := apikey.NewGuard(m, apikey.GuardOptions{})
	if err != nil {
		f.Fatal(err)
	}
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
		switch {
		case err == nil:
			t.Fatalf("fuzzed credentials %q, %q verified", auth, apiKey)
		case errors.Is(err, apikey.ErrNoCredential), errors.Is(err, apikey.ErrInvalidKey),
			errors.Is(err, apikey.ErrConflictingCredentials):
		default:
			t.Fatalf("Check = %v", err)
		}
	})
}
