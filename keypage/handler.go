package keypage

import (
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/keyapi"
)

// Limits and defaults of the page.
const (
	// DefaultPageSize is how many keys the list shows at a time without
	// Options.PageSize.
	DefaultPageSize = 25
	// maxFormBytes bounds a form's body: room for the longest label,
	// percent-encoded, and a picker of many resources.
	maxFormBytes = 256 << 10
)

// Options configures a [Handler]. Authorize is required; every other field
// documents its default.
type Options struct {
	// Authorize names the person using the page and what they may do:
	// the same [keyapi.Authorizer] an application gives the JSON API,
	// typically [keyapi.AuthorizeRoles] over its session cookie. The page
	// shows and manages only the keys of the Actor's Owner. It offers each
	// control (create, rename, activate, deactivate, clone, roll, delete)
	// only to a person the Authorizer allows that operation, and every
	// change goes through keyapi's rules whatever the page showed.
	// Required.
	Authorize keyapi.Authorizer
	// Catalog lists the resources of the Custom access picker, one row
	// each. Default: the Manager's ([apikey.Manager.Catalog]); one of the
	// two is required.
	Catalog *apikey.Catalog
	// ResourceLabels names resources for people, such as "Data privacy"
	// for "data-privacy". A resource without a label shows its name.
	ResourceLabels map[string]string
	// PageSize is how many keys the list shows at a time, 1 to
	// keyapi.MaxPageSize. Default DefaultPageSize.
	PageSize int
	// SignInURL, if set, is where the page sends a person who is not
	// signed in (the Authorizer returned [keyapi.ErrUnauthenticated]): it
	// shows a link there. It is an application URL such as "/login".
	SignInURL string
	// TrustedOrigins are origins, such as "https://admin.example.com",
	// allowed to send state-changing requests to the page besides its own
	// (see [http.CrossOriginProtection.AddTrustedOrigin]).
	TrustedOrigins []string
	// Logger receives one record per change (through keyapi) and page
	// failures. Default slog.Default().
	Logger *slog.Logger
}

// Handler is the settings page, an [http.Handler]. Mount it with
// [http.StripPrefix] under any path. It is safe for concurrent use.
type Handler struct {
	m         *apikey.Manager
	api       *keyapi.Handler
	authz     keyapi.Authorizer
	catalog   *apikey.Catalog
	resources []resource
	labels    map[string]string
	pageSize  int
	signIn    string
	log       *slog.Logger
	cop       *http.CrossOriginProtection
	mux       *http.ServeMux
	pages     map[string]*template.Template
	sent      sentForms
}

// resource is one row of the Custom picker.
type resource struct {
	Name  string
	Label string
}

// New returns the settings page for the keys of m.
func New(m *apikey.Manager, opts Options) (*Handler, error) {
	if m == nil {
		return nil, errors.New("keypage: manager is nil")
	}
	if opts.Authorize == nil {
		return nil, errors.New("keypage: Options.Authorize is required: it names the person using the page (see keyapi.AuthorizeRoles)")
	}
	catalog := opts.Catalog
	if catalog == nil {
		catalog = m.Catalog()
	}
	if catalog == nil {
		return nil, errors.New("keypage: no catalog: set Options.Catalog or the Manager's Options.Catalog; the Custom access picker lists its resources")
	}
	for name := range opts.ResourceLabels {
		if !catalog.Has(name) || name == apikey.AllResources {
			return nil, fmt.Errorf("keypage: Options.ResourceLabels names %q, which is not in the catalog", name)
		}
	}
	switch {
	case opts.PageSize == 0:
		opts.PageSize = DefaultPageSize
	case opts.PageSize < 0 || opts.PageSize > keyapi.MaxPageSize:
		return nil, fmt.Errorf("keypage: Options.PageSize %d is not between 1 and %d", opts.PageSize, keyapi.MaxPageSize)
	}
	if opts.SignInURL != "" {
		u, err := url.Parse(opts.SignInURL)
		if err != nil || (u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("keypage: Options.SignInURL %q is not an http(s) URL or path", opts.SignInURL)
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	api, err := keyapi.NewHandler(m, keyapi.Options{Authorize: opts.Authorize, Logger: log, MaxBodyBytes: maxFormBytes})
	if err != nil {
		return nil, err
	}
	cop := http.NewCrossOriginProtection()
	for _, o := range opts.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("keypage: Options.TrustedOrigins: %w", err)
		}
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	h := &Handler{
		m:        m,
		api:      api,
		authz:    opts.Authorize,
		catalog:  catalog,
		labels:   opts.ResourceLabels,
		pageSize: opts.PageSize,
		signIn:   opts.SignInURL,
		log:      log,
		cop:      cop,
		mux:      http.NewServeMux(),
		pages:    pages,
	}
	for _, name := range catalog.Resources() {
		h.resources = append(h.resources, resource{Name: name, Label: h.resourceLabel(name)})
	}

	h.mux.HandleFunc("GET /{$}", h.list)
	h.mux.HandleFunc("GET /new", h.newForm)
	h.mux.HandleFunc("POST /new", h.create)
	h.mux.HandleFunc("GET /{id}/rename", h.renameForm)
	h.mux.HandleFunc("POST /{id}/rename", h.rename)
	h.mux.HandleFunc("POST /{id}/activate", h.activate)
	h.mux.HandleFunc("POST /{id}/deactivate", h.deactivate)
	h.mux.HandleFunc("POST /{id}/delete", h.delete)
	h.mux.HandleFunc("POST /{id}/clone", h.clone)
	h.mux.HandleFunc("GET /{id}/roll", h.rollForm)
	h.mux.HandleFunc("POST /{id}/roll", h.roll)
	h.mux.HandleFunc("POST /download", h.download)
	allows := map[string]string{
		"/{$}": "GET, HEAD", "/new": "GET, HEAD, POST", "/{id}/rename": "GET, HEAD, POST",
		"/{id}/activate": "POST", "/{id}/deactivate": "POST", "/{id}/delete": "POST",
		"/{id}/clone": "POST", "/{id}/roll": "GET, HEAD, POST", "/download": "POST",
	}
	for _, name := range assetNames {
		h.mux.HandleFunc("GET /"+name, serveStatic)
		allows["/"+name] = "GET, HEAD"
	}
	for pattern, allow := range allows {
		h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			h.fail(w, r, http.StatusMethodNotAllowed, "This address does not take that kind of request.")
		})
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, http.StatusNotFound, "There is no such page.")
	})
	return h, nil
}

// resourceLabel names a resource for people.
func (h *Handler) resourceLabel(name string) string {
	if name == apikey.AllResources {
		return "All resources"
	}
	if l, ok := h.labels[name]; ok {
		return l
	}
	return name
}

// ServeHTTP serves the page. Every answer carries the page's security
// headers; a state-changing request from another origin is refused with 403
// before anything else runs.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if r.URL.Path == "" {
		// StripPrefix("/settings/api-keys") of "/settings/api-keys": the
		// page's links are relative to the trailing slash.
		http.Redirect(w, r, mountPath(r)+"/", http.StatusSeeOther)
		return
	}
	if err := h.cop.Check(r); err != nil {
		h.log.WarnContext(r.Context(), "keypage: cross-origin request refused",
			"method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		h.fail(w, r, http.StatusForbidden,
			"This request came from another site, so it was refused: changes to API keys can only be made from this page.")
		return
	}
	h.mux.ServeHTTP(w, r)
}

// contentSecurityPolicy allows the page's own style sheet and script and
// nothing else: no inline script or style, no framing, forms posting only
// back to the page's origin.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// setSecurityHeaders sets the headers every answer of the page carries.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// mountPath returns the path the page is mounted under, without a trailing
// slash: the request's path as the client sent it, less the path
// http.StripPrefix left. It is "" when the page serves at the root.
func mountPath(r *http.Request) string {
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil {
		return ""
	}
	full, rest := u.EscapedPath(), r.URL.EscapedPath()
	base, ok := strings.CutSuffix(full, rest)
	if !ok || !strings.HasPrefix(base, "/") || strings.HasPrefix(base, "//") {
		// Not a path on this host that links can start with.
		return ""
	}
	return base
}

// permissions are the operations the person may perform, as the
// Authorizer answers for the page's request.
type permissions map[keyapi.Operation]bool

// writeOps are the operations whose controls the page shows only to those
// allowed them.
var writeOps = []keyapi.Operation{keyapi.OpCreate, keyapi.OpRename, keyapi.OpDeactivate,
	keyapi.OpReactivate, keyapi.OpClone, keyapi.OpRoll, keyapi.OpDelete}

// Manages reports whether the person may do anything but look.
func (p permissions) Manages() bool {
	return slices.ContainsFunc(writeOps, func(op keyapi.Operation) bool { return p[op] })
}

// Create, Rename, ... report whether the person may perform each
// operation; templates call them.
func (p permissions) Create() bool     { return p[keyapi.OpCreate] }
func (p permissions) Rename() bool     { return p[keyapi.OpRename] }
func (p permissions) Deactivate() bool { return p[keyapi.OpDeactivate] }
func (p permissions) Reactivate() bool { return p[keyapi.OpReactivate] }
func (p permissions) Clone() bool      { return p[keyapi.OpClone] }
func (p permissions) Roll() bool       { return p[keyapi.OpRoll] }
func (p permissions) Delete() bool     { return p[keyapi.OpDelete] }

// principal asks the Authorizer who the person is (as for a list) and what
// they may do. It answers the request itself, and returns ok false, when
// the person may not see the page.
func (h *Handler) principal(w http.ResponseWriter, r *http.Request) (keyapi.Actor, permissions, bool) {
	a, err := h.authz(r, keyapi.OpList)
	if err != nil {
		h.refuse(w, r, err)
		return keyapi.Actor{}, nil, false
	}
	can := permissions{keyapi.OpList: true}
	for _, op := range writeOps {
		_, err := h.authz(r, op)
		switch {
		case err == nil:
			can[op] = true
		case !errors.Is(err, keyapi.ErrForbidden):
			// A failure (of the session store, say), not a refusal: show
			// it rather than a page that looks read-only.
			h.refuse(w, r, err)
			return keyapi.Actor{}, nil, false
		}
	}
	return a, can, true
}

// refuse answers a request the Authorizer refused with err.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, keyapi.ErrUnauthenticated):
		h.render(w, r, http.StatusUnauthorized, "signin", &view{Title: "Sign in to manage API keys", SignInURL: h.signIn})
	case errors.Is(err, keyapi.ErrForbidden):
		h.fail(w, r, http.StatusForbidden, "You may not see this account's API keys.")
	default:
		h.log.ErrorContext(r.Context(), "keypage: the Authorizer failed", "err", err)
		h.fail(w, r, http.StatusInternalServerError, "Something went wrong on our side. Try again in a moment.")
	}
}

// now returns the Manager's time.
func (h *Handler) now() time.Time { return h.m.Now() }
