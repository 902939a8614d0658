package apikey_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyscope/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExtractors calls each extractor directly: the token it finds, "" for
// a request without a credential of its kind, and its errors for a
// malformed credential or two different ones.
func TestExtractors(t *testing.T) {
	bearer := apikey.BearerToken
	header := apikey.HeaderToken("x-api-key") // the name is canonicalised
	query := apikey.QueryToken("api_key")
	cookie := apikey.CookieToken("key")
	auth := func(vs ...string) http.Header { return http.Header{"Authorization": vs} }
	xKey := func(vs ...string) http.Header { return http.Header{"X-Api-Key": vs} }
	cookies := func(v string) http.Header { return http.Header{"Cookie": {v}} }
	tests := []struct {
		name    string
		ex      apikey.Extractor
		target  string
		header  http.Header
		want    string
		wantErr error  // nil, ErrInvalidKey or ErrConflictingCredentials
		errMsg  string // what the error names
	}{
		{"Bearer", bearer, "/", auth("Bearer sk_a"), "sk_a", nil, ""},
		{"BearerSchemeAnyCase", bearer, "/", auth("bEaReR sk_a"), "sk_a", nil, ""},
		{"BearerSpacesAndTabs", bearer, "/", auth("\t Bearer \t sk_a \t"), "sk_a", nil, ""},
		{"BearerNoHeader", bearer, "/", nil, "", nil, ""},
		{"BearerEmptyHeader", bearer, "/", auth(""), "", nil, ""},
		{"BearerOtherScheme", bearer, "/", auth("Basic dXNlcjpwYXNz"), "", nil, ""},
		{"BearerNoSeparator", bearer, "/", auth("Bearersk_a"), "", nil, ""},
		{"BearerNonASCIISeparator", bearer, "/", auth("Bearer\u00a0sk_a"), "", nil, ""},
		{"BearerNoToken", bearer, "/", auth("Bearer"), "", apikey.ErrInvalidKey, "without a token"},
		{"BearerBlankToken", bearer, "/", auth("Bearer  \t "), "", apikey.ErrInvalidKey, "without a token"},
		{"BearerRepeatedSame", bearer, "/", auth("Bearer sk_a", "Bearer sk_a"), "sk_a", nil, ""},
		{"BearerRepeatedDiffer", bearer, "/", auth("Bearer sk_a", "Bearer sk_b"), "", apikey.ErrConflictingCredentials, "Authorization header"},
		{"BearerIgnoresOtherHeaders", bearer, "/?access_token=sk_a", xKey("sk_a"), "", nil, ""},

		{"Header", header, "/", xKey("sk_a"), "sk_a", nil, ""},
		{"HeaderTrimmed", header, "/", xKey(" \tsk_a "), "sk_a", nil, ""},
		{"HeaderEmpty", header, "/", xKey(""), "", nil, ""},
		{"HeaderAbsent", header, "/", auth("Bearer sk_a"), "", nil, ""},
		{"HeaderRepeatedSame", header, "/", xKey("sk_a", "sk_a"), "sk_a", nil, ""},
		{"HeaderRepeatedDiffer", header, "/", xKey("sk_a", "sk_b"), "", apikey.ErrConflictingCredentials, "X-Api-Key header"},

		{"Query", query, "/?api_key=sk_a", nil, "sk_a", nil, ""},
		{"QueryEscaped", query, "/?api_key=sk%5Fa", nil, "sk_a", nil, ""},
		{"QueryOtherParameter", query, "/?access_token=sk_a", nil, "", nil, ""},
		{"QueryRepeatedSame", query, "/?api_key=sk_a&api_key=sk_a", nil, "sk_a", nil, ""},
		{"QueryRepeatedDiffer", query, "/?api_key=sk_a&api_key=sk_b", nil, "", apikey.ErrConflictingCredentials, `query parameter "api_key"`},

		{"Cookie", cookie, "/", cookies("key=sk_a"), "sk_a", nil, ""},
		{"CookieOtherName", cookie, "/", cookies("other=sk_a"), "", nil, ""},
		{"CookieRepeatedSame", cookie, "/", cookies("key=sk_a; key=sk_a"), "sk_a", nil, ""},
		{"CookieRepeatedDiffer", cookie, "/", cookies("key=sk_a; other=x; key=sk_b"), "", apikey.ErrConflictingCredentials, `cookie "key"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tc.target, nil)
			for k, vs := range tc.header {
				r.Header[k] = vs
			}
			tok, err := tc.ex(r)
			assert.Equal(t, tc.want, tok)
			if tc.wantErr == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tc.wantErr)
			assert.ErrorContains(t, err, tc.errMsg)
		})
	}
}

// FuzzBearerToken checks the Authorization header parser: it never panics,
// a token it returns is trimmed and comes from a Bearer scheme, and it
// round-trips.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{
		"Bearer sk_abc", "bearer sk_abc", "BEARER  sk_abc ", "Bearer", "Bearer ", "Bearer\tx",
		"Basic dXNlcjpwYXNz", "Bearerx", "Bearer a b", "", " ", "Bearer \x00", "bearer\u00a0x", "\tBearer x\t",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := &http.Request{Header: http.Header{"Authorization": {v}}}
		tok, err := apikey.BearerToken(r)
		trimmed := strings.Trim(v, " \t")
		isBearer := len(trimmed) >= 6 && strings.EqualFold(trimmed[:6], "bearer") && !strings.ContainsFunc(trimmed[:6], func(c rune) bool { return c > 0x7f }) &&
			(len(trimmed) == 6 || trimmed[6] == ' ' || trimmed[6] == '\t')
		switch {
		case err != nil:
			assert.ErrorIs(t, err, apikey.ErrInvalidKey, "BearerToken(%q) = %q, %v", v, tok, err)
			assert.Empty(t, tok, "BearerToken(%q) = %q, %v", v, tok, err)
			require.True(t, isBearer, "BearerToken(%q) = %q, %v", v, tok, err) // trimmed[6:] below needs it
			assert.Empty(t, strings.Trim(trimmed[6:], " \t"), "BearerToken(%q) = %q, %v", v, tok, err)
		case tok == "":
			assert.False(t, isBearer, "BearerToken(%q) found no token in a Bearer header", v)
		default:
			require.True(t, isBearer, "BearerToken(%q) = %q", v, tok) // trimmed[7:] below needs it
			assert.Equal(t, strings.Trim(trimmed[7:], " \t"), tok, "BearerToken(%q) = %q", v, tok)
			r.Header.Set("Authorization", "Bearer "+tok)
			again, err := apikey.BearerToken(r)
			assert.NoError(t, err, "round trip of %q", tok)
			assert.Equal(t, tok, again, "round trip of %q", tok)
		}
	})
}
