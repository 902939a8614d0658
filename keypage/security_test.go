package keypage_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/keyscope/apikey/keypage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sampleAnswers sends the page one request of each kind it answers (every
// page, error, refusal, redirect, asset and download) and returns the
// answers by name. It fails the test if an answer's status is not the one
// the kind has.
func sampleAnswers(t *testing.T) map[string]answer {
	t.Helper()
	e := newEnv(t, func(o *keypage.Options) { o.SignInURL = "/login" })
	k := e.mint(acctA, "shop", "lists:read")
	inactive := e.mint(acctA, "old", "")
	e.post(owner, "/"+inactive.ID.String()+"/deactivate", url.Values{"confirm": {"yes"}})
	id := "/" + k.ID.String()

	created := e.post(owner, "/new", url.Values{"once": {e.once()}, "label": {"made"}, "access": {"full"}})
	madeForm := url.Values{"once": {e.once()}, "label": {"again"}}
	first := e.post(owner, "/new", madeForm)
	sent := e.do(request{method: http.MethodPost, path: "/new", who: owner, form: madeForm,
		cookie: []*http.Cookie{first.cookie("keypage_sent")}})
	token := created.doc().byID("token").get("value")

	type sample struct {
		name   string
		req    request
		status int
	}
	samples := []sample{
		{"list", request{method: http.MethodGet, path: "/", who: owner}, http.StatusOK},
		{"list of a member", request{method: http.MethodGet, path: "/", who: member}, http.StatusOK},
		{"list, flash", request{method: http.MethodGet, path: "/?done=renamed", who: owner}, http.StatusOK},
		{"HEAD list", request{method: http.MethodHead, path: "/", who: owner}, http.StatusOK},
		{"create form", request{method: http.MethodGet, path: "/new?scopes=lists:read,lsts:write,full", who: owner}, http.StatusOK},
		{"create form with errors", request{method: http.MethodPost, path: "/new", who: owner,
			form: url.Values{"once": {e.once()}, "label": {" "}, "access": {"custom"}, "expires": {"yesterday"}}}, http.StatusBadRequest},
		{"rename form", request{method: http.MethodGet, path: id + "/rename", who: owner}, http.StatusOK},
		{"rename form with error", request{method: http.MethodPost, path: id + "/rename", who: owner, form: url.Values{"label": {""}}}, http.StatusBadRequest},
		{"roll form", request{method: http.MethodGet, path: id + "/roll", who: owner}, http.StatusOK},
		{"roll form with error", request{method: http.MethodPost, path: id + "/roll", who: owner,
			form: url.Values{"once": {e.once()}, "grace": {"2h"}}}, http.StatusBadRequest},
		{"confirm delete", request{method: http.MethodPost, path: id + "/delete", who: owner, form: url.Values{}}, http.StatusOK},
		{"confirm deactivate", request{method: http.MethodPost, path: id + "/deactivate", who: owner, form: url.Values{}}, http.StatusOK},
		{"clone's token page", request{method: http.MethodPost, path: id + "/clone", who: owner, form: url.Values{"once": {e.once()}}}, http.StatusOK},
		{"roll's token page", request{method: http.MethodPost, path: id + "/roll", who: owner,
			form: url.Values{"once": {e.once()}, "grace": {"1h"}}}, http.StatusOK},
		{"redirect after a change", request{method: http.MethodPost, path: id + "/rename", who: owner, form: url.Values{"label": {"shop 2"}}}, http.StatusSeeOther},
		{"redirect to the slash", request{method: http.MethodGet, path: "", who: owner}, http.StatusSeeOther},
		{"sign-in page", request{method: http.MethodGet, path: "/", who: nobody}, http.StatusUnauthorized},
		{"member refused", request{method: http.MethodGet, path: "/new", who: member}, http.StatusForbidden},
		{"cross-site refused", request{method: http.MethodPost, path: "/new", who: owner, form: url.Values{},
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, http.StatusForbidden},
		{"bad form", request{method: http.MethodPost, path: "/new", who: owner, form: url.Values{"once": {"x"}}}, http.StatusBadRequest},
		{"bad page address", request{method: http.MethodGet, path: "/?before=nope", who: owner}, http.StatusBadRequest},
		{"no such page", request{method: http.MethodGet, path: "/nope", who: owner}, http.StatusNotFound},
		{"no such key", request{method: http.MethodGet, path: "/" + uuid.Must(uuid.NewV7()).String() + "/rename", who: owner}, http.StatusNotFound},
		{"method not allowed", request{method: http.MethodGet, path: id + "/delete", who: owner}, http.StatusMethodNotAllowed},
		{"PUT not allowed", request{method: http.MethodPut, path: "/new", who: owner}, http.StatusMethodNotAllowed},
		{"style sheet", request{method: http.MethodGet, path: "/page.css"}, http.StatusOK},
		{"script", request{method: http.MethodGet, path: "/page.js"}, http.StatusOK},
		{"download", request{method: http.MethodPost, path: "/download", who: owner, form: url.Values{"token": {token}, "label": {"made"}}}, http.StatusOK},
		{"download refused", request{method: http.MethodPost, path: "/download", who: owner, form: url.Values{"token": {"nope"}}}, http.StatusBadRequest},
	}
	out := map[string]answer{"token page": created, "already sent": sent}
	require.Equal(t, http.StatusOK, created.status, created.body)
	require.Equal(t, http.StatusConflict, sent.status, sent.body)
	for _, s := range samples {
		a := e.do(s.req)
		require.Equal(t, s.status, a.status, "%s: %s", s.name, a.body)
		out[s.name] = a
	}
	return out
}

// TestSecurityHeaders checks that every answer of the page, whatever it is,
// carries the page's security headers: a Content-Security-Policy that
// allows no inline script or style and no framing, no referrer, no
// sniffing.
func TestSecurityHeaders(t *testing.T) {
	for name, a := range sampleAnswers(t) {
		t.Run(name, func(t *testing.T) {
			csp := a.header.Get("Content-Security-Policy")
			directives := map[string]string{}
			for d := range strings.SplitSeq(csp, ";") {
				f := strings.Fields(d)
				if len(f) > 0 {
					directives[f[0]] = strings.Join(f[1:], " ")
				}
			}
			assert.NotContains(t, csp, "unsafe-inline")
			assert.NotContains(t, csp, "unsafe-eval")
			assert.NotContains(t, csp, "*")
			assert.Equal(t, "'none'", directives["frame-ancestors"], "CSP %q", csp)
			assert.Equal(t, "'none'", directives["default-src"], "CSP %q", csp)
			assert.Equal(t, "'self'", directives["script-src"], "CSP %q", csp)
			assert.Equal(t, "'self'", directives["style-src"], "CSP %q", csp)
			assert.Equal(t, "'self'", directives["form-action"], "CSP %q", csp)
			assert.Equal(t, "no-referrer", a.header.Get("Referrer-Policy"))
			assert.Equal(t, "nosniff", a.header.Get("X-Content-Type-Options"))
		})
	}
}

// TestPagesHoldToTheCSP parses every HTML answer and checks that it needs
// nothing the Content-Security-Policy refuses: no inline script (every
// <script> has a src of the page's own and an empty body), no <style>
// element, no style attribute, no event handler attribute and no
// javascript: URL; and that it is well-formed, so that a browser reads it
// as the tests do.
func TestPagesHoldToTheCSP(t *testing.T) {
	pages := 0
	for name, a := range sampleAnswers(t) {
		if !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") || a.body == "" || a.status/100 == 3 {
			// A redirect's body is net/http's one link.
			continue
		}
		pages++
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, "text/html; charset=utf-8", a.header.Get("Content-Type"))
			d := a.doc()
			assertWellFormed(t, d)
			scripts := d.all("script")
			assert.NotEmpty(t, scripts, "the page loads its script")
			for _, s := range scripts {
				src := s.get("src")
				assert.True(t, strings.HasPrefix(src, base+"/"), "script src %q is not the page's own", src)
				assert.Empty(t, s.raw, "inline script")
			}
			assert.Empty(t, d.all("style"), "<style> element")
			d.walk(func(n *node) {
				for _, at := range n.attrs {
					assert.False(t, strings.HasPrefix(at.name, "on"), "<%s %s=%q>: event handler attribute", n.tag, at.name, at.value)
					assert.NotEqual(t, "style", at.name, "<%s style=%q>", n.tag, at.value)
					if at.name == "href" || at.name == "src" || at.name == "action" || at.name == "formaction" {
						assert.False(t, strings.HasPrefix(strings.ToLower(strings.TrimSpace(at.value)), "javascript:"),
							"<%s %s=%q>", n.tag, at.name, at.value)
					}
				}
			})
			for _, l := range d.all("link") {
				assert.True(t, strings.HasPrefix(l.get("href"), base+"/"), "style sheet %q is not the page's own", l.get("href"))
			}
		})
	}
	assert.Greater(t, pages, 20)
}

// TestStaticAssets checks that the style sheet and script the pages link to
// are served, with their types, and that their addresses change with their
// content.
func TestStaticAssets(t *testing.T) {
	e := newEnv(t)
	d := e.get(owner, "/").doc()
	for _, link := range []string{d.one("link[rel=stylesheet]").get("href"), d.one("script").get("src")} {
		t.Run(link, func(t *testing.T) {
			u, err := url.Parse(link)
			require.NoError(t, err)
			assert.NotEmpty(t, u.Query().Get("v"), "the asset's address carries its version")
			a := e.get(nobody, relative(t, link))
			requireStatus(t, http.StatusOK, a)
			assert.NotEmpty(t, a.body)
			want := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}[u.Path[strings.LastIndexByte(u.Path, '.'):]]
			assert.Equal(t, want, a.header.Get("Content-Type"))
			assert.Equal(t, "nosniff", a.header.Get("X-Content-Type-Options"))
		})
	}
	t.Run("unknown asset", func(t *testing.T) {
		a := e.get(nobody, "/page.exe")
		assert.Equal(t, http.StatusNotFound, a.status)
	})
}
