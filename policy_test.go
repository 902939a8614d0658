package apikey_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testCatalog = func() *apikey.Catalog {
	c, err := apikey.NewCatalog("profiles", "lists", "files", "uploads", "admin", "secrets", "public", "contacts")
	if err != nil {
		panic(err)
	}
	return c
}()

// routeSpec is a route of the test table without its handler.
type routeSpec struct {
	pattern, resource string
	access            apikey.Access
	includes          []string
}

// testSpecs is the route table of the router tests: one route per method,
// as Go 1.22 apps write them, with the shapes that once let a model of the
// router disagree with the router (a wildcard beside a literal, a subtree
// inside another) and a POST that only reads.
var testSpecs = []routeSpec{
	{"GET /api/profiles", "profiles", 0, []string{"lists"}},
	{"POST /api/profiles", "profiles", 0, []string{"lists"}},
	{"GET /api/profiles/{id}", "profiles", 0, []string{"lists", "files"}},
	{"PUT /api/profiles/{id}", "profiles", 0, nil},
	{"PATCH /api/profiles/{id}", "profiles", 0, nil},
	{"DELETE /api/profiles/{id}", "profiles", 0, nil},
	{"GET /api/lists/{id}", "lists", 0, nil},
	{"GET /api/x", "secrets", 0, nil},
	{"GET /api/y/", "public", 0, nil},
	{"POST /api/y/", "public", 0, nil},
	{"GET /api/admin/{rest...}", "admin", 0, nil},
	{"DELETE /api/admin/{rest...}", "admin", 0, nil},
	{"GET /api/files/{name}", "files", 0, nil},
	{"POST /api/files/upload", "uploads", 0, nil},
	{"GET /static/", "public", 0, nil},
	{"POST /static/uploads/", "uploads", 0, nil},
	{"GET /api/everything", "*", 0, nil},
	{"DELETE /api/everything", "*", 0, nil},
	{"POST /api/contacts/search", "contacts", apikey.Read, nil},
	{"POST /api/contacts", "contacts", 0, nil},
}

// need is what a request served by spec needs, worked out from the spec
// and the request as the handler sees it, independently of the Router.
func (s routeSpec) need(r *http.Request) []apikey.Scope {
	need := []apikey.Scope{{Resource: s.resource, Access: s.access}}
	if s.access == apikey.None {
		need[0].Access = apikey.Write
		if m, _, _ := strings.Cut(s.pattern, " "); m == "GET" {
			need[0].Access = apikey.Read
		}
	}
	for _, v := range r.URL.Query()["include"] {
		for inc := range strings.SplitSeq(v, ",") {
			if inc = strings.TrimSpace(inc); inc != "" {
				need = append(need, apikey.Scope{Resource: inc, Access: apikey.Read})
			}
		}
	}
	return need
}

// routedApp is the app of the router tests: a Router over testSpecs (or
// another table) whose every handler records that it ran and checks, from
// the request as it sees it, that the key it was given grants what its own
// route needs, recording any breach.
type routedApp struct {
	router   *apikey.Router
	handler  http.Handler // the router itself, or another router it registered with
	specs    []routeSpec
	mu       sync.Mutex
	breaches []string
	served   map[string]int // route pattern -> times its handler ran
	last     string         // the pattern of the handler that ran last
}

func newRoutedApp(t testing.TB, g *apikey.Guard, specs []routeSpec) *routedApp {
	t.Helper()
	a := &routedApp{specs: specs, served: map[string]int{}}
	routes := make([]apikey.Route, len(specs))
	for i, s := range specs {
		routes[i] = apikey.Route{Pattern: s.pattern, Resource: s.resource, Access: s.access, Includes: s.includes,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.serve(w, r, s) })}
	}
	rt, err := apikey.NewRouter(g, testCatalog, routes)
	require.NoError(t, err)
	a.router, a.handler = rt, rt
	return a
}

// throughChi makes the app serve through a chi router with the same table.
func (a *routedApp) throughChi() *routedApp {
	r := chi.NewRouter()
	a.router.Register(r.Method)
	a.handler = r
	return a
}

func (a *routedApp) serve(w http.ResponseWriter, r *http.Request, s routeSpec) {
	k, ok := apikey.FromContext(r.Context())
	need := s.need(r)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.served[s.pattern]++
	a.last = s.pattern
	if !ok || !k.Scopes.AllowsAll(need...) {
		a.breaches = append(a.breaches, fmt.Sprintf("%s %s ran the handler of %q with key %q (it needs %v)", r.Method, r.RequestURI, s.pattern, k.Scopes, need))
	}
	io.WriteString(w, "ok")
}

// do serves one request and returns its status and the pattern of the
// handler that ran, or "".
func (a *routedApp) do(r *http.Request) (int, string) {
	a.mu.Lock()
	a.last = ""
	a.mu.Unlock()
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, r)
	a.mu.Lock()
	defer a.mu.Unlock()
	return rec.Code, a.last
}

func (a *routedApp) check(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	assert.Empty(t, a.breaches, "handlers reached with a key lacking what their route requires")
}

func testRouter(t testing.TB, g *apikey.Guard) *apikey.Router {
	t.Helper()
	return newRoutedApp(t, g, testSpecs).router
}

// TestRouterServesTheRouteItChose is the reproduction and its
// subtree variant: a key that may only upload reaches no file and no
// static page, whichever way the paths overlap, through ServeMux and chi.
func TestRouterServesTheRouteItChose(t *testing.T) {
	m := apikeytest.NewManager(t, apikey.Options{})
	uploads := apikeytest.Mint(t, m, "uploads:write")
	files := apikeytest.Mint(t, m, "files:read")
	public := apikeytest.Mint(t, m, "public:read")
	contacts := apikeytest.Mint(t, m, "contacts:read")
	g := mustGuard(t, m, apikey.GuardOptions{})
	tests := []struct {
		name, method, target, token string
		status                      int
		ran                         string // the handler that must run, or ""
	}{
		{"UploadKeyCannotReadTheFileNamedUpload", "GET", "/api/files/upload", uploads, 403, ""},
		{"UploadKeyUploads", "POST", "/api/files/upload", uploads, 200, "POST /api/files/upload"},
		{"FilesKeyReadsTheFileNamedUpload", "GET", "/api/files/upload", files, 200, "GET /api/files/{name}"},
		{"FilesKeyCannotUpload", "POST", "/api/files/upload", files, 403, ""},
		{"UploadKeyCannotReadTheUploadsSubtree", "GET", "/static/uploads/a.png", uploads, 403, ""},
		{"PublicKeyReadsTheUploadsSubtree", "GET", "/static/uploads/a.png", public, 200, "GET /static/"},
		{"PublicKeyCannotUpload", "POST", "/static/uploads/a.png", public, 403, ""},
		{"UploadKeyUploadsToTheSubtree", "POST", "/static/uploads/a.png", uploads, 200, "POST /static/uploads/"},
		{"DeclaredReadOnPost", "POST", "/api/contacts/search", contacts, 200, "POST /api/contacts/search"},
		{"UndeclaredPostStillWrites", "POST", "/api/contacts", contacts, 403, ""},
	}
	for _, via := range []string{"ServeMux", "chi"} {
		t.Run(via, func(t *testing.T) {
			app := newRoutedApp(t, g, testSpecs)
			if via == "chi" {
				app.throughChi()
			}
			for _, tc := range tests {
				if via == "chi" && strings.HasPrefix(tc.target, "/static/") {
					continue // "/static/" is a subtree in ServeMux only
				}
				t.Run(tc.name, func(t *testing.T) {
					status, ran := app.do(bearerRequest(tc.method, tc.target, tc.token))
					assert.Equal(t, tc.status, status)
					assert.Equal(t, tc.ran, ran, "the handler that ran")
				})
			}
			app.check(t)
		})
	}
}

// chiSpecs are the routes of testSpecs whose patterns mean the same in chi
// as in ServeMux: no subtrees, no "{name...}".
func chiSpecs() []routeSpec {
	var out []routeSpec
	for _, s := range testSpecs {
		if !strings.HasSuffix(s.pattern, "/") && !strings.Contains(s.pattern, "...}") {
			out = append(out, s)
		}
	}
	return out
}

// TestRouterEveryMethodAndPath sends every method to every path of the
// table (and paths near them) with keys of many scope sets, through
// ServeMux and through chi, and checks each handler that ran against its
// own route's requirement; it also checks that the matrix is not passed by
// refusing everything.
func TestRouterEveryMethodAndPath(t *testing.T) {
	m := apikeytest.NewManager(t, apikey.Options{})
	var tokens []string
	for _, s := range []string{"uploads:write", "files:read", "files:write", "public:read", "public:write", "profiles:read",
		"profiles:write,lists:read", "contacts:read", "contacts:write", "secrets:read", "admin:read", "*:read", "*:write"} {
		tokens = append(tokens, apikeytest.Mint(t, m, s))
	}
	g := mustGuard(t, m, apikey.GuardOptions{})
	paths := []string{"/api/profiles", "/api/profiles/7", "/api/profiles/7?include=lists", "/api/profiles?include=lists",
		"/api/lists/1", "/api/x", "/api/y/", "/api/y/z", "/api/admin/a/b", "/api/files/upload", "/api/files/report.pdf",
		"/api/files/upload?include=files", "/static/", "/static/uploads/", "/static/uploads/a.png", "/static/x",
		"/api/everything", "/api/contacts/search", "/api/contacts", "/api/contacts/1", "/nothing"}
	for _, via := range []string{"ServeMux", "chi"} {
		t.Run(via, func(t *testing.T) {
			specs := testSpecs
			if via == "chi" {
				specs = chiSpecs()
			}
			app := newRoutedApp(t, g, specs)
			if via == "chi" {
				app.throughChi()
			}
			for _, p := range paths {
				for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
					for _, tok := range tokens {
						app.do(bearerRequest(method, p, tok))
					}
				}
			}
			app.check(t)
			for _, s := range specs {
				assert.NotZero(t, app.served[s.pattern], "times the handler of %q ran", s.pattern)
			}
		})
	}
}

func TestNewRouterErrors(t *testing.T) {
	h := http.NotFoundHandler()
	ok := apikey.Route{Pattern: "GET /api/lists/{id}", Resource: "lists", Handler: h}
	route := func(pattern, resource string, includes ...string) apikey.Route {
		return apikey.Route{Pattern: pattern, Resource: resource, Includes: includes, Handler: h}
	}
	tests := []struct {
		name    string
		routes  []apikey.Route
		wantMsg []string // each must appear in the error
	}{
		{"UnknownResource", []apikey.Route{ok, route("GET /api/p", "profile")}, []string{`"GET /api/p"`, `unknown resource "profile"`, `did you mean "profiles"`}},
		{"NoResource", []apikey.Route{route("GET /api/p", "")}, []string{`"GET /api/p"`, "no resource"}},
		{"EmptyPattern", []apikey.Route{route("", "lists")}, []string{"empty pattern"}},
		{"NoMethod", []apikey.Route{route("/api/p", "profiles")}, []string{`"/api/p" names no method`, `"GET /api/p"`}},
		{"OtherMethod", []apikey.Route{route("OPTIONS /api/p", "profiles")}, []string{`"OPTIONS /api/p"`, `method "OPTIONS"`}},
		{"LowercaseMethod", []apikey.Route{route("get /api/p", "profiles")}, []string{`"get /api/p"`, `method "get"`}},
		{"NoHandler", []apikey.Route{{Pattern: "GET /api/p", Resource: "profiles"}}, []string{`"GET /api/p" has no handler`}},
		{"BadAccess", []apikey.Route{{Pattern: "GET /api/p", Resource: "profiles", Access: 7, Handler: h}}, []string{`"GET /api/p"`, "access 7"}},
		{"InvalidPattern", []apikey.Route{route("GET /api/{id", "profiles")}, []string{`"GET /api/{id"`, "invalid pattern"}},
		{"InvalidWildcard", []apikey.Route{route("GET /api/{a}/{a}", "profiles")}, []string{`"GET /api/{a}/{a}"`, "invalid pattern"}},
		{"DuplicatePattern", []apikey.Route{ok, route("GET /api/lists/{id}", "profiles")}, []string{`"GET /api/lists/{id}" conflicts with route "GET /api/lists/{id}"`}},
		{"ConflictingWildcards", []apikey.Route{route("GET /api/profiles/{id}", "profiles"), ok, route("GET /api/lists/{n}", "profiles")},
			[]string{`route "GET /api/lists/{n}" conflicts with route "GET /api/lists/{id}"`}},
		{"ConflictNeitherMoreSpecific", []apikey.Route{route("GET /api/{kind}/1", "lists"), route("GET /api/lists/{id}", "profiles")},
			[]string{`route "GET /api/lists/{id}" conflicts with route "GET /api/{kind}/1"`}},
		{"UnknownInclude", []apikey.Route{route("GET /api/p", "profiles", "list")}, []string{`"GET /api/p"`, `unknown resource "list"`}},
		{"WildcardInclude", []apikey.Route{route("GET /api/p", "profiles", "*")}, []string{`"GET /api/p"`, `include "*"`}},
		{"EmptyInclude", []apikey.Route{route("GET /api/p", "profiles", "")}, []string{`"GET /api/p"`, `unknown resource ""`}},
		{"RepeatedInclude", []apikey.Route{route("GET /api/p", "profiles", "lists", "files", "lists")}, []string{`"GET /api/p"`, `include "lists" twice`}},
		{"TrailingSpace", []apikey.Route{route("GET /api/p ", "profiles")}, []string{`"GET /api/p "`, "white space"}},
		{"LeadingSpace", []apikey.Route{route(" GET /api/p", "profiles")}, []string{`" GET /api/p"`, "white space"}},
		{"TooManyIncludes", []apikey.Route{{Pattern: "GET /api/p", Resource: "profiles", Includes: make([]string, 33), Handler: h}}, []string{`"GET /api/p"`, "33 includes"}},
		{"NoRoutes", nil, []string{"no routes"}},
	}
	g := mustGuard(t, apikeytest.NewManager(t, apikey.Options{}), apikey.GuardOptions{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := apikey.NewRouter(g, testCatalog, tc.routes)
			require.Error(t, err, "NewRouter = %v, want an error", rt)
			for _, w := range tc.wantMsg {
				assert.ErrorContains(t, err, w)
			}
		})
	}
	_, err := apikey.NewRouter(g, nil, []apikey.Route{ok})
	assert.ErrorContains(t, err, "Catalog", "NewRouter accepted a nil catalog")
	_, err = apikey.NewRouter(nil, testCatalog, []apikey.Route{ok})
	assert.ErrorContains(t, err, "Guard", "NewRouter accepted a nil guard")
	// Patterns that overlap but where one is more specific do not conflict.
	_, err = apikey.NewRouter(g, testCatalog, []apikey.Route{
		route("GET /api/lists/{id}", "lists"),
		route("GET /api/lists/mine", "profiles"),
		route("GET /api/", "public"),
		route("GET admin.example.com/api/", "admin"),
		route("GET /", "public"),
		route("HEAD /api/heads/{id}", "lists"),
		route("DELETE\t/api/tabbed", "lists"),
	})
	assert.NoError(t, err, "NewRouter of non-conflicting patterns")
}

// TestRouterCheck is the pure decision: the scopes the route that would
// serve a request needs, or why no route serves it.
func TestRouterCheck(t *testing.T) {
	m := apikeytest.NewManager(t, apikey.Options{})
	all := apikeytest.Mint(t, m, "*:write")
	g := mustGuard(t, m, apikey.GuardOptions{})
	rt := testRouter(t, g)
	tests := []struct {
		method, target string
		header         http.Header
		want           string // the scopes a key must grant, or the error
	}{
		{"GET", "/api/profiles", nil, "profiles:read"},
		{"HEAD", "/api/profiles", nil, "profiles:read"},
		{"POST", "/api/profiles", nil, "profiles:write"},
		{"PUT", "/api/profiles/7", nil, "profiles:write"},
		{"PATCH", "/api/profiles/7", nil, "profiles:write"},
		{"DELETE", "/api/profiles/7", nil, "profiles:write"},
		{"GET", "/api/everything", nil, "*:read"},
		{"DELETE", "/api/everything", nil, "*:write"},
		{"GET", "/api/y/anything/below", nil, "public:read"},
		{"GET", "/api/admin/a/b/c", nil, "admin:read"},
		{"GET", "/api/lists/a%2Fb", nil, "lists:read"},
		{"GET", "/api/files/upload", nil, "files:read"},
		{"POST", "/api/files/upload", nil, "uploads:write"},
		{"POST", "/api/contacts/search", nil, "contacts:read"},

		// A method no route of the path has is refused, whatever its case.
		{"POST", "/api/lists/1", nil, "method not allowed: GET, HEAD"},
		{"OPTIONS", "/api/profiles", nil, "method not allowed: GET, HEAD, POST"},
		{"TRACE", "/api/profiles/7", nil, "method not allowed: GET, HEAD, PUT, PATCH, DELETE"},
		{"PROPFIND", "/api/profiles", nil, "method not allowed: GET, HEAD, POST"},
		{"get", "/api/profiles", nil, "method not allowed: GET, HEAD, POST"},
		{"Delete", "/api/everything", nil, "method not allowed: GET, HEAD, DELETE"},

		// Method overrides are ignored: the real method decides.
		{"POST", "/api/profiles", http.Header{"X-Http-Method-Override": {"GET"}}, "profiles:write"},
		{"GET", "/api/profiles/7", http.Header{"X-Http-Method-Override": {"DELETE"}}, "profiles:read"},
		{"GET", "/api/profiles/7?_method=DELETE", nil, "profiles:read"},
		{"POST", "/api/profiles?_method=GET", nil, "profiles:write"},

		// Includes.
		{"GET", "/api/profiles?include=lists", nil, "profiles:read,lists:read"},
		{"POST", "/api/profiles?include=lists", nil, "profiles:write,lists:read"},
		{"GET", "/api/profiles/7?include=lists,files", nil, "profiles:read,lists:read,files:read"},
		{"GET", "/api/profiles/7?include=files&include=lists", nil, "profiles:read,files:read,lists:read"},
		{"GET", "/api/profiles/7?include=lists&include=lists,lists", nil, "profiles:read,lists:read"},
		{"GET", "/api/profiles/7?include=+lists+,%20files", nil, "profiles:read,lists:read,files:read"},
		{"GET", "/api/profiles/7?include=lists%2Cfiles", nil, "profiles:read,lists:read,files:read"},
		{"GET", "/api/profiles?include=", nil, "profiles:read"},
		{"GET", "/api/profiles?include", nil, "profiles:read"},
		{"GET", "/api/profiles?includes=files&xinclude=files", nil, "profiles:read"},
		{"GET", "/api/profiles?include=files", nil, `include "files" is not an include of this route`},
		{"GET", "/api/profiles?include=Lists", nil, `include "Lists" is not an include of this route`},
		{"GET", "/api/profiles?include=lists,secrets", nil, `include "secrets" is not an include of this route`},
		{"PUT", "/api/profiles/7?include=lists", nil, `include "lists" is not an include of this route`},
		{"GET", "/api/lists/1?include=lists", nil, `include "lists" is not an include of this route`},
		{"GET", "/api/profiles?include=lists,", nil, "include parameter has an empty item"},
		{"GET", "/api/profiles?include=,lists", nil, "include parameter has an empty item"},
		{"GET", "/api/profiles?include=lists,,lists", nil, "include parameter has an empty item"},
		{"GET", "/api/profiles?include=%zz", nil, "include parameter is not valid query encoding"},
		{"GET", "/api/profiles?include=" + strings.Repeat("lists,", 32) + "lists", nil, "include parameter has more than 32 values"},
		{"GET", "/api/profiles?include=" + strings.Repeat("lists,", 31) + "lists", nil, "profiles:read,lists:read"},
		// Every spelling another query parser might read as include is checked.
		{"GET", "/api/profiles?incl%75de=secrets", nil, `include "secrets" is not an include of this route`},
		{"GET", "/api/profiles?a=1;include=secrets", nil, `include "secrets" is not an include of this route`},
		{"GET", "/api/profiles?include=lists;include=secrets", nil, `include "secrets" is not an include of this route`},

		// Paths the router would not serve as they are.
		{"GET", "/api/profiles/", nil, "no route"},
		{"GET", "/api/y", nil, "no route"}, // ServeMux redirects to /api/y/
		{"GET", "/api/profiles/7/", nil, "no route"},
		{"GET", "//api/x", nil, "no route"},
		{"GET", "/api/./x", nil, "no route"},
		{"GET", "/api/y/../x", nil, "no route"},
		{"GET", "/API/x", nil, "no route"},
		{"GET", "/nothing", nil, "no route"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			r := bearerRequest(tc.method, tc.target, all)
			for k, v := range tc.header {
				r.Header[k] = v
			}
			scopes, err := rt.Required(r)
			assert.Equal(t, tc.want, describeRequired(scopes, err), "Required")
			// Check decides the same, after authenticating: a key granting
			// everything passes wherever Required names scopes.
			k, err := rt.Check(r)
			if scopes != nil {
				assert.NoError(t, err, "Check")
				assert.Equal(t, "*:write", k.Scopes.String())
			} else {
				assert.Equal(t, tc.want, describeRequired(nil, err), "Check")
			}
		})
	}
	t.Run("AuthenticationFirst", func(t *testing.T) {
		for _, target := range []string{"/nothing", "/api/lists/1", "/api/profiles?include=zzz", "/api/x"} {
			_, err := rt.Check(bearerRequest("POST", target, ""))
			assert.ErrorIs(t, err, apikey.ErrNoCredential, "POST %s", target)
		}
	})
	t.Run("InsufficientScope", func(t *testing.T) {
		_, err := rt.Check(bearerRequest("GET", "/api/profiles?include=lists", apikeytest.Mint(t, m, "profiles:read")))
		var ise *apikey.InsufficientScopeError
		require.ErrorAs(t, err, &ise)
		assert.Equal(t, "lists:read", scopeList(ise.Missing))
	})
}

func describeRequired(scopes []apikey.Scope, err error) string {
	var ie *apikey.IncludeError
	switch {
	case errors.As(err, &ie):
		if !errors.Is(err, apikey.ErrInvalidInclude) {
			return "IncludeError does not wrap ErrInvalidInclude"
		}
		if ie.Value == "" {
			return "include parameter " + ie.Reason
		}
		return fmt.Sprintf("include %q %s", ie.Value, ie.Reason)
	case errors.Is(err, apikey.ErrMethodNotAllowed):
		var me *apikey.MethodError
		if !errors.As(err, &me) {
			return "method not allowed without a MethodError"
		}
		return "method not allowed: " + strings.Join(me.Allowed, ", ")
	case errors.Is(err, apikey.ErrNoRoute):
		return "no route"
	case err != nil:
		return "unexpected error: " + err.Error()
	}
	return scopeList(scopes)
}

// bypassKeys are the scope sets the bypass tests try every path with.
var bypassKeys = []string{"public:write", "profiles:read", "profiles:read,lists:read", "lists:write,files:read", "secrets:read", "*:read"}

// bypassPaths are request targets that try to reach a handler through a
// path or query the policy might read differently from the router.
var bypassPaths = []string{
	"/api/x", "//api/x", "/api//x", "/api/./x", "/api/y/../x", "/api/y/./../x", "/./api/x", "/api/x/", "/api/x/.",
	"/api/x/..", "/api/x//", "/API/x", "/api/X", "/Api/x", "/api/x%2f", "/api/x%2F", "/api%2fx", "/api%2Fx",
	"/%61pi/x", "/api/%78", "/api/%2e/x", "/api/y/%2e%2e/x", "/api/y/%2E%2E/x", "/api/y/.%2e/x", "/api/y/..%2fx",
	"/api/y%2f..%2fx", "/api/y/%2f../x", "/api/y/..;/x", "/api/y/%252e%252e/x", "/api/y/..%00/x", "/api/y/..\\x",
	"/api/y/%5c..%5cx", "/api/y", "/api/y/", "/api/y/z", "/api/y/../admin/z", "/api/y/..%2fadmin/z",
	"/api/profiles", "/api/profiles/", "/api/profiles/1", "/api/profiles/1/", "/api/profiles/1/../../x",
	"/api/profiles/..%2f..%2fx", "/api/profiles/%2e%2e%2fx", "/api/profiles/%2e%2e", "/api/profiles/.",
	"/api/profiles/..", "/api/profiles/1%2f..%2f..%2fx", "/api/lists/1", "/api/lists/../x", "/api/admin/",
	"/api/admin/../x", "/api/admin/%2e%2e/x", "/api/files/a/b", "/api/files/..%2f..%2fadmin%2fz",
	"/api/files/../admin/z", "/api/everything", "/api/everything/", "/api/everything%2f", "/api",
	"/", "*",
	"/api/profiles?include=lists", "/api/profiles?include=secrets", "/api/profiles?include=lists,secrets",
	"/api/profiles?include=lists&include=secrets", "/api/profiles?incl%75de=secrets",
	"/api/profiles?include=lists;include=secrets", "/api/profiles?x=1;include=admin",
	"/api/profiles?include=lists%2Cadmin", "/api/profiles?include=lists%2c%20admin", "/api/profiles?include=+admin",
	"/api/profiles/1?include=files", "/api/profiles/1?include=files,lists", "/api/profiles/1?include=%66iles",
	"/api/profiles?_method=DELETE", "/api/x?_method=GET",
}

var bypassMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND", "get"}

// bypassGuard returns a Guard with the default options and the tokens of
// keys with each of bypassKeys' scope sets.
func bypassGuard(t *testing.T) (*apikey.Guard, []string) {
	t.Helper()
	m := apikeytest.NewManager(t, apikey.Options{})
	tokens := make([]string, len(bypassKeys))
	for i, s := range bypassKeys {
		tokens[i] = apikeytest.Mint(t, m, s)
	}
	return mustGuard(t, m, apikey.GuardOptions{}), tokens
}

// TestRouterBypass serves every tricky path with every method and key
// through the Router, and through chi with the same table, and checks that
// no handler is ever reached with a key lacking what its route requires.
func TestRouterBypass(t *testing.T) {
	g, tokens := bypassGuard(t)
	for _, via := range []string{"ServeMux", "chi"} {
		t.Run(via, func(t *testing.T) {
			app := newRoutedApp(t, g, testSpecs)
			if via == "chi" {
				app.throughChi()
			}
			for _, target := range bypassPaths {
				for _, method := range bypassMethods {
					for _, tok := range tokens {
						r := bearerRequest(method, target, tok)
						r.Header.Set("X-HTTP-Method-Override", "GET")
						app.do(r)
					}
				}
			}
			app.check(t)
			// The test must not pass by refusing everything: canonical
			// paths reach their handlers.
			for _, p := range []string{"GET /api/x", "GET /api/profiles", "GET /api/profiles/{id}", "GET /api/files/{name}", "GET /api/everything"} {
				assert.NotZero(t, app.served[p], "times route %s was served", p)
			}
			if via == "ServeMux" {
				for _, p := range []string{"GET /api/y/", "POST /api/y/", "GET /api/admin/{rest...}"} {
					assert.NotZero(t, app.served[p], "times route %s was served", p)
				}
			}
		})
	}
}

// TestRouterPaths pins the answer for each tricky path to a key that may
// read everything: only canonical paths of a route are served; a path that
// is not canonical is redirected by ServeMux, with no handler run.
func TestRouterPaths(t *testing.T) {
	m := apikeytest.NewManager(t, apikey.Options{})
	g := mustGuard(t, m, apikey.GuardOptions{})
	tok := apikeytest.Mint(t, m, "*:read")
	app := newRoutedApp(t, g, testSpecs)
	const redirect = 3 // ServeMux's redirect to the canonical path (301 or 307, by Go version)
	want := map[string]int{
		"/api/x": 200, "//api/x": redirect, "/api//x": redirect, "/api/./x": redirect, "/api/y/../x": redirect, "/./api/x": redirect,
		"/api/x/": 404, "/api/x/.": redirect, "/api/x/..": redirect, "/API/x": 404, "/api/X": 404, "/api/x%2f": 404,
		"/api%2fx": 404, "/%61pi/x": 200, "/api/%78": 200, "/api/%2e/x": 404, "/api/y/%2e%2e/x": 200,
		"/api/y/..%2fx": 200, "/api/y%2f..%2fx": 404, "/api/y/..;/x": 200, "/api/y": redirect, "/api/y/": 200,
		"/api/profiles/": 404, "/api/profiles/1/": 404, "/api/profiles/..%2f..%2fx": 200, "/api/profiles/%2e%2e": 200,
		"/api/profiles/..": redirect, "/api/lists/../x": redirect, "/api/everything": 200, "/api/everything/": 404,
		"/api/files/..%2f..%2fadmin%2fz": 200, "/api/files/../admin/z": redirect, "*": 400,
		"/api/profiles?include=lists": 200, "/api/profiles?include=secrets": 400, "/api/profiles?incl%75de=secrets": 400,
		"/api/profiles?x=1;include=admin": 400, "/api/profiles?include=lists%2Cadmin": 400,
	}
	for target, status := range want {
		got, ran := app.do(bearerRequest("GET", target, tok))
		if status == redirect {
			assert.True(t, got >= 300 && got < 400, "status for GET %s: %d, want a redirect", target, got)
		} else {
			assert.Equal(t, status, got, "status for GET %s", target)
		}
		if status != 200 {
			assert.Empty(t, ran, "GET %s ran a handler", target)
		}
	}
	app.check(t)
}

// TestRouterBypassRawHTTP sends the tricky request lines byte for byte to a
// real server, so that no client normalises them away.
func TestRouterBypassRawHTTP(t *testing.T) {
	g, tokens := bypassGuard(t)
	app := newRoutedApp(t, g, testSpecs)
	srv := httptest.NewServer(app.handler)
	defer srv.Close()

	var conn net.Conn
	var br *bufio.Reader
	dial := func() {
		var err error
		conn, err = net.Dial("tcp", srv.Listener.Addr().String())
		require.NoError(t, err)
		br = bufio.NewReader(conn)
	}
	dial()
	defer func() { conn.Close() }()
	statuses := map[int]int{}
	targets := append(slices.Clone(bypassPaths), "http://evil.example/api/x", "http://127.0.0.1/api/y/../x")
	for _, target := range targets {
		for _, method := range []string{"GET", "POST", "DELETE", "OPTIONS"} {
			for _, tok := range tokens {
				fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nX-HTTP-Method-Override: GET\r\nContent-Length: 0\r\n\r\n",
					method, target, srv.Listener.Addr(), tok)
				conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				resp, err := http.ReadResponse(br, &http.Request{Method: method})
				require.NoError(t, err, "%s %s", method, target)
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses[resp.StatusCode]++
				if resp.Close {
					// Only ServeMux's answer to "*" ends the connection.
					require.Equal(t, "*", target, "%s %s: server closed the connection (status %d)", method, target, resp.StatusCode)
					conn.Close()
					dial()
				}
			}
		}
	}
	app.check(t)
	for _, code := range []int{200, 400, 403, 404, 405} {
		assert.NotZero(t, statuses[code], "requests answered %d; statuses: %v", code, statuses)
	}
}

// FuzzIncludes checks include parsing against net/url: whenever the policy
// accepts a query, every include value that url.ParseQuery (what a handler
// calling r.URL.Query() sees) finds is one the route declares and is in the
// requirement; and the work stays bounded.
func FuzzIncludes(f *testing.F) {
	for _, s := range []string{
		"include=lists", "include=lists,files", "include=lists&include=files", "include=", "include",
		"include=lists,", "include=,", "include=%zz", "incl%75de=files", "a=1;include=admin", "include=lists%2Cfiles",
		"include=+lists+", "include=lists&include=" + strings.Repeat("lists,", 40), "include=%00", "=include&include==",
	} {
		f.Add(s)
	}
	p := testRouter(f, mustGuard(f, apikeytest.NewManager(f, apikey.Options{}), apikey.GuardOptions{}))
	declared := []string{"lists", "files"}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/api/profiles/7", RawQuery: rawQuery}, Header: http.Header{}}
		scopes, err := p.Required(r)
		if err != nil {
			assert.ErrorIs(t, err, apikey.ErrInvalidInclude, "Required(?%s) = %v, want nil or an IncludeError", rawQuery, err)
			return
		}
		require.NotEmpty(t, scopes, "Required(?%s) = %v", rawQuery, scopes)
		assert.Equal(t, apikey.Scope{Resource: "profiles", Access: apikey.Read}, scopes[0], "Required(?%s) = %v", rawQuery, scopes)
		assert.LessOrEqual(t, len(scopes), 1+len(declared), "Required(?%s) = %v", rawQuery, scopes)
		q, _ := url.ParseQuery(rawQuery)
		for _, v := range q["include"] {
			for inc := range strings.SplitSeq(v, ",") {
				inc = strings.Trim(inc, " \t")
				if inc == "" {
					continue
				}
				assert.Contains(t, declared, inc, "Required(?%s) = %v, but url.ParseQuery reads include %q", rawQuery, scopes, inc)
				assert.Contains(t, scopes, apikey.Scope{Resource: inc, Access: apikey.Read},
					"Required(?%s) = %v, but url.ParseQuery reads include %q", rawQuery, scopes, inc)
			}
		}
	})
}

// FuzzRouterPath feeds arbitrary request targets to the app of the bypass
// tests: no handler may be reached with a key lacking its route's scopes.
func FuzzRouterPath(f *testing.F) {
	for _, s := range bypassPaths {
		f.Add("GET", s)
	}
	f.Add("POST", "/api/y/%2e%2e/x")
	m := apikeytest.NewManager(f, apikey.Options{})
	g, err := apikey.NewGuard(m, apikey.GuardOptions{})
	require.NoError(f, err)
	tok := apikeytest.Mint(f, m, "public:write,profiles:read")
	app := newRoutedApp(f, g, testSpecs)
	f.Fuzz(func(t *testing.T, method, target string) {
		raw := method + " " + target + " HTTP/1.1\r\nHost: example.com\r\nAuthorization: Bearer " + tok + "\r\n\r\n"
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // not a request a server would accept
		}
		app.handler.ServeHTTP(httptest.NewRecorder(), r)
		app.check(t)
	})
}

// TestIncludes checks that handlers read the includes the Router checked:
// the same values, trimmed, each once, and the same refusals.
func TestIncludes(t *testing.T) {
	tests := []struct {
		query string
		want  []string
		err   string
	}{
		{"", nil, ""},
		{"include=", nil, ""},
		{"include=lists", []string{"lists"}, ""},
		{"include=%20lists,files%09&include=lists", []string{"lists", "files"}, ""},
		{"a=1;include=admin", []string{"admin"}, ""},
		{"incl%75de=files", []string{"files"}, ""},
		{"include=lists,,files", nil, "apikey: include parameter has an empty item"},
		{"include=%zz", nil, "apikey: include parameter is not valid query encoding"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			got, err := apikey.Includes(httptest.NewRequest("GET", "/api/profiles?"+tc.query, nil))
			if tc.err != "" {
				assert.ErrorIs(t, err, apikey.ErrInvalidInclude)
				assert.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestNewRouterRefusesPatternsWithoutMethods runs itself again with
// GODEBUG=httpmuxgo121=1, under which ServeMux ignores methods in patterns:
// NewRouter must refuse to build a Router rather than one that refuses
// every request.
func TestNewRouterRefusesPatternsWithoutMethods(t *testing.T) {
	if os.Getenv("KEYSCOPE_OLD_MUX_CHILD") == "1" {
		g := mustGuard(t, apikeytest.NewManager(t, apikey.Options{}), apikey.GuardOptions{})
		_, err := apikey.NewRouter(g, testCatalog, []apikey.Route{{Pattern: "GET /api/x", Resource: "secrets", Handler: okHandler}})
		require.ErrorContains(t, err, "httpmuxgo121")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNewRouterRefusesPatternsWithoutMethods$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KEYSCOPE_OLD_MUX_CHILD=1", "GODEBUG=httpmuxgo121=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the child test failed:\n%s", out)
	assert.Contains(t, string(out), "PASS")
}
