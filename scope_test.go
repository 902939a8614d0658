package apikey_test

import (
	"strings"
	"testing"

	"github.com/keyscope/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustScopes(t testing.TB, list string) apikey.Scopes {
	t.Helper()
	s, err := apikey.ParseScopes(list)
	require.NoError(t, err, "ParseScopes(%q)", list)
	return s
}

func TestParseScopesCanonicalForm(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"single", "lists:read", "lists:read"},
		{"sorted", "lists:write,campaigns:read", "campaigns:read,lists:write"},
		{"spaces tolerated", "  campaigns:read ,  lists:write ", "campaigns:read,lists:write"},
		{"duplicates merged, highest wins", "campaigns:read,campaigns:write,campaigns:read", "campaigns:write"},
		{"full is write", "lists:full", "lists:write"},
		{"full access", "*:write", "*:write"},
		{"full access spelled full", "*:full", "*:write"},
		{"read-only", "*:read", "*:read"},
		{"wildcard keeps grants by name", "*:write,lists:read,profiles:write", "*:write,lists:read,profiles:write"},
		{"management named beside the wildcard", "keys:write,*:write", "*:write,keys:write"},
		{"read wildcard keeps writes", "profiles:write,*:read,lists:read", "*:read,lists:read,profiles:write"},
		{"none dropped", "lists:none,profiles:read", "profiles:read"},
		{"hyphen and dots", "data-privacy:write,a.b_c:read", "a.b_c:read,data-privacy:write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustScopes(t, tt.in)
			require.Equal(t, tt.want, s.String(), "ParseScopes(%q).String()", tt.in)
			again := mustScopes(t, s.String())
			assert.True(t, again.Equal(s), "parse(format(s)) = %q, want %q", again, s)
		})
	}
}

func TestParseScopesErrorsNameTheToken(t *testing.T) {
	tests := []struct {
		name, in, wantInMsg string
	}{
		{"empty", "", "empty"},
		{"blank", "   ", "empty"},
		{"empty token", "lists:read,,profiles:read", "empty token"},
		{"trailing comma", "lists:read,", "empty token"},
		{"no colon", "lists", `"lists"`},
		{"bad access", "lists:admin", `"lists:admin"`},
		{"upper case", "Lists:read", `"Lists:read"`},
		{"empty resource", ":read", `":read"`},
		{"leading hyphen", "-x:read", `"-x:read"`},
		{"space inside", "li sts:read", `"li sts:read"`},
		{"two colons", "lists:read:write", `"lists:read:write"`},
		{"grants nothing", "lists:none", `"lists:none" grants no access`},
		{"wildcard cannot exclude", "*:read,data-privacy:none", `"data-privacy:none"`},
		{"too long resource", strings.Repeat("a", 65) + ":read", "longer than"},
		{"too many tokens", strings.Repeat("a:read,", 300) + "a:read", "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := apikey.ParseScopes(tt.in)
			require.ErrorIs(t, err, apikey.ErrInvalidScope)
			assert.ErrorContains(t, err, tt.wantInMsg)
		})
	}
}

func TestParseScopesOrPreset(t *testing.T) {
	tests := []struct {
		in     string
		want   string // canonical form; "" means an error
		badTok string // the token the ScopeError names; "" for the list as a whole
	}{
		{in: "full", want: "*:write"},
		{in: " full ", want: "*:write"},
		{in: "read-only", want: "*:read"},
		{in: "campaigns:read,lists:write", want: "campaigns:read,lists:write"},
		{in: "lists:write, campaigns:read", want: "campaigns:read,lists:write"},
		{in: "*:write", want: "*:write"},
		{in: "Full", badTok: "Full"},
		{in: "readonly", badTok: "readonly"},
		{in: ""},
		{in: "lists:admin", badTok: "lists:admin"},
		{in: "lists:read,,x:read"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := apikey.ParseScopesOrPreset(tc.in)
			if tc.want != "" {
				require.NoError(t, err)
				assert.Equal(t, tc.want, got.String())
				return
			}
			var se *apikey.ScopeError
			require.ErrorAs(t, err, &se)
			assert.ErrorIs(t, err, apikey.ErrInvalidScope)
			assert.Equal(t, tc.badTok, se.Token)
			assert.True(t, got.IsZero(), "ParseScopesOrPreset(%q) = %q with an error", tc.in, got)
		})
	}
	assert.Equal(t, "full", apikey.PresetFull)
	assert.Equal(t, "read-only", apikey.PresetReadOnly)
}

// TestParseScopesOrPresetEmptyListsForms checks that the error for no input
// tells the user every form that is accepted.
func TestParseScopesOrPresetEmptyListsForms(t *testing.T) {
	for _, in := range []string{"", " \t "} {
		_, err := apikey.ParseScopesOrPreset(in)
		var se *apikey.ScopeError
		require.ErrorAs(t, err, &se, "ParseScopesOrPreset(%q)", in)
		assert.Equal(t, `invalid scope: no scopes given: want "full", "read-only" or a comma-separated list such as "campaigns:read,lists:write"`,
			se.Detail(), "ParseScopesOrPreset(%q)", in)
	}
}

func FuzzParseScopesOrPreset(f *testing.F) {
	for _, s := range []string{"full", "read-only", " full ", "Full", "a:read,b:write", "*:read,x:write", "", ",", "x:none"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := apikey.ParseScopesOrPreset(s)
		if err != nil {
			var se *apikey.ScopeError
			assert.ErrorAs(t, err, &se, "ParseScopesOrPreset(%q) error is not a *ScopeError", s)
			assert.ErrorIs(t, err, apikey.ErrInvalidScope, "ParseScopesOrPreset(%q)", s)
			return
		}
		assert.False(t, got.IsZero(), "ParseScopesOrPreset(%q) accepted a set granting nothing", s)
		again, err := apikey.ParseScopesOrPreset(got.String())
		require.NoError(t, err, "ParseScopesOrPreset(%q) = %q does not round-trip", s, got)
		assert.True(t, again.Equal(got), "ParseScopesOrPreset(%q) = %q does not round-trip: %v", s, got, again)
	})
}

func TestCatalogSuggestsCloseMatch(t *testing.T) {
	c, err := apikey.NewCatalog("lists", "profiles", "campaigns", "data-privacy")
	require.NoError(t, err)
	tests := []struct {
		in, token, suggestion string
	}{
		{"list:read", "list:read", "lists"},
		{"campaigns:read,profile:write", "profile:write", "profiles"},
		{"data_privacy:read", "data_privacy:read", "data-privacy"},
		{"orders:read", "orders:read", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := c.ParseScopes(tt.in)
			var se *apikey.ScopeError
			require.ErrorAs(t, err, &se)
			require.ErrorIs(t, err, apikey.ErrInvalidScope)
			assert.Equal(t, tt.token, se.Token)
			assert.Equal(t, tt.suggestion, se.Suggestion)
			if tt.suggestion != "" {
				assert.ErrorContains(t, err, `did you mean "`+tt.suggestion+`"`)
			}
		})
	}
	s, err := c.ParseScopes("*:read,lists:write")
	require.NoError(t, err, "catalog rejects a valid list")
	assert.Equal(t, "*:read,lists:write", s.String())
	assert.Error(t, c.Validate(mustScopes(t, "orders:read")), "Validate accepted a resource outside the catalog")
}

func TestNewCatalogRejectsBadResources(t *testing.T) {
	for name, rs := range map[string][]string{
		"none":      nil,
		"wildcard":  {"lists", "*"},
		"duplicate": {"lists", "lists"},
		"invalid":   {"Lists"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := apikey.NewCatalog(rs...)
			assert.Error(t, err, "NewCatalog(%q)", rs)
		})
	}
}

func TestCatalogResources(t *testing.T) {
	c, err := apikey.NewCatalog("profiles", "lists", "campaigns", "data-privacy")
	require.NoError(t, err)
	got := c.Resources()
	require.Equal(t, []string{"campaigns", "data-privacy", "lists", "profiles"}, got)
	got[0] = "changed"
	assert.Equal(t, []string{"campaigns", "data-privacy", "lists", "profiles"}, c.Resources(), "changing the returned slice changed the catalog")
	assert.True(t, c.Has("campaigns"))
	assert.False(t, c.Has("changed"))
}

func TestScopesAllows(t *testing.T) {
	tests := []struct {
		grants, required string
		want             bool
	}{
		{"*:write", "lists:write", true},
		{"*:write", "anything-added-later:read", true},
		{"*:read", "lists:read", true},
		{"*:read", "lists:write", false},
		{"lists:write", "lists:read", true},
		{"lists:read", "lists:write", false},
		{"lists:read", "profiles:read", false},
		{"campaigns:read,lists:write", "campaigns:read", true},
		{"campaigns:read,lists:write", "campaigns:write", false},
		{"*:read,lists:write", "lists:write", true},
		{"*:read,lists:write", "profiles:write", false},
		{"lists:write", "*:read", false},
		{"*:read", "*:read", true},
		{"*:read", "*:write", false},
		{"lists:read", "lists:none", true},
	}
	for _, tt := range tests {
		t.Run(tt.grants+" allows "+tt.required, func(t *testing.T) {
			req, err := apikey.ParseScope(tt.required)
			require.NoError(t, err)
			assert.Equal(t, tt.want, mustScopes(t, tt.grants).Allows(req))
		})
	}
}

func TestScopesAllowsAllAndMissing(t *testing.T) {
	s := mustScopes(t, "profiles:read,lists:write")
	need := []apikey.Scope{
		{Resource: "profiles", Access: apikey.Read},
		{Resource: "lists", Access: apikey.Read},
		{Resource: "campaigns", Access: apikey.Read},
		{Resource: "profiles", Access: apikey.Write},
	}
	assert.False(t, s.AllowsAll(need...), "AllowsAll with campaigns missing")
	assert.True(t, s.AllowsAll(need[:2]...), "AllowsAll of granted scopes")
	assert.Equal(t, []apikey.Scope{need[2], need[3]}, s.Missing(need...))
	assert.Nil(t, s.Missing(need[:2]...), "Missing of granted scopes")
}

func TestScopesCovers(t *testing.T) {
	tests := []struct {
		actor, requested string
		want             bool
	}{
		{"*:write", "*:write", true},
		{"*:write", "lists:read", true},
		{"keys:write,lists:read", "*:write", false},
		{"keys:write,lists:read", "*:read", false},
		{"keys:write,lists:read", "lists:read", true},
		{"keys:write,lists:read", "lists:write", false},
		{"*:read,keys:write", "*:read", true},
		{"*:read,keys:write", "*:read,lists:write", false},
		{"*:read", "lists:read,profiles:read", true},
		{"*:write", "*:write,keys:write", true},
		{"*:read,keys:write", "*:write,keys:write", false},
	}
	for _, tt := range tests {
		t.Run(tt.actor+" covers "+tt.requested, func(t *testing.T) {
			assert.Equal(t, tt.want, mustScopes(t, tt.actor).Covers(mustScopes(t, tt.requested)))
		})
	}
}

func TestScopesNamed(t *testing.T) {
	tests := []struct {
		scopes, resource string
		named, access    apikey.Access
	}{
		{"*:write", "keys", apikey.None, apikey.Write},
		{"*:read", "keys", apikey.None, apikey.Read},
		{"*:write,keys:read", "keys", apikey.Read, apikey.Write},
		{"*:read,keys:write", "keys", apikey.Write, apikey.Write},
		{"keys:write,lists:read", "keys", apikey.Write, apikey.Write},
		{"lists:read", "keys", apikey.None, apikey.None},
		{"*:write,keys:write", "*", apikey.None, apikey.Write},
	}
	for _, tt := range tests {
		t.Run(tt.scopes+" "+tt.resource, func(t *testing.T) {
			s := mustScopes(t, tt.scopes)
			assert.Equal(t, tt.named, s.Named(tt.resource), "Named(%q)", tt.resource)
			assert.Equal(t, tt.access, s.Access(tt.resource), "Access(%q)", tt.resource)
		})
	}
	assert.False(t, mustScopes(t, "*:write").Equal(mustScopes(t, "*:write,keys:write")),
		"a grant by name must make the sets differ")
}

func TestScopesPresetsAndZero(t *testing.T) {
	assert.True(t, apikey.FullAccess().IsFullAccess())
	assert.Equal(t, "*:write", apikey.FullAccess().String())
	assert.True(t, apikey.ReadOnly().IsReadOnly())
	assert.Equal(t, "*:read", apikey.ReadOnly().String())
	var zero apikey.Scopes
	assert.True(t, zero.IsZero())
	assert.Empty(t, zero.String())
	assert.False(t, zero.Allows(apikey.Scope{Resource: "lists", Access: apikey.Read}), "zero Scopes must grant nothing")
	assert.False(t, mustScopes(t, "*:read,lists:write").IsReadOnly(), "IsReadOnly of a set with a write grant")
}

func TestScopesTextRoundTrip(t *testing.T) {
	s := mustScopes(t, "campaigns:read,lists:write")
	b, err := s.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "campaigns:read,lists:write", string(b))
	var back apikey.Scopes
	require.NoError(t, back.UnmarshalText(b))
	assert.True(t, back.Equal(s), "UnmarshalText = %q", back)
	assert.ErrorIs(t, back.UnmarshalText([]byte("lists")), apikey.ErrInvalidScope)
}

func TestScopesGrantsIsACopy(t *testing.T) {
	s := mustScopes(t, "campaigns:read,lists:write")
	g := s.Grants()
	g[0].Access = apikey.Write
	assert.Equal(t, "campaigns:read,lists:write", s.String(), "mutating Grants changed the set")
}

func TestScopeCheckDoesNotAllocate(t *testing.T) {
	s := mustScopes(t, "campaigns:read,catalogs:read,data-privacy:write,lists:write,profiles:read")
	req := []apikey.Scope{{Resource: "lists", Access: apikey.Read}, {Resource: "profiles", Access: apikey.Read}}
	dataPrivacyWrite := apikey.Scope{Resource: "data-privacy", Access: apikey.Write}
	allowed := true
	allocs := testing.AllocsPerRun(100, func() {
		allowed = allowed && s.AllowsAll(req...) && s.Allows(dataPrivacyWrite)
	})
	assert.True(t, allowed, "unexpected denial")
	assert.Zero(t, allocs, "scope check allocates")
}

func FuzzParseScopes(f *testing.F) {
	for _, seed := range []string{
		"lists:read", "campaigns:read,lists:write", "*:write", "*:read,lists:write",
		" a:read , b:full ", "lists:none", "*:read,x:none", "", ",", "a:b:c", "Lists:read", "é:read",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := apikey.ParseScopes(in)
		if err != nil {
			assert.ErrorIs(t, err, apikey.ErrInvalidScope, "ParseScopes(%q)", in)
			return
		}
		assert.False(t, s.IsZero(), "ParseScopes(%q) succeeded with an empty set", in)
		out := s.String()
		again, err := apikey.ParseScopes(out)
		require.NoError(t, err, "round trip of %q: %q", in, out)
		assert.True(t, again.Equal(s), "round trip of %q: %q -> %q", in, out, again)
		assert.Equal(t, out, again.String(), "round trip of %q", in)
		assert.True(t, s.Covers(again) && again.Covers(s), "%q and its canonical form do not cover each other", in)
	})
}
