package keyapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
)

// Operation names one management operation, for authorizers and logs.
type Operation string

// The management operations.
const (
	OpList   Operation = "list"   // GET    /
	OpGet    Operation = "get"    // GET    /{id}
	OpCreate Operation = "create" // POST   /
	OpUpdate Operation = "update" // PATCH  /{id}: rename, activate, deactivate
	OpClone  Operation = "clone"  // POST   /{id}/clone
	OpRoll   Operation = "roll"   // POST   /{id}/roll
	OpDelete Operation = "delete" // DELETE /{id}
)

// Writes reports whether op changes keys: every operation except OpList and
// OpGet.
func (op Operation) Writes() bool { return op != OpList && op != OpGet }

// ManageResource is the scope resource that [AuthorizeKey] checks: a key
// needs "keys:read" to list and get keys and "keys:write" for every other
// operation. An application with an [apikey.Catalog] must list it there to
// mint such keys.
const ManageResource = "keys"

// Actor is the caller of a management operation, as an [Authorizer] sees it.
// It is a plain value, safe to copy and share.
type Actor struct {
	// Name identifies the caller in logs, for example a key's label or a
	// user's email address. It is never shown to other clients.
	Name string
	// KeyID is the ID of the key the caller authenticated with, or uuid.Nil
	// when the caller is not a key (a signed-in user, say). A key may not
	// delete or deactivate itself, so that a caller cannot lock itself out
	// by mistake; it may roll itself.
	KeyID uuid.UUID
	// Scopes bounds what the caller may grant and manage. A key the caller
	// creates, clones, rolls, reactivates, renames or deletes must have
	// scopes that Scopes covers ([apikey.Scopes.Covers]); the caller may
	// list, read and deactivate any key. The zero value covers nothing: the
	// caller may then only list, read and deactivate, if the Authorizer
	// let it through. An authorizer for trusted users (owners, admins)
	// typically sets [apikey.FullAccess].
	Scopes apikey.Scopes
	// ExpiresAt is when the caller's credentials stop working; zero if
	// never. No key the caller creates, clones or rolls may outlive it: a
	// key it creates expires at ExpiresAt or earlier, and as clones and
	// rolled keys take their source's expiry, it may clone or roll only keys
	// that expire no later than ExpiresAt. [AuthorizeKey] sets the calling
	// key's expiry; an authorizer for signed-in users may leave it zero, or
	// set the end of the session to keep keys from outliving it.
	ExpiresAt time.Time
}

// Authorizer decides whether the caller of r may perform op, and who the
// caller is. It runs before the request body is read; for operations on one
// key, r.PathValue("id") is the target's ID as the client wrote it.
//
// To refuse, return an error wrapping [ErrUnauthenticated] (answered 401) or
// [ErrForbidden] (answered 403); an [*AccessError] also carries a detail for
// the client. Any other error is answered 500 and logged. Whatever the
// Authorizer returns, the handler never lets the caller grant scopes beyond
// Actor.Scopes, or make a key that outlives Actor.ExpiresAt. An Authorizer
// is called concurrently and must be safe for concurrent use.
type Authorizer func(r *http.Request, op Operation) (Actor, error)

// Errors an Authorizer returns to refuse a request. They may be tested
// against with errors.Is.
var (
	// ErrUnauthenticated means the request carries no credentials the
	// authorizer accepts. The handler answers 401.
	ErrUnauthenticated = errors.New("keyapi: caller is not authenticated")
	// ErrForbidden means the caller may not perform the operation. The
	// handler answers 403.
	ErrForbidden = errors.New("keyapi: caller may not perform this operation")
)

// AccessError is an [Authorizer]'s refusal with a detail for the client. Err
// is [ErrUnauthenticated] or [ErrForbidden]; Detail is sent to the client in
// the problem's "detail" member and must not hold secrets.
type AccessError struct {
	Err    error
	Detail string
}

func (e *AccessError) Error() string {
	if e.Err == nil {
		return "keyapi: access refused: " + e.Detail
	}
	return e.Err.Error() + ": " + e.Detail
}

// Unwrap returns e.Err.
func (e *AccessError) Unwrap() error { return e.Err }

// AuthorizeKey is the default [Authorizer]. The caller is the verified key
// that keyscope's middleware ([apikey.Guard]) put in the request context
// ([apikey.FromContext]); it needs scope "keys:read" for [OpList] and
// [OpGet] and "keys:write" for every other operation, and its Actor.Scopes
// and Actor.ExpiresAt are its own scopes and expiry. A request without a
// key is refused with ErrUnauthenticated, a key without the scope with
// ErrForbidden.
func AuthorizeKey(r *http.Request, op Operation) (Actor, error) {
	k, ok := apikey.FromContext(r.Context())
	if !ok {
		return Actor{}, &AccessError{Err: ErrUnauthenticated, Detail: "an API key is required"}
	}
	need := apikey.Scope{Resource: ManageResource, Access: apikey.Read}
	if op.Writes() {
		need.Access = apikey.Write
	}
	if !k.Scopes.Allows(need) {
		return Actor{}, &AccessError{Err: ErrForbidden,
			Detail: "the key lacks scope " + need.String() + ", which " + string(op) + " requires"}
	}
	return Actor{Name: k.Label, KeyID: k.ID, Scopes: k.Scopes, ExpiresAt: k.ExpiresAt}, nil
}
