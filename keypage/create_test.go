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

// TestCreateForm checks the blank create form: a name, Full access chosen
// (the default), every catalog resource in the picker at none, with the
// resource labels the application gave, and no expiry.
func TestCreateForm(t *testing.T) {
	e := newEnv(t)
	a := e.get(owner, "/new")
	requireStatus(t, http.StatusOK, a)
	d := a.doc()
	assert.Equal(t, "", d.byID("label").get("value"))
	assert.Equal(t, "full", checked(d, "access"))
	assert.Equal(t, pickerWith(nil), picker(t, d))
	assert.Equal(t, "Data privacy", d.one("tr[data-resource=data-privacy] th").Text())
	assert.Equal(t, "lists", d.one("tr[data-resource=lists] th").Text())
	assert.Equal(t, "", d.byID("expires").get("value"))
	assert.Equal(t, "date", d.byID("expires").get("type"))
	assert.Nil(t, d.byID("scopes-ignored"))
	assert.Empty(t, d.all(".field-error"))
	assert.Equal(t, "submit", d.byID("create").get("type"))
	assert.Len(t, d.one("form.create input[name=once]").get("value"), 32)
	assert.NotEqual(t, d.one("form.create input[name=once]").get("value"),
		e.get(owner, "/new").doc().one("form.create input[name=once]").get("value"), "each form has its own one-time ID")
}

// TestCreate checks what the create form makes of what is sent: the
// stored key's scopes and expiry for a valid form, and for an invalid one
// a 400 with the error next to its field, the values sent kept, and no
// key.
func TestCreate(t *testing.T) {
	tomorrow := start.Truncate(24*time.Hour).AddDate(0, 0, 1)
	for _, tc := range []struct {
		name    string
		form    url.Values
		scopes  string    // of the key made; "" if none is
		expires time.Time // of the key made
		errors  map[string]string
	}{
		{name: "full access by default", form: url.Values{"label": {"shop"}}, scopes: "*:write"},
		{name: "full access", form: url.Values{"label": {"shop"}, "access": {"full"}}, scopes: "*:write"},
		{name: "full access ignores the picker", form: url.Values{"label": {"shop"}, "access": {"full"}, "scope:lists": {"read"}}, scopes: "*:write"},
		{name: "read-only", form: url.Values{"label": {"shop"}, "access": {"read-only"}}, scopes: "*:read"},
		{name: "custom", form: url.Values{"label": {"shop"}, "access": {"custom"},
			"scope:campaigns": {"read"}, "scope:lists": {"write"}, "scope:profiles": {"none"}}, scopes: "campaigns:read,lists:write"},
		{name: "custom, labelled resource", form: url.Values{"label": {"shop"}, "access": {"custom"}, "scope:data-privacy": {"write"}},
			scopes: "data-privacy:write"},
		{name: "custom ignores resources outside the catalog", form: url.Values{"label": {"shop"}, "access": {"custom"},
			"scope:lists": {"read"}, "scope:keys": {"write"}, "scope:*": {"write"}}, scopes: "lists:read"},
		{name: "unicode name", form: url.Values{"label": {"Schlüssel 🔑"}}, scopes: "*:write"},
		{name: "expiry", form: url.Values{"label": {"shop"}, "expires": {tomorrow.Format("2006-01-02")}}, scopes: "*:write", expires: tomorrow},
		{name: "far expiry", form: url.Values{"label": {"shop"}, "expires": {"2099-12-31"}}, scopes: "*:write",
			expires: time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC)},

		{name: "no name", form: url.Values{"access": {"read-only"}}, errors: map[string]string{"label": "Give the key a name"}},
		{name: "blank name", form: url.Values{"label": {" \t "}, "access": {"custom"}, "scope:lists": {"write"}, "expires": {"2031-01-01"}},
			errors: map[string]string{"label": "Give the key a name"}},
		{name: "name too long", form: url.Values{"label": {strings.Repeat("x", apikey.MaxLabelLen+1)}},
			errors: map[string]string{"label": "too long"}},
		{name: "name not text", form: url.Values{"label": {"a\xffb"}}, errors: map[string]string{"label": "must be text"}},
		{name: "custom with nothing chosen", form: url.Values{"label": {"shop"}, "access": {"custom"}, "scope:lists": {"none"}},
			errors: map[string]string{"access-custom": "at least one resource"}},
		{name: "custom with nothing sent", form: url.Values{"label": {"shop"}, "access": {"custom"}},
			errors: map[string]string{"access-custom": "at least one resource"}},
		{name: "bad level", form: url.Values{"label": {"shop"}, "access": {"custom"}, "scope:lists": {"admin"}},
			errors: map[string]string{"access-custom": "Choose none, read or write for lists"}},
		{name: "bad access", form: url.Values{"label": {"shop"}, "access": {"everything"}},
			errors: map[string]string{"access-custom": "Choose Full access, Read-only or Custom"}},
		{name: "expiry today", form: url.Values{"label": {"shop"}, "expires": {start.Format("2006-01-02")}},
			errors: map[string]string{"expires": "must be in the future"}},
		{name: "expiry in the past", form: url.Values{"label": {"shop"}, "expires": {"2001-02-03"}},
			errors: map[string]string{"expires": "must be in the future"}},
		{name: "malformed expiry", form: url.Values{"label": {"shop"}, "expires": {"31/12/2031"}},
			errors: map[string]string{"expires": "Enter the expiry as a date"}},
		{name: "expiry with a time", form: url.Values{"label": {"shop"}, "expires": {"2031-12-31T10:00"}},
			errors: map[string]string{"expires": "Enter the expiry as a date"}},
		{name: "every error at once", form: url.Values{"label": {""}, "access": {"custom"}, "expires": {"soon"}},
			errors: map[string]string{"label": "Give the key a name", "access-custom": "at least one resource", "expires": "Enter the expiry as a date"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			once := e.once()
			tc.form.Set("once", once)
			a := e.post(owner, "/new", tc.form)
			d := a.doc()
			assertWellFormed(t, d)
			if tc.errors == nil {
				requireStatus(t, http.StatusOK, a)
				ks := e.keys()
				require.Len(t, ks, 1)
				k := ks[0]
				assert.Equal(t, acctA, k.Owner)
				assert.Equal(t, tc.form.Get("label"), k.Label)
				assert.Equal(t, tc.scopes, k.Scopes.String())
				assert.True(t, tc.expires.Equal(k.ExpiresAt), "expires at %v, want %v", k.ExpiresAt, tc.expires)
				assert.True(t, k.Active)
				assert.Empty(t, d.all(".field-error"))
				return
			}
			requireStatus(t, http.StatusBadRequest, a)
			assert.Empty(t, e.keys(), "a key was made")
			assert.Nil(t, a.cookie("keypage_sent"), "a refused form is spent")
			for _, field := range []string{"label", "access-custom", "expires"} {
				got := fieldError(t, d, field)
				if want, ok := tc.errors[field]; ok {
					assert.Contains(t, got, want, "error next to #%s", field)
				} else {
					assert.Empty(t, got, "error next to #%s", field)
				}
			}
			assert.Len(t, d.all(".field-error"), len(tc.errors))
			if _, ok := tc.errors["label"]; ok {
				assert.Equal(t, "true", d.byID("label").get("aria-invalid"))
			}
			// The form shows what was sent, to correct it, with the same
			// one-time ID.
			if tc.form.Get("label") != "" && !strings.Contains(tc.name, "not text") {
				assert.Equal(t, tc.form.Get("label"), d.byID("label").get("value"))
			}
			assert.Equal(t, once, d.one("form.create input[name=once]").get("value"))
			assert.Equal(t, tc.form.Get("expires"), d.byID("expires").get("value"))
			if acc := tc.form.Get("access"); acc == "custom" || acc == "read-only" {
				assert.Equal(t, acc, checked(d, "access"))
			}
			for _, r := range catalogResources {
				if lvl := tc.form.Get("scope:" + r); lvl == "read" || lvl == "write" {
					assert.Equal(t, lvl, checked(d, "scope:"+r), "picker row %s", r)
				}
			}
		})
	}
}

// TestCreateAfterError checks that a form refused for an error, once
// corrected, makes the key: a refusal does not spend its one-time ID.
func TestCreateAfterError(t *testing.T) {
	e := newEnv(t)
	form := e.newForm(owner)
	form.Set("label", "")
	form.Set("access", "custom")
	form.Set("scope:lists", "write")
	bad := e.post(owner, "/new", form)
	requireStatus(t, http.StatusBadRequest, bad)

	fixed := formValues(bad.doc().one("form.create"), nil)
	assert.Equal(t, form.Get("once"), fixed.Get("once"))
	fixed.Set("label", "shop")
	a := e.post(owner, "/new", fixed)
	requireStatus(t, http.StatusOK, a)
	ks := e.keys()
	require.Len(t, ks, 1)
	assert.Equal(t, "lists:write", ks[0].Scopes.String())
}

// TestFormTooLarge checks that a form larger than the page takes is
// refused with 413 and a page that says so, changing nothing.
func TestFormTooLarge(t *testing.T) {
	e := newEnv(t)
	k := e.mint(acctA, "shop", "")
	before := e.keys()
	huge := strings.Repeat("x", 300<<10)
	for _, path := range []string{"/new", "/" + k.ID.String() + "/rename"} {
		a := e.post(owner, path, url.Values{"once": {e.once()}, "label": {huge}})
		assert.Equal(t, http.StatusRequestEntityTooLarge, a.status, path)
		assert.Contains(t, a.doc().byID("page-error").Text(), "too large", path)
		assert.NotContains(t, a.body, huge[:1000])
	}
	e.unchanged(before)
}
