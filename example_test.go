package apikey_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/memstore"
)

// Example is the README's quickstart: create a key, show its token once,
// verify it and check a scope.
func Example() {
	ctx := context.Background()
	m, err := apikey.NewManager(apikey.Options{Store: memstore.New()})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	scopes, err := apikey.ParseScopes("profiles:read,lists:write")
	if err != nil {
		log.Fatal(err)
	}
	key, token, err := m.Create(ctx, apikey.CreateParams{Label: "shop integration", Scopes: scopes})
	if err != nil {
		log.Fatal(err)
	}
	plaintext := token.Reveal() // show this to the user once; it is never stored

	verified, err := m.Verify(ctx, plaintext)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(verified.ID == key.ID, verified.Label, verified.Scopes)
	fmt.Println(verified.Scopes.Allows(apikey.Scope{Resource: "lists", Access: apikey.Read}))
	fmt.Println(verified.Scopes.Allows(apikey.Scope{Resource: "profiles", Access: apikey.Write}))
	// Output:
	// true shop integration lists:write,profiles:read
	// true
	// false
}

func ExampleManager_Create() {
	ctx := context.Background()
	m, _ := apikey.NewManager(apikey.Options{Store: memstore.New()})
	defer m.Close()

	key, token, err := m.Create(ctx, apikey.CreateParams{Label: "reporting", Scopes: apikey.ReadOnly()})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(key.Label, key.Scopes, key.Active)
	fmt.Println(strings.HasPrefix(token.Reveal(), "sk_"), len(token.Reveal()))
	// Printing a token shows only its hint, never the secret.
	fmt.Println(fmt.Sprint(token) == key.Hint, strings.HasPrefix(key.Hint, "sk_…"))
	// Output:
	// reporting *:read true
	// true 75
	// true true
}

func ExampleManager_Verify() {
	ctx := context.Background()
	m, _ := apikey.NewManager(apikey.Options{Store: memstore.New()})
	defer m.Close()
	key, token, _ := m.Create(ctx, apikey.CreateParams{Label: "ci"})

	_, err := m.Verify(ctx, token.Reveal())
	fmt.Println(err)

	_, err = m.Verify(ctx, "sk_not-a-real-token")
	fmt.Println(errors.Is(err, apikey.ErrInvalidKey))

	m.Deactivate(ctx, key.ID)
	_, err = m.Verify(ctx, token.Reveal())
	fmt.Println(errors.Is(err, apikey.ErrInactive))

	m.Activate(ctx, key.ID)
	_, err = m.Verify(ctx, token.Reveal())
	fmt.Println(err)
	// Output:
	// <nil>
	// true
	// true
	// <nil>
}

func ExampleManager_Clone() {
	ctx := context.Background()
	m, _ := apikey.NewManager(apikey.Options{Store: memstore.New()})
	defer m.Close()
	scopes, _ := apikey.ParseScopes("campaigns:read")
	orig, origToken, _ := m.Create(ctx, apikey.CreateParams{Label: "newsletter sync", Scopes: scopes})

	clone, cloneToken, err := m.Clone(ctx, orig.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(clone.Label, clone.Scopes, clone.ClonedFrom == orig.ID)
	fmt.Println(cloneToken.Reveal() != origToken.Reveal())
	_, err = m.Verify(ctx, origToken.Reveal()) // the original keeps working
	fmt.Println(err)
	// Output:
	// newsletter sync campaigns:read true
	// true
	// <nil>
}

func ExampleParseScopes() {
	s, err := apikey.ParseScopes("lists:write, campaigns:read,campaigns:write, profiles:full")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s)
	fmt.Println(s.Allows(apikey.Scope{Resource: "lists", Access: apikey.Read}))

	_, err = apikey.ParseScopes("lists:admin")
	fmt.Println(err)
	// Output:
	// campaigns:write,lists:write,profiles:write
	// true
	// apikey: invalid scope "lists:admin": access "admin" is not none, read, write or full
}

func ExampleCatalog_ParseScopes() {
	catalog, _ := apikey.NewCatalog("campaigns", "data-privacy", "lists", "profiles")
	_, err := catalog.ParseScopes("campaigns:read,list:write")
	fmt.Println(err)
	// Output:
	// apikey: invalid scope "list:write": unknown resource "list" (did you mean "lists"?)
}

func ExampleScopes_Covers() {
	admin, _ := apikey.ParseScopes("keys:write,lists:read")
	fmt.Println(admin.Covers(apikey.FullAccess()))
	lists, _ := apikey.ParseScopes("lists:read")
	fmt.Println(admin.Covers(lists))
	// Output:
	// false
	// true
}

func ExampleManager_List_owners() {
	ctx := context.Background()
	m, _ := apikey.NewManager(apikey.Options{Store: memstore.New()})
	defer m.Close()
	m.Create(ctx, apikey.CreateParams{Owner: "acct_42", Label: "shop"})
	m.Create(ctx, apikey.CreateParams{Owner: "acct_42", Label: "crm"})
	m.Create(ctx, apikey.CreateParams{Owner: "acct_7", Label: "billing"})

	// Each account sees its own keys only, newest first.
	keys, _ := m.List(ctx, apikey.ListOptions{Owner: "acct_42"})
	for _, k := range keys {
		fmt.Println(k.Owner, k.Label)
	}
	// Operators' tools can list every account's keys.
	all, _ := m.List(ctx, apikey.ListOptions{AllOwners: true})
	fmt.Println(len(all))
	// Output:
	// acct_42 crm
	// acct_42 shop
	// 3
}

func ExampleManager_Revoke() {
	ctx := context.Background()
	m, _ := apikey.NewManager(apikey.Options{Store: memstore.New()})
	defer m.Close()
	_, token, _ := m.Create(ctx, apikey.CreateParams{Owner: "acct_42", Label: "leaked in a public repo"})

	// A secret scanner reports the token: revoke it without knowing its ID.
	k, err := m.Revoke(ctx, token.Reveal())
	fmt.Println(k.Owner, k.Label, k.Active, err)

	_, err = m.Verify(ctx, token.Reveal())
	fmt.Println(errors.Is(err, apikey.ErrInactive))
	// Output:
	// acct_42 leaked in a public repo false <nil>
	// true
}
