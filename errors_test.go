package apikey_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// errOf returns the error of a call that also returns a value.
func errOf[T any](_ T, err error) error { return err }

func TestScopeErrorDetail(t *testing.T) {
	tests := []struct {
		name   string
		err    apikey.ScopeError
		detail string
	}{
		{"Token", apikey.ScopeError{Token: "lists:admin", Reason: `access "admin" is not none, read, write or full`},
			`invalid scope "lists:admin": access "admin" is not none, read, write or full`},
		{"WholeList", apikey.ScopeError{Reason: "scope list is empty"},
			`invalid scope: scope list is empty`},
		{"Suggestion", apikey.ScopeError{Token: "list:read", Reason: `unknown resource "list"`, Suggestion: "lists"},
			`invalid scope "list:read": unknown resource "list" (did you mean "lists"?)`},
		{"WholeListSuggestion", apikey.ScopeError{Reason: `policy route "/p": unknown resource "list"`, Suggestion: "lists"},
			`invalid scope: policy route "/p": unknown resource "list" (did you mean "lists"?)`},
		{"TokenQuoted", apikey.ScopeError{Token: "a\"b\n", Reason: `want "resource:access"`},
			`invalid scope "a\"b\n": want "resource:access"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.detail, tc.err.Detail())
			assert.Equal(t, "apikey: "+tc.detail, tc.err.Error())
			assert.Equal(t, apikey.ErrInvalidScope, tc.err.Unwrap())
			assert.ErrorIs(t, &tc.err, apikey.ErrInvalidScope)
		})
	}
}

// TestScopeErrorsAreScopeErrors checks that every scope error the package
// returns, from parsing to route setup, is a *ScopeError that errors.As
// finds, naming the offending token.
func TestScopeErrorsAreScopeErrors(t *testing.T) {
	g := mustGuard(t, apikeytest.NewManager(t, apikey.Options{Catalog: testCatalog}), apikey.GuardOptions{})
	var unmarshaled apikey.Scopes
	tests := []struct {
		name   string
		err    error
		token  string
		detail string
	}{
		{"ParseScope", errOf(apikey.ParseScope("lists")),
			"lists", `invalid scope "lists": want "resource:access"`},
		{"ParseScopes", errOf(apikey.ParseScopes("lists:read,lists:admin")),
			"lists:admin", `invalid scope "lists:admin": access "admin" is not none, read, write or full`},
		{"ParseScopesEmpty", errOf(apikey.ParseScopes(" ")),
			"", `invalid scope: scope list is empty`},
		{"ParseScopesOrPreset", errOf(apikey.ParseScopesOrPreset("readonly")),
			"readonly", `invalid scope "readonly": want "resource:access"`},
		{"UnmarshalText", unmarshaled.UnmarshalText([]byte("Lists:read")),
			"Lists:read", `invalid scope "Lists:read": resource name "Lists" may hold only lowercase letters, digits, '-', '_' and '.', starting with a letter or digit`},
		{"ParseAccess", errOf(apikey.ParseAccess("admin")),
			"", `invalid scope: access "admin" is not none, read, write or full`},
		{"NewScopes", errOf(apikey.NewScopes(apikey.Scope{Resource: "", Access: apikey.Read})),
			":read", `invalid scope ":read": resource name is empty`},
		{"NewScopesConflict", errOf(apikey.NewScopes(apikey.Scope{Resource: "*", Access: apikey.Read}, apikey.Scope{Resource: "lists", Access: apikey.None})),
			"lists:none", `invalid scope "lists:none": conflicts with "*:read": a wildcard grant cannot exclude a resource`},
		{"NewScopesNothing", errOf(apikey.NewScopes(apikey.Scope{Resource: "lists", Access: apikey.None})),
			"", `invalid scope: scope list "lists:none" grants no access`},
		{"CatalogParseScopes", errOf(testCatalog.ParseScopes("profiles:read,list:write")),
			"list:write", `invalid scope "list:write": unknown resource "list" (did you mean "lists"?)`},
		{"CatalogValidate", testCatalog.Validate(mustScopes(t, "lists:read,orders:read")),
			"orders:read", `invalid scope "orders:read": unknown resource "orders"`},
		{"RequireSyntax", errOf(g.Require("lists:read", "lists")),
			"lists", `invalid scope "lists": want "resource:access"`},
		{"RequireNone", errOf(g.Require("lists:none")),
			"lists:none", `invalid scope "lists:none": a requirement of no access is always met`},
		{"RequireUnknownResource", errOf(g.Require("profile:read")),
			"profile:read", `invalid scope "profile:read": unknown resource "profile" (did you mean "profiles"?)`},
		{"NewRouterUnknownResource", errOf(apikey.NewRouter(g, testCatalog, []apikey.Route{{Pattern: "GET /api/p", Resource: "profile", Handler: okHandler}})),
			"", `invalid scope: route "GET /api/p": unknown resource "profile" (did you mean "profiles"?)`},
		{"NewRouterUnknownInclude", errOf(apikey.NewRouter(g, testCatalog, []apikey.Route{{Pattern: "GET /api/p", Resource: "profiles", Includes: []string{"list"}, Handler: okHandler}})),
			"", `invalid scope: route "GET /api/p": include: unknown resource "list" (did you mean "lists"?)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var se *apikey.ScopeError
			require.ErrorAs(t, tc.err, &se)
			assert.ErrorIs(t, tc.err, apikey.ErrInvalidScope)
			assert.Equal(t, tc.token, se.Token)
			assert.Equal(t, tc.detail, se.Detail())
			assert.EqualError(t, tc.err, "apikey: "+tc.detail)
		})
	}
}

func TestInsufficientScopeError(t *testing.T) {
	id := uuid.MustParse("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
	err := &apikey.InsufficientScopeError{KeyID: id, Missing: []apikey.Scope{
		{Resource: "lists", Access: apikey.Write}, {Resource: "*", Access: apikey.Read},
	}}
	assert.EqualError(t, err, "apikey: key 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b lacks scope lists:write, *:read")
	assert.Equal(t, apikey.ErrInsufficientScope, err.Unwrap())
	assert.ErrorIs(t, err, apikey.ErrInsufficientScope)
}

func TestIncludeError(t *testing.T) {
	tests := []struct {
		name string
		err  *apikey.IncludeError
		want string
	}{
		{"Value", &apikey.IncludeError{Route: "/api/profiles", Value: "files", Reason: "is not an include of this route"},
			`apikey: route "/api/profiles": include "files" is not an include of this route`},
		{"Parameter", &apikey.IncludeError{Route: "/api/profiles", Reason: "has an empty item"},
			`apikey: route "/api/profiles": include parameter has an empty item`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.EqualError(t, tc.err, tc.want)
			assert.Equal(t, apikey.ErrInvalidInclude, tc.err.Unwrap())
			assert.ErrorIs(t, tc.err, apikey.ErrInvalidInclude)
		})
	}
}
