package keyapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/keyapi"
)

func TestDefaultAuthorizerNeedsKeysScope(t *testing.T) {
	e := newEnv(t, envOptions{})
	target, _ := e.mint("target", "lists:read")
	id := target.ID.String()
	ops := []struct {
		op           keyapi.Operation
		method, path string
		body         string
		status       int // when allowed
	}{
		{keyapi.OpList, "GET", "/", "", 200},
		{keyapi.OpGet, "GET", "/" + id, "", 200},
		{keyapi.OpCreate, "POST", "/", `{"label":"x","scopes":"lists:read"}`, 201},
		{keyapi.OpUpdate, "PATCH", "/" + id, `{"label":"renamed"}`, 200},
		{keyapi.OpClone, "POST", "/" + id + "/clone", "", 201},
		{keyapi.OpRoll, "POST", "/" + id + "/roll", `{"grace":"1h"}`, 201},
		{keyapi.OpDelete, "DELETE", "/" + id, "", 204},
	}
	_, readTok := e.mint("reader", "keys:read,lists:read")
	_, noneTok := e.mint("unrelated", "lists:write")
	_, writeTok := e.mint("writer", "keys:write,lists:read")
	for _, o := range ops {
		t.Run(string(o.op), func(t *testing.T) {
			p := problemOf(t, e.do(o.method, o.path, "", o.body), 401)
			if p.Code != "unauthenticated" {
				t.Errorf("no key: %+v", p)
			}
			p = problemOf(t, e.do(o.method, o.path, noneTok, o.body), 403)
			if p.Code != "forbidden" || !strings.Contains(p.Detail, "keys:") {
				t.Errorf("key without keys scope: %+v", p)
			}
			w := e.do(o.method, o.path, readTok, o.body)
			if o.op.Writes() {
				p := problemOf(t, w, 403)
				if !strings.Contains(p.Detail, "keys:write") {
					t.Errorf("keys:read key: %+v", p)
				}
			} else if w.Code != o.status {
				t.Errorf("keys:read key: %d %s", w.Code, w.Body)
			}
			if w := e.do(o.method, o.path, writeTok, o.body); w.Code != o.status {
				t.Errorf("keys:write key: %d, want %d: %s", w.Code, o.status, w.Body)
			}
		})
	}
	if w := e.do("GET", "/", "", ""); w.Header().Get("WWW-Authenticate") != "Bearer" {
		t.Error("401 without WWW-Authenticate")
	}
}

// roleAuthorizer lets users with the owner or admin role manage keys, with
// full access to delegate; it reads the role from a header a trusted proxy
// would set.
func roleAuthorizer(r *http.Request, op keyapi.Operation) (keyapi.Actor, error) {
	switch role := r.Header.Get("X-Role"); role {
	case "owner", "admin":
		return keyapi.Actor{Name: "user:" + r.Header.Get("X-User"), Scopes: apikey.FullAccess()}, nil
	case "":
		return keyapi.Actor{}, keyapi.ErrUnauthenticated
	case "broken":
		return keyapi.Actor{}, errors.New("session store timeout for user alice")
	default:
		return keyapi.Actor{}, &keyapi.AccessError{Err: keyapi.ErrForbidden, Detail: "only owners and admins may manage keys"}
	}
}

func TestCustomAuthorizer(t *testing.T) {
	e := newEnv(t, envOptions{api: keyapi.Options{Authorize: roleAuthorizer}})
	tests := []struct {
		role      string
		status    int
		detailHas string
	}{
		{"owner", 201, ""},
		{"admin", 201, ""},
		{"member", 403, "only owners and admins"},
		{"", 401, "authentication is required"},
		{"broken", 500, "authorization failed"},
	}
	for _, tc := range tests {
		t.Run("role="+tc.role, func(t *testing.T) {
			e.log.records(t)
			r := newRequest("POST", "/", `{"label":"x"}`)
			r.Header.Set("X-Role", tc.role)
			r.Header.Set("X-User", "alice")
			w := serve(e.h, r)
			if tc.status == 201 {
				k := decodeKey(t, w, 201)
				if k.Scopes != "*:write" {
					t.Fatalf("scopes %q", k.Scopes)
				}
				recs := e.log.records(t)
				if len(recs) != 1 || recs[0]["actor"] != "user:alice" || recs[0]["actor_key_id"] != nil {
					t.Fatalf("log %v, want actor user:alice without a key ID", recs)
				}
				return
			}
			p := problemOf(t, w, tc.status)
			if !strings.Contains(p.Detail, tc.detailHas) || strings.Contains(p.Detail, "session store") {
				t.Fatalf("problem %+v, want detail with %q and no internal error", p, tc.detailHas)
			}
		})
	}
}

// TestNoEscalation runs every operation that hands out access (create,
// clone, roll, reactivate) or changes a key (rename, delete) for each
// pairing of the caller's scopes with the key's, and of the caller's expiry
// with the new key's, under the default authorizer and under one that
// trusts the caller with fixed scopes and expiry, and checks that only
// covered keys get through, that no new key outlives the caller, and that a
// refusal changes nothing.
func TestNoEscalation(t *testing.T) {
	tests := []struct {
		actor, target string // scope lists; target "" means full (create's default)
		allowed       bool
	}{
		{"keys:write,lists:read", "", false},
		{"keys:write,lists:read", "*:write", false},
		{"keys:write,lists:read", "*:read", false},
		{"keys:write,lists:read", "lists:read", true},
		{"keys:write,lists:read", "lists:write", false},
		{"keys:write,lists:read", "keys:write", true},
		{"keys:write,lists:read", "keys:write,lists:read", true},
		{"keys:write,lists:read", "campaigns:read", false},
		{"keys:write,lists:read", "keys:read,lists:read", true},
		{"keys:write,*:read", "*:read", true},
		{"keys:write,*:read", "campaigns:read,lists:read", true},
		{"keys:write,*:read", "lists:write", false},
		{"keys:write,*:read", "keys:write,lists:read", true},
		{"keys:write,*:read", "", false},
		{"keys:write", "keys:read", true},
		{"keys:write", "lists:read", false},
		{"*:write", "", true},
		{"*:write", "*:read,lists:write", true},
	}
	// actorFixed trusts any caller, with the scopes in X-Scopes and the
	// expiry in X-Expires (absent: never).
	actorFixed := func(r *http.Request, op keyapi.Operation) (keyapi.Actor, error) {
		s, err := apikey.ParseScopes(r.Header.Get("X-Scopes"))
		if err != nil {
			return keyapi.Actor{}, keyapi.ErrForbidden
		}
		a := keyapi.Actor{Name: "user", Scopes: s}
		if v := r.Header.Get("X-Expires"); v != "" {
			if a.ExpiresAt, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return keyapi.Actor{}, keyapi.ErrForbidden
			}
		}
		return a, nil
	}
	authorizers := []struct {
		name string
		fn   keyapi.Authorizer
	}{{"DefaultAuthorizer", nil}, {"CustomAuthorizer", actorFixed}}
	for _, authz := range authorizers {
		for _, tc := range tests {
			for _, op := range []string{"create", "clone", "roll", "reactivate", "rename", "delete"} {
				name := authz.name + "/" + tc.actor + "/" + tc.target + "/" + op
				if tc.target == "" && op != "create" {
					continue // only create has a default
				}
				t.Run(name, func(t *testing.T) {
					e := newEnv(t, envOptions{api: keyapi.Options{Authorize: authz.fn}})
					_, actorTok := e.mint("actor", tc.actor)
					var target apikey.Key
					if op != "create" {
						target, _ = e.mint("target", tc.target)
						if _, err := e.m.Deactivate(context.Background(), target.ID); err != nil {
							t.Fatal(err)
						}
					}
					var r *http.Request
					switch op {
					case "create":
						body := `{"label":"new"}`
						if tc.target != "" {
							body = `{"label":"new","scopes":"` + tc.target + `"}`
						}
						r = newRequest("POST", "/", body)
					case "clone":
						r = newRequest("POST", "/"+target.ID.String()+"/clone", "")
					case "roll":
						r = newRequest("POST", "/"+target.ID.String()+"/roll", `{"grace":"1h"}`)
					case "reactivate":
						r = newRequest("PATCH", "/"+target.ID.String(), `{"active":true}`)
					case "rename":
						r = newRequest("PATCH", "/"+target.ID.String(), `{"label":"mine now"}`)
					case "delete":
						r = newRequest("DELETE", "/"+target.ID.String(), "")
					}
					if authz.fn == nil {
						r.Header.Set("Authorization", "Bearer "+actorTok)
					} else {
						r.Header.Set("X-Scopes", tc.actor)
					}
					before := e.count()
					w := serve(e.h, r)
					if tc.allowed {
						if w.Code != 200 && w.Code != 201 && w.Code != 204 {
							t.Fatalf("refused: %d %s", w.Code, w.Body)
						}
						return
					}
					p := problemOf(t, w, 403)
					canon, _ := apikey.ParseScopes(tc.actor)
					if p.Code != "escalation" || !strings.Contains(p.Detail, canon.String()) {
						t.Fatalf("problem %+v, want code escalation naming the caller's scopes", p)
					}
					if e.count() != before {
						t.Fatal("a refused request stored a key")
					}
					if op != "create" {
						after, err := e.m.Get(context.Background(), target.ID)
						if err != nil || after.Active || !after.ExpiresAt.IsZero() || after.Label != "target" {
							t.Fatalf("a refused request changed the target: %+v, %v", after, err)
						}
					}
				})
			}
		}
	}

	// Lifetimes: offsets from now (0: never) of the caller's expiry and of
	// the key the operation starts from: the expires_at a create asks for,
	// or the source of a clone or roll. Scopes are covered throughout.
	const hour = time.Hour
	lifetimes := []struct {
		name       string
		ops        string // space-separated
		actor, key time.Duration
		status     int           // 200: any success
		want       time.Duration // the new key's expiry on success
		customOnly bool          // the default authorizer cannot have an expired caller
	}{
		{name: "NeverCreatesNever", ops: "create", status: 200},
		{name: "NeverCreatesExpiring", ops: "create", key: hour / 2, status: 200, want: hour / 2},
		{name: "ExpiringCreatesItsOwnExpiry", ops: "create", actor: hour, status: 200, want: hour},
		{name: "ExpiringCreatesEarlier", ops: "create", actor: hour, key: hour / 2, status: 200, want: hour / 2},
		{name: "ExpiringCreatesLaterIsCapped", ops: "create", actor: hour, key: 2 * hour, status: 200, want: hour},
		{name: "ExpiredCannotCreate", ops: "create", actor: -time.Minute, status: 403, customOnly: true},
		{name: "NeverCopiesNever", ops: "clone roll", status: 200},
		{name: "NeverCopiesExpiring", ops: "clone roll", key: hour, status: 200, want: hour},
		{name: "ExpiringCopiesEarlier", ops: "clone roll", actor: hour, key: hour / 2, status: 200, want: hour / 2},
		{name: "ExpiringCopiesSameExpiry", ops: "clone roll", actor: hour, key: hour, status: 200, want: hour},
		{name: "ExpiringCannotCopyNever", ops: "clone roll", actor: hour, status: 403},
		{name: "ExpiringCannotCopyLater", ops: "clone roll", actor: hour, key: 2 * hour, status: 403},
		{name: "ExpiredSource", ops: "clone roll", actor: hour, key: -time.Minute, status: 409},
		{name: "ExpiredSourceNeverCaller", ops: "clone roll", key: -time.Minute, status: 409},
		// These make no new key, so the caller's expiry does not matter.
		{name: "ExpiringManagesNever", ops: "reactivate rename delete", actor: hour, status: 200},
	}
	for _, authz := range authorizers {
		for _, tc := range lifetimes {
			if tc.customOnly && authz.fn == nil {
				continue
			}
			for _, op := range strings.Fields(tc.ops) {
				t.Run(authz.name+"/lifetime/"+tc.name+"/"+op, func(t *testing.T) {
					e := newEnv(t, envOptions{api: keyapi.Options{Authorize: authz.fn}})
					now := time.Now().UTC().Truncate(time.Second)
					at := func(d time.Duration) time.Time {
						if d == 0 {
							return time.Time{}
						}
						return now.Add(d)
					}
					var actorTok string
					if authz.fn == nil {
						_, actorTok = e.mintUntil("actor", "keys:write,lists:read", at(tc.actor))
					}
					var target apikey.Key
					if op != "create" {
						exp := at(tc.key)
						if tc.key < 0 {
							exp = time.Time{} // set below: Create refuses past expiries
						}
						target, _ = e.mintUntil("target", "lists:read", exp)
						if tc.key < 0 {
							past := at(tc.key)
							if _, err := e.store.Update(context.Background(), target.ID, apikey.Update{ExpiresAt: &past}); err != nil {
								t.Fatal(err)
							}
						}
						var err error
						if target, err = e.m.Deactivate(context.Background(), target.ID); err != nil {
							t.Fatal(err)
						}
					}
					var r *http.Request
					switch op {
					case "create":
						body := `{"label":"new","scopes":"lists:read"}`
						if tc.key != 0 {
							body = `{"label":"new","scopes":"lists:read","expires_at":"` + at(tc.key).Format(time.RFC3339) + `"}`
						}
						r = newRequest("POST", "/", body)
					case "clone":
						r = newRequest("POST", "/"+target.ID.String()+"/clone", "")
					case "roll":
						r = newRequest("POST", "/"+target.ID.String()+"/roll", `{"grace":"1h"}`)
					case "reactivate":
						r = newRequest("PATCH", "/"+target.ID.String(), `{"active":true}`)
					case "rename":
						r = newRequest("PATCH", "/"+target.ID.String(), `{"label":"mine now"}`)
					case "delete":
						r = newRequest("DELETE", "/"+target.ID.String(), "")
					}
					if authz.fn == nil {
						r.Header.Set("Authorization", "Bearer "+actorTok)
					} else {
						r.Header.Set("X-Scopes", "keys:write,lists:read")
						if tc.actor != 0 {
							r.Header.Set("X-Expires", at(tc.actor).Format(time.RFC3339Nano))
						}
					}
					before := e.count()
					w := serve(e.h, r)
					if tc.status == 200 {
						if w.Code != 200 && w.Code != 201 && w.Code != 204 {
							t.Fatalf("refused: %d %s", w.Code, w.Body)
						}
						if w.Code != 201 {
							return
						}
						k := decodeKey(t, w, 201)
						got, err := e.m.Get(context.Background(), k.ID)
						if err != nil {
							t.Fatal(err)
						}
						if want := at(tc.want); !got.ExpiresAt.Equal(want) {
							t.Fatalf("new key expires %v, want %v", got.ExpiresAt, want)
						}
						if k.ExpiresAt == "" != got.ExpiresAt.IsZero() {
							t.Fatalf("response expires_at %q, stored %v", k.ExpiresAt, got.ExpiresAt)
						}
						return
					}
					p := problemOf(t, w, tc.status)
					switch tc.status {
					case 403:
						if p.Code != "escalation" || !strings.Contains(p.Detail, "outlive") {
							t.Fatalf("problem %+v, want code escalation saying the key would outlive the caller", p)
						}
					case 409:
						if p.Code != "expired" || p.Field != "id" || !strings.Contains(p.Detail, target.ID.String()) {
							t.Fatalf("problem %+v, want code expired naming the key", p)
						}
					}
					if e.count() != before {
						t.Fatal("a refused request stored a key")
					}
					if op != "create" {
						after, err := e.m.Get(context.Background(), target.ID)
						if err != nil || after.Active || !after.ExpiresAt.Equal(target.ExpiresAt) || after.Label != "target" {
							t.Fatalf("a refused request changed the target: %+v, %v", after, err)
						}
					}
				})
			}
		}
	}
}

func TestActorWithoutScopesCannotGrant(t *testing.T) {
	noScopes := func(r *http.Request, op keyapi.Operation) (keyapi.Actor, error) {
		return keyapi.Actor{Name: "auditor"}, nil
	}
	e := newEnv(t, envOptions{api: keyapi.Options{Authorize: noScopes}})
	k, _ := e.mint("k", "lists:read")
	for _, rq := range []struct{ method, path, body string }{
		{"POST", "/", `{"label":"x","scopes":"lists:read"}`},
		{"POST", "/" + k.ID.String() + "/clone", ""},
		{"POST", "/" + k.ID.String() + "/roll", ""},
		{"PATCH", "/" + k.ID.String(), `{"label":"x"}`},
		{"DELETE", "/" + k.ID.String(), ""},
	} {
		if p := problemOf(t, e.do(rq.method, rq.path, "", rq.body), 403); p.Code != "escalation" {
			t.Errorf("%s %s: %+v", rq.method, rq.path, p)
		}
	}
	// Reading and switching a key off need no scopes.
	for _, rq := range []struct{ method, path, body string }{
		{"GET", "/", ""}, {"GET", "/" + k.ID.String(), ""}, {"PATCH", "/" + k.ID.String(), `{"active":false}`},
	} {
		if w := e.do(rq.method, rq.path, "", rq.body); w.Code != 200 {
			t.Errorf("%s %s: %d %s", rq.method, rq.path, w.Code, w.Body)
		}
	}
}

// TestNarrowKeyMayOnlyDeactivateBroaderKeys: a narrower keys:write key may
// read and deactivate a broader key, which stops a leaked key at once and
// can be undone, but may not reactivate, rename or delete it; a key that
// covers it may.
func TestNarrowKeyMayOnlyDeactivateBroaderKeys(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, narrowTok := e.mint("narrow", "keys:write,lists:read")
	_, adminTok := e.mint("admin", "")
	broad, broadTok := e.mint("broad", "keys:write,*:read")
	path := "/" + broad.ID.String()
	if w := e.do("GET", path, narrowTok, ""); w.Code != 200 {
		t.Fatalf("get: %d %s", w.Code, w.Body)
	}
	if w := e.do("PATCH", path, narrowTok, `{"active":false}`); w.Code != 200 {
		t.Fatalf("deactivate: %d %s", w.Code, w.Body)
	}
	if _, err := e.m.Verify(context.Background(), broadTok); !errors.Is(err, apikey.ErrInactive) {
		t.Fatalf("deactivated broad key verifies: %v", err)
	}
	for _, rq := range []struct{ method, body, field string }{
		{"PATCH", `{"active":true}`, "active"},
		{"PATCH", `{"label":"unused, delete me"}`, "label"},
		{"PATCH", `{"label":"x","active":false}`, "label"},
		{"DELETE", "", ""},
	} {
		p := problemOf(t, e.do(rq.method, path, narrowTok, rq.body), 403)
		if p.Code != "escalation" || p.Field != rq.field {
			t.Errorf("%s %s: %+v", rq.method, rq.body, p)
		}
	}
	if after, err := e.m.Get(context.Background(), broad.ID); err != nil || after.Label != "broad" || after.Active {
		t.Fatalf("refused requests changed the key: %+v, %v", after, err)
	}
	if w := e.do("PATCH", path, adminTok, `{"active":true,"label":"broad again"}`); w.Code != 200 {
		t.Fatalf("admin reactivating: %d %s", w.Code, w.Body)
	}
	if w := e.do("DELETE", path, adminTok, ""); w.Code != 204 {
		t.Fatalf("admin deleting: %d %s", w.Code, w.Body)
	}
}

func TestKeyCannotRemoveItself(t *testing.T) {
	e := newEnv(t, envOptions{})
	self, tok := e.mint("self", "keys:write,lists:read")
	path := "/" + self.ID.String()
	if p := problemOf(t, e.do("DELETE", path, tok, ""), 409); p.Code != "self" {
		t.Errorf("delete self: %+v", p)
	}
	if p := problemOf(t, e.do("PATCH", path, tok, `{"active":false}`), 409); p.Code != "self" || p.Field != "active" {
		t.Errorf("deactivate self: %+v", p)
	}
	if _, err := e.m.Verify(context.Background(), tok); err != nil {
		t.Fatalf("key stopped verifying: %v", err)
	}
	// Renaming and activating itself are harmless; rolling itself is how a
	// key rotates.
	if w := e.do("PATCH", path, tok, `{"label":"me","active":true}`); w.Code != 200 {
		t.Fatalf("rename self: %d %s", w.Code, w.Body)
	}
	n := decodeKey(t, e.do("POST", path+"/roll", tok, `{"grace":"1h"}`), 201)
	if n.ClonedFrom != self.ID || n.Scopes != "keys:write,lists:read" {
		t.Fatalf("roll self: %+v", n)
	}
	// The new key may delete the old one.
	if w := e.do("DELETE", path, n.Token, ""); w.Code != 204 {
		t.Fatalf("new key deleting the old: %d %s", w.Code, w.Body)
	}
}

// TestExpiringKeyMayRollItself: a key that expires may rotate itself, and
// so may its successor, each new key expiring when the first one does; it
// may not roll a key that outlives it.
func TestExpiringKeyMayRollItself(t *testing.T) {
	e := newEnv(t, envOptions{})
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	self, tok := e.mintUntil("self", "keys:write,lists:read", exp)
	e.log.records(t)
	for range 2 {
		n := decodeKey(t, e.do("POST", "/"+self.ID.String()+"/roll", tok, `{"grace":"1m"}`), 201)
		got, err := e.m.Get(context.Background(), n.ID)
		if err != nil || !got.ExpiresAt.Equal(exp) || got.ClonedFrom != self.ID {
			t.Fatalf("rolled key %+v, %v; want it to expire at %v", got, err, exp)
		}
		if recs := e.log.records(t); len(recs) != 1 || recs[0]["expires_at"] != exp.Format(time.RFC3339) {
			t.Fatalf("log %v, want the new key's expires_at %v", recs, exp)
		}
		self, tok = got, n.Token
	}
	forever, _ := e.mint("forever", "lists:read")
	p := problemOf(t, e.do("POST", "/"+forever.ID.String()+"/roll", tok, ""), 403)
	if p.Code != "escalation" || !strings.Contains(p.Detail, "would outlive the caller") || !strings.Contains(p.Detail, exp.Format(time.RFC3339)) {
		t.Fatalf("rolling a key that never expires: %+v", p)
	}
}
