package keyapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/keyapi"
)

func TestNewHandlerOptions(t *testing.T) {
	if _, err := keyapi.NewHandler(nil, keyapi.Options{}); err == nil {
		t.Error("NewHandler(nil manager) succeeded")
	}
	e := newEnv(t, envOptions{})
	_, err := keyapi.NewHandler(e.m, keyapi.Options{MaxBodyBytes: -512})
	if err == nil || !strings.Contains(err.Error(), "MaxBodyBytes -512") {
		t.Errorf("NewHandler with MaxBodyBytes -512: error %v, want one naming the option and its value", err)
	}
}

func TestCreate(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		status     int
		wantScopes string // on success
		wantExpiry string // on success: expires_at as sent back; "" never
		field      string // on failure
		code       string
		detailHas  string
	}{
		{name: "DefaultsToFullAccess", body: `{"label":"shop"}`, status: 201, wantScopes: "*:write"},
		{name: "NullScopesIsFullAccess", body: `{"label":"shop","scopes":null}`, status: 201, wantScopes: "*:write"},
		{name: "FullPreset", body: `{"label":"shop","scopes":"full"}`, status: 201, wantScopes: "*:write"},
		{name: "ReadOnlyPreset", body: `{"label":"shop","scopes":"read-only"}`, status: 201, wantScopes: "*:read"},
		{name: "CustomList", body: `{"label":"shop","scopes":"lists:write, campaigns:read"}`, status: 201, wantScopes: "campaigns:read,lists:write"},
		{name: "BadScopeTokenNamed", body: `{"label":"shop","scopes":"campaigns:read,lists:admin"}`, status: 400, field: "scopes", code: "invalid", detailHas: `"lists:admin"`},
		{name: "EmptyScopes", body: `{"label":"shop","scopes":""}`, status: 400, field: "scopes", code: "invalid", detailHas: "read-only"},
		{name: "ScopesNotString", body: `{"label":"shop","scopes":["lists:read"]}`, status: 400, field: "scopes", code: "invalid", detailHas: "string"},
		{name: "WithExpiry", body: `{"label":"shop","expires_at":"2100-01-02T15:04:05.5+01:00"}`, status: 201, wantScopes: "*:write", wantExpiry: "2100-01-02T14:04:05.5Z"},
		{name: "NullExpiryIsNever", body: `{"label":"shop","expires_at":null}`, status: 201, wantScopes: "*:write"},
		{name: "ExpiryInThePast", body: `{"label":"shop","expires_at":"2001-02-03T04:05:06Z"}`, status: 400, field: "expires_at", code: "invalid", detailHas: "expires_at must be in the future"},
		{name: "ExpiryNotRFC3339", body: `{"label":"shop","expires_at":"2100-01-02"}`, status: 400, field: "expires_at", code: "invalid", detailHas: `"2100-01-02"`},
		{name: "ExpiryEmpty", body: `{"label":"shop","expires_at":""}`, status: 400, field: "expires_at", code: "invalid", detailHas: "RFC 3339"},
		{name: "ExpiryNotString", body: `{"label":"shop","expires_at":4102444800}`, status: 400, field: "expires_at", code: "invalid", detailHas: "string"},
		{name: "ExpiryPastYear9999", body: `{"label":"shop","expires_at":"9999-12-31T23:59:59-23:00"}`, status: 400, field: "expires_at", code: "invalid", detailHas: "10000"},
		{name: "MissingLabel", body: `{"scopes":"full"}`, status: 400, field: "label", code: "invalid"},
		{name: "BlankLabel", body: `{"label":"  "}`, status: 400, field: "label", code: "invalid"},
		{name: "LabelNotString", body: `{"label":7}`, status: 400, field: "label", code: "invalid", detailHas: "string"},
		{name: "UnknownMember", body: `{"label":"shop","expires":"never"}`, status: 400, field: "expires", code: "unknown_field", detailHas: `"expires"`},
		{name: "TrailingGarbage", body: `{"label":"shop"} x`, status: 400, code: "malformed"},
		{name: "TwoObjects", body: `{"label":"a"}{"label":"b"}`, status: 400, code: "malformed"},
		{name: "NotAnObject", body: `["shop"]`, status: 400, code: "malformed"},
		{name: "SyntaxError", body: `{"label":}`, status: 400, code: "malformed"},
		{name: "Truncated", body: `{"label":"sh`, status: 400, code: "malformed"},
		{name: "EmptyBody", body: ``, status: 400, code: "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			_, admTok := e.mint("admin", "")
			before := e.count()
			w := e.do("POST", "/", admTok, tc.body)
			if tc.status != 201 {
				p := problemOf(t, w, tc.status)
				if p.Field != tc.field || p.Code != tc.code || !strings.Contains(p.Detail, tc.detailHas) {
					t.Fatalf("problem %+v, want field %q, code %q, detail containing %q", p, tc.field, tc.code, tc.detailHas)
				}
				if e.count() != before {
					t.Fatal("a refused create stored a key")
				}
				return
			}
			k := decodeKey(t, w, 201)
			if k.Scopes != tc.wantScopes || k.Label != "shop" || !k.Active || k.Token == "" || k.ExpiresAt != tc.wantExpiry {
				t.Fatalf("created %+v, want label shop, scopes %q, expiry %q, active, with a token", k, tc.wantScopes, tc.wantExpiry)
			}
			if loc := w.Header().Get("Location"); loc != "/"+k.ID.String() {
				t.Errorf("Location %q, want %q", loc, k.ID)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store on a response with a token", cc)
			}
			got, err := e.m.Verify(context.Background(), k.Token)
			if err != nil || got.ID != k.ID || got.Scopes.String() != tc.wantScopes {
				t.Fatalf("the returned token does not verify as the new key: %v, %v", got, err)
			}
		})
	}
}

func TestCreateWithCatalogSuggests(t *testing.T) {
	cat, err := apikey.NewCatalog("campaigns", "lists", "keys")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{catalog: cat})
	_, admTok := e.mint("admin", "")
	p := problemOf(t, e.do("POST", "/", admTok, `{"label":"x","scopes":"list:read"}`), 400)
	if p.Field != "scopes" || !strings.Contains(p.Detail, `"list:read"`) || !strings.Contains(p.Detail, `"lists"`) {
		t.Fatalf("problem %+v does not name the token and suggest lists", p)
	}
}

func TestTokenIsShownOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, admTok := e.mint("admin", "")
	created := decodeKey(t, e.do("POST", "/", admTok, `{"label":"shop"}`), 201)
	digest := storedDigest(t, e, created.ID)

	for _, path := range []string{"/", "/" + created.ID.String()} {
		w := e.do("GET", path, admTok, "")
		if w.Code != 200 {
			t.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
		}
		body := w.Body.String()
		if strings.Contains(body, created.Token) || strings.Contains(body, created.Token[len(created.Token)-20:]) {
			t.Errorf("GET %s shows the token", path)
		}
		for _, s := range digest {
			if strings.Contains(body, s) {
				t.Errorf("GET %s shows the digest", path)
			}
		}
		if !strings.Contains(body, created.Hint) {
			t.Errorf("GET %s lacks the hint %q", path, created.Hint)
		}
	}
	got := decodeKey(t, e.do("GET", "/"+created.ID.String(), admTok, ""), 200)
	if got.Token != "" {
		t.Error("GET one has a token member")
	}
}

// storedDigest returns the encodings in which a key's digest might leak.
func storedDigest(t *testing.T, e *env, id uuid.UUID) []string {
	t.Helper()
	k, err := e.store.Get(context.Background(), id)
	if err != nil || k.Digest.IsZero() {
		t.Fatalf("stored record: %v, %v", k, err)
	}
	b := k.Digest.Bytes()
	return digestForms(b)
}

func TestList(t *testing.T) {
	e := newEnv(t, envOptions{})
	adm, admTok := e.mint("admin", "")
	ids := []uuid.UUID{adm.ID}
	for i := range 6 {
		k, _ := e.mint(fmt.Sprintf("key %d", i), "lists:read")
		ids = append(ids, k.ID)
	}

	t.Run("DefaultPageHoldsAll", func(t *testing.T) {
		var resp struct {
			Keys []keyJSON `json:"keys"`
			Next string    `json:"next"`
		}
		decodeStrict(t, e.do("GET", "/", admTok, ""), 200, &resp)
		if len(resp.Keys) != len(ids) || resp.Next != "" {
			t.Fatalf("got %d keys, next %q; want %d and no next", len(resp.Keys), resp.Next, len(ids))
		}
		for i, k := range resp.Keys {
			if want := ids[len(ids)-1-i]; k.ID != want {
				t.Fatalf("key %d is %s, want %s (newest first)", i, k.ID, want)
			}
			if k.Token != "" || k.Hint == "" {
				t.Fatalf("listed key %+v has a token or lacks a hint", k)
			}
		}
	})

	t.Run("PagesFollowNext", func(t *testing.T) {
		var got []uuid.UUID
		path := "/?limit=3"
		for pages := 0; path != ""; pages++ {
			if pages > len(ids) {
				t.Fatal("paging does not end")
			}
			var resp struct {
				Keys []keyJSON `json:"keys"`
				Next string    `json:"next"`
			}
			decodeStrict(t, e.do("GET", path, admTok, ""), 200, &resp)
			if len(resp.Keys) > 3 {
				t.Fatalf("page of %d keys, limit 3", len(resp.Keys))
			}
			for _, k := range resp.Keys {
				got = append(got, k.ID)
			}
			path = ""
			if resp.Next != "" {
				path = "/?limit=3&before=" + resp.Next
			}
		}
		if len(got) != len(ids) {
			t.Fatalf("paged through %d keys, want %d", len(got), len(ids))
		}
		for i, id := range got {
			if id != ids[len(ids)-1-i] {
				t.Fatalf("key %d is %s, want %s", i, id, ids[len(ids)-1-i])
			}
		}
	})

	t.Run("ExactPageHasNoNext", func(t *testing.T) {
		var resp struct {
			Keys []keyJSON `json:"keys"`
			Next string    `json:"next"`
		}
		decodeStrict(t, e.do("GET", fmt.Sprintf("/?limit=%d", len(ids)), admTok, ""), 200, &resp)
		if len(resp.Keys) != len(ids) || resp.Next != "" {
			t.Fatalf("got %d keys and next %q, want %d and none", len(resp.Keys), resp.Next, len(ids))
		}
	})

	for _, q := range []string{"limit=0", "limit=-1", "limit=1001", "limit=x", "before=nope"} {
		t.Run("Bad_"+q, func(t *testing.T) {
			p := problemOf(t, e.do("GET", "/?"+q, admTok, ""), 400)
			if want, _, _ := strings.Cut(q, "="); p.Field != want {
				t.Fatalf("field %q, want %q", p.Field, want)
			}
		})
	}
}

func TestListEmpty(t *testing.T) {
	e := newEnv(t, envOptions{api: keyapi.Options{Authorize: allowAll}})
	w := e.do("GET", "/", "", "")
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"keys":[]}` {
		t.Fatalf("empty list: %d %s", w.Code, w.Body)
	}
}

// allowAll is an Authorizer for a trusted operator.
func allowAll(r *http.Request, op keyapi.Operation) (keyapi.Actor, error) {
	return keyapi.Actor{Name: "operator", Scopes: apikey.FullAccess()}, nil
}

func TestGet(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, admTok := e.mint("admin", "")
	k, _ := e.mint("shop", "lists:read")
	got := decodeKey(t, e.do("GET", "/"+k.ID.String(), admTok, ""), 200)
	if got.ID != k.ID || got.Label != "shop" || got.Scopes != "lists:read" || !got.Active || got.Hint != k.Hint {
		t.Fatalf("got %+v, want %+v", got, k)
	}
	for _, id := range []string{uuid.Must(uuid.NewV7()).String(), "not-a-uuid"} {
		p := problemOf(t, e.do("GET", "/"+id, admTok, ""), 404)
		if p.Field != "id" || !strings.Contains(p.Detail, id) {
			t.Errorf("GET unknown %s: problem %+v", id, p)
		}
	}
}

func TestUpdate(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		inactive   bool // the target starts deactivated
		status     int
		wantLabel  string
		wantActive bool
		field      string
		code       string
		detailHas  string
	}{
		{name: "Rename", body: `{"label":"renamed"}`, status: 200, wantLabel: "renamed", wantActive: true},
		{name: "Deactivate", body: `{"active":false}`, status: 200, wantLabel: "shop", wantActive: false},
		{name: "Reactivate", body: `{"active":true}`, inactive: true, status: 200, wantLabel: "shop", wantActive: true},
		{name: "RenameAndDeactivate", body: `{"label":"old","active":false}`, status: 200, wantLabel: "old", wantActive: false},
		{name: "NothingIsNoOp", body: `{}`, status: 200, wantLabel: "shop", wantActive: true},
		{name: "ScopesAreFixed", body: `{"scopes":"full"}`, status: 400, field: "scopes", code: "scopes_fixed", detailHas: "fixed at creation"},
		{name: "ScopesAnyCase", body: `{"Scopes":"lists:read"}`, status: 400, field: "scopes", code: "scopes_fixed", detailHas: "new key"},
		{name: "ScopesNull", body: `{"scopes":null}`, status: 400, field: "scopes", code: "scopes_fixed"},
		{name: "ScopesBeforeUnknown", body: `{"label":"x","scopes":"full","colour":"red"}`, status: 400, field: "scopes", code: "scopes_fixed"},
		{name: "BlankLabelChangesNothing", body: `{"label":"","active":false}`, status: 400, field: "label", code: "invalid"},
		{name: "ActiveNotBool", body: `{"active":"no"}`, status: 400, field: "active", code: "invalid", detailHas: "boolean"},
		{name: "UnknownMember", body: `{"expires_at":"2030-01-01T00:00:00Z"}`, status: 400, field: "expires_at", code: "unknown_field"},
		{name: "EmptyBody", body: ``, status: 400, code: "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			_, admTok := e.mint("admin", "")
			k, tok := e.mint("shop", "lists:read")
			if tc.inactive {
				if _, err := e.m.Deactivate(context.Background(), k.ID); err != nil {
					t.Fatal(err)
				}
			}
			w := e.do("PATCH", "/"+k.ID.String(), admTok, tc.body)
			if tc.status != 200 {
				p := problemOf(t, w, tc.status)
				if p.Field != tc.field || p.Code != tc.code || !strings.Contains(p.Detail, tc.detailHas) {
					t.Fatalf("problem %+v, want field %q, code %q, detail containing %q", p, tc.field, tc.code, tc.detailHas)
				}
				after, err := e.m.Get(context.Background(), k.ID)
				if err != nil || after.Label != "shop" || after.Active == tc.inactive {
					t.Fatalf("a refused PATCH changed the key: %+v, %v", after, err)
				}
				return
			}
			got := decodeKey(t, w, 200)
			if got.Label != tc.wantLabel || got.Active != tc.wantActive || got.Scopes != "lists:read" {
				t.Fatalf("got %+v, want label %q, active %v", got, tc.wantLabel, tc.wantActive)
			}
			_, err := e.m.Verify(context.Background(), tok)
			if tc.wantActive && err != nil {
				t.Fatalf("active key does not verify: %v", err)
			}
			if !tc.wantActive && !errors.Is(err, apikey.ErrInactive) {
				t.Fatalf("deactivated key verifies: %v", err)
			}
		})
	}
	t.Run("UnknownKey", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		_, admTok := e.mint("admin", "")
		problemOf(t, e.do("PATCH", "/"+uuid.Must(uuid.NewV7()).String(), admTok, `{"active":false}`), 404)
	})
}

// TestUpdateIsAtomic: a PATCH that renames and changes the status applies
// in one store write, so a failure leaves the key as it was rather than
// renamed but still active.
func TestUpdateIsAtomic(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, admTok := e.mint("admin", "")
	k, tok := e.mint("shop", "lists:read")
	path := "/" + k.ID.String()

	e.store.failStatus.Store(true)
	p := problemOf(t, e.do("PATCH", path, admTok, `{"label":"retired","active":false}`), 503)
	if p.Code != "unavailable" {
		t.Fatalf("problem %+v", p)
	}
	after, err := e.m.Get(context.Background(), k.ID)
	if err != nil || after.Label != "shop" || !after.Active {
		t.Fatalf("a failed PATCH half-applied: %+v, %v", after, err)
	}

	e.store.failStatus.Store(false)
	e.store.updates.Store(0)
	got := decodeKey(t, e.do("PATCH", path, admTok, `{"label":"retired","active":false}`), 200)
	if got.Label != "retired" || got.Active {
		t.Fatalf("got %+v", got)
	}
	if n := e.store.updates.Load(); n != 1 {
		t.Errorf("PATCH of label and status made %d store writes, want 1", n)
	}
	if _, err := e.m.Verify(context.Background(), tok); !errors.Is(err, apikey.ErrInactive) {
		t.Fatalf("deactivated key verifies: %v", err)
	}
}

func TestDelete(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, admTok := e.mint("admin", "")
	k, tok := e.mint("shop", "lists:read")
	w := e.do("DELETE", "/"+k.ID.String(), admTok, "")
	if w.Code != 204 || w.Body.Len() != 0 {
		t.Fatalf("DELETE: %d %q, want 204 and no body", w.Code, w.Body)
	}
	if _, err := e.m.Verify(context.Background(), tok); !errors.Is(err, apikey.ErrInvalidKey) {
		t.Fatalf("deleted key verifies: %v", err)
	}
	problemOf(t, e.do("GET", "/"+k.ID.String(), admTok, ""), 404)
	problemOf(t, e.do("DELETE", "/"+k.ID.String(), admTok, ""), 404)
}

func TestClone(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, admTok := e.mint("admin", "")
	src, srcTok := e.mint("shop", "campaigns:read,lists:write")
	for _, body := range []string{"", "{}"} {
		w := e.do("POST", "/"+src.ID.String()+"/clone", admTok, body)
		c := decodeKey(t, w, 201)
		if c.ID == src.ID || c.ClonedFrom != src.ID || c.Label != "shop" || c.Scopes != "campaigns:read,lists:write" || !c.Active || c.Token == "" {
			t.Fatalf("clone %+v of %+v", c, src)
		}
		if loc := w.Header().Get("Location"); loc != "/"+c.ID.String() {
			t.Errorf("Location %q", loc)
		}
		if got, err := e.m.Verify(context.Background(), c.Token); err != nil || got.ID != c.ID {
			t.Fatalf("clone's token: %v, %v", got, err)
		}
	}
	if _, err := e.m.Verify(context.Background(), srcTok); err != nil {
		t.Fatalf("the original stopped verifying: %v", err)
	}
	p := problemOf(t, e.do("POST", "/"+src.ID.String()+"/clone", admTok, `{"label":"x"}`), 400)
	if p.Field != "label" || p.Code != "unknown_field" {
		t.Errorf("clone with a body: %+v", p)
	}
	problemOf(t, e.do("POST", "/"+uuid.Must(uuid.NewV7()).String()+"/clone", admTok, ""), 404)
}

func TestRoll(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		status    int
		grace     time.Duration
		detailHas string
	}{
		{name: "WithGrace", body: `{"grace":"24h"}`, status: 201, grace: 24 * time.Hour},
		{name: "NoBodyIsImmediate", body: ``, status: 201},
		{name: "EmptyGraceIsImmediate", body: `{"grace":""}`, status: 201},
		{name: "NegativeGrace", body: `{"grace":"-1h"}`, status: 400, detailHas: `"-1h"`},
		{name: "NotADuration", body: `{"grace":"a day"}`, status: 400, detailHas: `"a day"`},
		{name: "GraceNotString", body: `{"grace":3600}`, status: 400, detailHas: "string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			_, admTok := e.mint("admin", "")
			src, srcTok := e.mint("shop", "lists:write")
			w := e.do("POST", "/"+src.ID.String()+"/roll", admTok, tc.body)
			if tc.status != 201 {
				p := problemOf(t, w, tc.status)
				if p.Field != "grace" || !strings.Contains(p.Detail, tc.detailHas) {
					t.Fatalf("problem %+v", p)
				}
				if after, _ := e.m.Get(context.Background(), src.ID); !after.ExpiresAt.IsZero() || e.count() != 2 {
					t.Fatal("a refused roll changed something")
				}
				return
			}
			n := decodeKey(t, w, 201)
			if n.ClonedFrom != src.ID || n.Scopes != "lists:write" || n.Token == "" {
				t.Fatalf("rolled key %+v", n)
			}
			if _, err := e.m.Verify(context.Background(), n.Token); err != nil {
				t.Fatalf("new token: %v", err)
			}
			orig, err := e.m.Get(context.Background(), src.ID)
			if err != nil {
				t.Fatal(err)
			}
			created, _ := time.Parse(time.RFC3339Nano, n.CreatedAt)
			if want := created.Add(tc.grace); !orig.ExpiresAt.Equal(want) {
				t.Fatalf("original expires %v, want %v", orig.ExpiresAt, want)
			}
			_, err = e.m.Verify(context.Background(), srcTok)
			if tc.grace > 0 && err != nil {
				t.Fatalf("original stopped verifying within its grace: %v", err)
			}
			if tc.grace == 0 && !errors.Is(err, apikey.ErrExpired) {
				t.Fatalf("original still verifies after a roll without grace: %v", err)
			}
		})
	}
}

func TestRollUndoesCloneWhenOriginalCannotExpire(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, admTok := e.mint("admin", "")
	src, srcTok := e.mint("shop", "lists:write")
	e.store.failUpdate.Store(true)
	p := problemOf(t, e.do("POST", "/"+src.ID.String()+"/roll", admTok, `{"grace":"1h"}`), 503)
	if strings.Contains(p.Detail, "disk on fire") {
		t.Fatalf("problem leaks the store's error: %q", p.Detail)
	}
	if e.count() != 2 {
		t.Fatalf("store holds %d keys, want the admin key and the original only", e.count())
	}
	if _, err := e.m.Verify(context.Background(), srcTok); err != nil {
		t.Fatalf("original: %v", err)
	}
}

func TestStoreFailureIs503(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   func(id uuid.UUID) string
		body   string
		fail   func(s *failStore)
	}{
		{"List", "GET", func(uuid.UUID) string { return "/" }, "", func(s *failStore) { s.failList.Store(true) }},
		{"Get", "GET", func(id uuid.UUID) string { return "/" + id.String() }, "", func(s *failStore) { s.failGet.Store(true) }},
		{"Create", "POST", func(uuid.UUID) string { return "/" }, `{"label":"x"}`, func(s *failStore) { s.failCreate.Store(true) }},
		{"Update", "PATCH", func(id uuid.UUID) string { return "/" + id.String() }, `{"label":"x"}`, func(s *failStore) { s.failUpdate.Store(true) }},
		{"Clone", "POST", func(id uuid.UUID) string { return "/" + id.String() + "/clone" }, ``, func(s *failStore) { s.failCreate.Store(true) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{api: keyapi.Options{Authorize: allowAll}})
			k, _ := e.mint("shop", "")
			e.log.records(t)
			tc.fail(e.store)
			p := problemOf(t, e.do(tc.method, tc.path(k.ID), "", tc.body), 503)
			if p.Code != "unavailable" || strings.Contains(p.Detail, "disk on fire") {
				t.Fatalf("problem %+v", p)
			}
			recs := e.log.records(t)
			if len(recs) != 1 || recs[0]["level"] != "ERROR" || !strings.Contains(fmt.Sprint(recs[0]["err"]), "disk on fire") {
				t.Fatalf("log records %v, want one ERROR with the cause", recs)
			}
		})
	}
}

func TestBodyLimits(t *testing.T) {
	t.Run("OverLimitIs413", func(t *testing.T) {
		e := newEnv(t, envOptions{api: keyapi.Options{Authorize: allowAll, MaxBodyBytes: 100}})
		k, _ := e.mint("shop", "")
		long := `{"label":"` + strings.Repeat("a", 100) + `"}`
		for _, rq := range []struct{ method, path string }{
			{"POST", "/"}, {"PATCH", "/" + k.ID.String()}, {"POST", "/" + k.ID.String() + "/roll"}, {"POST", "/" + k.ID.String() + "/clone"},
		} {
			p := problemOf(t, e.do(rq.method, rq.path, "", long), 413)
			if p.Code != "too_large" || !strings.Contains(p.Detail, "100 bytes") {
				t.Errorf("%s %s: %+v", rq.method, rq.path, p)
			}
		}
		if e.count() != 1 {
			t.Fatal("an oversized request stored a key")
		}
	})
	t.Run("DefaultFitsTheLongestLabel", func(t *testing.T) {
		e := newEnv(t, envOptions{api: keyapi.Options{Authorize: allowAll}})
		label := strings.Repeat(`"`, apikey.MaxLabelLen) // escaped, twice as long
		k := decodeKey(t, e.do("POST", "/", "", `{"label":`+strconvQuote(label)+`}`), 201)
		if k.Label != label {
			t.Fatal("label did not round-trip")
		}
	})
	t.Run("BodyMustBeJSON", func(t *testing.T) {
		e := newEnv(t, envOptions{api: keyapi.Options{Authorize: allowAll}})
		for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded"} {
			r := httptest.NewRequest("POST", "/", strings.NewReader(`{"label":"x"}`))
			if ct != "" {
				r.Header.Set("Content-Type", ct)
			}
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			if p := problemOf(t, w, 415); p.Code != "unsupported_type" {
				t.Errorf("Content-Type %q: %+v", ct, p)
			}
		}
		r := httptest.NewRequest("POST", "/", strings.NewReader(`{"label":"x"}`))
		r.Header.Set("Content-Type", "application/json; charset=utf-8")
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		if w.Code != 201 {
			t.Fatalf("application/json with charset: %d %s", w.Code, w.Body)
		}
	})
}

func TestRouting(t *testing.T) {
	e := newEnv(t, envOptions{api: keyapi.Options{Authorize: allowAll}})
	id := uuid.Must(uuid.NewV7()).String()
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"PUT", "/", 405, "GET, HEAD, POST"},
		{"DELETE", "/", 405, "GET, HEAD, POST"},
		{"POST", "/" + id, 405, "GET, HEAD, PATCH, DELETE"},
		{"GET", "/" + id + "/clone", 405, "POST"},
		{"DELETE", "/" + id + "/roll", 405, "POST"},
		{"GET", "/" + id + "/other", 404, ""},
		{"GET", "/a/b/c", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			w := e.do(tc.method, tc.path, "", "")
			problemOf(t, w, tc.status)
			if got := w.Header().Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
}

func TestMountWithStripPrefix(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, admTok := e.mint("admin", "")
	h, err := keyapi.NewHandler(e.m, keyapi.Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	api := withBearer(e.m, http.StripPrefix("/keys", h))
	mux := http.NewServeMux()
	mux.Handle("/keys/", api)
	mux.Handle("/keys", api)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	send := func(method, path, body string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+admTok)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, p := range []string{"/keys", "/keys/"} {
		resp := send("POST", p, `{"label":"mounted"}`)
		if resp.StatusCode != 201 {
			t.Fatalf("POST %s: %d", p, resp.StatusCode)
		}
		loc := resp.Header.Get("Location")
		if get := send("GET", loc, ""); get.StatusCode != 200 || !strings.HasPrefix(loc, "/keys/") {
			t.Fatalf("POST %s: Location %q: GET gives %d", p, loc, get.StatusCode)
		}
		clone := send("POST", loc+"/clone", "")
		cloneLoc := clone.Header.Get("Location")
		if get := send("GET", cloneLoc, ""); clone.StatusCode != 201 || get.StatusCode != 200 || !strings.HasPrefix(cloneLoc, "/keys/") {
			t.Fatalf("clone at %s: %d, Location %q: GET %d", loc+"/clone", clone.StatusCode, cloneLoc, get.StatusCode)
		}
		if get := send("GET", p, ""); get.StatusCode != 200 {
			t.Fatalf("GET %s: %d", p, get.StatusCode)
		}
	}
}
