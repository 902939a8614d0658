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

// methodNotAllowed answers a request whose method the path does not take:
// 405, naming the methods in allow.
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

// unavailable turns a failure of the key store into a 503 that hides it.
func unavailable(err error) *problem {
	p := newProblem(http.StatusServiceUnavailable, CodeUnavailable, "", "the key store is unavailable; try again later")
	p.cause = err
	return p
}
