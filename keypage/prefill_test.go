package keypage_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/keyscope/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPrefill checks a "create key" link's ?scopes=: the entries it can
// apply choose the access and set the picker, and each one it cannot is
// listed in #scopes-ignored, named, with a suggestion for a near typo;
// none is dropped silently.
func TestPrefill(t *testing.T) {
	for _, tc := range []struct {
		name    string
		query   string
		access  string
		picker  map[string]string // the non-none rows
		ignored []string          // each a substring of one entry of #scopes-ignored, in order
	}{
		{name: "no scopes", query: "", access: "full"},
		{name: "custom", query: "scopes=campaigns:read,lists:write", access: "custom",
			picker: map[string]string{"campaigns": "read", "lists": "write"}},
		{name: "spaces and a trailing comma", query: "scopes=" + url.QueryEscape(" campaigns:read , lists:write,"), access: "custom",
			picker: map[string]string{"campaigns": "read", "lists": "write"}},
		{name: "the highest access wins", query: "scopes=lists:write,lists:read,lists:none", access: "custom",
			picker: map[string]string{"lists": "write"}, ignored: []string{`"lists:none"`}},
		{name: "full as access", query: "scopes=lists:full", access: "custom", picker: map[string]string{"lists": "write"}},
		{name: "labelled resource", query: "scopes=data-privacy:read", access: "custom", picker: map[string]string{"data-privacy": "read"}},
		{name: "preset full", query: "scopes=full", access: "full"},
		{name: "preset read-only", query: "scopes=read-only", access: "read-only"},
		{name: "all resources read", query: "scopes=" + url.QueryEscape("*:read"), access: "read-only"},
		{name: "all resources write", query: "scopes=" + url.QueryEscape("*:write"), access: "full"},
		{name: "full wins over read-only", query: "scopes=read-only,full", access: "full"},
		{name: "empty", query: "scopes=", access: "full", ignored: []string{"empty"}},
		{name: "only commas", query: "scopes=,,", access: "full", ignored: []string{"empty"}},
		{name: "near typo", query: "scopes=list:read", access: "full",
			ignored: []string{`"list:read": unknown resource "list" (did you mean "lists"?)`}},
		{name: "unknown resource", query: "scopes=billing:write", access: "full", ignored: []string{`"billing:write": unknown resource "billing"`}},
		{name: "unknown beside known", query: "scopes=campaigns:read,billing:write,lsts:write", access: "custom",
			picker:  map[string]string{"campaigns": "read"},
			ignored: []string{`"billing:write"`, `"lsts:write"`, `did you mean "lists"?`}},
		{name: "bad access", query: "scopes=lists:admin", access: "full", ignored: []string{`"lists:admin"`, `access "admin" is not none, read, write or full`}},
		{name: "no access", query: "scopes=lists", access: "full", ignored: []string{`"lists"`, `want "resource:access"`}},
		{name: "bad resource", query: "scopes=" + url.QueryEscape("Lists:read"), access: "full", ignored: []string{`"Lists:read"`}},
		{name: "markup", query: "scopes=" + url.QueryEscape("<script>alert(1)</script>:read"), access: "full",
			ignored: []string{`"<script>alert(1)</script>:read"`}},
		{name: "mixed all and one", query: "scopes=" + url.QueryEscape("*:read,lists:write"), access: "custom",
			picker: map[string]string{"lists": "write"}, ignored: []string{`"*:read"`, "cannot be combined"}},
		{name: "wildcard none", query: "scopes=" + url.QueryEscape("*:none"), access: "full", ignored: []string{`"*:none"`}},
		{name: "label", query: "label=" + url.QueryEscape("shop <sync>") + "&scopes=lists:read", access: "custom",
			picker: map[string]string{"lists": "read"}},
		// The catalog has 4 resources: a link is read up to 10 entries.
		{name: "longer than any link a person writes", query: "scopes=" + strings.Repeat("lists:read,", 10) + "campaigns:write,profiles:read",
			access: "custom", picker: map[string]string{"lists": "read"},
			ignored: []string{`the link lists 12 scopes`, `only the first 10 were read, and those from "campaigns:write" on were not`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			a := e.get(owner, "/new?"+tc.query)
			requireStatus(t, http.StatusOK, a)
			d := a.doc()
			assertWellFormed(t, d)
			assert.Equal(t, tc.access, checked(d, "access"))
			assert.Equal(t, pickerWith(tc.picker), picker(t, d))
			q, err := url.ParseQuery(tc.query)
			require.NoError(t, err)
			assert.Equal(t, q.Get("label"), d.byID("label").get("value"))
			got := ignored(d)
			if len(tc.ignored) == 0 {
				assert.Nil(t, d.byID("scopes-ignored"), "ignored: %q", got)
				return
			}
			require.NotNil(t, d.byID("scopes-ignored"))
			assert.Equal(t, "alert", d.byID("scopes-ignored").get("role"))
			all := strings.Join(got, "\n")
			for _, want := range tc.ignored {
				assert.Contains(t, all, want)
			}
			assert.NotContains(t, a.body, "<script>alert")
			assert.Empty(t, e.keys(), "a link made a key")
		})
	}
}

// TestPrefillRoundTrip checks that "create a key with these scopes", from
// the list and the rename page, opens the create form with the key's
// access chosen.
func TestPrefillRoundTrip(t *testing.T) {
	for _, scopes := range []string{"", "*:read", "campaigns:read,data-privacy:write,lists:write,profiles:read"} {
		t.Run(scopes, func(t *testing.T) {
			e := newEnv(t)
			k := e.mint(acctA, "shop & co", scopes)
			rename := e.get(owner, "/"+k.ID.String()+"/rename").doc()
			for _, link := range []string{
				row(e.get(owner, "/").doc(), k.ID).one(".menu-like").get("href"),
				rename.byID("create-like").get("href"),
			} {
				u, err := url.Parse(link)
				require.NoError(t, err)
				assert.Equal(t, base+"/new", u.Path)
				assert.Equal(t, k.Scopes.String(), u.Query().Get("scopes"))
				d := e.get(owner, relative(t, link)).doc()
				assert.Nil(t, d.byID("scopes-ignored"), "%q", ignored(d))
				assert.Equal(t, "shop & co", d.byID("label").get("value"))
				want := map[string]string{}
				switch {
				case k.Scopes.IsFullAccess():
					assert.Equal(t, "full", checked(d, "access"))
				case k.Scopes.IsReadOnly():
					assert.Equal(t, "read-only", checked(d, "access"))
				default:
					assert.Equal(t, "custom", checked(d, "access"))
					for _, g := range k.Scopes.Grants() {
						want[g.Resource] = g.Access.String()
					}
				}
				assert.Equal(t, pickerWith(want), picker(t, d))
				// Sending the form as it opened makes the same scopes.
				f := formValues(d.one("form.create"), nil)
				requireStatus(t, http.StatusOK, e.post(owner, "/new", f))
			}
			for _, made := range e.keys() {
				assert.Equal(t, k.Scopes.String(), made.Scopes.String())
			}
		})
	}
}

// presetAccess is the access choice a preset entry of ?scopes= stands for,
// and its scope.
var presetAccess = map[string][2]string{
	"full": {"full", "*:write"}, "*:write": {"full", "*:write"}, "*:full": {"full", "*:write"},
	"read-only": {"read-only", "*:read"}, "*:read": {"read-only", "*:read"},
}

// notRead matches the form's note on a link too long to read whole.
var notRead = regexp.MustCompile(`only the first (\d+) were read, and those from .* on were not`)

// FuzzPrefill sends GET /new?scopes= with any value and checks that the
// page never fails or panics, and that every non-empty entry of the list
// is either applied (the form's choice grants it) or named in
// #scopes-ignored; and that the picker grants nothing the link did not
// name.
func FuzzPrefill(f *testing.F) {
	for _, s := range []string{
		"", ",", "campaigns:read,lists:write", "full", "read-only", "*:read", "*:read,lists:write", "list:read",
		"lists:admin", "lists", ":", "*:none", "lists:none", "read-only,full", "Lists:READ", "a,b,,c", "data-privacy:full",
		"<script>:read", "lists:read lists:write", "\x00:read", "lists:read,\xff", strings.Repeat("lists:read,", 300),
	} {
		f.Add(s)
	}
	e := newEnv(f)
	catalog := e.m.Catalog()
	f.Fuzz(func(t *testing.T, scopes string) {
		// Not e.do, which calls the F's Helper: only t may be used here.
		a := serve(e.h, newRequest(request{method: http.MethodGet, path: "/new?scopes=" + url.QueryEscape(scopes), who: owner}))
		if a.status != http.StatusOK {
			t.Fatalf("GET /new?scopes=%q: %d\n%s", scopes, a.status, a.body)
		}
		d := a.doc()
		access := checked(d, "access")
		levels := map[string]apikey.Access{}
		for res, l := range picker(t, d) {
			acc, err := apikey.ParseAccess(l)
			if err != nil {
				t.Fatalf("picker row %s: no choice (%q)", res, l)
			}
			levels[res] = acc
		}
		items := ignored(d)
		named := func(s string) bool {
			for _, it := range items {
				if strings.Contains(it, strconv.Quote(s)) || strings.Contains(it, s) {
					return true
				}
			}
			return false
		}
		asked := map[string]apikey.Access{} // what the entries grant by name
		var entries []string
		for e := range strings.SplitSeq(scopes, ",") {
			if e = strings.TrimSpace(e); e != "" {
				entries = append(entries, e)
			}
		}
		if len(entries) == 0 && len(items) == 0 {
			t.Errorf("scopes=%q: nothing to apply, and the form does not say so", scopes)
		}
		// A link longer than any a person writes is read only up to a
		// point, which the form names; the entries after it are covered
		// by that.
		read := len(entries)
		for _, it := range items {
			if m := notRead.FindStringSubmatch(it); m != nil {
				n, err := strconv.Atoi(m[1])
				if err != nil || n >= len(entries) || !strings.Contains(it, strconv.Quote(entries[n])) && len(entries[n]) <= 64 {
					t.Errorf("scopes=%q: %q does not name the first entry not read", scopes, it)
				}
				read = n
			}
		}
		for _, entry := range entries[:read] {
			if p, ok := presetAccess[entry]; ok {
				applied := access == p[0] || access == "full"
				if !applied && !named(entry) && !named(p[1]) {
					t.Errorf("scopes=%q: %q is neither applied (access %s) nor named in %q", scopes, entry, access, items)
				}
				continue
			}
			s, err := catalog.ParseScopes(entry)
			applied := err == nil && s.Access(apikey.AllResources) == apikey.None && access == "custom"
			if applied {
				for _, g := range s.Grants() {
					asked[g.Resource] = max(asked[g.Resource], g.Access)
					applied = applied && levels[g.Resource] >= g.Access
				}
			}
			if !applied && !named(entry) {
				t.Errorf("scopes=%q: %q is neither applied (access %s, picker %v) nor named in %q", scopes, entry, access, levels, items)
			}
		}
		for res, l := range levels {
			if l > asked[res] {
				t.Errorf("scopes=%q: the picker grants %s:%s, which no entry asks for", scopes, res, l)
			}
		}
		if access == "custom" && len(asked) == 0 {
			t.Errorf("scopes=%q: Custom chosen with nothing in the picker", scopes)
		}
	})
}
