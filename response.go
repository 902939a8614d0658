package apikey

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// errorBody is the JSON body of an error response.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Scope       string `json:"scope,omitempty"`
}

func (b errorBody) marshal() []byte {
	out, err := json.Marshal(b)
	if err != nil {
		panic(err) // a struct of strings always marshals
	}
	return append(out, '\n')
}

// The fixed bodies. bodyInvalidKey is the one body for every key that does
// not verify, whatever the reason.
var (
	bodyNoCredential = errorBody{Error: "unauthorized", Description: "an API key is required"}.marshal()
	bodyInvalidKey   = errorBody{Error: "invalid_token", Description: "the API key is not valid"}.marshal()
	bodyConflicting  = errorBody{Error: "invalid_request", Description: "the request carries more than one API key"}.marshal()
	bodyInclude      = errorBody{Error: "invalid_request", Description: "the include parameter is invalid"}.marshal()
	bodyNoRoute      = errorBody{Error: "not_found", Description: "no route matches the request"}.marshal()
	bodyMethod       = errorBody{Error: "method_not_allowed", Description: "the request method is not allowed"}.marshal()
	bodyUnavailable  = errorBody{Error: "temporarily_unavailable", Description: "the API key could not be checked; try again later"}.marshal()
)

// allowedMethods is the Allow header of a 405 answer when none is set: the
// methods a [Route] may name.
const allowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE"

// maxEchoLen bounds how much of an offending include value an error body
// repeats.
const maxEchoLen = 64

// ErrorStatus returns the HTTP status code WriteError answers err with:
//
//   - 401 for ErrNoCredential, ErrInvalidKey, ErrInactive and ErrExpired;
//   - 403 for ErrInsufficientScope;
//   - 400 for ErrConflictingCredentials and ErrInvalidInclude;
//   - 404 for ErrNoRoute and 405 for ErrMethodNotAllowed;
//   - 503 for any other error, a failure of the store: never a pass.
func ErrorStatus(err error) int {
	switch {
	case errors.Is(err, ErrNoCredential),
		errors.Is(err, ErrInvalidKey), errors.Is(err, ErrInactive), errors.Is(err, ErrExpired):
		return http.StatusUnauthorized
	case errors.Is(err, ErrInsufficientScope):
		return http.StatusForbidden
	case errors.Is(err, ErrConflictingCredentials), errors.Is(err, ErrInvalidInclude):
		return http.StatusBadRequest
	case errors.Is(err, ErrNoRoute):
		return http.StatusNotFound
	case errors.Is(err, ErrMethodNotAllowed):
		return http.StatusMethodNotAllowed
	}
	return http.StatusServiceUnavailable
}

// WriteError answers a refused request with the status [ErrorStatus] gives
// for err, a small JSON object {"error": ..., "error_description": ...} and
// Cache-Control: no-store. It is the default ErrorHandler of a Guard, and a
// custom one may call it after logging. It never writes err.Error().
//
// Following RFC 6750, a 401 carries the challenge
// `WWW-Authenticate: Bearer realm="<realm>"`, with `error="invalid_token"`
// added when a key was given; the answer is byte-identical for malformed,
// unknown, wrong-secret, inactive and expired keys. A 403 carries
// `error="insufficient_scope"` and `scope="..."` naming the missing scopes,
// which the body's "scope" member repeats. Two credentials in one request
// get 400 with `error="invalid_request"`. A 405 carries an Allow header:
// the methods of a [*MethodError], or else every method a [Route] may name.
// realm should be printable ASCII without '"' or '\'; other bytes are
// escaped or dropped.
func WriteError(w http.ResponseWriter, realm string, err error) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	status := ErrorStatus(err)
	var body []byte
	switch status {
	case http.StatusUnauthorized:
		if errors.Is(err, ErrNoCredential) {
			h.Set("WWW-Authenticate", challenge(realm, ""))
			body = bodyNoCredential
		} else {
			h.Set("WWW-Authenticate", challenge(realm, `error="invalid_token"`))
			body = bodyInvalidKey
		}
	case http.StatusForbidden:
		var missing string
		if se := (*InsufficientScopeError)(nil); errors.As(err, &se) {
			missing = joinScopes(se.Missing, " ")
		}
		h.Set("WWW-Authenticate", challenge(realm, `error="insufficient_scope", scope="`+missing+`"`))
		body = errorBody{Error: "insufficient_scope", Description: "the API key lacks a required scope", Scope: missing}.marshal()
	case http.StatusBadRequest:
		switch ie := (*IncludeError)(nil); {
		case errors.As(err, &ie):
			body = errorBody{Error: "invalid_request", Description: ie.clientDescription()}.marshal()
		case errors.Is(err, ErrInvalidInclude):
			body = bodyInclude
		default:
			h.Set("WWW-Authenticate", challenge(realm, `error="invalid_request"`))
			body = bodyConflicting
		}
	case http.StatusNotFound:
		body = bodyNoRoute
	case http.StatusMethodNotAllowed:
		allow := allowedMethods
		if me := (*MethodError)(nil); errors.As(err, &me) && len(me.Allowed) > 0 {
			allow = strings.Join(me.Allowed, ", ")
		}
		h.Set("Allow", allow)
		body = bodyMethod
	default:
		body = bodyUnavailable
	}
	w.WriteHeader(status)
	w.Write(body)
}

// challenge returns a Bearer challenge for realm with optional extra
// parameters, escaping the realm as an HTTP quoted-string.
func challenge(realm, params string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="`)
	for i := 0; i < len(realm); i++ {
		switch c := realm[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20 && c <= 0x7e:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	if params != "" {
		b.WriteString(", ")
		b.WriteString(params)
	}
	return b.String()
}

// clientDescription names the problem for the client, repeating at most
// maxEchoLen bytes of the value.
func (e *IncludeError) clientDescription() string {
	if e.Value == "" {
		return "include parameter " + e.Reason
	}
	v := e.Value
	if len(v) > maxEchoLen {
		v = v[:maxEchoLen] + "..."
	}
	return `include "` + v + `" ` + e.Reason
}
