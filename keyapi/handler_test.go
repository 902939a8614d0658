package keyapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/keyscope/apikey/keyapi"
	"github.com/keyscope/apikey/memstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewHandlerOptions(t *testing.T) {
	_, err := keyapi.NewHandler(nil, keyapi.Options{})
	assert.Error(t, err, "NewHandler(nil manager) succeeded")
	e := newEnv(t, envOptions{})
	_, err = keyapi.NewHandler(e.m, keyapi.Options{MaxBodyBytes: -512})
	assert.ErrorContains(t, err, "MaxBodyBytes -512", "NewHandler with MaxBodyBytes -512: want an error naming the option and its value")
}

func TestStoreFailureIs503(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   func(id uuid.UUID) string
		body   string
		fail   apikeytest.Method
	}{
		{"List", "GET", func(uuid.UUID) string { return "/" }, "", apikeytest.MethodList},
		{"Get", "GET", func(id uuid.UUID) string { return "/" + id.String() }, "", apikeytest.MethodGet},
		{"Create", "POST", func(uuid.UUID) string { return "/" }, `{"label":"x"}`, apikeytest.MethodCreate},
		{"Update", "PATCH", func(id uuid.UUID) string { return "/" + id.String() }, `{"label":"x"}`, apikeytest.MethodUpdate},
		{"Clone", "POST", func(id uuid.UUID) string { return "/" + id.String() + "/clone" }, ``, apikeytest.MethodCreate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{api: keyapi.Options{Authorize: allowAll}})
			k, _ := e.mint("shop", "")
			e.log.records(t)
			e.store.Fail(tc.fail, errStoreDown)
			p := problemOf(t, e.do(tc.method, tc.path(k.ID), "", tc.body), 503)
			assert.Equal(t, "unavailable", p.Code)
			assert.NotContains(t, p.Detail, "disk on fire", "the problem leaks the store's error")
			rec := e.log.onlyRecord(t)
			assert.Equal(t, "ERROR", rec["level"])
			assert.Contains(t, fmt.Sprint(rec["err"]), "disk on fire", "the log record lacks the cause")
		})
	}
}

func TestBodyLimits(t *testing.T) {
	t.Run("OverLimitIs413", func(t *testing.T) {
		e := newEnv(t, envOptions{api: keyapi.Options{Authorize: allowAll, MaxBodyBytes: 100}})
		k, _ := e.mint("shop", "")
		long := `{"label":"` + strings.Repeat("a", 100) + `"}`
		for _, rq := range []struct{ method, path string }{
			{"POST", "/"}, {"PATCH", "/" + k.ID.String()}, {"POST", "/" + k.ID.String() + "/roll"}, {"POST", "/" + k.ID.String() + "/clone"},
		} {
			p := problemOf(t, e.do(rq.method, rq.path, "", long), 413)
			assert.Equal(t, "too_large", p.Code, "%s %s", rq.method, rq.path)
			assert.Contains(t, p.Detail, "100 bytes", "%s %s", rq.method, rq.path)
		}
		assert.Equal(t, 1, e.count(), "an oversized request stored a key")
	})
	t.Run("DefaultFitsTheLongestLabel", func(t *testing.T) {
		e := newEnv(t, envOptions{api: keyapi.Options{Authorize: allowAll}})
		label := strings.Repeat(`"`, apikey.MaxLabelLen) // escaped, twice as long
		k := decodeKey(t, e.do("POST", "/", "", `{"label":`+strconv.Quote(label)+`}`), 201)
		assert.Equal(t, label, k.Label, "the label did not round-trip")
	})
	t.Run("BodyMustBeJSON", func(t *testing.T) {
		e := newEnv(t, envOptions{api: keyapi.Options{Authorize: allowAll}})
		for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded"} {
			r := httptest.NewRequest("POST", "/", strings.NewReader(`{"label":"x"}`))
			if ct != "" {
				r.Header.Set("Content-Type", ct)
			}
			p := problemOf(t, serve(e.h, r), 415)
			assert.Equal(t, "unsupported_type", p.Code, "Content-Type %q", ct)
		}
		r := newRequest("POST", "/", `{"label":"x"}`)
		r.Header.Set("Content-Type", "application/json; charset=utf-8")
		w := serve(e.h, r)
		assert.Equal(t, 201, w.Code, "application/json with charset: %s", w.Body)
	})
}

func TestRouting(t *testing.T) {
	e := newEnv(t, envOptions{api: keyapi.Options{Authorize: allowAll}})
	id := uuid.Must(uuid.NewV7()).String()
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"PUT", "/", 405, "GET, HEAD, POST"},
		{"DELETE", "/", 405, "GET, HEAD, POST"},
		{"POST", "/" + id, 405, "GET, HEAD, PATCH, DELETE"},
		{"GET", "/" + id + "/clone", 405, "POST"},
		{"DELETE", "/" + id + "/roll", 405, "POST"},
		{"GET", "/" + id + "/other", 404, ""},
		{"GET", "/a/b/c", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			w := e.do(tc.method, tc.path, "", "")
			problemOf(t, w, tc.status)
			assert.Equal(t, tc.allow, w.Header().Get("Allow"))
		})
	}
}

func TestMountWithStripPrefix(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, admTok := e.mint("admin", adminScopes)
	h, err := keyapi.NewHandler(e.m, keyapi.Options{Logger: discardLogger()})
	require.NoError(t, err)
	srv := serveMounted(t, withBearer(e.m, http.StripPrefix("/keys", h)))

	for _, p := range []string{"/keys", "/keys/"} {
		w := fetch(t, srv, "POST", p, admTok, `{"label":"mounted"}`)
		require.Equal(t, 201, w.Code, "POST %s: %s", p, w.Body)
		loc := w.Header().Get("Location")
		assert.True(t, strings.HasPrefix(loc, "/keys/"), "POST %s: Location %q", p, loc)
		assert.Equal(t, 200, fetch(t, srv, "GET", loc, admTok, "").Code, "POST %s: GET of its Location %q", p, loc)

		clone := fetch(t, srv, "POST", loc+"/clone", admTok, "")
		require.Equal(t, 201, clone.Code, "clone at %s: %s", loc+"/clone", clone.Body)
		cloneLoc := clone.Header().Get("Location")
		assert.True(t, strings.HasPrefix(cloneLoc, "/keys/"), "clone at %s: Location %q", loc+"/clone", cloneLoc)
		assert.Equal(t, 200, fetch(t, srv, "GET", cloneLoc, admTok, "").Code, "clone at %s: GET of its Location %q", loc+"/clone", cloneLoc)

		assert.Equal(t, 200, fetch(t, srv, "GET", p, admTok, "").Code, "GET %s", p)
	}
}

// TestBehindGuard mounts the handler as the package doc says, behind
// keyscope's own middleware on a real server, and drives it with real bearer
// tokens: the keys it mints work as credentials, and a narrow or expiring key
// can mint nothing beyond its own scopes and lifetime.
func TestBehindGuard(t *testing.T) {
	m := apikeytest.NewManager(t, apikey.Options{Store: memstore.New()})
	h, err := keyapi.NewHandler(m, keyapi.Options{Logger: discardLogger()})
	require.NoError(t, err)
	g, err := apikey.NewGuard(m, apikey.GuardOptions{})
	require.NoError(t, err)
	mw, err := g.Require()
	require.NoError(t, err)
	srv := serveMounted(t, mw(http.StripPrefix("/keys", h)))

	// created decodes the reply to a create, clone or roll.
	created := func(w *httptest.ResponseRecorder) keyJSON {
		t.Helper()
		k := decodeKey(t, w, 201)
		require.NotEmpty(t, k.Token, "the new key's token")
		return k
	}
	// refused checks that w is a problem with the given status and code.
	refused := func(w *httptest.ResponseRecorder, status int, code string) problemBody {
		t.Helper()
		p := problemOf(t, w, status)
		assert.Equal(t, code, p.Code, "problem %+v", p)
		return p
	}

	// The guard turns away requests without a valid key before the handler
	// sees them.
	w := fetch(t, srv, "GET", "/keys", "", "")
	assert.Equal(t, 401, w.Code, "no token: %s", w.Body)
	w = fetch(t, srv, "GET", "/keys", "sk_not-a-token", "")
	assert.Equal(t, 401, w.Code, "bad token: %s", w.Body)

	rootScopes, err := apikey.ParseScopes(adminScopes)
	require.NoError(t, err)
	_, rootTok, err := m.Create(t.Context(), apikey.CreateParams{Owner: testOwner, Label: "root", Scopes: rootScopes})
	require.NoError(t, err)
	root := rootTok.Reveal()
	narrow := created(fetch(t, srv, "POST", "/keys", root, `{"label":"narrow","scopes":"keys:write,lists:read"}`))
	assert.Equal(t, "keys:write,lists:read", narrow.Scopes)
	assert.Equal(t, testOwner, narrow.Owner, "the new key's owner")
	assert.Empty(t, narrow.ExpiresAt, "the narrow key expires")

	// The new token is a working credential: it lists the keys.
	var list listJSON
	decodeStrict(t, fetch(t, srv, "GET", "/keys/", narrow.Token, ""), 200, &list)
	require.Len(t, list.Keys, 2, "keys listed with the new token")
	assert.Equal(t, narrow.ID, list.Keys[0].ID, "the newest key listed")

	// It may mint within its scopes, not beyond them.
	k := created(fetch(t, srv, "POST", "/keys", narrow.Token, `{"label":"reader","scopes":"lists:read"}`))
	assert.Equal(t, "lists:read", k.Scopes, "the narrow key minted %+v", k)
	for _, body := range []string{`{"label":"grab"}`, `{"label":"grab","scopes":"lists:write"}`} {
		p := refused(fetch(t, srv, "POST", "/keys", narrow.Token, body), 403, "escalation")
		assert.Contains(t, p.Detail, "keys:write,lists:read", "create %s: the detail does not name the caller's scopes", body)
	}
	rootID := list.Keys[1].ID.String()
	refused(fetch(t, srv, "POST", "/keys/"+rootID+"/clone", narrow.Token, ""), 403, "escalation")
	refused(fetch(t, srv, "POST", "/keys/"+rootID+"/roll", narrow.Token, ""), 403, "escalation")

	// A key that expires mints keys that expire with it, and cannot clone
	// one that never expires.
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	temp := created(fetch(t, srv, "POST", "/keys", root,
		`{"label":"temp","scopes":"keys:write,lists:read","expires_at":"`+exp.Format(time.RFC3339)+`"}`))
	child := created(fetch(t, srv, "POST", "/keys", temp.Token, `{"label":"child","scopes":"lists:read"}`))
	childExp, err := time.Parse(time.RFC3339Nano, child.ExpiresAt)
	require.NoError(t, err, "expires_at of a key minted by an expiring key")
	assert.True(t, childExp.Equal(exp), "a key minted by an expiring key expires %v, want %v", childExp, exp)
	p := refused(fetch(t, srv, "POST", "/keys/"+narrow.ID.String()+"/clone", temp.Token, ""), 403, "escalation")
	assert.Contains(t, p.Detail, "outlive", "clone of a key that never expires")
	rolled := created(fetch(t, srv, "POST", "/keys/"+temp.ID.String()+"/roll", temp.Token, `{"grace":"1m"}`))
	assert.Equal(t, temp.ExpiresAt, rolled.ExpiresAt, "self-roll: the new key's expiry")

	// A full-access key may not manage keys without naming them.
	data := created(fetch(t, srv, "POST", "/keys", root, `{"label":"data","scopes":"full"}`))
	p = refused(fetch(t, srv, "GET", "/keys", data.Token, ""), 403, "forbidden")
	assert.Contains(t, p.Detail, "keys:read", "a *:write key listing keys")

	// Another account's key sees and touches nothing of this one.
	other, err := apikey.ParseScopes(adminScopes)
	require.NoError(t, err)
	_, acmeTok, err := m.Create(t.Context(), apikey.CreateParams{Owner: "acme", Label: "acme admin", Scopes: other})
	require.NoError(t, err)
	decodeStrict(t, fetch(t, srv, "GET", "/keys", acmeTok.Reveal(), ""), 200, &list)
	require.Len(t, list.Keys, 1, "keys acme lists")
	assert.Equal(t, "acme", list.Keys[0].Owner, "the key acme lists")
	refused(fetch(t, srv, "GET", "/keys/"+narrow.ID.String(), acmeTok.Reveal(), ""), 404, "not_found")
	refused(fetch(t, srv, "PATCH", "/keys/"+narrow.ID.String(), acmeTok.Reveal(), `{"active":false}`), 404, "not_found")

	// Refusals stored nothing: root, narrow, reader, temp, child, the
	// rolled key, data and acme's.
	assert.Equal(t, 8, m.Store().(*memstore.Store).Len(), "keys in the store")
}
