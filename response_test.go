package apikey_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/stretchr/testify/assert"
)

// response is what a test compares: status, the headers keyscope sets, and
// the body.
type response struct {
	status  int
	www     string
	cache   string
	ctype   string
	allow   string
	nosniff string
	body    string
}

func responseOf(rec *httptest.ResponseRecorder) response {
	h := rec.Result().Header
	return response{
		status:  rec.Code,
		www:     h.Get("WWW-Authenticate"),
		cache:   h.Get("Cache-Control"),
		ctype:   h.Get("Content-Type"),
		allow:   h.Get("Allow"),
		nosniff: h.Get("X-Content-Type-Options"),
		body:    rec.Body.String(),
	}
}

// The bodies of WriteError's answers, as a client receives them.
const (
	noCredentialBody = `{"error":"unauthorized","error_description":"an API key is required"}` + "\n"
	invalidKeyBody   = `{"error":"invalid_token","error_description":"the API key is not valid"}` + "\n"
	conflictBody     = `{"error":"invalid_request","error_description":"the request carries more than one API key"}` + "\n"
	noRouteBody      = `{"error":"not_found","error_description":"no route matches the request"}` + "\n"
	methodBody       = `{"error":"method_not_allowed","error_description":"the request method is not allowed"}` + "\n"
	unavailableBody  = `{"error":"temporarily_unavailable","error_description":"the API key could not be checked; try again later"}` + "\n"
	allowedMethods   = "GET, HEAD, POST, PUT, PATCH, DELETE"
)

// errorResponse is an answer of WriteError: the JSON body with the headers
// every refusal carries.
func errorResponse(status int, www, allow, body string) response {
	return response{status: status, www: www, cache: "no-store", ctype: "application/json", allow: allow, nosniff: "nosniff", body: body}
}

// insufficientResponse is WriteError's 403 answer, in the realm "api", for a
// key that lacks scope, the missing scopes separated by spaces.
func insufficientResponse(scope string) response {
	return errorResponse(403, `Bearer realm="api", error="insufficient_scope", scope="`+scope+`"`, "",
		`{"error":"insufficient_scope","error_description":"the API key lacks a required scope","scope":"`+scope+`"}`+"\n")
}

// includeResponse is WriteError's 400 answer to an include parameter the
// route does not accept; description is the JSON-encoded description.
func includeResponse(description string) response {
	return errorResponse(400, "", "", `{"error":"invalid_request","error_description":"`+description+`"}`+"\n")
}

func TestErrorStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"NoCredential", apikey.ErrNoCredential, 401},
		{"InvalidKey", apikey.ErrInvalidKey, 401},
		{"WrappedInvalidKey", fmt.Errorf("%w: bearer authorization without a token", apikey.ErrInvalidKey), 401},
		{"Inactive", apikey.ErrInactive, 401},
		{"Expired", apikey.ErrExpired, 401},
		{"InsufficientScope", &apikey.InsufficientScopeError{Missing: []apikey.Scope{{Resource: "lists", Access: apikey.Read}}}, 403},
		{"Conflicting", apikey.ErrConflictingCredentials, 400},
		{"Include", &apikey.IncludeError{Route: "/api/p", Value: "x", Reason: "is not an include of this route"}, 400},
		{"NoRoute", fmt.Errorf("%w: %q", apikey.ErrNoRoute, "/nothing"), 404},
		{"MethodNotAllowed", fmt.Errorf("%w: %q", apikey.ErrMethodNotAllowed, "OPTIONS"), 405},
		{"StoreFailure", errStoreDown, 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, apikey.ErrorStatus(tc.err))
		})
	}
}

// TestWriteError is the table of WriteError's answers, called directly: the
// status of ErrorStatus, the challenge, the headers and the body. It never
// repeats the error's message.
func TestWriteError(t *testing.T) {
	keyID := uuid.MustParse("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
	noCred := errorResponse(401, `Bearer realm="api"`, "", noCredentialBody)
	invalid := errorResponse(401, `Bearer realm="api", error="invalid_token"`, "", invalidKeyBody)
	tests := []struct {
		name  string
		realm string
		err   error
		want  response
	}{
		{"NoCredential", "api", apikey.ErrNoCredential, noCred},
		{"NoCredentialOtherRealm", "shop admin", apikey.ErrNoCredential,
			errorResponse(401, `Bearer realm="shop admin"`, "", noCredentialBody)},
		{"InvalidKey", "api", fmt.Errorf("%w: bearer authorization without a token", apikey.ErrInvalidKey), invalid},
		{"Inactive", "api", apikey.ErrInactive, invalid},
		{"Expired", "api", apikey.ErrExpired, invalid},
		{"InsufficientScope", "api", &apikey.InsufficientScopeError{KeyID: keyID, Missing: []apikey.Scope{
			{Resource: "lists", Access: apikey.Write}, {Resource: "profiles", Access: apikey.Read},
		}}, insufficientResponse("lists:write profiles:read")},
		{"Conflicting", "api", apikey.ErrConflictingCredentials,
			errorResponse(400, `Bearer realm="api", error="invalid_request"`, "", conflictBody)},
		{"IncludeValue", "api", &apikey.IncludeError{Route: "/api/p", Value: "<x>", Reason: "is not an include of this route"},
			includeResponse(`include \"\u003cx\u003e\" is not an include of this route`)},
		{"IncludeValueBounded", "api", &apikey.IncludeError{Route: "/api/p", Value: strings.Repeat("a", 65), Reason: "is not an include of this route"},
			includeResponse(`include \"` + strings.Repeat("a", 64) + `...\" is not an include of this route`)},
		{"IncludeParameter", "api", &apikey.IncludeError{Route: "/api/p", Reason: "has an empty item"},
			includeResponse(`include parameter has an empty item`)},
		{"IncludeSentinel", "api", fmt.Errorf("custom check: %w", apikey.ErrInvalidInclude),
			includeResponse(`the include parameter is invalid`)},
		{"NoRoute", "api", fmt.Errorf("%w: %q", apikey.ErrNoRoute, "/nothing"), errorResponse(404, "", "", noRouteBody)},
		{"MethodNotAllowed", "api", fmt.Errorf("%w: %q", apikey.ErrMethodNotAllowed, "OPTIONS"),
			errorResponse(405, "", allowedMethods, methodBody)},
		{"StoreFailure", "api", fmt.Errorf("verifying key: %w", errStoreDown), errorResponse(503, "", "", unavailableBody)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			apikey.WriteError(rec, tc.realm, tc.err)
			assert.Equal(t, tc.want, responseOf(rec))
			assert.NotContains(t, rec.Body.String(), "apikey:", "the body repeats the error")
			assert.NotContains(t, rec.Body.String(), "fire", "the body repeats the store's error")
		})
	}
}

func TestWriteErrorEscapesRealm(t *testing.T) {
	rec := httptest.NewRecorder()
	apikey.WriteError(rec, "a\"b\\c\r\nd", apikey.ErrNoCredential)
	assert.Equal(t, `Bearer realm="a\"b\\cd"`, rec.Header().Get("WWW-Authenticate"))
}

// TestWriteErrorInvalidKeysAlike checks that WriteError gives the same bytes
// for every reason a key does not verify.
func TestWriteErrorInvalidKeysAlike(t *testing.T) {
	answer := func(err error) (response, http.Header) {
		rec := httptest.NewRecorder()
		apikey.WriteError(rec, "api", err)
		return responseOf(rec), rec.Result().Header
	}
	want, wantHdr := answer(apikey.ErrInvalidKey)
	for _, err := range []error{
		apikey.ErrInactive, apikey.ErrExpired, errors.Join(apikey.ErrInvalidKey, errors.New("bad checksum")),
	} {
		got, hdr := answer(err)
		assert.Equal(t, want, got, "answer to %v", err)
		assert.Equal(t, wantHdr, hdr, "headers of the answer to %v", err)
	}
}
