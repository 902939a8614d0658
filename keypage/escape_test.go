package keypage_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLabelsRenderAsText checks that a key's label, whatever it holds,
// shows as the text it is on every page that shows it (the list, the
// rename, roll and confirmation pages, the token page of a create and of a
// clone) and never as markup.
func TestLabelsRenderAsText(t *testing.T) {
	for _, tc := range []struct {
		name  string
		label string
		raw   []string // must not appear in any page as written
	}{
		{"script", `<script>alert(1)</script>`, []string{`<script>alert(1)`, `alert(1)</script>`}},
		{"quotes and markup", `"quotes' & <b>`, []string{`<b>`, `"quotes'`}},
		{"attribute breakout", `x" onmouseover="alert(1)`, []string{`" onmouseover="`}},
		{"unicode", "Schlüssel 🔑 日本", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			k := e.mint(acctA, tc.label, "lists:read")
			id := "/" + k.ID.String()
			created := e.post(owner, "/new", url.Values{"once": {e.once()}, "label": {tc.label}, "access": {"read-only"}})
			pages := map[string]answer{
				"list":       e.get(owner, "/"),
				"rename":     e.get(owner, id+"/rename"),
				"roll":       e.get(owner, id+"/roll"),
				"confirm":    e.post(owner, id+"/delete", url.Values{}),
				"deactivate": e.post(owner, id+"/deactivate", url.Values{}),
				"create":     created,
				"clone":      e.post(owner, id+"/clone", url.Values{"once": {e.once()}}),
				"rename err": e.post(owner, id+"/rename", url.Values{"label": {strings.Repeat("x", 20<<10)}}),
				"new err":    e.post(owner, "/new", url.Values{"once": {e.once()}, "label": {tc.label}, "access": {"bad"}}),
				"prefill":    e.get(owner, "/new?label="+url.QueryEscape(tc.label)),
			}
			for name, a := range pages {
				require.Less(t, a.status, 500, "%s: %s", name, a.body)
				d := a.doc()
				assertWellFormed(t, d)
				for _, raw := range tc.raw {
					assert.NotContains(t, a.body, raw, "%s shows the label unescaped", name)
				}
				assert.Len(t, d.all("script"), 1, "%s: a label made a script element", name)
				assert.Empty(t, d.all("b"), "%s: a label made a <b> element", name)
				d.walk(func(n *node) {
					for _, at := range n.attrs {
						assert.False(t, strings.HasPrefix(at.name, "on"), "%s: a label made an attribute %s", name, at.name)
					}
				})
			}

			// The label reads as written, as text and in attributes.
			list := pages["list"].doc()
			r := row(list, k.ID)
			require.NotNil(t, r)
			assert.Equal(t, tc.label, r.one("th.label").Text())
			assert.Equal(t, "Active: deactivate "+tc.label, r.one("button.toggle").get("aria-label"))
			assert.Equal(t, "Actions for "+tc.label, r.one("summary").get("aria-label"))
			like, err := url.Parse(r.one(".menu-like").get("href"))
			require.NoError(t, err)
			assert.Equal(t, tc.label, like.Query().Get("label"))

			assert.Equal(t, tc.label, pages["rename"].doc().byID("label").get("value"))
			assert.Contains(t, pages["rename"].doc().one("label[for=label]").Text(), "“"+tc.label+"”")
			assert.Contains(t, pages["roll"].doc().one("main p").Text(), "“"+tc.label+"”")
			assert.Contains(t, pages["confirm"].doc().one("p.warning").Text(), "Delete “"+tc.label+"”")
			assert.Contains(t, pages["deactivate"].doc().one("p.warning").Text(), "Deactivate “"+tc.label+"”")
			for _, name := range []string{"create", "clone"} {
				d := pages[name].doc()
				require.Equal(t, http.StatusOK, pages[name].status, pages[name].body)
				assert.Contains(t, d.one("label[for=token]").Text(), "“"+tc.label+"”", name)
				assert.Equal(t, tc.label, d.one("form input[name=label]").get("value"), name)
			}
			assert.Contains(t, pages["clone"].doc().byID("clone-reminder").Text(), "“"+tc.label+"”")
			assert.Equal(t, tc.label, pages["new err"].doc().byID("label").get("value"))
			assert.Equal(t, tc.label, pages["prefill"].doc().byID("label").get("value"))
			if !strings.ContainsAny(tc.label, `<>"'&`) {
				assert.Contains(t, pages["list"].body, tc.label, "text that needs no escaping is written as is")
			}
		})
	}
}
