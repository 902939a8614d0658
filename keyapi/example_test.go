package keyapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/keyapi"
	"github.com/keyscope/apikey/memstore"
)

// The handler mounted under /keys of an application's mux. Here an
// authorizer that trusts an operator stands in for keyscope's middleware,
// which would otherwise put the caller's verified key in the context.
func ExampleNewHandler() {
	m, err := apikey.NewManager(apikey.Options{Store: memstore.New()})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	keys, err := keyapi.NewHandler(m, keyapi.Options{
		Authorize: func(r *http.Request, op keyapi.Operation) (keyapi.Actor, error) {
			return keyapi.Actor{Name: "operator", Scopes: apikey.FullAccess()}, nil
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/keys/", http.StripPrefix("/keys", keys))

	req := httptest.NewRequest("POST", "/keys/", strings.NewReader(`{"label":"reporting","scopes":"read-only"}`))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)

	var created struct {
		Label  string `json:"label"`
		Scopes string `json:"scopes"`
		Token  string `json:"token"`
	}
	json.NewDecoder(w.Body).Decode(&created)
	fmt.Println(w.Code, created.Label, created.Scopes, strings.HasPrefix(created.Token, "sk_"))

	req = httptest.NewRequest("PATCH", "/keys/"+"0190c8e4-0000-7000-8000-000000000000", strings.NewReader(`{"scopes":"full"}`))
	req.Header.Set("Content-Type", "application/json")
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	// Output:
	// 201 reporting *:read true
	// 400 application/problem+json
}
