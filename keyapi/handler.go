// Package keyapi serves keyscope's key management API: a JSON HTTP handler an
// application mounts (under /keys, say) so that its owners and admins can
// create, list, clone, roll, rename, deactivate, reactivate and delete keys.
//
// # Routes
//
// Paths are relative to where the handler is mounted:
//
//	GET    /            list keys, newest first: {"keys": [...], "next": "<id>"}
//	                    ?limit=1..1000 (default 100), ?before=<next of the previous page>
//	POST   /            create: {"label": "shop", "scopes": "campaigns:read,lists:write",
//	                    "expires_at": "2030-01-02T15:04:05Z"}
//	                    scopes is "full" (the default), "read-only" or a scope list;
//	                    expires_at, optional, is an RFC 3339 time in the future
//	                    (400 otherwise), capped at the caller's expiry (see below)
//	GET    /{id}        one key
//	PATCH  /{id}        {"label": "new label"} and/or {"active": false|true},
//	                    applied together in one store write or not at all
//	DELETE /{id}        delete (204)
//	POST   /{id}/clone  a new key with the same label, scopes and expiry; empty body
//	POST   /{id}/roll   clone, then expire the original after {"grace": "24h"}
//	                    (a Go duration; omitted means at once)
//
// A key is its record as [apikey.Key] marshals it: id, label, scopes, active,
// created_at, last_used_at, expires_at, cloned_from and hint, never a secret
// or digest. Create, clone and roll answer 201 with the record and a "token"
// member holding the new plaintext token: it appears in that response and
// never again. Scopes cannot be changed: a PATCH naming "scopes" is refused
// with 400. A key that has expired cannot be cloned or rolled (409, code
// "expired"): create a new one instead.
//
// Request bodies are JSON objects sent as application/json (415 otherwise),
// with no unknown members, at most Options.MaxBodyBytes long (413 otherwise).
// Every error is an RFC 9457 application/problem+json body with "type",
// "title", "status", "detail", "code" (see the Code constants) and, when a
// request member or parameter is at fault, "field". Failures of the key
// store are answered 503 without their details.
//
// # Who may manage keys
//
// Options.Authorize decides; the default, [AuthorizeKey], wants the verified
// key that an [apikey.Guard] put in the request context, with scope
// "keys:read" to list and get and "keys:write" for the rest. Whatever the
// authorizer, the handler never lets a caller act beyond its own scopes,
// [Actor].Scopes: a key it creates, clones, rolls, reactivates, renames or
// deletes must have scopes that the caller's cover, so a
// "keys:write,lists:read" key can neither mint a full-access key nor clone,
// roll or delete one (403, code "escalation"). The one exception is
// deactivation, which only takes access away and can be undone: a caller may
// deactivate any key, broader ones included, so that whoever spots a leaked
// key can stop it at once. With the default authorizer this means that any
// key with "keys:write", however narrow its other scopes, can deactivate
// any other key, full-access keys included, and so cut off every client
// until someone reactivates them. An application that gives "keys:write" to
// keys it trusts less than its full-access ones should set a custom
// Authorizer that refuses [OpUpdate] to them, or looks the target up by
// r.PathValue("id") and refuses broader ones. A key may not delete or
// deactivate itself (409, code "self"), so that a caller cannot lock itself
// out by mistake; it may roll itself.
//
// Nor may a key the caller creates, clones or rolls outlive the caller,
// [Actor].ExpiresAt, which [AuthorizeKey] sets to the calling key's expiry.
// When the caller expires, a key it creates expires with it, or earlier if
// "expires_at" asks for earlier; a later "expires_at" is lowered to the
// caller's expiry. A clone or rolled key takes its source's expiry, so a
// caller that expires may clone or roll only keys that expire no later than
// it does, itself included (403, code "escalation", otherwise).
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
// Every operation, refused or not, logs one record to Options.Logger with
// the operation, status, key ID, label, scopes, expiry, and the actor's name
// and key ID where known; never a token or digest.
//
// An application that authenticates browsers with cookies must protect this
// handler against cross-site requests (for example with net/http's
// CrossOriginProtection): requiring application/json bodies stops forged
// forms from creating keys, but not from deleting or rolling them.
package keyapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
)

// Limits of the handler.
const (
	// DefaultMaxBodyBytes is the default for Options.MaxBodyBytes. It
	// leaves room for the longest label, [apikey.MaxLabelLen], escaped.
	DefaultMaxBodyBytes = 64 << 10
	// DefaultPageSize is how many keys a list returns without ?limit=.
	DefaultPageSize = 100
	// MaxPageSize is the largest ?limit= a list accepts.
	MaxPageSize = 1000
)

// Options configures a [Handler]. The zero value is usable; every field
// documents its default.
type Options struct {
	// Authorize decides who may perform each operation and what scopes
	// the caller may delegate. Default [AuthorizeKey].
	Authorize Authorizer
	// Logger receives one record per operation. Default slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies; larger ones get 413. Default
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// Handler is the key management API, an [http.Handler]. It is safe for
// concurrent use.
type Handler struct {
	m         *apikey.Manager
	authorize Authorizer
	log       *slog.Logger
	maxBody   int64
	mux       *http.ServeMux
}

// NewHandler returns the management API for the keys of m.
func NewHandler(m *apikey.Manager, opts Options) (*Handler, error) {
	if m == nil {
		return nil, errors.New("keyapi: manager is nil")
	}
	if opts.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("keyapi: Options.MaxBodyBytes %d is negative", opts.MaxBodyBytes)
	}
	h := &Handler{
		m:         m,
		authorize: opts.Authorize,
		log:       opts.Logger,
		maxBody:   opts.MaxBodyBytes,
		mux:       http.NewServeMux(),
	}
	if h.authorize == nil {
		h.authorize = AuthorizeKey
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBodyBytes
	}

	h.handle("GET /{$}", OpList, h.list)
	h.handle("POST /{$}", OpCreate, h.create)
	h.handle("GET /{id}", OpGet, h.get)
	h.handle("PATCH /{id}", OpUpdate, h.update)
	h.handle("DELETE /{id}", OpDelete, h.delete)
	h.handle("POST /{id}/clone", OpClone, h.clone)
	h.handle("POST /{id}/roll", OpRoll, h.roll)
	h.mux.Handle("/{$}", methodNotAllowed("GET, HEAD, POST"))
	h.mux.Handle("/{id}", methodNotAllowed("GET, HEAD, PATCH, DELETE"))
	h.mux.Handle("/{id}/clone", methodNotAllowed("POST"))
	h.mux.Handle("/{id}/roll", methodNotAllowed("POST"))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, newProblem(http.StatusNotFound, CodeNotFound, "", "no such resource"))
	})
	return h, nil
}

// ServeHTTP serves the management API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "" {
		// http.StripPrefix("/keys") of "/keys": serve it as the root
		// rather than let ServeMux redirect to a "/" outside the mount.
		r2 := r.WithContext(r.Context())
		u := *r.URL
		u.Path, u.RawPath = "/", ""
		r2.URL = &u
		r = r2
	}
	h.mux.ServeHTTP(w, r)
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeProblem(w, newProblem(http.StatusMethodNotAllowed, CodeMethod, "",
			"method %s is not allowed here; use %s", clip(r.Method), allow))
	})
}

// opFunc performs one authorized operation. It returns the status and body
// of a successful response, or an error: a *problem, or anything else
// for a failure of the store. It notes what it did in ev.
type opFunc func(w http.ResponseWriter, r *http.Request, a Actor, ev *event) (int, any, error)

// handle registers fn for pattern: authorize, run, respond, log.
func (h *Handler) handle(pattern string, op Operation, fn opFunc) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		ev := event{op: op, count: -1}
		actor, err := h.authorize(r, op)
		if err != nil {
			p := accessProblem(err)
			h.logEvent(r.Context(), &ev, p)
			writeProblem(w, p)
			return
		}
		ev.actor = &actor
		status, body, err := fn(w, r, actor, &ev)
		if err != nil {
			var p *problem
			if !errors.As(err, &p) {
				p = unavailable(err)
			}
			h.logEvent(r.Context(), &ev, p)
			writeProblem(w, p)
			return
		}
		ev.status = status
		h.logEvent(r.Context(), &ev, nil)
		if body == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, "application/json", body)
	})
}

// accessProblem turns an Authorizer's error into a 401, 403 or 500.
func accessProblem(err error) *problem {
	var p *problem
	switch {
	case errors.Is(err, ErrUnauthenticated):
		p = newProblem(http.StatusUnauthorized, CodeUnauthenticated, "", "authentication is required")
	case errors.Is(err, ErrForbidden):
		p = newProblem(http.StatusForbidden, CodeForbidden, "", "the caller may not perform this operation")
	default:
		p = newProblem(http.StatusInternalServerError, CodeInternal, "", "authorization failed")
	}
	var ae *AccessError
	if p.Status != http.StatusInternalServerError && errors.As(err, &ae) && ae.Detail != "" {
		p.Detail = ae.Detail
	}
	p.cause = err
	return p
}

func unavailable(err error) *problem {
	p := newProblem(http.StatusServiceUnavailable, CodeUnavailable, "", "the key store is unavailable; try again later")
	p.cause = err
	return p
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

// keyID returns the path's key ID or a 404.
func keyID(r *http.Request) (uuid.UUID, string, error) {
	s := r.PathValue("id")
	id, err := parseID(s)
	return id, s, err
}

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

func (h *Handler) get(w http.ResponseWriter, r *http.Request, a Actor, ev *event) (int, any, error) {
	id, raw, err := keyID(r)
	if err != nil {
		return 0, nil, err
	}
	k, err := h.target(r.Context(), id, raw, ev)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, k, nil
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
	ev.setKey(k)
	setLocation(w, r, k.ID, 0)
	return http.StatusCreated, NewKey{k, tok.Reveal()}, nil
}

func (h *Handler) update(w http.ResponseWriter, r *http.Request, a Actor, ev *event) (int, any, error) {
	id, raw, err := keyID(r)
	if err != nil {
		return 0, nil, err
	}
	data, err := readBody(w, r, h.maxBody)
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

func (h *Handler) delete(w http.ResponseWriter, r *http.Request, a Actor, ev *event) (int, any, error) {
	id, raw, err := keyID(r)
	if err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	k, err := h.target(ctx, id, raw, ev)
	if err != nil {
		return 0, nil, err
	}
	if a.KeyID == id {
		return 0, nil, newProblem(http.StatusConflict, CodeSelf, "id", "a key cannot delete itself; use another key")
	}
	if !a.Scopes.Covers(k.Scopes) {
		return 0, nil, escalation(a, k.Scopes, "")
	}
	if err := h.m.Delete(ctx, id); err != nil {
		return 0, nil, managerError(err, raw)
	}
	return http.StatusNoContent, nil, nil
}

func (h *Handler) clone(w http.ResponseWriter, r *http.Request, a Actor, ev *event) (int, any, error) {
	return h.cloneOrRoll(w, r, a, ev, false)
}

func (h *Handler) roll(w http.ResponseWriter, r *http.Request, a Actor, ev *event) (int, any, error) {
	return h.cloneOrRoll(w, r, a, ev, true)
}

func (h *Handler) cloneOrRoll(w http.ResponseWriter, r *http.Request, a Actor, ev *event, roll bool) (int, any, error) {
	id, raw, err := keyID(r)
	if err != nil {
		return 0, nil, err
	}
	data, err := readBody(w, r, h.maxBody)
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
	ev.setKey(k)
	setLocation(w, r, k.ID, 2)
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

// event is what one operation did, for its log record.
type event struct {
	op     Operation
	status int
	actor  *Actor
	keyID  uuid.UUID
	label  string
	scopes string
	expiry time.Time      // the key's; zero if never
	source uuid.UUID      // clone and roll: the original
	active *bool          // update: the requested state
	grace  *time.Duration // roll
	count  int            // list: keys returned; -1 otherwise
}

func (ev *event) setKey(k apikey.Key) {
	ev.keyID, ev.label, ev.scopes, ev.expiry = k.ID, k.Label, k.Scopes.String(), k.ExpiresAt
}

// logEvent writes the one record of an operation; p is its failure, if any.
// It holds no token, digest or secret: keys are logged by ID, label and
// scopes.
func (h *Handler) logEvent(ctx context.Context, ev *event, p *problem) {
	level, status := slog.LevelInfo, ev.status
	if p != nil {
		status = p.Status
		level = slog.LevelWarn
		if status >= 500 {
			level = slog.LevelError
		}
	}
	if !h.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 13)
	attrs = append(attrs, slog.String("op", string(ev.op)), slog.Int("status", status))
	if ev.actor != nil {
		attrs = append(attrs, slog.String("actor", ev.actor.Name))
		if ev.actor.KeyID != uuid.Nil {
			attrs = append(attrs, slog.String("actor_key_id", ev.actor.KeyID.String()))
		}
	}
	if ev.keyID != uuid.Nil {
		attrs = append(attrs, slog.String("key_id", ev.keyID.String()))
	}
	if ev.label != "" {
		attrs = append(attrs, slog.String("label", ev.label))
	}
	if ev.scopes != "" {
		attrs = append(attrs, slog.String("scopes", ev.scopes))
	}
	if !ev.expiry.IsZero() {
		attrs = append(attrs, slog.Time("expires_at", ev.expiry))
	}
	if ev.source != uuid.Nil {
		attrs = append(attrs, slog.String("source_id", ev.source.String()))
	}
	if ev.active != nil {
		attrs = append(attrs, slog.Bool("active", *ev.active))
	}
	if ev.grace != nil {
		attrs = append(attrs, slog.Duration("grace", *ev.grace))
	}
	if ev.count >= 0 {
		attrs = append(attrs, slog.Int("count", ev.count))
	}
	if p != nil {
		attrs = append(attrs, slog.String("code", p.Code))
		if p.cause != nil && status >= 500 {
			attrs = append(attrs, slog.Any("err", p.cause))
		}
	}
	h.log.LogAttrs(ctx, level, "keyapi: "+string(ev.op), attrs...)
}
