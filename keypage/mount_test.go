package keypage_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// links returns every address the page's HTML points to: links, form
// actions, the style sheet and the script.
func links(d *doc) []string {
	var out []string
	d.walk(func(n *node) {
		for _, name := range []string{"href", "action", "src"} {
			if v, ok := n.attr(name); ok {
				out = append(out, v)
			}
		}
	})
	return out
}

// TestMount checks that the page works under any path: mounted with
// http.StripPrefix, every link and form of its pages points under the
// prefix, and its redirects too; mounted at the root, at the root.
func TestMount(t *testing.T) {
	for _, tc := range []struct {
		name   string
		prefix string // "" for the root
	}{
		{"under a prefix", base},
		{"under a deeper prefix", "/org/settings/keys"},
		{"at the root", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			h := http.Handler(e.page)
			if tc.prefix != "" {
				h = http.StripPrefix(tc.prefix, e.page)
			}
			k := e.mint(acctA, "shop", "lists:read")
			send := func(method, path string, form url.Values, cookies ...*http.Cookie) answer {
				var req *http.Request
				if form != nil {
					req = httptest.NewRequest(method, tc.prefix+path, strings.NewReader(form.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("Sec-Fetch-Site", "same-origin")
				} else {
					req = httptest.NewRequest(method, tc.prefix+path, nil)
				}
				req.AddCookie(&http.Cookie{Name: sessionCookie, Value: owner})
				for _, c := range cookies {
					req.AddCookie(c)
				}
				return serve(h, req)
			}
			under := func(t *testing.T, link string) {
				t.Helper()
				assert.True(t, strings.HasPrefix(link, tc.prefix+"/") && !strings.HasPrefix(link, "//"),
					"%q is not under %q", link, tc.prefix+"/")
			}

			list := send(http.MethodGet, "/", nil)
			requireStatus(t, http.StatusOK, list)
			created := send(http.MethodPost, "/new", url.Values{"once": {e.once()}, "label": {"made"}})
			requireStatus(t, http.StatusOK, created)
			c := created.cookie("keypage_sent")
			require.NotNil(t, c)
			assert.Equal(t, tc.prefix+"/", c.Path, "the cookie of sent forms is the page's")
			pages := map[string]answer{
				"list":   list,
				"new":    send(http.MethodGet, "/new", nil),
				"rename": send(http.MethodGet, "/"+k.ID.String()+"/rename", nil),
				"roll":   send(http.MethodGet, "/"+k.ID.String()+"/roll", nil),
				"delete": send(http.MethodPost, "/"+k.ID.String()+"/delete", url.Values{}),
				"token":  created,
				"clone":  send(http.MethodPost, "/"+k.ID.String()+"/clone", url.Values{"once": {e.once()}}),
				"error":  send(http.MethodGet, "/nope", nil),
			}
			for name, a := range pages {
				require.Less(t, a.status, 500, "%s: %s", name, a.body)
				d := a.doc()
				all := links(d)
				assert.NotEmpty(t, all, name)
				for _, link := range all {
					under(t, link)
				}
			}
			// Every action of the list is under the prefix.
			d := list.doc()
			r := row(d, k.ID)
			require.NotNil(t, r)
			assert.Equal(t, tc.prefix+"/new", d.byID("create-key").get("href"))
			assert.Equal(t, tc.prefix+"/"+k.ID.String()+"/deactivate", r.one("td.status form").get("action"))
			assert.Equal(t, tc.prefix+"/"+k.ID.String()+"/clone", r.one(".menu-clone").closest("form").get("action"))
			assert.Equal(t, tc.prefix+"/"+k.ID.String()+"/roll", r.one(".menu-roll").get("href"))
			assert.Equal(t, tc.prefix+"/"+k.ID.String()+"/rename", r.one(".menu-rename").get("href"))
			assert.Equal(t, tc.prefix+"/"+k.ID.String()+"/delete", r.one(".menu-delete").closest("form").get("action"))

			renamed := send(http.MethodPost, "/"+k.ID.String()+"/rename", url.Values{"label": {"shop 2"}})
			requireStatus(t, http.StatusSeeOther, renamed)
			assert.Equal(t, tc.prefix+"/?done=renamed", renamed.header.Get("Location"))
			// Following the redirect shows the list.
			u, err := url.Parse(renamed.header.Get("Location"))
			require.NoError(t, err)
			after := send(http.MethodGet, strings.TrimPrefix(u.Path, tc.prefix)+"?"+u.RawQuery, nil)
			requireStatus(t, http.StatusOK, after)
			assert.Equal(t, "The key was renamed.", after.doc().one("p.flash").Text())
		})
	}

	t.Run("no trailing slash", func(t *testing.T) {
		e := newEnv(t)
		for _, who := range []string{owner, nobody} {
			a := e.get(who, "")
			assert.Equal(t, http.StatusSeeOther, a.status)
			assert.Equal(t, base+"/", a.header.Get("Location"))
		}
	})
}
