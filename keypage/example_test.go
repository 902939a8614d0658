package keypage_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/keyapi"
	"github.com/keyscope/apikey/keypage"
	"github.com/keyscope/apikey/memstore"
)

// An application mounts the settings page with one line, under any path,
// and names the person using it with its own sign-in: here a session
// cookie that stands for the owner of account acct_42.
func Example() {
	catalog, err := apikey.NewCatalog("campaigns", "lists", "profiles")
	if err != nil {
		log.Fatal(err)
	}
	m, err := apikey.NewManager(apikey.Options{Store: memstore.New(), Catalog: catalog})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	// The application's own sign-in: who the request's session is.
	currentUser := func(r *http.Request) (keyapi.Principal, error) {
		if c, err := r.Cookie("session"); err == nil && c.Value == "ada-session" {
			return keyapi.Principal{Account: "acct_42", Name: "ada@example.com", Role: keyapi.RoleOwner}, nil
		}
		return keyapi.Principal{}, keyapi.ErrUnauthenticated
	}
	page, err := keypage.New(m, keypage.Options{
		Authorize: keyapi.AuthorizeRoles(currentUser),
		SignInURL: "/login",
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/settings/api-keys/", http.StripPrefix("/settings/api-keys", page))

	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(session string) {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/settings/api-keys/", nil)
		if err != nil {
			log.Fatal(err)
		}
		if session != "" {
			req.AddCookie(&http.Cookie{Name: "session", Value: session})
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(resp.Status, resp.Header.Get("Content-Type"))
		fmt.Println("  create button:", strings.Contains(string(body), `href="/settings/api-keys/new"`))
		fmt.Println("  sign-in link:", strings.Contains(string(body), `href="/login"`))
	}
	get("ada-session")
	get("")
	// Output:
	// 200 OK text/html; charset=utf-8
	//   create button: true
	//   sign-in link: false
	// 401 Unauthorized text/html; charset=utf-8
	//   create button: false
	//   sign-in link: true
}
