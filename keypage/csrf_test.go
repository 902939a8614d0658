package keypage_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/keypage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// postRoute is one state-changing route of the page, with a form that
// succeeds when sent by the account's owner from the page's own origin.
type postRoute struct {
	name   string
	path   func(k apikey.Key) string
	form   func(e *env) url.Values
	status int                                      // of success
	check  func(t *testing.T, e *env, k apikey.Key) // that it succeeded
}

// postRoutes are every state-changing route of the page. Each acts on k,
// an active key of acctA, and on an inactive one for activate.
func postRoutes() []postRoute {
	idPath := func(action string) func(apikey.Key) string {
		return func(k apikey.Key) string { return "/" + k.ID.String() + "/" + action }
	}
	fixed := func(v url.Values) func(*env) url.Values { return func(*env) url.Values { return v } }
	withOnce := func(v url.Values) func(*env) url.Values {
		return func(e *env) url.Values {
			out := url.Values{"once": {e.once()}}
			for k, vs := range v {
				out[k] = vs
			}
			return out
		}
	}
	grew := func(t *testing.T, e *env, k apikey.Key) {
		assert.Len(t, e.keys(), 2, "a key was made")
	}
	return []postRoute{
		{"create", func(apikey.Key) string { return "/new" }, withOnce(url.Values{"label": {"made"}}), http.StatusOK, grew},
		{"rename", idPath("rename"), fixed(url.Values{"label": {"renamed"}}), http.StatusSeeOther,
			func(t *testing.T, e *env, k apikey.Key) {
				got, _ := e.key(k.ID)
				assert.Equal(t, "renamed", got.Label)
			}},
		{"activate", idPath("activate"), fixed(url.Values{}), http.StatusSeeOther,
			func(t *testing.T, e *env, k apikey.Key) {
				got, _ := e.key(k.ID)
				assert.True(t, got.Active)
			}},
		{"deactivate", idPath("deactivate"), fixed(url.Values{"confirm": {"yes"}}), http.StatusSeeOther,
			func(t *testing.T, e *env, k apikey.Key) {
				got, _ := e.key(k.ID)
				assert.False(t, got.Active)
			}},
		{"delete", idPath("delete"), fixed(url.Values{"confirm": {"yes"}}), http.StatusSeeOther,
			func(t *testing.T, e *env, k apikey.Key) {
				_, ok := e.key(k.ID)
				assert.False(t, ok)
			}},
		{"clone", idPath("clone"), withOnce(url.Values{}), http.StatusOK, grew},
		{"roll", idPath("roll"), withOnce(url.Values{"grace": {"1h"}}), http.StatusOK, grew},
	}
}

// setUp makes the key a route acts on: active, but inactive for activate.
func (rt postRoute) setUp(e *env) apikey.Key {
	e.t.Helper()
	k := e.mint(acctA, "shop", "lists:read")
	if rt.name == "activate" {
		var err error
		k, err = e.m.Deactivate(e.t.Context(), k.ID)
		require.NoError(e.t, err)
	}
	return k
}

// TestCrossOriginRefused checks that every state-changing route refuses a
// request from another site, with 403 and no change, whether the browser
// says so (Sec-Fetch-Site) or only its Origin does; that the page's own
// origin is served; and that Options.TrustedOrigins admits an origin.
func TestCrossOriginRefused(t *testing.T) {
	refused := []struct {
		name   string
		header map[string]string
	}{
		{"Sec-Fetch-Site cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"Sec-Fetch-Site cross-site with a same-host Origin", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://example.com"}},
		{"Sec-Fetch-Site same-site", map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"Origin of another host", map[string]string{"Sec-Fetch-Site": "", "Origin": "https://evil.example"}},
		{"Origin of another port", map[string]string{"Sec-Fetch-Site": "", "Origin": "http://example.com:8080"}},
		{"untrusted Origin", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://admin.example.com"}},
	}
	routes := append(postRoutes(), postRoute{name: "download", path: func(apikey.Key) string { return "/download" },
		form: func(*env) url.Values { return url.Values{"token": {"sk_abc"}} }})
	for _, rt := range routes {
		t.Run(rt.name, func(t *testing.T) {
			for _, tc := range refused {
				t.Run(tc.name, func(t *testing.T) {
					e := newEnv(t)
					k := rt.setUp(e)
					form := rt.form(e)
					before := e.keys()
					a := e.do(request{method: http.MethodPost, path: rt.path(k), who: owner, form: form, header: tc.header})
					assert.Equal(t, http.StatusForbidden, a.status)
					assert.Contains(t, a.doc().byID("page-error").Text(), "came from another site")
					assert.Nil(t, a.cookie("keypage_sent"))
					assert.NotContains(t, a.body, "sk_abc")
					e.unchanged(before)
				})
			}
			if rt.check == nil {
				return
			}
			for _, tc := range []struct {
				name    string
				header  map[string]string
				trusted []string
			}{
				{"Sec-Fetch-Site same-origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, nil},
				{"Origin of the page's host", map[string]string{"Sec-Fetch-Site": "", "Origin": "http://example.com"}, nil},
				{"trusted origin", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://admin.example.com"},
					[]string{"https://admin.example.com"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					e := newEnv(t, func(o *keypage.Options) { o.TrustedOrigins = tc.trusted })
					k := rt.setUp(e)
					a := e.do(request{method: http.MethodPost, path: rt.path(k), who: owner, form: rt.form(e), header: tc.header})
					requireStatus(t, rt.status, a)
					rt.check(t, e, k)
				})
			}
		})
	}
}
