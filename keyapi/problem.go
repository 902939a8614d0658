package keyapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Problem codes: the "code" member of every problem the handler sends, for
// clients that branch on the kind of error.
const (
	CodeMalformed       = "malformed"        // the body is not one JSON object, or a query parameter is bad
	CodeUnknownField    = "unknown_field"    // the body has a member the operation does not take
	CodeInvalid         = "invalid"          // a member has a bad value
	CodeScopesFixed     = "scopes_fixed"     // PATCH tried to change scopes
	CodeOwnerFixed      = "owner_fixed"      // a body named the owner, which is the caller's
	CodeTooLarge        = "too_large"        // the body exceeds Options.MaxBodyBytes
	CodeMediaType       = "unsupported_type" // a body that is not application/json
	CodeUnauthenticated = "unauthenticated"  // the Authorizer found no caller
	CodeForbidden       = "forbidden"        // the Authorizer refused the caller
	CodeEscalation      = "escalation"       // the key's scopes exceed the caller's, or it would outlive the caller
	CodeSelf            = "self"             // a key tried to delete or deactivate itself
	CodeExpired         = "expired"          // clone or roll of a key that has expired
	CodeNotFound        = "not_found"        // no such key, or no such route
	CodeMethod          = "method_not_allowed"
	CodeUnavailable     = "unavailable" // the key store failed
	CodeInternal        = "internal"    // the Authorizer failed
)

// problem is an RFC 9457 problem detail. It is also an error, so that
// operations can return it; cause is logged, never sent.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Field names the offending request member or query parameter.
	Field string `json:"field,omitempty"`
	Code  string `json:"code"`

	cause error
}

func (p *problem) Error() string {
	s := strconv.Itoa(p.Status) + " " + p.Code + ": " + p.Detail
	if p.cause != nil {
		s += ": " + p.cause.Error()
	}
	return s
}

func (p *problem) Unwrap() error { return p.cause }

// newProblem returns a problem with the given status, code and field, and a
// detail formatted from a client-safe format and arguments.
func newProblem(status int, code, field, format string, args ...any) *problem {
	return &problem{
		Type:   "about:blank",
		Title:  http.StatusText(status),
		Status: status,
		Detail: fmt.Sprintf(format, args...),
		Field:  field,
		Code:   code,
	}
}

func writeProblem(w http.ResponseWriter, p *problem) {
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	writeJSON(w, p.Status, "application/problem+json", p)
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	body, err := json.Marshal(v)
	if err != nil { // cannot happen for the types the handler sends
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store") // responses may carry a token
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
