package apikey

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Route is one entry of a [Router]'s table: a pattern, the handler that
// serves it, and what a key needs to reach that handler. Registering a
// route and its requirement is one step, so a handler cannot be served
// without its requirement and the two cannot drift apart. A Route is plain
// data; NewRouter copies what it needs, so changing a Route afterwards has
// no effect on the Router.
type Route struct {
	// Pattern is a net/http ServeMux pattern that names its method, such
	// as "GET /api/profiles/{id}", "POST /api/files/upload" or
	// "GET example.com/static/". The method is one of GET (which also
	// serves HEAD), HEAD, POST, PUT, PATCH and DELETE. A pattern without a
	// method is refused: serve each method as its own route.
	Pattern string

	// Resource is the catalog resource the route serves. "*" makes the
	// route need the wildcard grant ("*:read" or "*:write"), for routes
	// that reach across every resource.
	Resource string

	// Access is the access to Resource the route needs. The zero value
	// derives it from the pattern's method: GET and HEAD need Read; POST,
	// PUT, PATCH and DELETE need Write. Set it where the method misleads,
	// such as Read for "POST /api/contacts/search", which only reads. It
	// is taken as declared, even Read on a DELETE: the handler must then
	// change nothing.
	Access Access

	// Includes are the catalog resources a client may ask for with the
	// "include" query parameter, as in "/api/profiles?include=lists".
	// Each included resource needs read access, whatever the method.
	Includes []string

	// Handler serves the route once the request's key grants what the
	// route needs. The handler reads the key with [FromContext].
	Handler http.Handler
}

// RouteInfo describes one route of a [Router], for an application to
// publish the scopes each endpoint needs (see [Router.Routes]).
type RouteInfo struct {
	// Method is the pattern's method, such as "GET".
	Method string `json:"method"`
	// Pattern is the pattern without its method, such as
	// "/api/profiles/{id}".
	Pattern string `json:"pattern"`
	// Scope is the scope the route needs, such as "profiles:read".
	Scope string `json:"scope"`
	// Includes are the values the route accepts in its "include" query
	// parameter; each adds the scope "<include>:read" to the requirement.
	Includes []string `json:"includes,omitempty"`
}

// maxIncludeValues bounds the include values of one request and the
// Includes of one Route.
const maxIncludeValues = 32

// includeParam is the query parameter that names included relations.
const includeParam = "include"

// Router serves a route table behind a [Guard]: an [http.ServeMux] in which
// every route's handler sits behind its own requirement, so that the scopes
// a request needs are decided by the route that actually serves it. A
// Router is immutable and safe for concurrent use.
//
// For each request it serves, the Router's ServeMux picks the route as
// ServeMux always does (methods, wildcards, precedence, PathValue and
// r.Pattern included), and that route's handler then authenticates the
// request and requires its key to grant the route's Access to its Resource,
// plus read access to each included resource. Method overrides such as the
// X-HTTP-Method-Override header or a _method parameter are ignored, so a
// handler must not honour them either.
//
// A request no route serves is refused after authentication, so that a
// request without a valid key cannot tell a missing route from a missing
// method: with a [*MethodError] (answered 405, with an Allow header listing
// the methods the path is served with) when the path has routes for other
// methods, and [ErrNoRoute] (answered 404) otherwise. OPTIONS is never
// served: answer CORS preflight requests in middleware placed before the
// Router. As ServeMux always does, a path that is not in canonical form
// ("//", "." or ".." segments) or lacks the trailing slash of a subtree
// route is answered with a redirect to the canonical path before any
// authentication: no handler runs, and the target is checked like any
// request, but a client without a key can learn from the trailing-slash
// redirect that a subtree route ("GET /static/") exists. Matching is
// case-sensitive, and percent-encoded characters match their decoded form
// within one path segment ("%2F" never splits a segment).
//
// Each value of the "include" query parameter names a relation to return
// with the resource; the parameter may repeat and each value may be a
// comma-separated list ("include=lists,owners&include=tags"). Every value
// must be one of the route's Includes and adds read access to that resource
// to the requirement; anything else is an [*IncludeError] (answered 400).
// An empty parameter ("include=") asks for nothing; an empty item in a list
// ("lists,,tags") is an error. At most 32 values are accepted. Handlers must
// read includes from the URL's query, not from a request body; [Includes]
// returns them exactly as the Router read them.
//
// Routers other than ServeMux, such as chi, take the same table with
// [Router.Register].
type Router struct {
	g      *Guard
	mux    *http.ServeMux // each handler is a *route, or the *unrouted catch-all
	routes []*route       // in table order
}

// route is a compiled Route: the handler registered for its pattern.
type route struct {
	g        *Guard
	pattern  string // as written in the Route
	method   string
	path     string // the pattern without its method
	need     Scope  // the route's own requirement
	includes []string
	next     http.Handler
}

// unrouted is the Router's catch-all handler, which refuses every request
// no route serves.
type unrouted struct{ rt *Router }

// NewRouter compiles a route table against catalog and returns a Router
// that serves it behind g. It reports an error naming the route for a
// pattern that is invalid, has white space at either end, names no method
// or a method other than GET, HEAD, POST, PUT, PATCH or DELETE, or
// conflicts with another route's pattern (as ServeMux defines conflicts);
// for a missing or unknown resource, an Access other than the zero value,
// Read or Write, a nil Handler, more than 32 includes, and an include that
// is "*", is not a catalog resource or is listed twice. It also fails when
// ServeMux does not understand methods in patterns (GODEBUG
// httpmuxgo121=1), rather than build a Router that would refuse every
// request.
func NewRouter(g *Guard, catalog *Catalog, routes []Route) (*Router, error) {
	switch {
	case g == nil:
		return nil, errors.New("apikey: NewRouter needs a Guard")
	case catalog == nil:
		return nil, errors.New("apikey: NewRouter needs a Catalog")
	case len(routes) == 0:
		return nil, errors.New("apikey: route table has no routes")
	}
	if !muxHasMethods() {
		return nil, errors.New("apikey: NewRouter needs ServeMux patterns with methods, which GODEBUG httpmuxgo121=1 turns off")
	}
	rt := &Router{g: g, mux: http.NewServeMux(), routes: make([]*route, 0, len(routes))}
	for i, r := range routes {
		cr, err := compileRoute(g, catalog, r)
		if err != nil {
			return nil, err
		}
		if err := register(rt.mux, r.Pattern, cr); err != nil {
			return nil, conflictError(routes[:i], r, err)
		}
		rt.routes = append(rt.routes, cr)
	}
	// Every route names a method, so this method-less catch-all conflicts
	// with none of them and is chosen only when no route matches.
	if err := register(rt.mux, "/", &unrouted{rt}); err != nil {
		return nil, fmt.Errorf("apikey: route table: %w", err)
	}
	return rt, nil
}

// muxHasMethods reports whether ServeMux matches methods in patterns, as
// it does since Go 1.22 unless GODEBUG httpmuxgo121=1 restores the old
// patterns.
var muxHasMethods = sync.OnceValue(func() bool {
	mux := http.NewServeMux()
	mux.Handle("GET /probe", http.NotFoundHandler())
	_, pattern := mux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/probe"}})
	return pattern == "GET /probe"
})

// routeMethods are the methods a route's pattern may name.
var routeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

func compileRoute(g *Guard, c *Catalog, rt Route) (*route, error) {
	if rt.Pattern == "" {
		return nil, errors.New("apikey: route has an empty pattern")
	}
	if strings.TrimSpace(rt.Pattern) != rt.Pattern {
		return nil, fmt.Errorf("apikey: route %q has white space at an end", rt.Pattern)
	}
	// ServeMux separates the method from the path with spaces or tabs.
	i := strings.IndexAny(rt.Pattern, " \t")
	if i < 0 {
		return nil, fmt.Errorf("apikey: route %q names no method: write one route per method, as in %q", rt.Pattern, "GET "+rt.Pattern)
	}
	method, path := rt.Pattern[:i], strings.TrimLeft(rt.Pattern[i:], " \t")
	if !slices.Contains(routeMethods, method) {
		return nil, fmt.Errorf("apikey: route %q: method %q is not one of %s", rt.Pattern, method, strings.Join(routeMethods, ", "))
	}
	if rt.Resource == "" {
		return nil, fmt.Errorf("apikey: route %q has no resource", rt.Pattern)
	}
	if !c.Has(rt.Resource) {
		return nil, c.unknown(fmt.Sprintf("route %q: ", rt.Pattern), "", rt.Resource)
	}
	need := Scope{Resource: rt.Resource, Access: rt.Access}
	switch rt.Access {
	case None:
		need.Access = Write
		if method == http.MethodGet || method == http.MethodHead {
			need.Access = Read
		}
	case Read, Write:
	default:
		return nil, fmt.Errorf("apikey: route %q: access %d is neither Read nor Write", rt.Pattern, rt.Access)
	}
	if rt.Handler == nil {
		return nil, fmt.Errorf("apikey: route %q has no handler", rt.Pattern)
	}
	if len(rt.Includes) > maxIncludeValues {
		return nil, fmt.Errorf("apikey: route %q has %d includes, more than %d", rt.Pattern, len(rt.Includes), maxIncludeValues)
	}
	for i, inc := range rt.Includes {
		switch {
		case inc == AllResources:
			return nil, fmt.Errorf("apikey: route %q: include %q is not a resource", rt.Pattern, inc)
		case !c.Has(inc):
			return nil, c.unknown(fmt.Sprintf("route %q: include: ", rt.Pattern), "", inc)
		}
		if slices.Contains(rt.Includes[:i], inc) {
			return nil, fmt.Errorf("apikey: route %q lists include %q twice", rt.Pattern, inc)
		}
	}
	cr := &route{g: g, pattern: rt.Pattern, method: method, path: path, need: need, includes: slices.Clone(rt.Includes), next: rt.Handler}
	if err := register(http.NewServeMux(), rt.Pattern, cr); err != nil {
		return nil, fmt.Errorf("apikey: route %q: invalid pattern: %w", rt.Pattern, err)
	}
	return cr, nil
}

// register adds h to mux under pattern, turning ServeMux's panic on an
// invalid or conflicting pattern into an error.
func register(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if e, ok := v.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", v)
			}
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// conflictError names the earlier route that rt's pattern conflicts with.
// ServeMux's own message says where the patterns were registered, which is
// inside this package and of no use to the caller; its explanation of the
// conflict is kept.
func conflictError(earlier []Route, rt Route, err error) error {
	why := ""
	if _, after, ok := strings.Cut(err.Error(), ":\n"); ok {
		why = ": " + strings.ReplaceAll(after, "\n", " ")
	}
	for _, prev := range earlier {
		mux := http.NewServeMux()
		register(mux, prev.Pattern, http.NotFoundHandler())
		if register(mux, rt.Pattern, http.NotFoundHandler()) != nil {
			return fmt.Errorf("apikey: route %q conflicts with route %q%s", rt.Pattern, prev.Pattern, why)
		}
	}
	return fmt.Errorf("apikey: route %q: %w", rt.Pattern, err)
}

// ServeHTTP serves r with the route the Router's ServeMux picks for it,
// behind that route's requirement.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt.mux.ServeHTTP(w, r)
}

// Register registers every route of the table with another router, each
// handler behind its requirement, by calling handle with the route's
// method, its pattern without the method, and the guarded handler. Its
// signature is that of chi's Router.Method, so that a chi app writes:
//
//	router.Register(r.Method) // r is a chi.Router
//
// Whatever route the other router picks, its handler checks its own
// requirement, so no handler is reached without it. The patterns are passed
// as written, though, and only plain ones mean the same in chi as in
// ServeMux: literal segments and "{name}" wildcards. In chi a trailing "/"
// is no subtree, "{name...}" matches one segment, "{$}" is a wildcard named
// "$", a "*" segment matches the rest of the path, a host pattern panics,
// r.Pattern lacks the method and PathValue is not unescaped; and
// [Router.Check] and [Router.Required] still answer for ServeMux. Requests
// the other router routes nowhere are answered by its own not-found and
// method-not-allowed handlers, without authentication.
func (rt *Router) Register(handle func(method, pattern string, h http.Handler)) {
	for _, cr := range rt.routes {
		handle(cr.method, cr.path, cr)
	}
}

// Routes describes the table, one entry per route in table order, with
// the scope each needs and the includes it accepts. The slices are the
// caller's to keep.
func (rt *Router) Routes() []RouteInfo {
	out := make([]RouteInfo, len(rt.routes))
	for i, cr := range rt.routes {
		out[i] = RouteInfo{Method: cr.method, Pattern: cr.path, Scope: cr.need.String(), Includes: slices.Clone(cr.includes)}
	}
	return out
}

// Required returns the scopes r needs: the Access to the Resource of the
// route the Router would serve r with, plus read access to each included
// resource. It returns an [*MethodError] (wrapping ErrMethodNotAllowed),
// an error wrapping ErrNoRoute (also for a path the Router would redirect),
// or an [*IncludeError]. It does not look at credentials.
func (rt *Router) Required(r *http.Request) ([]Scope, error) {
	h, _ := rt.mux.Handler(r)
	cr, ok := h.(*route)
	if !ok {
		return nil, rt.refusal(r)
	}
	return cr.required(r, nil)
}

// Check authenticates r and requires its key to grant what [Router.Required]
// says r needs, without serving it or writing anything: the decision
// ServeHTTP takes, for tests and custom servers (except that where
// ServeHTTP redirects to a canonical path, Check refuses). Authentication
// comes first, so a request without a valid key learns nothing about the
// routes. It returns the key, or the error of [Guard.Authenticate], of
// Required, or an [*InsufficientScopeError].
func (rt *Router) Check(r *http.Request) (Key, error) {
	h, _ := rt.mux.Handler(r)
	if cr, ok := h.(*route); ok {
		return public(cr.check(r))
	}
	return Key{}, rt.refuse(r)
}

// ServeHTTP serves r with the route's handler if the request's key grants
// what the route needs, and refuses it with the Guard's ErrorHandler
// otherwise.
func (cr *route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k, err := cr.check(r)
	if err != nil {
		cr.g.onError(w, r, err)
		return
	}
	cr.next.ServeHTTP(w, r.WithContext(newRefContext(r.Context(), k)))
}

// inlineIncludes is how many include values a request may give before the
// Router allocates to check them. The buffers live on the stack, which
// zeroes them on every request, so they are sized for the usual request
// rather than for the limit of maxIncludeValues.
const inlineIncludes = 4

// check authenticates r and requires its key to grant what the route
// needs. It does not allocate for a request it lets through with at most
// inlineIncludes include values.
func (cr *route) check(r *http.Request) (*Key, error) {
	k, err := cr.g.authenticate(r)
	if err != nil {
		return nil, err
	}
	var buf [1 + inlineIncludes]Scope
	required, err := cr.required(r, buf[:0])
	if err != nil {
		return nil, err
	}
	if !k.Scopes.AllowsAll(required...) {
		return nil, insufficient(k, required)
	}
	return k, nil
}

// required appends the scopes r needs to buf: the route's own, then read
// access to each included resource. With buf of capacity 1+inlineIncludes
// it does not allocate for up to inlineIncludes include values.
func (cr *route) required(r *http.Request, buf []Scope) ([]Scope, error) {
	buf = append(buf, cr.need)
	if r.URL.RawQuery == "" {
		return buf, nil
	}
	var arr [inlineIncludes]string
	values, ie := parseIncludes(r.URL.RawQuery, arr[:0])
	if ie != nil {
		ie.Route = cr.pattern
		return nil, ie
	}
	base := len(buf)
outer:
	for _, v := range values {
		if !slices.Contains(cr.includes, v) {
			return nil, &IncludeError{Route: cr.pattern, Value: v, Reason: "is not an include of this route"}
		}
		for _, s := range buf[base:] {
			if s.Resource == v {
				continue outer
			}
		}
		buf = append(buf, Scope{Resource: v, Access: Read})
	}
	return buf, nil
}

// ServeHTTP refuses r, which no route serves.
func (u *unrouted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.rt.g.onError(w, r, u.rt.refuse(r))
}

// refuse returns the error a request no route serves is refused with:
// authentication's, so that a request without a valid key learns nothing
// about the routes, or else the refusal.
func (rt *Router) refuse(r *http.Request) error {
	if _, err := rt.g.authenticate(r); err != nil {
		return err
	}
	return rt.refusal(r)
}

// refusal returns the error r is refused with when no route serves it: a
// [*MethodError] naming the methods its path is served with, if any, and
// ErrNoRoute otherwise.
func (rt *Router) refusal(r *http.Request) error {
	var allowed []string
	probe := *r
	for _, m := range routeMethods {
		probe.Method = m
		if h, _ := rt.mux.Handler(&probe); isRoute(h) {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) == 0 {
		return fmt.Errorf("%w: %q", ErrNoRoute, r.URL.EscapedPath())
	}
	return &MethodError{Method: r.Method, Allowed: allowed}
}

func isRoute(h http.Handler) bool {
	_, ok := h.(*route)
	return ok
}

// Includes returns the values of r's "include" query parameter as a
// [Router] reads them: split at commas (and, like the Router, at ';'
// between parameters), trimmed of spaces and tabs, each once, in the order
// first given. Handlers behind a Router should read includes with it, so
// that they act on exactly the values the Router checked. It returns an
// [*IncludeError] for a parameter the Router would refuse.
func Includes(r *http.Request) ([]string, error) {
	var arr [maxIncludeValues]string
	values, ie := parseIncludes(r.URL.RawQuery, arr[:0])
	if ie != nil {
		return nil, ie
	}
	var out []string
	for _, v := range values {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// parseIncludes appends to dst every value of the include parameter in
// rawQuery, split at commas and trimmed of spaces. It finds at least every
// value that net/url's ParseQuery finds, and more: it also splits at ';' and
// recognises a percent-encoded parameter name, so that no handler reading
// the query another way can see an include the Router has not checked. It
// fails on an empty item in a non-empty list, a value that is not valid
// query encoding, and more than maxIncludeValues values.
func parseIncludes(rawQuery string, dst []string) ([]string, *IncludeError) {
	for rawQuery != "" {
		pair := rawQuery
		rawQuery = ""
		for i := 0; i < len(pair); i++ { // strings.IndexAny(pair, "&;"), which costs several times more
			if pair[i] == '&' || pair[i] == ';' {
				pair, rawQuery = pair[:i], pair[i+1:]
				break
			}
		}
		key, value, _ := strings.Cut(pair, "=")
		if !isIncludeKey(key) {
			continue
		}
		if strings.ContainsAny(value, "%+") {
			v, err := url.QueryUnescape(value)
			if err != nil {
				return dst, &IncludeError{Reason: "is not valid query encoding"}
			}
			value = v
		}
		if trimSP(value) == "" {
			continue // "include=" asks for nothing
		}
		for {
			item, rest, more := strings.Cut(value, ",")
			item = trimSP(item)
			if item == "" {
				return dst, &IncludeError{Reason: "has an empty item"}
			}
			if len(dst) == maxIncludeValues {
				return dst, &IncludeError{Reason: fmt.Sprintf("has more than %d values", maxIncludeValues)}
			}
			dst = append(dst, item)
			if !more {
				break
			}
			value = rest
		}
	}
	return dst, nil
}

// isIncludeKey reports whether a raw query key decodes to "include".
func isIncludeKey(key string) bool {
	if key == includeParam {
		return true
	}
	if len(key) < len(includeParam) || !strings.ContainsAny(key, "%+") {
		return false
	}
	k, err := url.QueryUnescape(key)
	return err == nil && k == includeParam
}
