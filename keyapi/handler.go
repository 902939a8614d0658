package keyapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

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
	m       *apikey.Manager
	authz   Authorizer
	log     *slog.Logger
	maxBody int64
	mux     *http.ServeMux
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
		m:       m,
		authz:   opts.Authorize,
		log:     opts.Logger,
		maxBody: opts.MaxBodyBytes,
		mux:     http.NewServeMux(),
	}
	if h.authz == nil {
		h.authz = AuthorizeKey
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
	h.route("PATCH /{id}", "patch", h.update) // authorizes each change itself
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

// methodNotAllowed answers a request whose method the path does not take:
// 405, naming the methods in allow.
func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeProblem(w, newProblem(http.StatusMethodNotAllowed, CodeMethod, "",
			"method %s is not allowed here; use %s", clip(r.Method), allow))
	})
}

// opFunc performs one operation for the authorized actor a. It returns the
// status and body of a successful response, or an error: a *problem, or
// anything else for a failure of the store. It notes what it did in ev.
type opFunc func(w http.ResponseWriter, r *http.Request, a Actor, ev *event) (int, any, error)

// routeFunc performs an operation that authorizes itself, with
// h.authorize, and returns as an opFunc does.
type routeFunc func(w http.ResponseWriter, r *http.Request, ev *event) (int, any, error)

// handle registers fn for pattern: authorize op before anything else, run,
// respond, log.
func (h *Handler) handle(pattern string, op Operation, fn opFunc) {
	h.route(pattern, string(op), func(w http.ResponseWriter, r *http.Request, ev *event) (int, any, error) {
		a, err := h.authorize(r, ev, op)
		if err != nil {
			return 0, nil, err
		}
		return fn(w, r, a, ev)
	})
}

// route registers fn, which authorizes the request itself, for pattern:
// run, respond, log. op names the operation in the log until fn knows
// better.
func (h *Handler) route(pattern, op string, fn routeFunc) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		ev := event{op: op, count: -1}
		if k, ok := apikey.FromContext(r.Context()); ok {
			// Until the Authorizer names the actor, or when it refuses or
			// the request is malformed, the log names the calling key.
			ev.actor = &Actor{Name: k.Label, KeyID: k.ID, Owner: k.Owner}
		}
		status, body, err := fn(w, r, &ev)
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

// authorize asks the Authorizer about each of ops in turn, and returns the
// actor if it allows them all, or the problem to answer: the first refusal,
// or a 500 if the Authorizer names an invalid owner or, across ops,
// different actors. It records the actor in ev.
func (h *Handler) authorize(r *http.Request, ev *event, ops ...Operation) (Actor, error) {
	a, err := h.authz(r, ops[0])
	if err != nil {
		return Actor{}, accessProblem(err)
	}
	ev.actor = &a
	if err := apikey.CheckOwner(a.Owner); err != nil {
		return Actor{}, authorizerBug(fmt.Errorf("keyapi: the Authorizer's Actor.Owner for %s: %w", ops[0], err))
	}
	for _, op := range ops[1:] {
		if err := h.authorizeAlso(r, a, op); err != nil {
			return Actor{}, err
		}
	}
	return a, nil
}

// authorizeAlso asks the Authorizer about op for a request it already let
// through as actor a, and returns the problem to answer if it refuses op or
// names a different actor.
func (h *Handler) authorizeAlso(r *http.Request, a Actor, op Operation) error {
	b, err := h.authz(r, op)
	if err != nil {
		return accessProblem(err)
	}
	if !sameActor(a, b) {
		return authorizerBug(fmt.Errorf("keyapi: the Authorizer returned actor %q of owner %q, then actor %q of owner %q for %s, in one request",
			a.Name, a.Owner, b.Name, b.Owner, op))
	}
	return nil
}

// sameActor reports whether a and b are the same caller with the same
// rights.
func sameActor(a, b Actor) bool {
	return a.Owner == b.Owner && a.Name == b.Name && a.KeyID == b.KeyID &&
		a.Scopes.Equal(b.Scopes) && a.ExpiresAt.Equal(b.ExpiresAt)
}

// authorizerBug is the 500 for an Authorizer that returned something the
// handler cannot act on; err, the cause, is logged.
func authorizerBug(err error) *problem {
	p := newProblem(http.StatusInternalServerError, CodeInternal, "", "authorization failed")
	p.cause = err
	return p
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

// unavailable turns a failure of the key store into a 503 that hides it.
func unavailable(err error) *problem {
	p := newProblem(http.StatusServiceUnavailable, CodeUnavailable, "", "the key store is unavailable; try again later")
	p.cause = err
	return p
}
