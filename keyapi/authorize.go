package keyapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
)

// Operation names one management operation, for authorizers and logs. A
// PATCH asks for one or more of OpRename, OpDeactivate, OpReactivate and
// OpSetExpiry, each authorized on its own, so that an application can let a
// caller revoke keys without letting it re-enable them.
type Operation string

// The management operations.
const (
	OpList       Operation = "list"       // GET    /
	OpGet        Operation = "get"        // GET    /{id}, and PATCH /{id} with {}
	OpCreate     Operation = "create"     // POST   /
	OpRename     Operation = "rename"     // PATCH  /{id} {"label": ...}
	OpDeactivate Operation = "deactivate" // PATCH  /{id} {"active": false}
	OpReactivate Operation = "reactivate" // PATCH  /{id} {"active": true}
	OpSetExpiry  Operation = "set_expiry" // PATCH  /{id} {"expires_at": ...}, a time or null
	OpClone      Operation = "clone"      // POST   /{id}/clone
	OpRoll       Operation = "roll"       // POST   /{id}/roll
	OpDelete     Operation = "delete"     // DELETE /{id}
)

// AdminScopes returns "*:write,keys:write": full access to the
// application's data and, by name, to key management. It is what an
// [Authorizer] typically gives the owners and admins of an account, who may
// then hand out any key, management keys included.
func AdminScopes() apikey.Scopes { return adminScopes }

var adminScopes = func() apikey.Scopes {
	s, err := apikey.NewScopes(apikey.Scope{Resource: apikey.AllResources, Access: apikey.Write},
		apikey.Scope{Resource: ManageResource, Access: apikey.Write})
	if err != nil {
		panic(err)
	}
	return s
}()

// Writes reports whether op changes keys: every operation except OpList and
// OpGet.
func (op Operation) Writes() bool { return op != OpList && op != OpGet }

// ManageResource is the scope resource that [AuthorizeKey] checks: a key
// needs a grant that names it, "keys:read" to list and get keys and
// "keys:write" for every other operation. A "*" grant never counts, so that
// a full-access key for the application's data ("*:write") cannot manage
// keys unless it also names "keys" ("*:write,keys:write"). An application
// with an [apikey.Catalog] must list it there to mint such keys.
const ManageResource = "keys"

// Actor is the caller of a management operation, as an [Authorizer] sees it:
// the account it acts for and what it may do there. It is a plain value,
// safe to copy and share.
type Actor struct {
	// Owner is the account the caller acts for, an [apikey.Key.Owner]:
	// every operation is confined to it. A list shows only its keys; a key
	// of another owner is answered 404, exactly as an ID that does not
	// exist, whatever the operation; a key the caller creates belongs to it,
	// and a request cannot choose another. "" is the owner of the keys
	// without one, those of a single-tenant application. [AuthorizeKey]
	// sets the calling key's owner; an authorizer for signed-in users sets
	// the account of the session. An Owner that [apikey.CheckOwner] refuses
	// is a bug of the authorizer: the handler answers 500 and logs it.
	Owner string
	// Name identifies the caller in logs, for example a key's label or a
	// user's email address. It is never shown to other clients.
	Name string
	// KeyID is the ID of the key the caller authenticated with, or uuid.Nil
	// when the caller is not a key (a signed-in user, say). A key may not
	// delete or deactivate itself, so that a caller cannot lock itself out
	// by mistake; it may roll itself.
	KeyID uuid.UUID
	// Scopes bounds what the caller may grant and manage. A key the caller
	// creates, clones, rolls, reactivates, renames, re-expires or deletes
	// must have scopes that Scopes covers ([apikey.Scopes.Covers]), and
	// Scopes must name "keys" ([apikey.Scopes.Named]) at least as high as
	// the key does: a "*" grant hands out data access but never key
	// management, so an Actor with [apikey.FullAccess] may mint a
	// "*:write" key but not a "keys:write" one; the
	// caller may list, read and deactivate any key of its owner. The zero
	// value covers nothing: the caller may then only list, read and
	// deactivate, if the Authorizer let it through. An authorizer for
	// trusted users (owners, admins) typically sets [AdminScopes].
	Scopes apikey.Scopes
	// ExpiresAt is when the caller's credentials stop working; zero if
	// never. No key the caller makes usable may outlive it: a key it
	// creates expires at ExpiresAt or earlier; as clones and rolled keys
	// take their source's expiry, it may clone or roll only keys that
	// expire no later than ExpiresAt; and it may reactivate a key, or set
	// or remove a key's expiry, only if the key then expires no later than
	// ExpiresAt. [AuthorizeKey] sets the calling key's expiry; an
	// authorizer for signed-in users may leave it zero, or set the end of
	// the session to keep keys from outliving it.
	ExpiresAt time.Time
}

// Authorizer decides whether the caller of r may perform op, and who the
// caller is: the Actor, whose Owner confines the operation to one account.
// For operations on one key, r.PathValue("id") is the target's ID as the
// client wrote it; the handler itself answers 404 if the key belongs to
// another owner, so an Authorizer need not look it up.
//
// For every route but PATCH the Authorizer runs once, before the request
// body is read. For PATCH /{id} it runs after the body has been read and
// decoded (so a malformed body is answered 400 whoever sends it), once for
// each change the body asks for, in a fixed order: [OpRename],
// [OpDeactivate] or [OpReactivate], [OpSetExpiry]. If it refuses any of
// them the whole PATCH is refused and nothing is written. A PATCH of {},
// which changes nothing, is authorized as [OpGet]. The calls for one
// request must return the same Actor; if they do not, the handler answers
// 500.
//
// To refuse, return an error wrapping [ErrUnauthenticated] (answered 401) or
// [ErrForbidden] (answered 403); an [*AccessError] also carries a detail for
// the client. Any other error is answered 500 and logged. Whatever the
// Authorizer returns, the handler never lets the caller reach keys of
// another owner than Actor.Owner, grant scopes beyond Actor.Scopes, or make
// a key usable beyond Actor.ExpiresAt. An Authorizer is called concurrently
// and must be safe for concurrent use.
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

// Error returns the sentinel's message and the detail.
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
// ([apikey.FromContext]), acting for its own owner. It needs a grant that
// names [ManageResource]: "keys:read" for [OpList] and [OpGet], "keys:write"
// for every other operation ([apikey.Scopes.Named]). A "*" grant does not
// count: "*:write" and "*:read" keys are for the application's data and may
// not manage keys, while "*:write,keys:write" may. The Actor is the key's
// owner, label, ID, scopes and expiry. A request without a key is refused
// with ErrUnauthenticated, a key without the grant with ErrForbidden.
func AuthorizeKey(r *http.Request, op Operation) (Actor, error) {
	k, ok := apikey.FromContext(r.Context())
	if !ok {
		return Actor{}, &AccessError{Err: ErrUnauthenticated, Detail: "an API key is required"}
	}
	need := apikey.Scope{Resource: ManageResource, Access: apikey.Read}
	if op.Writes() {
		need.Access = apikey.Write
	}
	if k.Scopes.Named(ManageResource) < need.Access {
		return Actor{}, &AccessError{Err: ErrForbidden,
			Detail: fmt.Sprintf("%s requires scope %q, named as such, and the key has %q; "+
				"%q grants give access to the application's data, not to key management: add %q to the scopes of a key that manages keys",
				op, need.String(), k.Scopes.String(), apikey.AllResources, need.String())}
	}
	return Actor{Owner: k.Owner, Name: k.Label, KeyID: k.ID, Scopes: k.Scopes, ExpiresAt: k.ExpiresAt}, nil
}
