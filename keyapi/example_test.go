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
// authorizer that trusts an operator of the account "acct_42" stands in
// for keyscope's middleware, which would otherwise put the caller's
// verified key in the context.
func ExampleNewHandler() {
	m, err := apikey.NewManager(apikey.Options{Store: memstore.New()})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	keys, err := keyapi.NewHandler(m, keyapi.Options{
		Authorize: func(r *http.Request, op keyapi.Operation) (keyapi.Actor, error) {
			return keyapi.Actor{Owner: "acct_42", Name: "operator", Scopes: keyapi.AdminScopes()}, nil
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
		Owner  string `json:"owner"`
		Label  string `json:"label"`
		Scopes string `json:"scopes"`
		Token  string `json:"token"`
	}
	json.NewDecoder(w.Body).Decode(&created)
	fmt.Println(w.Code, created.Owner, created.Label, created.Scopes, strings.HasPrefix(created.Token, "sk_"))

	req = httptest.NewRequest("PATCH", "/keys/"+"0190c8e4-0000-7000-8000-000000000000", strings.NewReader(`{"scopes":"full"}`))
	req.Header.Set("Content-Type", "application/json")
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	// Output:
	// 201 acct_42 reporting *:read true
	// 400 application/problem+json
}

// user is a person signed in to the application's settings pages.
type user struct {
	Email   string
	Account string // the account the user belongs to
	Role    string // "owner", "admin" or "member"
}

// An Authorizer for the people of an account, signed in to its settings
// page rather than calling with a key: owners and admins may do everything
// with their account's keys; members may list and read them, and
// deactivate one that leaked, but not re-enable it, nor create, rename,
// re-expire, clone, roll or delete keys. A map of session IDs stands in for
// the application's session store.
func ExampleAuthorizer() {
	sessions := map[string]user{
		"s1": {"alice@shop.example", "acct_1", "owner"},
		"s2": {"bob@shop.example", "acct_1", "member"},
		"s3": {"carol@acme.example", "acct_2", "admin"},
	}
	authorize := func(r *http.Request, op keyapi.Operation) (keyapi.Actor, error) {
		c, err := r.Cookie("session")
		if err != nil {
			return keyapi.Actor{}, keyapi.ErrUnauthenticated
		}
		u, ok := sessions[c.Value]
		if !ok {
			return keyapi.Actor{}, keyapi.ErrUnauthenticated
		}
		switch {
		case u.Role == "owner" || u.Role == "admin":
		case u.Role == "member" && (op == keyapi.OpList || op == keyapi.OpGet || op == keyapi.OpDeactivate):
		default:
			return keyapi.Actor{}, &keyapi.AccessError{Err: keyapi.ErrForbidden,
				Detail: "only the owners and admins of the account may " + string(op) + " keys"}
		}
		// Owners and admins may grant any scopes, key management included;
		// their keys belong to their account.
		return keyapi.Actor{Owner: u.Account, Name: u.Email, Scopes: keyapi.AdminScopes()}, nil
	}

	m, err := apikey.NewManager(apikey.Options{Store: memstore.New()})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	keys, err := keyapi.NewHandler(m, keyapi.Options{
		Authorize: authorize,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	// do sends a request as the user of session and prints the answer's
	// status, and the record's owner and status or the problem's code.
	do := func(session, method, path, body string) (id string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.AddCookie(&http.Cookie{Name: "session", Value: session})
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		keys.ServeHTTP(w, req)
		var resp struct {
			ID     string `json:"id"`
			Owner  string `json:"owner"`
			Active bool   `json:"active"`
			Code   string `json:"code"`
		}
		json.NewDecoder(w.Body).Decode(&resp)
		if resp.Code != "" {
			fmt.Println(sessions[session].Email, method, w.Code, resp.Code)
		} else {
			fmt.Println(sessions[session].Email, method, w.Code, resp.Owner, "active:", resp.Active)
		}
		return resp.ID
	}

	id := do("s1", "POST", "/", `{"label":"shop integration"}`)
	do("s2", "POST", "/", `{"label":"mine"}`)
	do("s2", "PATCH", "/"+id, `{"active":false}`)
	do("s2", "PATCH", "/"+id, `{"active":true}`)
	do("s3", "PATCH", "/"+id, `{"active":true}`)
	do("s1", "PATCH", "/"+id, `{"active":true}`)
	// Output:
	// alice@shop.example POST 201 acct_1 active: true
	// bob@shop.example POST 403 forbidden
	// bob@shop.example PATCH 200 acct_1 active: false
	// bob@shop.example PATCH 403 forbidden
	// carol@acme.example PATCH 404 not_found
	// alice@shop.example PATCH 200 acct_1 active: true
}
