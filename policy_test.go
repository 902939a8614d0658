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
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testCatalog = func() *apikey.Catalog {
	c, err := apikey.NewCatalog("profiles", "lists", "files", "admin", "secrets", "public")
	if err != nil {
		panic(err)
	}
	return c
}()

// testRoutes is the route table of the policy tests. The app's router
// serves the same patterns.
var testRoutes = []apikey.Route{
	{Pattern: "/api/profiles", Resource: "profiles", Includes: []string{"lists"}},
	{Pattern: "/api/profiles/{id}", Resource: "profiles", Includes: []string{"lists", "files"}},
	{Pattern: "/api/lists/{id}", Resource: "lists"},
	{Pattern: "/api/x", Resource: "secrets"},
	{Pattern: "/api/y/", Resource: "public"},
	{Pattern: "/api/admin/{rest...}", Resource: "admin"},
	{Pattern: "/api/files/{path...}", Resource: "files"},
	{Pattern: "/api/everything", Resource: "*"},
}

func testPolicy(t testing.TB) *apikey.Policy {
	t.Helper()
	p, err := apikey.NewPolicy(testCatalog, testRoutes)
	require.NoError(t, err)
	return p
}

func TestNewPolicyErrors(t *testing.T) {
	ok := apikey.Route{Pattern: "/api/lists/{id}", Resource: "lists"}
	tests := []struct {
		name    string
		routes  []apikey.Route
		wantMsg []string // each must appear in the error
	}{
		{"UnknownResource", []apikey.Route{ok, {Pattern: "/api/p", Resource: "profile"}}, []string{`"/api/p"`, `unknown resource "profile"`, `did you mean "profiles"`}},
		{"NoResource", []apikey.Route{{Pattern: "/api/p"}}, []string{`"/api/p"`, "no resource"}},
		{"EmptyPattern", []apikey.Route{{Resource: "lists"}}, []string{"empty pattern"}},
		{"MethodInPattern", []apikey.Route{{Pattern: "GET /api/p", Resource: "profiles"}}, []string{`"GET /api/p"`, "method"}},
		{"InvalidPattern", []apikey.Route{{Pattern: "/api/{id", Resource: "profiles"}}, []string{`"/api/{id"`, "invalid pattern"}},
		{"InvalidWildcard", []apikey.Route{{Pattern: "/api/{a}/{a}", Resource: "profiles"}}, []string{`"/api/{a}/{a}"`, "invalid pattern"}},
		{"DuplicatePattern", []apikey.Route{ok, {Pattern: "/api/lists/{id}", Resource: "profiles"}}, []string{`"/api/lists/{id}" conflicts with route "/api/lists/{id}"`}},
		{"ConflictingWildcards", []apikey.Route{
			{Pattern: "/api/profiles/{id}", Resource: "profiles"}, ok, {Pattern: "/api/lists/{n}", Resource: "profiles"},
		}, []string{`route "/api/lists/{n}" conflicts with route "/api/lists/{id}"`}},
		{"ConflictNeitherMoreSpecific", []apikey.Route{
			{Pattern: "/api/{kind}/1", Resource: "lists"}, {Pattern: "/api/lists/{id}", Resource: "profiles"},
		}, []string{`route "/api/lists/{id}" conflicts with route "/api/{kind}/1"`}},
		{"UnknownInclude", []apikey.Route{{Pattern: "/api/p", Resource: "profiles", Includes: []string{"list"}}}, []string{`"/api/p"`, `unknown resource "list"`}},
		{"WildcardInclude", []apikey.Route{{Pattern: "/api/p", Resource: "profiles", Includes: []string{"*"}}}, []string{`"/api/p"`, `include "*"`}},
		{"EmptyInclude", []apikey.Route{{Pattern: "/api/p", Resource: "profiles", Includes: []string{""}}}, []string{`"/api/p"`, `unknown resource ""`}},
		{"RepeatedInclude", []apikey.Route{{Pattern: "/api/p", Resource: "profiles", Includes: []string{"lists", "files", "lists"}}}, []string{`"/api/p"`, `include "lists" twice`}},
		{"NoRoutes", nil, []string{"no routes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := apikey.NewPolicy(testCatalog, tc.routes)
			require.Error(t, err, "NewPolicy = %v, want an error", p)
			for _, w := range tc.wantMsg {
				assert.ErrorContains(t, err, w)
			}
		})
	}
	_, err := apikey.NewPolicy(nil, []apikey.Route{ok})
	assert.Error(t, err, "NewPolicy accepted a nil catalog")
	// Patterns that overlap but where one is more specific do not conflict.
	_, err = apikey.NewPolicy(testCatalog, []apikey.Route{
		{Pattern: "/api/lists/{id}", Resource: "lists"},
		{Pattern: "/api/lists/mine", Resource: "profiles"},
		{Pattern: "/api/", Resource: "public"},
		{Pattern: "admin.example.com/api/", Resource: "admin"},
	})
	assert.NoError(t, err, "NewPolicy of non-conflicting patterns")
}

func TestPolicyRequired(t *testing.T) {
	p := testPolicy(t)
	tests := []struct {
		method, target string
		header         http.Header
		want           string // the required scopes, or the error
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

		// Any other method is refused, whatever its case.
		{"OPTIONS", "/api/profiles", nil, "method not allowed"},
		{"TRACE", "/api/profiles", nil, "method not allowed"},
		{"CONNECT", "/api/profiles", nil, "method not allowed"},
		{"PROPFIND", "/api/profiles", nil, "method not allowed"},
		{"get", "/api/profiles", nil, "method not allowed"},
		{"Delete", "/api/profiles", nil, "method not allowed"},

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
			r := httptest.NewRequest(tc.method, tc.target, nil)
			for k, v := range tc.header {
				r.Header[k] = v
			}
			scopes, err := p.Required(r)
			assert.Equal(t, tc.want, describeRequired(scopes, err))
		})
	}
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
		return "method not allowed"
	case errors.Is(err, apikey.ErrNoRoute):
		return "no route"
	case err != nil:
		return "unexpected error: " + err.Error()
	}
	return scopeList(scopes)
}

// TestEnforceResponses is the table of answers through Enforce in front of
// a ServeMux: authentication first, then the route, then the scopes.
func TestEnforceResponses(t *testing.T) {
	m := apikeytest.NewManager(t, apikey.Options{})
	profilesTok := apikeytest.Mint(t, m, "profiles:read")
	bothTok := apikeytest.Mint(t, m, "profiles:write,lists:read")
	g := mustGuard(t, m, apikey.GuardOptions{})
	mux := http.NewServeMux()
	for _, rt := range testRoutes {
		mux.Handle(rt.Pattern, &reached{})
	}
	h := g.Enforce(testPolicy(t))(mux)

	ok := response{status: 200, ctype: "text/plain; charset=utf-8", body: "ok"}
	noKey := errorResponse(401, `Bearer realm="api"`, "", noCredentialBody)
	noRoute := errorResponse(404, "", "", noRouteBody)
	tests := []struct {
		name, method, target, token string
		want                        response
	}{
		{"Pass", "GET", "/api/profiles", profilesTok, ok},
		{"PassWithInclude", "GET", "/api/profiles?include=lists", bothTok, ok},
		{"WritePass", "DELETE", "/api/profiles/9", bothTok, ok},
		{"NoKeyUnknownRoute", "GET", "/nothing", "", noKey},
		{"NoKeyBadMethod", "OPTIONS", "/api/profiles", "", noKey},
		{"NoKeyBadInclude", "GET", "/api/profiles?include=zzz", "", noKey},
		{"UnknownRoute", "GET", "/nothing", profilesTok, noRoute},
		{"RedirectIsNoRoute", "GET", "//api/profiles", profilesTok, noRoute},
		{"BadMethod", "OPTIONS", "/api/profiles", profilesTok, errorResponse(405, "", allowedMethods, methodBody)},
		{"UndeclaredInclude", "GET", "/api/profiles?include=files", profilesTok,
			includeResponse(`include \"files\" is not an include of this route`)},
		{"IncludeEchoIsEscapedAndBounded", "GET", "/api/profiles?include=%3Cscript%3E" + strings.Repeat("a", 100), profilesTok,
			includeResponse(`include \"\u003cscript\u003e` + strings.Repeat("a", 56) + `...\" is not an include of this route`)},
		{"IncludeNeedsRead", "GET", "/api/profiles?include=lists", profilesTok, insufficientResponse("lists:read")},
		{"WriteNeedsWrite", "POST", "/api/profiles?include=lists", profilesTok, insufficientResponse("profiles:write lists:read")},
		{"OverrideIgnored", "POST", "/api/profiles?_method=GET", profilesTok, insufficientResponse("profiles:write")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := bearerRequest(tc.method, tc.target, tc.token)
			r.Header.Set("X-HTTP-Method-Override", "GET")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			assert.Equal(t, tc.want, responseOf(rec))
		})
	}
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

// guardedApp is the app of the bypass tests: Enforce in front of a ServeMux
// serving testRoutes. Each handler checks, from the request as it sees it,
// that the key it was given grants what the route needs, including every
// include value it would act on, and records any breach.
type guardedApp struct {
	handler    http.Handler
	mu         sync.Mutex
	breaches   []string
	served     map[string]int // route pattern -> times served
	resourceOf map[string]string
}

func newGuardedApp(t testing.TB, g *apikey.Guard, methodPatterns bool) *guardedApp {
	a := &guardedApp{served: map[string]int{}, resourceOf: map[string]string{}}
	mux := http.NewServeMux()
	for _, rt := range testRoutes {
		a.resourceOf[rt.Pattern] = rt.Resource
		if !methodPatterns {
			mux.HandleFunc(rt.Pattern, a.serve)
			continue
		}
		// An app often registers one pattern per method instead.
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			mux.HandleFunc(m+" "+rt.Pattern, a.serve)
		}
	}
	a.handler = g.Enforce(testPolicy(t))(mux)
	return a
}

func (a *guardedApp) serve(w http.ResponseWriter, r *http.Request) {
	pattern := r.Pattern
	if _, p, ok := strings.Cut(pattern, " "); ok {
		pattern = p
	}
	k, ok := apikey.FromContext(r.Context())
	need := []apikey.Scope{{Resource: a.resourceOf[pattern], Access: apikey.Write}}
	if r.Method == "GET" || r.Method == "HEAD" {
		need[0].Access = apikey.Read
	}
	for _, v := range r.URL.Query()["include"] {
		for inc := range strings.SplitSeq(v, ",") {
			if inc = strings.TrimSpace(inc); inc != "" {
				need = append(need, apikey.Scope{Resource: inc, Access: apikey.Read})
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.served[pattern]++
	if !ok || !k.Scopes.AllowsAll(need...) {
		a.breaches = append(a.breaches, fmt.Sprintf("%s %s reached %q with key %q (needs %v)", r.Method, r.RequestURI, pattern, k.Scopes, need))
	}
	io.WriteString(w, "ok")
}

func (a *guardedApp) check(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	assert.Empty(t, a.breaches, "handlers reached with a key lacking what their route requires")
}

// TestPolicyBypass serves every tricky path with every method and key
// through Enforce and a real ServeMux, and checks that no handler is ever
// reached with a key lacking what its route requires.
func TestPolicyBypass(t *testing.T) {
	g, tokens := bypassGuard(t)
	for _, methodPatterns := range []bool{false, true} {
		t.Run(fmt.Sprintf("MethodPatterns=%v", methodPatterns), func(t *testing.T) {
			app := newGuardedApp(t, g, methodPatterns)
			for _, target := range bypassPaths {
				for _, method := range bypassMethods {
					for _, tok := range tokens {
						r := bearerRequest(method, target, tok)
						r.Header.Set("X-HTTP-Method-Override", "GET")
						app.handler.ServeHTTP(httptest.NewRecorder(), r)
					}
				}
			}
			app.check(t)
			// The test must not pass by refusing everything: canonical
			// paths reach their handlers.
			for _, p := range []string{"/api/x", "/api/y/", "/api/profiles", "/api/profiles/{id}", "/api/admin/{rest...}", "/api/files/{path...}", "/api/everything"} {
				assert.NotZero(t, app.served[p], "times route %s was served", p)
			}
		})
	}
}

// TestPolicyPaths pins the answer for each tricky path to a key that may
// read everything: only canonical paths of a route pass.
func TestPolicyPaths(t *testing.T) {
	m := apikeytest.NewManager(t, apikey.Options{})
	g := mustGuard(t, m, apikey.GuardOptions{})
	tok := apikeytest.Mint(t, m, "*:read")
	app := newGuardedApp(t, g, false)
	want := map[string]int{
		"/api/x": 200, "//api/x": 404, "/api//x": 404, "/api/./x": 404, "/api/y/../x": 404, "/./api/x": 404,
		"/api/x/": 404, "/api/x/.": 404, "/api/x/..": 404, "/API/x": 404, "/api/X": 404, "/api/x%2f": 404,
		"/api%2fx": 404, "/%61pi/x": 200, "/api/%78": 200, "/api/%2e/x": 404, "/api/y/%2e%2e/x": 200,
		"/api/y/..%2fx": 200, "/api/y%2f..%2fx": 404, "/api/y/..;/x": 200, "/api/y": 404, "/api/y/": 200,
		"/api/profiles/": 404, "/api/profiles/1/": 404, "/api/profiles/..%2f..%2fx": 200, "/api/profiles/%2e%2e": 200,
		"/api/profiles/..": 404, "/api/lists/../x": 404, "/api/everything": 200, "/api/everything/": 404,
		"/api/files/..%2f..%2fadmin%2fz": 200, "/api/files/../admin/z": 404, "*": 404,
		"/api/profiles?include=lists": 200, "/api/profiles?include=secrets": 400, "/api/profiles?incl%75de=secrets": 400,
		"/api/profiles?x=1;include=admin": 400, "/api/profiles?include=lists%2Cadmin": 400,
	}
	for target, status := range want {
		rec := httptest.NewRecorder()
		app.handler.ServeHTTP(rec, bearerRequest("GET", target, tok))
		assert.Equal(t, status, rec.Code, "status for GET %s", target)
	}
	app.check(t)
}

// TestPolicyBypassRawHTTP sends the tricky request lines byte for byte to a
// real server, so that no client normalises them away.
func TestPolicyBypassRawHTTP(t *testing.T) {
	g, tokens := bypassGuard(t)
	app := newGuardedApp(t, g, false)
	srv := httptest.NewServer(app.handler)
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	br := bufio.NewReader(conn)
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
				require.False(t, resp.Close, "%s %s: server closed the connection (status %d)", method, target, resp.StatusCode)
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
	p := testPolicy(f)
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

// FuzzPolicyPath feeds arbitrary request targets to the app of the bypass
// tests: no handler may be reached with a key lacking its route's scopes.
func FuzzPolicyPath(f *testing.F) {
	for _, s := range bypassPaths {
		f.Add("GET", s)
	}
	f.Add("POST", "/api/y/%2e%2e/x")
	m := apikeytest.NewManager(f, apikey.Options{})
	g, err := apikey.NewGuard(m, apikey.GuardOptions{})
	require.NoError(f, err)
	tok := apikeytest.Mint(f, m, "public:write,profiles:read")
	app := newGuardedApp(f, g, false)
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
