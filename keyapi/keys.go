package keyapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
)

// listResponse is the body of a list.
type listResponse struct {
	Keys []apikey.Key `json:"keys"`
	// Next is the ?before= of the next page; empty on the last page.
	Next string `json:"next,omitempty"`
}

// NewKey is the body of a create, clone or roll response: the new key's
// record and, this once, its plaintext token. The keyscope command prints
// the same JSON.
type NewKey struct {
	apikey.Key
	Token string `json:"token"`
}

// list answers GET /: a page of the actor's owner's keys, newest first.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, a Actor, ev *event) (int, any, error) {
	opts, err := parseListQuery(r)
	if err != nil {
		return 0, nil, err
	}
	opts.Owner = a.Owner // never AllOwners: the caller sees its own keys only
	want := opts.Limit
	opts.Limit++ // one more tells whether there is a next page
	keys, err := h.m.List(r.Context(), opts)
	if err != nil {
		return 0, nil, unavailable(err)
	}
	resp := listResponse{Keys: keys}
	if len(keys) > want {
		resp.Keys = keys[:want]
		resp.Next = keys[want-1].ID.String()
	}
	if resp.Keys == nil {
		resp.Keys = []apikey.Key{}
	}
	ev.count = len(resp.Keys)
	return http.StatusOK, resp, nil
}

// get answers GET /{id}: one key.
func (h *Handler) get(w http.ResponseWriter, r *http.Request, a Actor, ev *event) (int, any, error) {
	k, _, err := h.pathTarget(r, a, ev)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, k, nil
}

// pathTarget reads the key the request's path names, as target does, and
// returns it with its ID as written.
func (h *Handler) pathTarget(r *http.Request, a Actor, ev *event) (apikey.Key, string, error) {
	id, raw, err := keyID(r)
	if err != nil {
		return apikey.Key{}, raw, err
	}
	k, err := h.target(r.Context(), a, id, raw, ev)
	return k, raw, err
}

// target reads the key id (raw as the client wrote it) for an operation of
// a, and records it in the request's log event. A key of another owner
// than a's is answered exactly as one that does not exist, so that a caller
// cannot tell another account's key IDs from unused ones.
//
// The operations act on the key by ID after this check, in a later store
// call. That is safe because a key's owner never changes: the key the
// Manager reads again is a's, or gone (404).
func (h *Handler) target(ctx context.Context, a Actor, id uuid.UUID, raw string, ev *event) (apikey.Key, error) {
	// The log names the ID asked for, found or not, so that an operator
	// sees one account probing another's keys; the client cannot tell.
	ev.keyID = id
	k, err := h.m.Get(ctx, id)
	if err != nil {
		return apikey.Key{}, managerError(err, raw)
	}
	if k.Owner != a.Owner {
		return apikey.Key{}, notFound(raw)
	}
	ev.setKey(k)
	return k, nil
}

// create answers POST /: a new key of the actor's owner, within its scopes
// and lifetime.
func (h *Handler) create(w http.ResponseWriter, r *http.Request, a Actor, ev *event) (int, any, error) {
	data, err := readBody(w, r, h.maxBody)
	if err != nil {
		return 0, nil, err
	}
	now := h.m.Now()
	nk, err := decodeCreate(data, now)
	if err != nil {
		return 0, nil, err
	}
	ev.label, ev.scopes = nk.label, nk.scopes.String()
	if !grantable(a, nk.scopes) {
		return 0, nil, escalation(a, nk.scopes, "scopes")
	}
	exp := nk.expiresAt
	if !a.ExpiresAt.IsZero() {
		if !a.ExpiresAt.After(now) {
			return 0, nil, newProblem(http.StatusForbidden, CodeEscalation, "",
				"the caller expired at %s; any key it created would outlive it", formatTime(a.ExpiresAt))
		}
		if outlives(exp, a.ExpiresAt) {
			exp = a.ExpiresAt
		}
	}
	k, tok, err := h.m.Create(r.Context(), apikey.CreateParams{Owner: a.Owner, Label: nk.label, Scopes: nk.scopes, ExpiresAt: exp})
	if err != nil {
		return 0, nil, managerError(err, "")
	}
	return created(w, r, ev, k, tok, 0)
}

// update answers PATCH /{id}: a new label, status, expiry or several, in
// one store write. It reads and decodes the body first, and then asks the
// Authorizer about each change the body asks for.
func (h *Handler) update(w http.ResponseWriter, r *http.Request, ev *event) (int, any, error) {
	data, err := readBody(w, r, h.maxBody)
	if err != nil {
		return 0, nil, err
	}
	req, err := decodeUpdate(data, h.m.Now())
	if err != nil {
		return 0, nil, err
	}
	ops := req.operations()
	ev.op = joinOps(ops)
	ev.active, ev.newExpiry = req.active, req.expiresAt
	a, err := h.authorize(r, ev, ops...)
	if err != nil {
		return 0, nil, err
	}
	id, raw, err := keyID(r)
	if err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	k, err := h.target(ctx, a, id, raw, ev)
	if err != nil {
		return 0, nil, err
	}
	if err := checkUpdate(a, k, req); err != nil {
		return 0, nil, err
	}
	if req.isEmpty() {
		return http.StatusOK, k, nil
	}
	if req.label != nil {
		ev.label = *req.label
	}
	// One store write: every change of the PATCH applies, or none does.
	//
	// checkUpdate judged the key as read above. Its owner and scopes cannot
	// change meanwhile; its status and expiry can, by another request. A
	// new expiry is written as checked; a key reactivated without one keeps
	// the expiry it has at this write, which outlives the caller only if
	// another caller, entitled to, extended it in between.
	k, err = h.m.Update(ctx, id, apikey.Update{Label: req.label, Active: req.active, ExpiresAt: req.expiresAt})
	if err != nil {
		return 0, nil, managerError(err, raw)
	}
	ev.setKey(k)
	return http.StatusOK, k, nil
}

// checkUpdate applies the handler's own rules to a PATCH of k by a, change
// by change in the order the Authorizer saw them: the actor may rename,
// reactivate or re-expire only keys its scopes cover, may not deactivate
// itself, and may not leave a key it reactivates or re-expires outliving
// it.
func checkUpdate(a Actor, k apikey.Key, req keyUpdate) error {
	if req.label != nil && !grantable(a, k.Scopes) {
		return escalation(a, k.Scopes, "label")
	}
	// The key's expiry once the PATCH applies.
	exp := k.ExpiresAt
	if req.expiresAt != nil {
		exp = *req.expiresAt
	}
	if req.active != nil {
		switch {
		case !*req.active && a.KeyID == k.ID:
			return newProblem(http.StatusConflict, CodeSelf, "active",
				"a key cannot deactivate itself; use another key")
		// Refused even if k is active: it may be deactivated meanwhile.
		case *req.active && !grantable(a, k.Scopes):
			return escalation(a, k.Scopes, "active")
		case *req.active && outlives(exp, a.ExpiresAt):
			return newProblem(http.StatusForbidden, CodeEscalation, "active",
				"the key would outlive the caller: reactivated, it would expire %s, and the caller expires at %s; a caller may reactivate only keys that expire no later than itself (set expires_at too)",
				expiryText(exp), formatTime(a.ExpiresAt))
		}
	}
	if req.expiresAt != nil {
		switch {
		case !grantable(a, k.Scopes):
			return escalation(a, k.Scopes, "expires_at")
		case outlives(exp, a.ExpiresAt):
			return newProblem(http.StatusForbidden, CodeEscalation, "expires_at",
				"the key would outlive the caller: it would expire %s, and the caller expires at %s; a caller may set only expiries no later than its own",
				expiryText(exp), formatTime(a.ExpiresAt))
		}
	}
	return nil
}

// delete answers DELETE /{id}.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request, a Actor, ev *event) (int, any, error) {
	k, raw, err := h.pathTarget(r, a, ev)
	if err != nil {
		return 0, nil, err
	}
	if a.KeyID == k.ID {
		return 0, nil, newProblem(http.StatusConflict, CodeSelf, "id", "a key cannot delete itself; use another key")
	}
	if !grantable(a, k.Scopes) {
		return 0, nil, escalation(a, k.Scopes, "")
	}
	if err := h.m.Delete(r.Context(), k.ID); err != nil {
		return 0, nil, managerError(err, raw)
	}
	return http.StatusNoContent, nil, nil
}

// clone answers POST /{id}/clone.
func (h *Handler) clone(w http.ResponseWriter, r *http.Request, a Actor, ev *event) (int, any, error) {
	return h.cloneOrRoll(w, r, a, ev, false)
}

// roll answers POST /{id}/roll.
func (h *Handler) roll(w http.ResponseWriter, r *http.Request, a Actor, ev *event) (int, any, error) {
	return h.cloneOrRoll(w, r, a, ev, true)
}

// cloneOrRoll clones the path's key, or rolls it when roll is set, if the
// caller's scopes cover it and the new key, which takes its expiry, would
// not outlive the caller.
func (h *Handler) cloneOrRoll(w http.ResponseWriter, r *http.Request, a Actor, ev *event, roll bool) (int, any, error) {
	id, raw, data, err := h.keyRequest(w, r)
	if err != nil {
		return 0, nil, err
	}
	var grace time.Duration
	if roll {
		grace, err = decodeRoll(data)
	} else {
		err = decodeEmpty(data)
	}
	if err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	src, err := h.target(ctx, a, id, raw, ev)
	if err != nil {
		return 0, nil, err
	}
	ev.source = id
	if !src.Active {
		// The new key is active: cloning or rolling an inactive key gives
		// its access back as reactivating it would, so the caller must be
		// allowed that too. An app that lets members revoke but not
		// re-enable keys thus keeps them from cloning a revoked key.
		if err := h.authorizeAlso(r, a, OpReactivate); err != nil {
			return 0, nil, err
		}
	}
	// Scopes are immutable, so this check cannot go stale before the
	// Manager reads the key again.
	if !grantable(a, src.Scopes) {
		return 0, nil, escalation(a, src.Scopes, "")
	}
	// The new key takes src's expiry as the Manager reads it again. Another
	// request can extend that expiry in between (a PATCH of expires_at by a
	// caller entitled to it), and only then can the new key outlive a.
	if outlives(src.ExpiresAt, a.ExpiresAt) {
		return 0, nil, newProblem(http.StatusForbidden, CodeEscalation, "",
			"the new key would outlive the caller: it would expire %s, as key %s does, and the caller expires at %s; a caller may clone or roll only keys that expire no later than itself",
			expiryText(src.ExpiresAt), src.ID, formatTime(a.ExpiresAt))
	}
	var (
		k   apikey.Key
		tok apikey.Token
	)
	if roll {
		ev.grace = &grace
		k, tok, err = h.m.Roll(ctx, id, grace) // all or nothing
	} else {
		k, tok, err = h.m.Clone(ctx, id)
	}
	if err != nil {
		return 0, nil, managerError(err, raw)
	}
	return created(w, r, ev, k, tok, 2)
}

// managerError maps an error of a Manager call on the key id (the path
// value as written) to a problem.
func managerError(err error, id string) error {
	switch {
	case errors.Is(err, apikey.ErrNotFound):
		return notFound(id)
	case errors.Is(err, apikey.ErrInvalidLabel):
		return newProblem(http.StatusBadRequest, CodeInvalid, "label",
			"label must be non-blank UTF-8 text of at most %d bytes", apikey.MaxLabelLen)
	case errors.Is(err, apikey.ErrInvalidScope):
		return scopeProblem(err)
	case errors.Is(err, apikey.ErrInvalidOwner):
		// The handler checks Actor.Owner before any operation.
		return authorizerBug(err)
	case errors.Is(err, apikey.ErrInvalidExpiry):
		// The expiry asked for, or the caller's own that capped a new key's,
		// passed between the handler's check and the Manager's.
		return newProblem(http.StatusBadRequest, CodeInvalid, "expires_at",
			"the expiry is no longer in the future")
	case errors.Is(err, apikey.ErrExpired):
		// Clone and Roll refuse an expired source.
		return newProblem(http.StatusConflict, CodeExpired, "id",
			"key %q has expired, and an expired key cannot be cloned or rolled; create a new key instead", clip(id))
	}
	return unavailable(err)
}

// joinOps names the operations of a PATCH in its log record:
// "rename+deactivate".
func joinOps(ops []Operation) string {
	if len(ops) == 1 {
		return string(ops[0])
	}
	names := make([]string, len(ops))
	for i, op := range ops {
		names[i] = string(op)
	}
	return strings.Join(names, "+")
}

// grantable reports whether a may grant, or manage, a key with scopes s:
// a's scopes must cover s, and name ManageResource at least as high as s
// names it, so that management rights never come from a "*" grant: a
// caller with "*:write" alone may hand out data access but not "keys:write".
func grantable(a Actor, s apikey.Scopes) bool {
	return a.Scopes.Covers(s) && a.Scopes.Named(ManageResource) >= s.Named(ManageResource)
}

// escalation refuses to hand out, or manage, scopes beyond the actor's.
func escalation(a Actor, s apikey.Scopes, field string) *problem {
	if need := s.Named(ManageResource); a.Scopes.Covers(s) && a.Scopes.Named(ManageResource) < need {
		return newProblem(http.StatusForbidden, CodeEscalation, field,
			"the key has %[1]q, and the caller's scopes %[2]q do not name %[3]q: a \"*\" grant does not include key management, so only a caller whose scopes name %[3]q may grant or manage it",
			s.String(), a.Scopes.String(), apikey.Scope{Resource: ManageResource, Access: need}.String())
	}
	if a.Scopes.IsZero() {
		return newProblem(http.StatusForbidden, CodeEscalation, field,
			"the caller may not grant or manage keys with any scopes, and this key has %q; it may only deactivate it", s.String())
	}
	return newProblem(http.StatusForbidden, CodeEscalation, field,
		"the caller's scopes %q do not cover %q: a caller may grant or manage only keys within its own scopes, and only deactivate broader ones", a.Scopes.String(), s.String())
}

// outlives reports whether something that expires at exp (zero: never)
// outlives a caller that expires at caller (zero: never).
func outlives(exp, caller time.Time) bool {
	return !caller.IsZero() && (exp.IsZero() || exp.After(caller))
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// expiryText completes "it would expire ...".
func expiryText(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return "at " + formatTime(t)
}

// keyID returns the path's key ID, parsed and as written, or a 404.
func keyID(r *http.Request) (uuid.UUID, string, error) {
	s := r.PathValue("id")
	id, err := parseID(s)
	return id, s, err
}

// keyRequest returns the key ID of an operation on one key, parsed and as
// written, and its request body, or the problem with either.
func (h *Handler) keyRequest(w http.ResponseWriter, r *http.Request) (id uuid.UUID, raw string, body []byte, err error) {
	id, raw, err = keyID(r)
	if err != nil {
		return uuid.Nil, "", nil, err
	}
	body, err = readBody(w, r, h.maxBody)
	if err != nil {
		return uuid.Nil, "", nil, err
	}
	return id, raw, body, nil
}

// created answers an operation that made the key k with the token tok: 201
// with both, and a Location header naming k. The operation's path is up
// segments below the collection's.
func created(w http.ResponseWriter, r *http.Request, ev *event, k apikey.Key, tok apikey.Token, up int) (int, any, error) {
	ev.setKey(k)
	setLocation(w, r, k.ID, up)
	return http.StatusCreated, NewKey{k, tok.Reveal()}, nil
}

// setLocation points the Location header at the new key id. The path is
// built from the URI the client sent, which http.StripPrefix leaves alone,
// by dropping up trailing segments ("/keys/{src}/clone" less 2 is "/keys").
func setLocation(w http.ResponseWriter, r *http.Request, id uuid.UUID, up int) {
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil || u.Path == "" {
		return
	}
	p := u.EscapedPath()
	for range up {
		p = path.Dir(p)
	}
	w.Header().Set("Location", strings.TrimSuffix(p, "/")+"/"+id.String())
}
