package keypage_test

import (
	"log/slog"
	"testing"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/keyscope/apikey/keyapi"
	"github.com/keyscope/apikey/keypage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNewOptions checks that New refuses options it cannot serve the page
// with, naming what is wrong, and takes those it can.
func TestNewOptions(t *testing.T) {
	catalog, err := apikey.NewCatalog(catalogResources...)
	require.NoError(t, err)
	withCatalog := apikeytest.NewManager(t, apikey.Options{Catalog: catalog})
	noCatalog := apikeytest.NewManager(t, apikey.Options{})
	authz := keyapi.AuthorizeRoles(signedIn)
	for _, tc := range []struct {
		name string
		m    *apikey.Manager
		opts keypage.Options
		err  string // a part of the error; "" for none
	}{
		{"nil manager", nil, keypage.Options{Authorize: authz}, "manager is nil"},
		{"no Authorize", withCatalog, keypage.Options{}, "Options.Authorize is required"},
		{"no catalog", noCatalog, keypage.Options{Authorize: authz}, "no catalog"},
		{"catalog in the options", noCatalog, keypage.Options{Authorize: authz, Catalog: catalog}, ""},
		{"catalog of the manager", withCatalog, keypage.Options{Authorize: authz}, ""},
		{"negative page size", withCatalog, keypage.Options{Authorize: authz, PageSize: -1}, "PageSize -1"},
		{"page size too large", withCatalog, keypage.Options{Authorize: authz, PageSize: keyapi.MaxPageSize + 1}, "PageSize 1001"},
		{"largest page size", withCatalog, keypage.Options{Authorize: authz, PageSize: keyapi.MaxPageSize}, ""},
		{"page size 1", withCatalog, keypage.Options{Authorize: authz, PageSize: 1}, ""},
		{"label of an unknown resource", withCatalog, keypage.Options{Authorize: authz,
			ResourceLabels: map[string]string{"lists": "Lists", "billing": "Billing"}}, `"billing"`},
		{"label of every resource", withCatalog, keypage.Options{Authorize: authz, ResourceLabels: map[string]string{"*": "All"}}, `"*"`},
		{"labels", withCatalog, keypage.Options{Authorize: authz, ResourceLabels: map[string]string{"data-privacy": "Data privacy"}}, ""},
		{"trusted origin with a path", withCatalog, keypage.Options{Authorize: authz,
			TrustedOrigins: []string{"https://ok.example", "https://admin.example.com/keys"}}, "TrustedOrigins"},
		{"trusted origin not a URL", withCatalog, keypage.Options{Authorize: authz, TrustedOrigins: []string{"admin.example.com"}}, "TrustedOrigins"},
		{"trusted origins", withCatalog, keypage.Options{Authorize: authz, TrustedOrigins: []string{"https://admin.example.com", "http://localhost:8080"}}, ""},
		{"sign-in URL of another scheme", withCatalog, keypage.Options{Authorize: authz, SignInURL: "javascript:alert(1)"}, "SignInURL"},
		{"sign-in URL malformed", withCatalog, keypage.Options{Authorize: authz, SignInURL: "http://[::1"}, "SignInURL"},
		{"sign-in path", withCatalog, keypage.Options{Authorize: authz, SignInURL: "/login?next=/settings"}, ""},
		{"sign-in URL", withCatalog, keypage.Options{Authorize: authz, SignInURL: "https://accounts.example.com/login"}, ""},
		{"logger", withCatalog, keypage.Options{Authorize: authz, Logger: slog.New(slog.DiscardHandler)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := keypage.New(tc.m, tc.opts)
			if tc.err == "" {
				require.NoError(t, err)
				require.NotNil(t, h)
				return
			}
			require.Error(t, err)
			assert.Nil(t, h)
			assert.Contains(t, err.Error(), tc.err)
			assert.Regexp(t, `^keypage: [a-zO]`, err.Error(), "the error names its package and starts in lower case")
		})
	}
}

// TestDefaultPageSize checks that without Options.PageSize the list shows
// DefaultPageSize keys at a time.
func TestDefaultPageSize(t *testing.T) {
	e := newEnv(t)
	for range keypage.DefaultPageSize + 1 {
		e.mint(acctA, "k", "")
	}
	d := e.get(owner, "/").doc()
	assert.Len(t, listed(d), keypage.DefaultPageSize)
	require.NotNil(t, d.byID("older"))
	assert.Len(t, listed(e.get(owner, relative(t, d.byID("older").get("href"))).doc()), 1)
}
