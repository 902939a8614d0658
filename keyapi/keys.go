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

// list answers GET /: a page of keys, newest first.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, a Actor, ev *event) (int, any, error) {
	opts, err := parseListQuery(r)
	if err != nil {
		return 0, nil, err
	}
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
	k, _, err := h.pathTarget(r, ev)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, k, nil
}

// pathTarget reads the key the request's path names, as target does, and
// returns it with its ID as written.
func (h *Handler) pathTarget(r *http.Request, ev *event) (apikey.Key, string, error) {
	id, raw, err := keyID(r)
	if err != nil {
		return apikey.Key{}, raw, err
	}
	k, err := h.target(r.Context(), id, raw, ev)
	return k, raw, err
}

// target reads the key a request names and records it in the request's log
// event.
func (h *Handler) target(ctx context.Context, id uuid.UUID, raw string, ev *event) (apikey.Key, error) {
	k, err := h.m.Get(ctx, id)
	if err != nil {
		return apikey.Key{}, managerError(err, raw)
	}
	ev.setKey(k)
	return k, nil
}

// create answers POST /: a new key within the caller's scopes and lifetime.
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
	if !a.Scopes.Covers(nk.scopes) {
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
	k, tok, err := h.m.Create(r.Context(), apikey.CreateParams{Label: nk.label, Scopes: nk.scopes, ExpiresAt: exp})
	if err != nil {
		return 0, nil, managerError(err, "")
	}
	return created(w, r, ev, k, tok, 0)
}

// update answers PATCH /{id}: a new label, a new status or both, in one
// store write.
func (h *Handler) update(w http.ResponseWriter, r *http.Request, a Actor, ev *event) (int, any, error) {
	id, raw, data, err := h.keyRequest(w, r)
	if err != nil {
		return 0, nil, err
	}
	req, err := decodeUpdate(data)
	if err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	k, err := h.target(ctx, id, raw, ev)
	if err != nil {
		return 0, nil, err
	}
	ev.active = req.Active
	if req.Active != nil {
		if !*req.Active && a.KeyID == id {
			return 0, nil, newProblem(http.StatusConflict, CodeSelf, "active",
				"a key cannot deactivate itself; use another key")
		}
		// Refused even if k is active: it may be deactivated meanwhile.
		if *req.Active && !a.Scopes.Covers(k.Scopes) {
			return 0, nil, escalation(a, k.Scopes, "active")
		}
	}
	if req.Label != nil && !a.Scopes.Covers(k.Scopes) {
		return 0, nil, escalation(a, k.Scopes, "label")
	}
	if req.Label == nil && req.Active == nil {
		return http.StatusOK, k, nil
	}
	if req.Label != nil {
		ev.label = *req.Label
	}
	// One store write: the label and the status change together or not
	// at all.
	k, err = h.m.Update(ctx, id, apikey.Update{Label: req.Label, Active: req.Active})
	if err != nil {
		return 0, nil, managerError(err, raw)
	}
	ev.setKey(k)
	return http.StatusOK, k, nil
}

// delete answers DELETE /{id}.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request, a Actor, ev *event) (int, any, error) {
	k, raw, err := h.pathTarget(r, ev)
	if err != nil {
		return 0, nil, err
	}
	if a.KeyID == k.ID {
		return 0, nil, newProblem(http.StatusConflict, CodeSelf, "id", "a key cannot delete itself; use another key")
	}
	if !a.Scopes.Covers(k.Scopes) {
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
	src, err := h.m.Get(ctx, id)
	if err != nil {
		return 0, nil, managerError(err, raw)
	}
	ev.source = id
	ev.label, ev.scopes = src.Label, src.Scopes.String()
	// Scopes are immutable, so this check cannot go stale before the
	// Manager reads the key again.
	if !a.Scopes.Covers(src.Scopes) {
		return 0, nil, escalation(a, src.Scopes, "")
	}
	// The new key takes src's expiry. This handler never extends an
	// expiry, so only the application itself (Manager.Update) could extend
	// it before the Manager reads the key again.
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
	case errors.Is(err, apikey.ErrInvalidExpiry):
		// The caller's own expiry, which capped the new key's, passed
		// between the handler's check and the Manager's.
		return newProblem(http.StatusBadRequest, CodeInvalid, "expires_at",
			"the new key's expiry is not in the future")
	case errors.Is(err, apikey.ErrExpired):
		// Clone and Roll refuse an expired source.
		return newProblem(http.StatusConflict, CodeExpired, "id",
			"key %q has expired, and an expired key cannot be cloned or rolled; create a new key instead", clip(id))
	}
	return unavailable(err)
}

// escalation refuses to hand out, or manage, scopes beyond the actor's.
func escalation(a Actor, s apikey.Scopes, field string) *problem {
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
