package apikey_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/memstore"
)

// exampleKey mints a key for the examples and returns its plaintext token.
func exampleKey(m *apikey.Manager, label, scopes string) string {
	s, err := apikey.ParseScopes(scopes)
	if err != nil {
		panic(err)
	}
	_, tok, err := m.Create(context.Background(), apikey.CreateParams{Label: label, Scopes: s})
	if err != nil {
		panic(err)
	}
	return tok.Reveal()
}

// exampleCall serves one request and prints the answer in one line.
func exampleCall(h http.Handler, method, target, token string) {
	r := httptest.NewRequest(method, target, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code == http.StatusOK {
		fmt.Printf("%s %s: %d %s", method, target, rec.Code, rec.Body)
		return
	}
	if www := rec.Header().Get("WWW-Authenticate"); www != "" {
		fmt.Printf("%s %s: %d %s\n", method, target, rec.Code, www)
		return
	}
	fmt.Printf("%s %s: %d %s", method, target, rec.Code, rec.Body)
}

func ExampleGuard_MustRequire() {
	m, err := apikey.NewManager(apikey.Options{Store: memstore.New()})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	reader := exampleKey(m, "dashboard", "lists:read")

	guard, err := apikey.NewGuard(m, apikey.GuardOptions{})
	if err != nil {
		panic(err)
	}
	showLists := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, _ := apikey.FromContext(r.Context())
		fmt.Fprintf(w, "lists for %q\n", k.Label)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /api/lists", guard.MustRequire("lists:read")(showLists))
	mux.Handle("POST /api/lists", guard.MustRequire("lists:write")(showLists))

	exampleCall(mux, "GET", "/api/lists", reader)
	exampleCall(mux, "POST", "/api/lists", reader)
	exampleCall(mux, "GET", "/api/lists", "")
	exampleCall(mux, "GET", "/api/lists", "sk_forged")
	// Output:
	// GET /api/lists: 200 lists for "dashboard"
	// POST /api/lists: 403 Bearer realm="api", error="insufficient_scope", scope="lists:write"
	// GET /api/lists: 401 Bearer realm="api"
	// GET /api/lists: 401 Bearer realm="api", error="invalid_token"
}

func ExampleNewRouter() {
	m, err := apikey.NewManager(apikey.Options{Store: memstore.New()})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	token := exampleKey(m, "crm sync", "profiles:write,lists:read,contacts:read")

	catalog, err := apikey.NewCatalog("profiles", "lists", "contacts")
	if err != nil {
		panic(err)
	}
	guard, err := apikey.NewGuard(m, apikey.GuardOptions{})
	if err != nil {
		panic(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "served", r.Pattern) })
	router, err := apikey.NewRouter(guard, catalog, []apikey.Route{
		{Pattern: "GET /api/profiles/{id}", Resource: "profiles", Includes: []string{"lists"}, Handler: ok},
		{Pattern: "PATCH /api/profiles/{id}", Resource: "profiles", Handler: ok},
		{Pattern: "GET /api/lists/{id}", Resource: "lists", Handler: ok},
		{Pattern: "DELETE /api/lists/{id}", Resource: "lists", Handler: ok},
		// A search is sent with POST but only reads.
		{Pattern: "POST /api/contacts/search", Resource: "contacts", Access: apikey.Read, Handler: ok},
	})
	if err != nil {
		panic(err)
	}

	exampleCall(router, "GET", "/api/profiles/7?include=lists", token)
	exampleCall(router, "PATCH", "/api/profiles/7", token)
	exampleCall(router, "POST", "/api/contacts/search", token)
	exampleCall(router, "DELETE", "/api/lists/3", token)
	exampleCall(router, "GET", "/api/profiles/7?include=owners", token)
	exampleCall(router, "PUT", "/api/lists/3", token)
	exampleCall(router, "GET", "/api/segments/1", token)
	// Output:
	// GET /api/profiles/7?include=lists: 200 served GET /api/profiles/{id}
	// PATCH /api/profiles/7: 200 served PATCH /api/profiles/{id}
	// POST /api/contacts/search: 200 served POST /api/contacts/search
	// DELETE /api/lists/3: 403 Bearer realm="api", error="insufficient_scope", scope="lists:write"
	// GET /api/profiles/7?include=owners: 400 {"error":"invalid_request","error_description":"include \"owners\" is not an include of this route"}
	// PUT /api/lists/3: 405 {"error":"method_not_allowed","error_description":"the request method is not allowed"}
	// GET /api/segments/1: 404 {"error":"not_found","error_description":"no route matches the request"}
}

// ExampleRouter_Routes publishes the scopes each endpoint needs, as a
// developer portal would.
func ExampleRouter_Routes() {
	m, err := apikey.NewManager(apikey.Options{Store: memstore.New()})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	catalog, err := apikey.NewCatalog("profiles", "lists", "contacts")
	if err != nil {
		panic(err)
	}
	guard, err := apikey.NewGuard(m, apikey.GuardOptions{})
	if err != nil {
		panic(err)
	}
	h := http.NotFoundHandler()
	router, err := apikey.NewRouter(guard, catalog, []apikey.Route{
		{Pattern: "GET /api/profiles/{id}", Resource: "profiles", Includes: []string{"lists"}, Handler: h},
		{Pattern: "POST /api/contacts/search", Resource: "contacts", Access: apikey.Read, Handler: h},
		{Pattern: "DELETE /api/lists/{id}", Resource: "lists", Handler: h},
	})
	if err != nil {
		panic(err)
	}
	for _, rt := range router.Routes() {
		fmt.Println(rt.Method, rt.Pattern, rt.Scope, rt.Includes)
	}
	// Output:
	// GET /api/profiles/{id} profiles:read [lists]
	// POST /api/contacts/search contacts:read []
	// DELETE /api/lists/{id} lists:write []
}

func ExampleGuard_Check() {
	m, err := apikey.NewManager(apikey.Options{Store: memstore.New()})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	token := exampleKey(m, "reporting", "lists:read")
	guard, err := apikey.NewGuard(m, apikey.GuardOptions{})
	if err != nil {
		panic(err)
	}

	r := httptest.NewRequest("DELETE", "/api/lists/3", nil)
	r.Header.Set("X-API-Key", token)
	_, err = guard.Check(r, apikey.Scope{Resource: "lists", Access: apikey.Write})
	var scopeErr *apikey.InsufficientScopeError
	if errors.As(err, &scopeErr) {
		fmt.Println("missing:", scopeErr.Missing)
	}
	fmt.Println("status:", apikey.ErrorStatus(err))
	// Output:
	// missing: [lists:write]
	// status: 403
}
