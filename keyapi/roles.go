package keyapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Role is what a person may do with their account's keys, as the
// application's own accounts know it. [AuthorizeRoles] gives owners and
// admins every operation and everyone else, members included, a read-only
// view, as Klaviyo does.
type Role string

// The roles [AuthorizeRoles] knows. Any other Role, "" included, is treated
// as RoleMember.
const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// Manages reports whether r may create, change and delete keys: whether it
// is RoleOwner or RoleAdmin.
func (r Role) Manages() bool { return r == RoleOwner || r == RoleAdmin }

// Principal is a person signed in to the application, as its session
// knows them: the account they act for and their role in it. It is a plain
// value, safe to copy and share.
type Principal struct {
	// Account is the owner of the keys the person manages, an
	// [apikey.Key.Owner] such as "acct_42".
	Account string
	// Name identifies the person in logs and on the settings page, for
	// example their email address.
	Name string
	// Role decides what they may do; see [AuthorizeRoles].
	Role Role
	// ExpiresAt, if not zero, is when the person's session ends: no key
	// they create, clone, roll or reactivate may outlive it (see
	// [Actor].ExpiresAt). Most applications leave it zero.
	ExpiresAt time.Time
}

// AuthorizeRoles returns an [Authorizer] for people who sign in to the
// application rather than call with a key, the principal of both this
// package's JSON API and the settings page (package keypage).
//
// signedIn reads the person from the request, from the application's
// session cookie say, and returns an error wrapping [ErrUnauthenticated]
// when no one is signed in; any other error is answered 500 and logged.
// It is called concurrently and must be safe for concurrent use.
//
// Owners and admins ([Role.Manages]) may perform every operation on their
// account's keys, and grant any scopes, key management included
// ([AdminScopes]). Everyone else may list and read the account's keys
// ([OpList], [OpGet]) and is refused every other operation with
// [ErrForbidden]. Whatever the role, operations are confined to
// Principal.Account, which must not be empty: a Principal without one is
// answered 500, since "" is the owner of the keys of no account (those the
// keyscope command makes without --owner, say), which no signed-in person
// should reach by accident. A single-tenant application whose keys have no
// owner writes its own Authorizer.
//
// The people it names sign in with cookies, which a browser sends with
// requests that other sites make it send. The settings page refuses such
// cross-site requests itself; the JSON API does not (a client with a key
// needs no such check), so an application that serves [Handler] with this
// Authorizer must wrap it, for example with net/http's
// CrossOriginProtection:
//
//	keys, err := keyapi.NewHandler(manager, keyapi.Options{Authorize: keyapi.AuthorizeRoles(currentUser)})
//	mux.Handle("/keys/", http.NewCrossOriginProtection().Handler(http.StripPrefix("/keys", keys)))
func AuthorizeRoles(signedIn func(r *http.Request) (Principal, error)) Authorizer {
	return func(r *http.Request, op Operation) (Actor, error) {
		p, err := signedIn(r)
		if err != nil {
			return Actor{}, err
		}
		if p.Account == "" {
			// "" owns the keys of no account: an operator's, or a
			// single-tenant app's. A session without an account is a bug
			// of the application's, not a right to those keys.
			return Actor{}, errors.New("keyapi: AuthorizeRoles: the signed-in person has no account (Principal.Account is empty)")
		}
		if op.Writes() && !p.Role.Manages() {
			return Actor{}, &AccessError{Err: ErrForbidden,
				Detail: fmt.Sprintf("only the owners and admins of the account may %s keys", opVerb(op))}
		}
		return Actor{Owner: p.Account, Name: p.Name, Scopes: AdminScopes(), ExpiresAt: p.ExpiresAt}, nil
	}
}

// opVerb names op as a verb for a person: "create", "deactivate", "change
// the expiry of".
func opVerb(op Operation) string {
	switch op {
	case OpSetExpiry:
		return "change the expiry of"
	case OpGet:
		return "read"
	}
	return string(op)
}
