package keypage_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOtherAccountsKeys checks that the page shows and manages only the
// keys of the person's own account: another account's keys are never
// listed, and every route answers another account's key ID exactly as an
// ID no key has (404, the same page), changing nothing.
func TestOtherAccountsKeys(t *testing.T) {
	e := newEnv(t)
	mine := e.mint(acctA, "mine", "lists:read")
	theirs := e.mint(acctB, "theirs", "lists:write")
	theirsOff := e.mint(acctB, "theirs, inactive", "")
	_, err := e.m.Deactivate(t.Context(), theirsOff.ID)
	require.NoError(t, err)
	unknown := uuid.Must(uuid.NewV7())

	t.Run("list", func(t *testing.T) {
		for _, who := range []string{owner, member} {
			d := e.get(who, "/").doc()
			assert.Equal(t, []string{mine.ID.String()}, listed(d), who)
			assert.NotContains(t, d.source, theirs.ID.String())
			assert.NotContains(t, d.source, "theirs")
			// Paging from another account's key shows only one's own.
			d = e.get(who, "/?before="+theirsOff.ID.String()).doc()
			assert.Equal(t, []string{mine.ID.String()}, listed(d), who)
			assert.NotContains(t, d.source, "theirs")
		}
		d := e.get(other, "/").doc()
		assert.Equal(t, []string{theirsOff.ID.String(), theirs.ID.String()}, listed(d))
		assert.NotContains(t, d.source, "mine")
	})

	routes := []struct {
		method string
		action string
		form   func() url.Values
	}{
		{http.MethodGet, "rename", nil},
		{http.MethodGet, "roll", nil},
		{http.MethodPost, "rename", func() url.Values { return url.Values{"label": {"stolen"}} }},
		{http.MethodPost, "activate", func() url.Values { return url.Values{} }},
		{http.MethodPost, "deactivate", func() url.Values { return url.Values{} }},
		{http.MethodPost, "deactivate", func() url.Values { return url.Values{"confirm": {"yes"}} }},
		{http.MethodPost, "delete", func() url.Values { return url.Values{} }},
		{http.MethodPost, "delete", func() url.Values { return url.Values{"confirm": {"yes"}} }},
		{http.MethodPost, "clone", func() url.Values { return url.Values{"once": {e.once()}} }},
		{http.MethodPost, "roll", func() url.Values { return url.Values{"once": {e.once()}, "grace": {"0s"}} }},
	}
	for _, rt := range routes {
		var form url.Values
		if rt.form != nil {
			form = rt.form()
		}
		t.Run(rt.method+" "+rt.action+" "+form.Encode(), func(t *testing.T) {
			before := e.keys()
			send := func(id uuid.UUID) answer {
				var f url.Values
				if form != nil {
					f = url.Values{}
					for k, v := range form {
						f[k] = v
					}
					if f.Has("once") {
						f.Set("once", e.once())
					}
				}
				return e.do(request{method: rt.method, path: "/" + id.String() + "/" + rt.action, who: owner, form: f})
			}
			want := send(unknown)
			assert.Equal(t, http.StatusNotFound, want.status)
			assert.Equal(t, "There is no such key: it may have been deleted.", want.doc().byID("page-error").Text())
			for _, id := range []uuid.UUID{theirs.ID, theirsOff.ID} {
				got := send(id)
				assert.Equal(t, want.status, got.status)
				assert.Equal(t, want.body, got.body, "another account's key is answered as a key that does not exist")
				assert.Nil(t, got.cookie("keypage_sent"))
			}
			e.unchanged(before)
		})
	}

	t.Run("not an ID", func(t *testing.T) {
		for _, id := range []string{"nope", "1", theirs.ID.String() + "x", "%00"} {
			a := e.get(owner, "/"+id+"/rename")
			assert.Equal(t, http.StatusNotFound, a.status, id)
		}
	})
}
