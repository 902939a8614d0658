package keypage_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/keyscope/apikey/keypage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// controls are the list's controls for managing keys.
var controls = []string{"#create-key", "button.toggle", ".menu-clone", ".menu-roll", ".menu-rename", ".menu-like", ".menu-delete"}

// TestManagersManage checks that an account's owners and admins see every
// control of the list and can use each: create, rename, deactivate,
// activate, clone, roll and delete.
func TestManagersManage(t *testing.T) {
	for _, who := range []string{owner, admin} {
		t.Run(who, func(t *testing.T) {
			e := newEnv(t)
			k := e.mint(acctA, "shop", "lists:read")
			id := "/" + k.ID.String()

			list := e.get(who, "/")
			requireStatus(t, http.StatusOK, list)
			d := list.doc()
			for _, sel := range controls {
				assert.NotNil(t, d.one(sel), "no %s", sel)
			}
			assert.Nil(t, d.byID("view-only"))
			assert.Contains(t, d.one("header .who").Text(), people[who].Name)
			assert.NotContains(t, d.one("header .who").Text(), "view only")

			requireStatus(t, http.StatusOK, e.get(who, "/new"))
			requireStatus(t, http.StatusOK, e.post(who, "/new", url.Values{"once": {e.once()}, "label": {"made"}}))
			assert.Len(t, e.keys(), 2)
			requireStatus(t, http.StatusSeeOther, e.post(who, id+"/rename", url.Values{"label": {"renamed"}}))
			requireStatus(t, http.StatusSeeOther, e.post(who, id+"/deactivate", url.Values{"confirm": {"yes"}}))
			got, _ := e.key(k.ID)
			assert.Equal(t, "renamed", got.Label)
			assert.False(t, got.Active)
			requireStatus(t, http.StatusSeeOther, e.post(who, id+"/activate", url.Values{}))
			got, _ = e.key(k.ID)
			assert.True(t, got.Active)
			requireStatus(t, http.StatusOK, e.post(who, id+"/clone", url.Values{"once": {e.once()}}))
			requireStatus(t, http.StatusOK, e.get(who, id+"/roll"))
			requireStatus(t, http.StatusOK, e.post(who, id+"/roll", url.Values{"once": {e.once()}, "grace": {"1h"}}))
			assert.Len(t, e.keys(), 4)
			requireStatus(t, http.StatusSeeOther, e.post(who, id+"/delete", url.Values{"confirm": {"yes"}}))
			_, ok := e.key(k.ID)
			assert.False(t, ok)
		})
	}
}

// TestMembersOnlyLook checks that a person who neither owns nor
// administers the account (a member, or a role the application made up)
// sees the list read-only, without a control, and is refused every change
// with 403 and nothing changed.
func TestMembersOnlyLook(t *testing.T) {
	for _, who := range []string{member, viewer} {
		t.Run(who, func(t *testing.T) {
			e := newEnv(t)
			k := e.mint(acctA, "shop", "lists:read")
			off := e.mint(acctA, "old", "")
			_, err := e.m.Deactivate(t.Context(), off.ID)
			require.NoError(t, err)

			list := e.get(who, "/")
			requireStatus(t, http.StatusOK, list)
			d := list.doc()
			assert.NotNil(t, d.byID("view-only"))
			assert.Contains(t, d.one("header .who").Text(), "view only")
			assert.Equal(t, []string{off.ID.String(), k.ID.String()}, listed(d), "a member sees the keys")
			for _, sel := range controls {
				assert.Nil(t, d.one(sel), "a member sees %s", sel)
			}
			assert.Equal(t, 0, len(d.all("form")), "a member sees a form")
			assert.Equal(t, "Active", row(d, k.ID).one("td.status").Text())
			assert.Equal(t, "Inactive", row(d, off.ID).one("td.status").Text())

			for _, path := range []string{"/new", "/new?scopes=lists:read", "/" + k.ID.String() + "/rename", "/" + k.ID.String() + "/roll"} {
				a := e.get(who, path)
				assert.Equal(t, http.StatusForbidden, a.status, "GET %s", path)
				assert.Contains(t, a.doc().byID("page-error").Text(), "only the owners and admins", "GET %s", path)
				assert.Equal(t, 0, len(a.doc().all("form")), "GET %s shows a form", path)
			}

			before := e.keys()
			for _, rt := range postRoutes() {
				target := k
				if rt.name == "activate" {
					target = off
				}
				forms := map[string]url.Values{
					"valid form": rt.form(e),
					"empty form": {},
				}
				if rt.name == "create" {
					forms["blank name"] = url.Values{"once": {e.once()}, "label": {""}}
					forms["bad access"] = url.Values{"once": {e.once()}, "label": {"x"}, "access": {"custom"}}
				}
				if rt.name == "roll" {
					forms["bad grace"] = url.Values{"once": {e.once()}, "grace": {"forever"}}
				}
				for name, form := range forms {
					if rt.name == "deactivate" || rt.name == "delete" {
						form.Set("confirm", "yes")
					}
					a := e.post(who, rt.path(target), form)
					assert.Equal(t, http.StatusForbidden, a.status, "%s, %s", rt.name, name)
					assert.Contains(t, a.doc().byID("page-error").Text(), "only the owners and admins", "%s, %s", rt.name, name)
					assert.Equal(t, 0, len(a.doc().all("form")), "%s, %s: shows a form", rt.name, name)
					assert.Nil(t, a.cookie("keypage_sent"))
				}
				for _, confirm := range []string{"", "no"} {
					if rt.name == "deactivate" || rt.name == "delete" {
						a := e.post(who, rt.path(target), url.Values{"confirm": {confirm}})
						assert.Equal(t, http.StatusForbidden, a.status, "%s's confirmation page", rt.name)
					}
				}
			}
			e.unchanged(before, "a member changed the keys")
		})
	}
}

// TestSignedOut checks that a person the application does not know gets
// the sign-in page (401) on every route, with a link to Options.SignInURL
// when it is set, and changes nothing.
func TestSignedOut(t *testing.T) {
	for _, tc := range []struct {
		name      string
		signInURL string
		cookie    string
	}{
		{"no session, no sign-in URL", "", ""},
		{"no session", "/login?next=%2Fsettings%2Fapi-keys%2F", ""},
		{"unknown session", "https://accounts.example.com/login", "forged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *keypage.Options) { o.SignInURL = tc.signInURL })
			k := e.mint(acctA, "shop", "lists:read")
			id := "/" + k.ID.String()
			before := e.keys()
			who := nobody
			if tc.cookie != "" {
				who = tc.cookie
			}
			for _, rq := range []request{
				{method: http.MethodGet, path: "/"},
				{method: http.MethodGet, path: "/?before=" + k.ID.String()},
				{method: http.MethodGet, path: "/new"},
				{method: http.MethodGet, path: id + "/rename"},
				{method: http.MethodGet, path: id + "/roll"},
				{method: http.MethodPost, path: "/new", form: url.Values{"once": {e.once()}, "label": {"x"}}},
				{method: http.MethodPost, path: id + "/rename", form: url.Values{"label": {"x"}}},
				{method: http.MethodPost, path: id + "/activate", form: url.Values{}},
				{method: http.MethodPost, path: id + "/deactivate", form: url.Values{"confirm": {"yes"}}},
				{method: http.MethodPost, path: id + "/delete", form: url.Values{"confirm": {"yes"}}},
				{method: http.MethodPost, path: id + "/clone", form: url.Values{"once": {e.once()}}},
				{method: http.MethodPost, path: id + "/roll", form: url.Values{"once": {e.once()}, "grace": {"0s"}}},
				{method: http.MethodPost, path: "/download", form: url.Values{"token": {"sk_abcdef"}}},
			} {
				rq.who = who
				a := e.do(rq)
				assert.Equal(t, http.StatusUnauthorized, a.status, "%s %s", rq.method, rq.path)
				d := a.doc()
				assert.Equal(t, "Sign in to manage API keys", d.one("h1").Text())
				assert.Empty(t, listed(d))
				assert.NotContains(t, a.body, "shop")
				assert.NotContains(t, a.body, "sk_abcdef")
				signIn := d.one("main a.button")
				if tc.signInURL == "" {
					assert.Nil(t, signIn, "a sign-in link without a SignInURL")
				} else if assert.NotNil(t, signIn, "no sign-in link") {
					assert.Equal(t, tc.signInURL, signIn.get("href"))
				}
			}
			e.unchanged(before)
		})
	}
}

// TestSessionEnd checks that no key a person makes on the page outlives
// their session, when the application says when it ends: a new key
// expires then at the latest, and a key that outlives it cannot be cloned
// or rolled, which the page says in words.
func TestSessionEnd(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		expires string
		want    time.Time
	}{
		{"", sessionEnd},
		{start.AddDate(0, 0, 1).Format("2006-01-02"), start.Truncate(24*time.Hour).AddDate(0, 0, 1)},
		{"2099-01-01", sessionEnd},
	} {
		a := e.post(temp, "/new", url.Values{"once": {e.once()}, "label": {"temp " + tc.expires}, "expires": {tc.expires}})
		requireStatus(t, http.StatusOK, a)
		k, err := e.m.Verify(t.Context(), a.doc().byID("token").get("value"))
		require.NoError(t, err)
		assert.True(t, tc.want.Equal(k.ExpiresAt), "expires %q: the key expires at %v, want %v", tc.expires, k.ExpiresAt, tc.want)
	}

	forever := e.mint(acctA, "forever", "")
	before := e.keys()
	for _, action := range []string{"clone", "roll"} {
		a := e.post(temp, "/"+forever.ID.String()+"/"+action, url.Values{"once": {e.once()}, "grace": {"1h"}})
		assert.Equal(t, http.StatusForbidden, a.status, action)
		assert.Contains(t, a.doc().byID("page-error").Text(), "Your own access does not allow this", action)
		assert.Nil(t, a.cookie("keypage_sent"))
	}
	e.unchanged(before)
}
