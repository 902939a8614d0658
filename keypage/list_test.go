package keypage_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestListRow checks what a row of the list shows of a key.
func TestListRow(t *testing.T) {
	e := newEnv(t)
	exp := start.Add(72 * time.Hour)
	k, _, err := e.m.Create(t.Context(), apikey.CreateParams{Owner: acctA, Label: "shop",
		Scopes: must(apikey.ParseScopes("data-privacy:write,lists:read")), ExpiresAt: exp})
	require.NoError(t, err)
	full := e.mint(acctA, "all", "")
	ro := e.mint(acctA, "reader", "*:read")

	d := e.get(owner, "/").doc()
	r := row(d, k.ID)
	require.NotNil(t, r)
	assert.Equal(t, "shop", r.one("th.label").Text())
	assert.Equal(t, k.Hint, r.one("td.hint").Text())
	assert.Equal(t, "Custom", r.one("td.access .access-kind").Text())
	var grants []string
	for _, li := range r.all("td.access li") {
		grants = append(grants, li.Text())
	}
	assert.Equal(t, []string{"Data privacy: write", "lists: read"}, grants)
	assert.Equal(t, start.Format(time.RFC3339), r.one("td.created time").get("datetime"))
	assert.Equal(t, "never", r.one("td.last-used").Text())
	assert.Equal(t, exp.Format(time.RFC3339), r.one("td.expires time").get("datetime"))
	assert.Equal(t, "Active", r.one("button.toggle").Text())
	assert.Equal(t, "Full access", row(d, full.ID).one("td.access").Text())
	assert.Nil(t, row(d, full.ID).one("td.access li"))
	assert.Equal(t, "never", row(d, full.ID).one("td.expires").Text())
	assert.Equal(t, "Read-only", row(d, ro.ID).one("td.access").Text())
	assert.Equal(t, []string{ro.ID.String(), full.ID.String(), k.ID.String()}, listed(d), "newest first")
	assert.Nil(t, d.byID("empty"))
	assert.Nil(t, d.byID("older"))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestPaging checks that the list shows PageSize keys at a time, newest
// first, with a link to the older ones until there are none; and that a
// broken ?before= is answered 400 with a page that says so.
func TestPaging(t *testing.T) {
	e := newEnv(t, withPageSize(2))
	var ids []string
	for _, label := range []string{"k1", "k2", "k3", "k4", "k5"} {
		ids = append([]string{e.mint(acctA, label, "").ID.String()}, ids...)
	}
	e.mint(acctB, "theirs", "")

	var pages [][]string
	path := "/"
	for range 5 {
		a := e.get(member, path)
		requireStatus(t, http.StatusOK, a)
		d := a.doc()
		pages = append(pages, listed(d))
		older := d.byID("older")
		if older == nil {
			break
		}
		path = relative(t, older.get("href"))
		assert.Regexp(t, `^/\?before=[0-9a-f-]{36}$`, path)
	}
	assert.Equal(t, [][]string{ids[0:2], ids[2:4], ids[4:5]}, pages)

	t.Run("past the last key", func(t *testing.T) {
		d := e.get(owner, "/?before="+ids[4]).doc()
		assert.Empty(t, listed(d))
		assert.Contains(t, d.one("main").Text(), "There are no older keys.")
		assert.Nil(t, d.byID("empty"), "the empty state is for an account without keys")
	})
	t.Run("from an unknown ID", func(t *testing.T) {
		d := e.get(owner, "/?before="+uuid.Max.String()).doc()
		assert.Equal(t, ids[0:2], listed(d))
	})
	for _, before := range []string{"nope", "1", "%3Cscript%3E", ids[0] + "0"} {
		t.Run("bad before "+before, func(t *testing.T) {
			a := e.get(owner, "/?before="+before)
			assert.Equal(t, http.StatusBadRequest, a.status)
			d := a.doc()
			assert.Contains(t, d.byID("page-error").Text(), "This page address is broken")
			assert.Empty(t, listed(d))
			assert.NotContains(t, a.body, "<script>")
		})
	}
}

// TestEmptyState checks that an account without keys gets a page that
// says what a key is for and, to those who may, how to create one.
func TestEmptyState(t *testing.T) {
	e := newEnv(t)
	e.mint(acctB, "theirs", "")
	for _, tc := range []struct {
		who    string
		create bool
	}{{owner, true}, {admin, true}, {member, false}} {
		t.Run(tc.who, func(t *testing.T) {
			a := e.get(tc.who, "/")
			requireStatus(t, http.StatusOK, a)
			d := a.doc()
			empty := d.byID("empty")
			require.NotNil(t, empty)
			assert.Contains(t, empty.Text(), "No API keys yet")
			assert.Contains(t, empty.Text(), "A key is a secret that a program sends")
			assert.Nil(t, d.one("table.keys"))
			assert.Nil(t, d.byID("older"))
			link := empty.one("a")
			if tc.create {
				require.NotNil(t, link)
				assert.Equal(t, base+"/new", link.get("href"))
				assert.Contains(t, empty.Text(), "To make one")
			} else {
				assert.Nil(t, link)
				assert.NotContains(t, empty.Text(), "To make one")
			}
		})
	}
}
