package apikey

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Route is one entry of a [Policy] table: the paths a pattern matches, the
// resource they serve, and the related resources a client may ask to
// include. A Route is plain data; NewPolicy copies what it needs, so
// changing a Route afterwards has no effect on the Policy.
type Route struct {
	// Pattern is a net/http ServeMux pattern without a method, such as
	// "/api/profiles/{id}", "/api/files/" or "example.com/api/lists". It
	// must be the pattern the application's router serves the route
	// under. The method is left out because the policy derives the access
	// level from the request method.
	Pattern string

	// Resource is the catalog resource the route serves. GET and HEAD
	// need read access to it; POST, PUT, PATCH and DELETE need write
	// access. "*" makes the route need the wildcard grant ("*:read" or
	// "*:write"), for routes that reach across every resource.
	Resource string

	// Includes are the catalog resources a client may ask for with the
	// "include" query parameter, as in "/api/profiles?include=lists".
	// Each included resource needs read access, whatever the method.
	Includes []string
}

// maxIncludeValues bounds the include values of one request and the
// Includes of one Route.
const maxIncludeValues = 32

// includeParam is the query parameter that names included relations.
const includeParam = "include"

// Policy maps request paths to the scopes they require. It matches paths
// with net/http's own ServeMux, so it decides on the same path the router
// serves. A Policy is immutable and safe for concurrent use.
//
// For a request, the method decides the access level: GET and HEAD need
// read access to the route's resource, and POST, PUT, PATCH and DELETE need
// write access. Every other method is refused with [ErrMethodNotAllowed]
// (answered 405), OPTIONS included: answer CORS preflight requests in
// middleware placed before the policy. Method overrides such as the
// X-HTTP-Method-Override header or a _method parameter are ignored, so a
// handler must not honour them either.
//
// A request whose path matches no route is refused with [ErrNoRoute]
// (answered 404). So is a path the router would not serve as it stands but
// redirect: one with "//", "." or ".." segments, or a missing trailing slash
// ("/api/files" for the route "/api/files/"). Matching is case-sensitive
// and, as in ServeMux, percent-encoded characters match their decoded form
// within one path segment ("%2F" never splits a segment).
//
// Each value of the "include" query parameter names a relation to return
// with the resource; the parameter may repeat and each value may be a
// comma-separated list ("include=lists,owners&include=tags"). Every value
// must be one of the route's Includes and adds read access to that resource
// to the requirement; anything else is an [*IncludeError] (answered 400).
// An empty parameter ("include=") asks for nothing; an empty item in a list
// ("lists,,tags") is an error. At most 32 values are accepted. Handlers must
// read includes from the URL's query ([net/url.URL.Query]), which the policy
// reads too, and not from a request body.
type Policy struct {
	mux *http.ServeMux // patterns without methods; each handler is a *policyRoute
}

// policyRoute is a compiled Route. It is the handler registered in the
// Policy's ServeMux, so that ServeMux.Handler reports which route matched.
type policyRoute struct {
	pattern  string
	resource string
	includes []string
}

// ServeHTTP is never called: the Policy's ServeMux is only asked for its
// handler. Should it be, it refuses.
func (*policyRoute) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusForbidden)
}

// NewPolicy compiles a route table against catalog. It reports an error
// naming the route for a pattern that is invalid, names a method, or
// conflicts with another route's pattern (as ServeMux defines conflicts),
// for a missing or unknown resource, and for an include that is not a
// catalog resource or is listed twice.
func NewPolicy(catalog *Catalog, routes []Route) (*Policy, error) {
	if catalog == nil {
		return nil, errors.New("apikey: NewPolicy needs a Catalog")
	}
	if len(routes) == 0 {
		return nil, errors.New("apikey: policy has no routes")
	}
	p := &Policy{mux: http.NewServeMux()}
	for i, rt := range routes {
		pr, err := compileRoute(catalog, rt)
		if err != nil {
			return nil, err
		}
		if err := register(p.mux, pr); err != nil {
			return nil, conflictError(routes[:i], rt, err)
		}
	}
	return p, nil
}

func compileRoute(c *Catalog, rt Route) (*policyRoute, error) {
	if rt.Pattern == "" {
		return nil, errors.New("apikey: policy route has an empty pattern")
	}
	if strings.ContainsAny(rt.Pattern, " \t") {
		return nil, fmt.Errorf("apikey: policy route %q names a method: the request method decides the access level, so leave it out", rt.Pattern)
	}
	if rt.Resource == "" {
		return nil, fmt.Errorf("apikey: policy route %q has no resource", rt.Pattern)
	}
	if !c.Has(rt.Resource) {
		return nil, c.unknown(fmt.Sprintf("policy route %q: ", rt.Pattern), "", rt.Resource)
	}
	if len(rt.Includes) > maxIncludeValues {
		return nil, fmt.Errorf("apikey: policy route %q has %d includes, more than %d", rt.Pattern, len(rt.Includes), maxIncludeValues)
	}
	for i, inc := range rt.Includes {
		switch {
		case inc == AllResources:
			return nil, fmt.Errorf("apikey: policy route %q: include %q is not a resource", rt.Pattern, inc)
		case !c.Has(inc):
			return nil, c.unknown(fmt.Sprintf("policy route %q: include: ", rt.Pattern), "", inc)
		}
		for _, prev := range rt.Includes[:i] {
			if prev == inc {
				return nil, fmt.Errorf("apikey: policy route %q lists include %q twice", rt.Pattern, inc)
			}
		}
	}
	pr := &policyRoute{pattern: rt.Pattern, resource: rt.Resource, includes: append([]string(nil), rt.Includes...)}
	if err := register(http.NewServeMux(), pr); err != nil {
		return nil, fmt.Errorf("apikey: policy route %q: invalid pattern: %w", rt.Pattern, err)
	}
	return pr, nil
}

// register adds pr to mux, turning ServeMux's panic on an invalid or
// conflicting pattern into an error.
func register(mux *http.ServeMux, pr *policyRoute) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if e, ok := v.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", v)
			}
		}
	}()
	mux.Handle(pr.pattern, pr)
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
		register(mux, &policyRoute{pattern: prev.Pattern})
		if register(mux, &policyRoute{pattern: rt.Pattern}) != nil {
			return fmt.Errorf("apikey: policy route %q conflicts with route %q%s", rt.Pattern, prev.Pattern, why)
		}
	}
	return fmt.Errorf("apikey: policy route %q: %w", rt.Pattern, err)
}

// Required returns the scopes the request r needs: access to the matched
// route's resource by method, plus read access to each included resource.
// It returns an error wrapping ErrMethodNotAllowed or ErrNoRoute, or an
// [*IncludeError]. It does not look at credentials.
func (p *Policy) Required(r *http.Request) ([]Scope, error) {
	return p.required(r, nil)
}

// required appends the scopes r needs to buf. With buf of capacity
// 1+maxIncludeValues it does not allocate for a matched route.
func (p *Policy) required(r *http.Request, buf []Scope) ([]Scope, error) {
	var acc Access
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		acc = Read
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		acc = Write
	default:
		return nil, fmt.Errorf("%w: %q", ErrMethodNotAllowed, r.Method)
	}
	h, _ := p.mux.Handler(r)
	rt, ok := h.(*policyRoute)
	if !ok {
		// ServeMux answers a path it has no route for with NotFound, and
		// a path it would serve only once cleaned (or with a trailing
		// slash added) with a redirect: both are refusals here.
		return nil, fmt.Errorf("%w: %q", ErrNoRoute, r.URL.EscapedPath())
	}
	buf = append(buf, Scope{Resource: rt.resource, Access: acc})
	var arr [maxIncludeValues]string
	values, ie := parseIncludes(r.URL.RawQuery, arr[:0])
	if ie != nil {
		ie.Route = rt.pattern
		return nil, ie
	}
	base := len(buf)
outer:
	for _, v := range values {
		res := ""
		for _, inc := range rt.includes {
			if inc == v {
				res = inc
				break
			}
		}
		if res == "" {
			return nil, &IncludeError{Route: rt.pattern, Value: v, Reason: "is not an include of this route"}
		}
		for _, s := range buf[base:] {
			if s.Resource == res {
				continue outer
			}
		}
		buf = append(buf, Scope{Resource: res, Access: Read})
	}
	return buf, nil
}

// parseIncludes appends to dst every value of the include parameter in
// rawQuery, split at commas and trimmed of spaces. It finds at least every
// value that net/url's ParseQuery finds, and more: it also splits at ';' and
// recognises a percent-encoded parameter name, so that no handler reading
// the query another way can see an include the policy has not checked. It
// fails on an empty item in a non-empty list, a value that is not valid
// query encoding, and more than maxIncludeValues values.
func parseIncludes(rawQuery string, dst []string) ([]string, *IncludeError) {
	for rawQuery != "" {
		var pair string
		if i := strings.IndexAny(rawQuery, "&;"); i >= 0 {
			pair, rawQuery = rawQuery[:i], rawQuery[i+1:]
		} else {
			pair, rawQuery = rawQuery, ""
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
