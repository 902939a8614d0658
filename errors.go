package apikey

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Errors returned by keyscope. They may be tested against with [errors.Is];
// returned errors often wrap them with more detail.
var (
	// ErrInvalidKey is returned by Verify for a token that is malformed,
	// names an unknown key, or carries the wrong secret. It is one error for
	// all three so that a caller cannot tell them apart.
	ErrInvalidKey = errors.New("apikey: invalid key")
	// ErrInactive is returned by Verify for a valid token of a deactivated
	// key. It is only returned once the secret has been checked.
	ErrInactive = errors.New("apikey: key is inactive")
	// ErrExpired is returned by Verify for a valid token of a key whose
	// expiry has passed. It is only returned once the secret has been
	// checked. Clone and Roll wrap it for a source key that has expired.
	ErrExpired = errors.New("apikey: key has expired")

	// ErrNotFound is returned by Store and Manager methods that name a key ID
	// the store does not hold.
	ErrNotFound = errors.New("apikey: key not found")
	// ErrDuplicateID is returned by Store.Create for an ID already stored.
	ErrDuplicateID = errors.New("apikey: duplicate key id")
	// ErrStoreContract is wrapped by the Manager's errors when a Store
	// breaks its contract in a way that would weaken security, such as a
	// store that predates owners: it drops Key.Owner or ignores
	// ListOptions.Owner. The Manager fails closed; run the storetest
	// conformance suite against the store.
	ErrStoreContract = errors.New("apikey: the store breaks the Store contract")
	// ErrClosed is wrapped by the errors of a Store's methods after the
	// Store was closed. (A closed Manager keeps working; it only stops
	// recording key use.)
	ErrClosed = errors.New("apikey: closed")

	// ErrInvalidScope is wrapped by every scope parsing and validation
	// error; each of them is a [*ScopeError].
	ErrInvalidScope = errors.New("apikey: invalid scope")
	// ErrInvalidLabel is wrapped by errors for labels that are empty, too
	// long or not valid UTF-8.
	ErrInvalidLabel = errors.New("apikey: invalid label")
	// ErrInvalidOwner is wrapped by errors for an owner that [CheckOwner]
	// refuses.
	ErrInvalidOwner = errors.New("apikey: invalid owner")
	// ErrInvalidExpiry is wrapped by errors for an expiry that is not in
	// the future.
	ErrInvalidExpiry = errors.New("apikey: invalid expiry")

	// ErrNoCredential means the request carries no API key that any of the
	// Guard's extractors looks for.
	ErrNoCredential = errors.New("apikey: request carries no api key")
	// ErrConflictingCredentials means the request carries two different
	// credentials: say, an Authorization header and an X-API-Key header
	// with different tokens, or a header repeated with different values.
	ErrConflictingCredentials = errors.New("apikey: request carries more than one api key")
	// ErrInsufficientScope is wrapped by [*InsufficientScopeError].
	ErrInsufficientScope = errors.New("apikey: key lacks a required scope")
	// ErrNoRoute means no route of the [Router] serves the request's path,
	// or the path is not in the canonical form the Router serves.
	ErrNoRoute = errors.New("apikey: no route matches the request")
	// ErrMethodNotAllowed is wrapped by [*MethodError].
	ErrMethodNotAllowed = errors.New("apikey: request method is not allowed")
	// ErrInvalidInclude is wrapped by [*IncludeError].
	ErrInvalidInclude = errors.New("apikey: invalid include parameter")
)

// ScopeError describes a scope or scope list that could not be parsed, or
// that names a resource outside the application's [Catalog]. Every scope
// error of the package is a *ScopeError, so that [errors.As] finds the
// offending token wherever the error came from. It wraps [ErrInvalidScope].
type ScopeError struct {
	Token      string // the offending token as given, or "" when no single token is at fault (a whole list, a bare access level, a route table)
	Reason     string // what is wrong with it
	Suggestion string // a close valid resource, when there is one
}

// Error returns the [ScopeError.Detail] behind the package's "apikey: " prefix.
func (e *ScopeError) Error() string { return "apikey: " + e.Detail() }

// Detail describes the problem without the package's prefix, in words fit
// for whoever wrote the scopes (a form's user, an API client, a CLI
// operator): `invalid scope "lists:admin": access "admin" is not none,
// read, write or full`, or `invalid scope "list:read": unknown resource
// "list" (did you mean "lists"?)`.
func (e *ScopeError) Detail() string {
	var b strings.Builder
	b.WriteString("invalid scope")
	if e.Token != "" {
		b.WriteByte(' ')
		b.WriteString(strconv.Quote(e.Token))
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if e.Suggestion != "" {
		b.WriteString(" (did you mean ")
		b.WriteString(strconv.Quote(e.Suggestion))
		b.WriteString("?)")
	}
	return b.String()
}

// Unwrap returns [ErrInvalidScope].
func (e *ScopeError) Unwrap() error { return ErrInvalidScope }

// InsufficientScopeError is returned for a valid key that lacks some of the
// scopes a request needs. It wraps [ErrInsufficientScope]. It is not
// modified once returned, so it is safe for concurrent use.
type InsufficientScopeError struct {
	KeyID   uuid.UUID // the key that was refused
	Missing []Scope   // the required scopes the key does not grant
}

func (e *InsufficientScopeError) Error() string {
	return fmt.Sprintf("apikey: key %s lacks scope %s", e.KeyID, joinScopes(e.Missing, ", "))
}

// Unwrap returns [ErrInsufficientScope].
func (e *InsufficientScopeError) Unwrap() error { return ErrInsufficientScope }

// IncludeError reports an include parameter a route does not accept. It
// wraps [ErrInvalidInclude]. It is not modified once returned, so it is safe
// for concurrent use.
type IncludeError struct {
	Route  string // the pattern of the matched route, or "" from [Includes]
	Value  string // the offending value, or "" when the parameter as a whole is wrong
	Reason string // what is wrong, in words fit for the client
}

func (e *IncludeError) Error() string {
	where := "apikey: "
	if e.Route != "" {
		where = fmt.Sprintf("apikey: route %q: ", e.Route)
	}
	if e.Value == "" {
		return where + "include parameter " + e.Reason
	}
	return fmt.Sprintf("%sinclude %q %s", where, e.Value, e.Reason)
}

// Unwrap returns [ErrInvalidInclude].
func (e *IncludeError) Unwrap() error { return ErrInvalidInclude }

// MethodError means a [Router] has routes for the request's path, but none
// for its method. It wraps [ErrMethodNotAllowed].
type MethodError struct {
	Method  string   // the request's method
	Allowed []string // the methods the path is served with, in the order GET, HEAD, POST, PUT, PATCH, DELETE
}

func (e *MethodError) Error() string {
	return fmt.Sprintf("apikey: method %q is not allowed; the path is served with %s", e.Method, strings.Join(e.Allowed, ", "))
}

// Unwrap returns [ErrMethodNotAllowed].
func (e *MethodError) Unwrap() error { return ErrMethodNotAllowed }
