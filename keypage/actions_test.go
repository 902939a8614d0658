package keypage_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyscope/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClone checks that cloning a key makes a key of the same name and
// scopes, shows its token with the reminder to delete the original, and
// leaves the original as it was.
func TestClone(t *testing.T) {
	e := newEnv(t)
	src := e.mint(acctA, "shop", "campaigns:read,lists:write")
	before, _ := e.key(src.ID)
	before.Digest = apikey.Digest{}

	// The list's menu carries the clone form.
	f := row(e.get(owner, "/").doc(), src.ID).one(".menu-clone").closest("form")
	require.NotNil(t, f)
	a := e.post(owner, relative(t, f.get("action")), formValues(f, nil))
	requireStatus(t, http.StatusOK, a)
	d := a.doc()

	ks := e.keys()
	require.Len(t, ks, 2)
	clone := ks[0]
	assert.Equal(t, "shop", clone.Label)
	assert.True(t, src.Scopes.Equal(clone.Scopes), "scopes %s", clone.Scopes)
	assert.Equal(t, src.ID, clone.ClonedFrom)
	assert.Equal(t, acctA, clone.Owner)
	assert.Equal(t, before, ks[1], "the original changed")
	k, err := e.m.Verify(t.Context(), d.byID("token").get("value"))
	require.NoError(t, err)
	assert.Equal(t, clone.ID, k.ID)

	reminder := d.byID("clone-reminder")
	require.NotNil(t, reminder)
	assert.Contains(t, reminder.Text(), "clone of “shop” ("+src.Hint+")")
	assert.Contains(t, reminder.Text(), "delete the original")
	del := d.byID("delete-original")
	require.NotNil(t, del)
	assert.Equal(t, base+"/"+src.ID.String()+"/delete", del.closest("form").get("action"))
	assert.Contains(t, d.one("label[for=token]").Text(), "Custom: campaigns read, lists write")
	assert.Nil(t, d.byID("roll-note"))

	// Deleting the original asks first.
	confirm := e.post(owner, relative(t, del.closest("form").get("action")), formValues(del.closest("form"), del))
	requireStatus(t, http.StatusOK, confirm)
	assert.NotNil(t, confirm.doc().byID("confirm"))
	_, ok := e.key(src.ID)
	assert.True(t, ok)
}

// TestRoll checks that rolling a key with each grace period the form
// offers makes a key of the same name and scopes and sets the original's
// expiry to now plus the grace period, which the token page shows; and
// that a grace period the form does not offer is refused, changing
// nothing.
func TestRoll(t *testing.T) {
	e := newEnv(t)
	probe := e.mint(acctA, "probe", "")
	form := e.get(owner, "/"+probe.ID.String()+"/roll").doc()
	var offered []string
	for _, in := range form.all("input[name=grace]") {
		offered = append(offered, in.get("value"))
	}
	assert.Equal(t, []string{"0s", "1h", "24h", "168h", "720h"}, offered)
	assert.Equal(t, "24h", checked(form, "grace"), "the default grace period")

	for _, grace := range offered {
		t.Run("grace "+grace, func(t *testing.T) {
			e := newEnv(t)
			src := e.mint(acctA, "shop", "lists:read")
			f := e.get(owner, "/"+src.ID.String()+"/roll").doc().one("main form")
			require.NotNil(t, f)
			v := formValues(f, nil)
			v.Set("grace", grace)
			a := e.post(owner, relative(t, f.get("action")), v)
			requireStatus(t, http.StatusOK, a)
			d := a.doc()

			g, err := time.ParseDuration(grace)
			require.NoError(t, err)
			orig, ok := e.key(src.ID)
			require.True(t, ok)
			assert.True(t, start.Add(g).Equal(orig.ExpiresAt), "the original expires at %v", orig.ExpiresAt)
			ks := e.keys()
			require.Len(t, ks, 2)
			assert.Equal(t, "shop", ks[0].Label)
			assert.Equal(t, "lists:read", ks[0].Scopes.String())
			assert.Equal(t, src.ID, ks[0].ClonedFrom)
			assert.True(t, ks[0].ExpiresAt.IsZero())

			note := d.byID("roll-note")
			require.NotNil(t, note)
			assert.Contains(t, note.Text(), "replaces “shop”")
			if g == 0 {
				assert.Contains(t, note.Text(), "The original has stopped working.")
			} else {
				assert.Equal(t, orig.ExpiresAt.Format(time.RFC3339), note.one("time").get("datetime"))
				assert.Contains(t, note.Text(), "keeps working until "+orig.ExpiresAt.Format("2 Jan 2006 15:04 UTC"))
			}
			assert.Nil(t, d.byID("clone-reminder"))

			// The list shows the original's expiry.
			r := row(e.get(owner, "/").doc(), src.ID)
			if g == 0 {
				assert.Equal(t, "Expired", r.one("td.status").Text())
			} else {
				assert.Equal(t, orig.ExpiresAt.Format(time.RFC3339), r.one("td.expires time").get("datetime"))
			}
		})
	}

	for _, grace := range []string{"", "2h", "-1h", "1h0m0s", "forever", "0"} {
		t.Run("bad grace "+grace, func(t *testing.T) {
			e := newEnv(t)
			src := e.mint(acctA, "shop", "lists:read")
			before := e.keys()
			once := e.once()
			a := e.post(owner, "/"+src.ID.String()+"/roll", url.Values{"once": {once}, "grace": {grace}})
			assert.Equal(t, http.StatusBadRequest, a.status)
			d := a.doc()
			assert.Contains(t, d.one("fieldset .field-error").Text(), "Choose how long the original key keeps working")
			assert.Nil(t, d.byID("token"))
			assert.Nil(t, a.cookie("keypage_sent"))
			assert.Equal(t, once, d.one("input[name=once]").get("value"), "the form keeps its one-time ID")
			e.unchanged(before)
		})
	}

	t.Run("expired key", func(t *testing.T) {
		e := newEnv(t)
		k, _, err := e.m.Create(t.Context(), apikey.CreateParams{Owner: acctA, Label: "old", ExpiresAt: start.Add(time.Hour)})
		require.NoError(t, err)
		e.clock.mu.Lock()
		e.clock.now = start.Add(2 * time.Hour)
		e.clock.mu.Unlock()
		before := e.keys()
		for _, action := range []string{"clone", "roll"} {
			a := e.post(owner, "/"+k.ID.String()+"/"+action, url.Values{"once": {e.once()}, "grace": {"1h"}})
			assert.Equal(t, http.StatusConflict, a.status, action)
			assert.Contains(t, a.doc().byID("page-error").Text(), "has expired", action)
			assert.Nil(t, a.cookie("keypage_sent"))
		}
		e.unchanged(before)
		assert.Equal(t, "Expired", row(e.get(owner, "/").doc(), k.ID).one("td.status").Text())
	})
}

// TestRename checks the rename form: the key's name to edit, the note
// that scopes are fixed with a link to create a key with them, an error
// next to the field for a blank name, and the list's flash after a rename.
func TestRename(t *testing.T) {
	e := newEnv(t)
	k := e.mint(acctA, "shop", "campaigns:read,lists:write")
	path := "/" + k.ID.String() + "/rename"
	a := e.get(owner, path)
	requireStatus(t, http.StatusOK, a)
	d := a.doc()
	assert.Equal(t, "shop", d.byID("label").get("value"))
	f := d.byID("label").closest("form")
	assert.Equal(t, base+path, f.get("action"))
	assert.Equal(t, "post", f.get("method"))
	fixed := d.byID("scopes-fixed")
	require.NotNil(t, fixed)
	assert.Contains(t, fixed.Text(), "fixed when it is made and cannot be edited")
	assert.Contains(t, fixed.Text(), "campaigns: read")
	like, err := url.Parse(d.byID("create-like").get("href"))
	require.NoError(t, err)
	assert.Equal(t, base+"/new", like.Path)
	assert.Equal(t, "campaigns:read,lists:write", like.Query().Get("scopes"))
	assert.Empty(t, d.all("input[name=scopes]"), "the rename form edits scopes")

	for _, label := range []string{"", "   ", strings.Repeat("x", apikey.MaxLabelLen+1)} {
		bad := e.post(owner, path, url.Values{"label": {label}})
		assert.Equal(t, http.StatusBadRequest, bad.status)
		bd := bad.doc()
		assert.NotEmpty(t, fieldError(t, bd, "label"))
		assert.Equal(t, "true", bd.byID("label").get("aria-invalid"))
		assert.Equal(t, label, bd.byID("label").get("value"))
		assert.NotNil(t, bd.byID("scopes-fixed"))
	}
	got, _ := e.key(k.ID)
	assert.Equal(t, "shop", got.Label)

	done := e.post(owner, path, url.Values{"label": {"shop, EU"}})
	requireStatus(t, http.StatusSeeOther, done)
	assert.Equal(t, base+"/?done=renamed", done.header.Get("Location"))
	got, _ = e.key(k.ID)
	assert.Equal(t, "shop, EU", got.Label)
	list := e.get(owner, relative(t, done.header.Get("Location"))).doc()
	assert.Equal(t, "The key was renamed.", list.one("p.flash").Text())
	assert.Equal(t, "shop, EU", row(list, k.ID).one("th.label").Text())
	assert.True(t, got.Scopes.Equal(k.Scopes))
}

// TestConfirmedChanges checks that deactivating and deleting a key ask for
// confirmation, changing nothing until confirm=yes is sent, and then act
// and redirect to the list, which says what was done; and that activating
// needs no confirmation.
func TestConfirmedChanges(t *testing.T) {
	for _, tc := range []struct {
		action string
		flash  string
		done   func(t *testing.T, e *env, k apikey.Key)
	}{
		{"deactivate", "The key was deactivated", func(t *testing.T, e *env, k apikey.Key) {
			got, ok := e.key(k.ID)
			require.True(t, ok)
			assert.False(t, got.Active)
		}},
		{"delete", "The key was deleted", func(t *testing.T, e *env, k apikey.Key) {
			_, ok := e.key(k.ID)
			assert.False(t, ok)
		}},
	} {
		t.Run(tc.action, func(t *testing.T) {
			e := newEnv(t)
			k := e.mint(acctA, "shop", "lists:read")
			before := e.keys()
			path := "/" + k.ID.String() + "/" + tc.action
			for _, confirm := range []url.Values{{}, {"confirm": {"no"}}, {"confirm": {"YES"}}, {"confirm": {"yes "}}} {
				a := e.post(owner, path, confirm)
				requireStatus(t, http.StatusOK, a)
				d := a.doc()
				btn := d.byID("confirm")
				require.NotNil(t, btn)
				f := btn.closest("form")
				assert.Equal(t, base+path, f.get("action"))
				assert.Equal(t, "yes", formValues(f, btn).Get("confirm"))
				assert.Equal(t, base+"/", d.byID("cancel").get("href"))
				assert.Contains(t, d.one("p.warning").Text(), k.Hint)
				e.unchanged(before, "changed without confirmation")
			}
			// The list's control leads to the confirmation.
			list := e.get(owner, "/").doc()
			var ctl *node
			if tc.action == "delete" {
				ctl = row(list, k.ID).one(".menu-delete")
			} else {
				ctl = row(list, k.ID).one("button.toggle")
			}
			require.NotNil(t, ctl)
			assert.Equal(t, base+path, ctl.closest("form").get("action"))
			assert.Empty(t, formValues(ctl.closest("form"), ctl).Get("confirm"))

			d := e.post(owner, path, url.Values{}).doc()
			f := d.byID("confirm").closest("form")
			a := e.post(owner, relative(t, f.get("action")), formValues(f, d.byID("confirm")))
			requireStatus(t, http.StatusSeeOther, a)
			assert.Equal(t, base+"/?done="+tc.action+"d", a.header.Get("Location"))
			tc.done(t, e, k)
			flash := e.get(owner, relative(t, a.header.Get("Location"))).doc().one("p.flash")
			assert.Contains(t, flash.Text(), tc.flash)
		})
	}

	t.Run("activate", func(t *testing.T) {
		e := newEnv(t)
		k := e.mint(acctA, "shop", "lists:read")
		_, err := e.m.Deactivate(t.Context(), k.ID)
		require.NoError(t, err)
		list := e.get(owner, "/").doc()
		toggle := row(list, k.ID).one("button.toggle")
		require.NotNil(t, toggle)
		assert.Equal(t, "Inactive", toggle.Text())
		assert.True(t, row(list, k.ID).hasClass("inactive"))
		f := toggle.closest("form")
		a := e.post(owner, relative(t, f.get("action")), formValues(f, toggle))
		requireStatus(t, http.StatusSeeOther, a)
		assert.Equal(t, base+"/?done=activated", a.header.Get("Location"))
		got, _ := e.key(k.ID)
		assert.True(t, got.Active)
		list = e.get(owner, "/?done=activated").doc()
		assert.Equal(t, "Active", row(list, k.ID).one("button.toggle").Text())
		assert.Contains(t, list.one("p.flash").Text(), "activated")
	})

	t.Run("unknown flash", func(t *testing.T) {
		e := newEnv(t)
		d := e.get(owner, "/?done=%3Cscript%3E").doc()
		assert.Nil(t, d.one("p.flash"))
	})
}
