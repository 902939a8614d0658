package keypage_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyscope/apikey/apikeytest"
	"github.com/keyscope/apikey/keyapi"
	"github.com/keyscope/apikey/keypage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// errStoreFailure is what the failing store says: words no person should see
// on the page.
var errStoreFailure = errors.New("pq: connection to 10.0.0.7:5432 refused (password=hunter2)")

// assertNoLeak fails the test if a shows anything of the store's error.
func assertNoLeak(t *testing.T, a answer, err error) {
	t.Helper()
	for _, secret := range []string{err.Error(), "hunter2", "10.0.0.7", "pq:", "apikey:", "keyapi", "keypage:"} {
		assert.NotContains(t, a.body, secret)
		for name, vs := range a.header {
			assert.NotContains(t, strings.Join(vs, " "), secret, "header %s", name)
		}
	}
}

// TestStoreFailures checks that a failing store is answered, on every
// route, with a 503 page in words a person understands, never with the
// store's error; and that a form that makes a key is not spent by it, so
// that sending it again tries again.
func TestStoreFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method apikeytest.Method
		req    func(e *env, id string) request
	}{
		{"list", apikeytest.MethodList, func(e *env, id string) request {
			return request{method: http.MethodGet, path: "/"}
		}},
		{"rename form", apikeytest.MethodGet, func(e *env, id string) request {
			return request{method: http.MethodGet, path: id + "/rename"}
		}},
		{"roll form", apikeytest.MethodGet, func(e *env, id string) request {
			return request{method: http.MethodGet, path: id + "/roll"}
		}},
		{"confirm delete", apikeytest.MethodGet, func(e *env, id string) request {
			return request{method: http.MethodPost, path: id + "/delete", form: url.Values{}}
		}},
		{"create", apikeytest.MethodCreate, func(e *env, id string) request {
			return request{method: http.MethodPost, path: "/new", form: url.Values{"once": {e.once()}, "label": {"x"}}}
		}},
		{"rename", apikeytest.MethodUpdate, func(e *env, id string) request {
			return request{method: http.MethodPost, path: id + "/rename", form: url.Values{"label": {"x"}}}
		}},
		{"deactivate", apikeytest.MethodUpdate, func(e *env, id string) request {
			return request{method: http.MethodPost, path: id + "/deactivate", form: url.Values{"confirm": {"yes"}}}
		}},
		{"activate", apikeytest.MethodUpdate, func(e *env, id string) request {
			return request{method: http.MethodPost, path: id + "/activate", form: url.Values{}}
		}},
		{"delete", apikeytest.MethodDelete, func(e *env, id string) request {
			return request{method: http.MethodPost, path: id + "/delete", form: url.Values{"confirm": {"yes"}}}
		}},
		{"clone", apikeytest.MethodCreate, func(e *env, id string) request {
			return request{method: http.MethodPost, path: id + "/clone", form: url.Values{"once": {e.once()}}}
		}},
		{"roll, making the key", apikeytest.MethodCreate, func(e *env, id string) request {
			return request{method: http.MethodPost, path: id + "/roll", form: url.Values{"once": {e.once()}, "grace": {"1h"}}}
		}},
		{"roll, setting the expiry", apikeytest.MethodUpdate, func(e *env, id string) request {
			return request{method: http.MethodPost, path: id + "/roll", form: url.Values{"once": {e.once()}, "grace": {"1h"}}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			k := e.mint(acctA, "shop", "lists:read")
			if strings.HasSuffix(tc.name, "activate") && tc.name != "deactivate" {
				_, err := e.m.Deactivate(t.Context(), k.ID)
				require.NoError(t, err)
			}
			req := tc.req(e, "/"+k.ID.String())
			req.who = owner
			before := e.keys()
			e.store.Fail(tc.method, errStoreFailure)
			a := e.do(req)
			assert.Equal(t, http.StatusServiceUnavailable, a.status)
			d := a.doc()
			assert.Contains(t, d.byID("page-error").Text(), "The key store is unavailable just now. Try again in a moment")
			assert.Nil(t, d.byID("token"))
			assert.Nil(t, a.cookie("keypage_sent"), "a failed form is spent")
			assertNoLeak(t, a, errStoreFailure)
			e.unchanged(before)

			// Once the store is back, the same request succeeds.
			e.store.Fail(tc.method, nil)
			again := e.do(req)
			assert.Less(t, again.status, 400, again.body)
		})
	}
}

// TestAuthorizerFailure checks that an application whose sign-in fails
// (not "no one is signed in": its session store is down, say) gets a 500
// page in words, not its error.
func TestAuthorizerFailure(t *testing.T) {
	failure := errors.New("redis: dial tcp 10.0.0.7:6379: password=hunter2 rejected")
	e := newEnv(t, func(o *keypage.Options) {
		o.Authorize = keyapi.AuthorizeRoles(func(*http.Request) (keyapi.Principal, error) {
			return keyapi.Principal{}, failure
		})
	})
	k := e.mint(acctA, "shop", "")
	before := e.keys()
	for _, req := range []request{
		{method: http.MethodGet, path: "/"},
		{method: http.MethodGet, path: "/new"},
		{method: http.MethodPost, path: "/" + k.ID.String() + "/delete", form: url.Values{"confirm": {"yes"}}},
	} {
		req.who = owner
		a := e.do(req)
		assert.Equal(t, http.StatusInternalServerError, a.status, req.path)
		assert.Contains(t, a.doc().byID("page-error").Text(), "Something went wrong on our side")
		assertNoLeak(t, a, failure)
		assert.NotContains(t, a.body, "redis")
	}
	e.unchanged(before)
}
