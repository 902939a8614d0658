package keypage_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/keyscope/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maker is a form that makes a key and answers with its token.
type maker struct {
	name string
	path func(src apikey.Key) string
	form url.Values // besides once
}

// makers are the forms that make keys: create, clone and roll.
var makers = []maker{
	{"create", func(apikey.Key) string { return "/new" }, url.Values{"label": {"made"}, "access": {"read-only"}}},
	{"clone", func(k apikey.Key) string { return "/" + k.ID.String() + "/clone" }, url.Values{}},
	{"roll", func(k apikey.Key) string { return "/" + k.ID.String() + "/roll" }, url.Values{"grace": {"168h"}}},
}

// withOnce returns a copy of v with once set.
func withOnce(v url.Values, once string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = vs
	}
	if once != "" {
		out.Set("once", once)
	}
	return out
}

// TestTokenShownOnce checks the page a new key's token is shown on: the
// token that verifies as the new key, shown once, never stored by a cache
// nor put in a URL; and that sending its form again (reloading the page,
// going back to it) makes no key and shows no token.
func TestTokenShownOnce(t *testing.T) {
	for _, mk := range makers {
		t.Run(mk.name, func(t *testing.T) {
			e := newEnv(t)
			src := e.mint(acctA, "shop", "lists:read")
			once := e.once()
			a := e.post(owner, mk.path(src), withOnce(mk.form, once))
			requireStatus(t, http.StatusOK, a)
			assert.Equal(t, "no-store", a.header.Get("Cache-Control"))
			assert.Empty(t, a.header.Get("Location"))
			d := a.doc()
			assertWellFormed(t, d)
			tokField := d.byID("token")
			require.NotNil(t, tokField)
			assert.True(t, tokField.has("readonly"))
			token := tokField.get("value")
			require.True(t, strings.HasPrefix(token, "sk_"), "token %q", token)
			k, err := e.m.Verify(t.Context(), token)
			require.NoError(t, err, "the token shown is the new key's")
			assert.NotEqual(t, src.ID, k.ID)
			assert.Equal(t, acctA, k.Owner)
			assert.Len(t, e.keys(), 2)
			assert.Contains(t, d.one("p.warning").Text(), "will not be shown again")
			assert.NotNil(t, d.byID("copy"))
			assert.NotNil(t, d.byID("download"))
			assert.Equal(t, base+"/", d.byID("done").get("href"))
			for _, link := range links(d) {
				assert.NotContains(t, link, token, "the token is in a URL")
				assert.NotContains(t, link, token[3:])
			}
			// It is in the page twice: the field, and the download form's
			// hidden field, which is POSTed.
			assert.Equal(t, 2, strings.Count(a.body, token))
			assert.Equal(t, "post", d.byID("download").closest("form").get("method"))

			sent := a.cookie("keypage_sent")
			require.NotNil(t, sent)
			assert.True(t, sent.HttpOnly)
			assert.Equal(t, http.SameSiteStrictMode, sent.SameSite)
			assert.Equal(t, base+"/", sent.Path)
			assert.Contains(t, sent.Value, once)
			assert.NotContains(t, sent.Value, token[3:])

			// The browser sends the form again, with the cookie.
			again := e.do(request{method: http.MethodPost, path: mk.path(src), who: owner, form: withOnce(mk.form, once),
				cookie: []*http.Cookie{sent}})
			assert.Equal(t, http.StatusConflict, again.status)
			assert.Equal(t, "no-store", again.header.Get("Cache-Control"))
			ad := again.doc()
			assert.Nil(t, ad.byID("token"))
			assert.NotContains(t, again.body, token)
			assert.NotContains(t, again.body, "sk_")
			assert.Contains(t, ad.one("p.warning").Text(), "already sent")
			assert.Len(t, e.keys(), 2, "the form sent again made a key")

			// The list never shows the token either.
			assert.NotContains(t, e.get(owner, "/").body, token)
		})
	}
}

// TestOnceCookieRemembersForms checks that the cookie of sent forms
// remembers each form a browser sent, not only the last.
func TestOnceCookieRemembersForms(t *testing.T) {
	e := newEnv(t)
	first, second := e.once(), e.once()
	a := e.post(owner, "/new", url.Values{"once": {first}, "label": {"one"}})
	requireStatus(t, http.StatusOK, a)
	b := e.do(request{method: http.MethodPost, path: "/new", who: owner, form: url.Values{"once": {second}, "label": {"two"}},
		cookie: []*http.Cookie{a.cookie("keypage_sent")}})
	requireStatus(t, http.StatusOK, b)
	for _, once := range []string{first, second} {
		again := e.do(request{method: http.MethodPost, path: "/new", who: owner, form: url.Values{"once": {once}, "label": {"x"}},
			cookie: []*http.Cookie{b.cookie("keypage_sent")}})
		assert.Equal(t, http.StatusConflict, again.status)
	}
	assert.Len(t, e.keys(), 2)
	// A garbled cookie is no cookie.
	c := e.do(request{method: http.MethodPost, path: "/new", who: owner, form: url.Values{"once": {e.once()}, "label": {"three"}},
		cookie: []*http.Cookie{{Name: "keypage_sent", Value: "garbage.<x>." + strings.Repeat("z", 32)}}})
	requireStatus(t, http.StatusOK, c)
	assert.Len(t, e.keys(), 3)
}

// TestOnceRequired checks that a form that makes a key without a valid
// one-time ID is refused with 400 and makes no key.
func TestOnceRequired(t *testing.T) {
	for _, mk := range makers {
		for _, tc := range []struct {
			name string
			once string
		}{
			{"missing", ""},
			{"short", "abc123"},
			{"not hex", strings.Repeat("zz", 16)},
			{"too long", strings.Repeat("ab", 17)},
			{"markup", `"><script>alert(1)</script>`},
		} {
			t.Run(mk.name+"/"+tc.name, func(t *testing.T) {
				e := newEnv(t)
				src := e.mint(acctA, "shop", "lists:read")
				before := e.keys()
				a := e.post(owner, mk.path(src), withOnce(mk.form, tc.once))
				assert.Equal(t, http.StatusBadRequest, a.status)
				assert.Contains(t, a.doc().byID("page-error").Text(), "out of date")
				assert.Nil(t, a.doc().byID("token"))
				assert.NotContains(t, a.body, "<script>alert")
				assert.Nil(t, a.cookie("keypage_sent"))
				e.unchanged(before)
			})
		}
	}
}

// TestDownload checks the token page's download: the token as a text file
// attachment, never cached; a value that is not a token is refused, and a
// person who is not signed in gets nothing.
func TestDownload(t *testing.T) {
	e := newEnv(t)
	a := e.post(owner, "/new", url.Values{"once": {e.once()}, "label": {"Shop sync: EU/ÜK"}})
	requireStatus(t, http.StatusOK, a)
	d := a.doc()
	token := d.byID("token").get("value")
	form := formValues(d.byID("download").closest("form"), d.byID("download"))
	assert.Equal(t, token, form.Get("token"))
	action := d.byID("download").closest("form").get("action")
	assert.Equal(t, base+"/download", action)

	t.Run("token", func(t *testing.T) {
		got := e.post(owner, relative(t, action), form)
		requireStatus(t, http.StatusOK, got)
		assert.Equal(t, token+"\n", got.body)
		assert.Equal(t, "text/plain; charset=utf-8", got.header.Get("Content-Type"))
		assert.Equal(t, `attachment; filename="api-key-shop-sync-eu-k.txt"`, got.header.Get("Content-Disposition"))
		assert.Equal(t, "no-store", got.header.Get("Cache-Control"))
		assert.Equal(t, "nosniff", got.header.Get("X-Content-Type-Options"))
		assert.Nil(t, got.cookie("keypage_sent"))
	})
	t.Run("file names", func(t *testing.T) {
		for label, want := range map[string]string{
			"":                           "api-key.txt",
			"日本":                         "api-key.txt",
			`"; filename="evil.exe`:      "api-key-filename-evil-exe.txt",
			"shop":                       "api-key-shop.txt",
			strings.Repeat("abcdef", 20): "api-key-" + strings.Repeat("abcdef", 20)[:40] + ".txt",
		} {
			got := e.post(owner, "/download", url.Values{"token": {token}, "label": {label}})
			requireStatus(t, http.StatusOK, got)
			assert.Equal(t, `attachment; filename="`+want+`"`, got.header.Get("Content-Disposition"), "label %q", label)
		}
	})
	t.Run("not a token", func(t *testing.T) {
		for _, v := range []string{"", "sk_", "hello", "pk_abcdef", "sk_abc def", "sk_<script>", token + "\n", "sk_" + strings.Repeat("a", 300)} {
			got := e.post(owner, "/download", url.Values{"token": {v}})
			assert.Equal(t, http.StatusBadRequest, got.status, "%q", v)
			assert.NotEqual(t, "text/plain; charset=utf-8", got.header.Get("Content-Type"), "%q", v)
			assert.Empty(t, got.header.Get("Content-Disposition"), "%q", v)
			assert.NotContains(t, got.body, "<script>")
		}
	})
	t.Run("signed out", func(t *testing.T) {
		got := e.post(nobody, "/download", form)
		assert.Equal(t, http.StatusUnauthorized, got.status)
		assert.NotContains(t, got.body, token)
		assert.Empty(t, got.header.Get("Content-Disposition"))
	})
}

// TestFormSentTwiceAtOnce checks that a form sent several times at once,
// as a double click without script does before any answer sets the
// cookie, makes one key: one answer shows a token, the others say the form
// was already sent.
func TestFormSentTwiceAtOnce(t *testing.T) {
	for _, mk := range makers {
		t.Run(mk.name, func(t *testing.T) {
			e := newEnv(t)
			src := e.mint(acctA, "shop", "lists:read")
			form := withOnce(mk.form, e.once())
			const sends = 5
			statuses := make(chan int, sends)
			var wg sync.WaitGroup
			for range sends {
				wg.Go(func() {
					statuses <- serve(e.h, newRequest(request{method: http.MethodPost, path: mk.path(src), who: owner, form: form})).status
				})
			}
			wg.Wait()
			close(statuses)
			count := map[int]int{}
			for s := range statuses {
				count[s]++
			}
			assert.Equal(t, map[int]int{http.StatusOK: 1, http.StatusConflict: sends - 1}, count)
			assert.Len(t, e.keys(), 2, "one key made, beside the source")
		})
	}
}
