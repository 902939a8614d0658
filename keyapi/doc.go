// Package keyapi serves keyscope's key management API: a JSON HTTP handler an
// application mounts (under /keys, say) so that the owners and admins of an
// account can create, list, clone, roll, rename, deactivate, reactivate,
// re-expire and delete that account's keys.
//
// # Routes
//
// Paths are relative to where the handler is mounted:
//
//	GET    /            list the caller's owner's keys, newest first:
//	                    {"keys": [...], "next": "<id>"}
//	                    ?limit=1..1000 (default 100), ?before=<next of the previous page>
//	POST   /            create: {"label": "shop", "scopes": "campaigns:read,lists:write",
//	                    "expires_at": "2030-01-02T15:04:05Z"}
//	                    scopes is "full" (the default), "read-only" or a scope list;
//	                    expires_at, optional, is an RFC 3339 time in the future
//	                    (400 otherwise), capped at the caller's expiry (see below)
//	GET    /{id}        one key
//	PATCH  /{id}        any of {"label": "new label"}, {"active": false|true} and
//	                    {"expires_at": "2030-01-02T15:04:05Z"|null}, applied
//	                    together in one store write or not at all; {} changes
//	                    nothing and answers the key as it is
//	DELETE /{id}        delete (204)
//	POST   /{id}/clone  a new, active key with the same owner, label, scopes
//	                    and expiry; an empty body or {}
//	POST   /{id}/roll   clone, then expire the original after {"grace": "24h"}
//	                    (a non-negative Go duration; an empty body, {} or ""
//	                    means at once), or sooner if it already expires sooner
//
// Other methods on these paths are answered 405 with an Allow header, other
// paths 404.
//
// A key is its record as [apikey.Key] marshals it: id, owner, label, scopes,
// active, created_at, last_used_at, expires_at, cloned_from and hint (owner,
// last_used_at, expires_at and cloned_from left out when unset), never a
// secret or digest. Create, clone and roll answer 201 with the record and a
// "token" member holding the new plaintext token, which appears in that
// response and never again, and a Location header naming the new key.
//
// A PATCH changes the label, the status, the expiry, or several at once. Its
// "expires_at" is an RFC 3339 time in the future, or null to remove the
// expiry; anything else is refused with 400, field "expires_at". A PATCH
// naming "scopes", in any letter case, is refused with 400, code
// "scopes_fixed", since scopes are fixed at creation. A body naming "owner",
// on any route, is refused with 400, code "owner_fixed" (see Owners below);
// any other unknown member with 400, code "unknown_field". A key that has
// expired cannot be cloned or rolled (409, code "expired"): create a new one
// instead. A roll is all or nothing: if the original cannot be given its new
// expiry, the Manager deletes the new key again ([apikey.Manager.Roll]) and
// the handler answers an error, 503 for a failure of the store.
//
// Request bodies are JSON objects sent as application/json or another +json
// media type (415 otherwise), with no unknown members, at most
// Options.MaxBodyBytes long (413 otherwise). Every error is an RFC 9457
// application/problem+json body with "type", "title", "status", "detail",
// "code" (see the Code constants) and, when a request member or parameter is
// at fault, "field". Failures of the key store are answered 503 without their
// details.
//
// # Operations
//
// Every request is one or more [Operation]s, which the [Authorizer] sees:
// [OpList], [OpGet], [OpCreate], [OpClone], [OpRoll] and [OpDelete] for their
// routes, and for a PATCH one per change it asks for: [OpRename] for a label,
// [OpDeactivate] or [OpReactivate] for "active", [OpSetExpiry] for
// "expires_at" (a time or null). The Authorizer runs before the body is read,
// except for PATCH: the handler reads and decodes its body first, then asks
// the Authorizer about each change in that order, and refuses the whole
// PATCH, before writing anything, if it refuses any; {} is asked about as
// [OpGet]. So an application can let some callers revoke a key
// (deactivate) but not re-enable it. As a clone is active, cloning or
// rolling an inactive key is also asked about as [OpReactivate], so such
// callers cannot bring a revoked key's access back that way either. [Operation.Writes] tells the
// operations that read from those that change keys.
//
// # Owners
//
// Every key belongs to an owner ([apikey.Key.Owner]): the account,
// organisation or user of the application it was made for, or "" in a
// single-tenant application. The caller acts for one owner, [Actor].Owner,
// which the Authorizer names, and every operation is confined to it. A list
// shows only that owner's keys, and paging stays within them. Getting,
// changing, cloning, rolling or deleting another owner's key is answered
// 404, with the very body an ID that does not exist gets, so a caller cannot
// tell another account's key IDs from unused ones. A key created through the
// API belongs to the caller's owner, and its clones and rolled keys to the
// same owner; a request naming "owner" is refused, since an owner is neither
// chosen by the client nor ever changed.
//
// # Who may manage keys
//
// Options.Authorize decides; the default, [AuthorizeKey], wants the verified
// key that an [apikey.Guard] put in the request context and acts for that
// key's owner. Managing keys is a right of its own, never granted through a
// wildcard: the key needs a grant that names "keys", "keys:read" to list and
// get and "keys:write" for the rest. A full-access ("*:write") or read-only
// ("*:read") key is for the application's data and is refused (403) on
// every route here; "*:write,keys:write" may manage keys. An application
// whose people sign in rather than use keys sets its own Authorizer that
// lets owners and admins of an account manage its keys, typically with
// [AdminScopes] (see the example), or uses [AuthorizeRoles], that rule
// ready made over the application's session. The settings page, package
// keypage, takes the same Authorizer.
//
// Whatever the authorizer, the handler never lets a caller act beyond its
// own scopes, [Actor].Scopes: a key it creates, clones, rolls, reactivates,
// renames, re-expires or deletes must have scopes that the caller's cover,
// and may name "keys" only as high as the caller's scopes name it, so a
// "keys:write,lists:read" key can neither mint a full-access key nor
// clone, roll or delete one, and an Actor with [apikey.FullAccess] may hand
// out "*:write" but not "keys:read" (403, code "escalation"). The one exception is
// deactivation, which only takes access away and can be undone: a caller
// may deactivate any key of its owner, broader ones included, so that
// whoever spots a leaked key can stop it at once. With the default
// authorizer this means that any key with "keys:write", however narrow its
// other scopes, can deactivate every other key of its owner, full-access
// keys included, and so cut off the account's clients until someone
// reactivates them. An application that gives "keys:write" to keys it
// trusts less than its full-access ones should set a custom Authorizer that
// refuses [OpDeactivate] to them, or looks the target up by
// r.PathValue("id") and refuses broader ones. A key may not delete or
// deactivate itself (409, code "self"), so that a caller cannot lock itself
// out by mistake; it may roll itself.
//
// Nor may a key the caller makes usable outlive the caller,
// [Actor].ExpiresAt, which [AuthorizeKey] sets to the calling key's expiry.
// When the caller expires, a key it creates expires with it, or earlier if
// "expires_at" asks for earlier; a later "expires_at" is lowered to the
// caller's expiry. A clone or rolled key takes its source's expiry, so a
// caller that expires may clone or roll only keys that expire no later than
// it does, itself included. It may reactivate a key, or set or remove a
// key's expiry, only if the key then expires no later than it does: it
// cannot reactivate a key that never expires, unless the same PATCH gives
// the key an expiry within its own. Each of these is refused with 403, code
// "escalation".
//
// # Mounting
//
// Patterns are relative, so strip the mount point. With the default
// authorizer, put an [apikey.Guard] in front that lets any valid key
// through; the handler then checks "keys:read" and "keys:write" itself, and
// answers refusals as problems:
//
//	keys, err := keyapi.NewHandler(manager, keyapi.Options{Logger: logger})
//	if err != nil { ... }
//	authenticated, err := guard.Require() // any valid key
//	if err != nil { ... }
//	api := authenticated(http.StripPrefix("/keys", keys))
//	mux.Handle("/keys/", api)
//	mux.Handle("/keys", api) // optional: also serve /keys itself
//
// Every request, refused or not, logs one record to Options.Logger: at
// level Info when it succeeds, Warn when it is refused and Error when it
// fails with a 5xx status, the cause included. The record holds the
// operation ("op"; a PATCH's operations joined by "+", such as
// "rename+deactivate", or "patch" when its body could not be decoded),
// status, key ID (the one asked for, even when it is not found), label,
// scopes and expiry; the actor: once the Authorizer has named it, the owner
// it acts for ("owner") and its name and key ID ("actor", "actor_key_id"),
// and otherwise, when the request carries a verified key (refused by the
// Authorizer, or with a malformed body), that key's owner, label and ID
// under the same names; only a request without a key that the Authorizer
// refuses logs no actor; the source key of
// a clone or roll, the status and expiry a PATCH asks for ("active",
// "set_expires_at"), a roll's grace period and the number of keys listed,
// each where known; and the code of a refusal or failure. It never holds a
// token or digest.
//
// An application that authenticates browsers with cookies must protect this
// handler against cross-site requests (for example with net/http's
// CrossOriginProtection): requiring application/json bodies stops forged
// forms from creating keys, but not from deleting or rolling them.
package keyapi
