package keyapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/keyscope/apikey/keyapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// managementRoute is one request to each route and operation of the API,
// on a target key where it takes one.
type managementRoute struct {
	op           keyapi.Operation
	method, path string
	body         string
	status       int // when allowed
}

// managementRoutes returns a request for every operation, on the key id
// where the operation takes one, and a PATCH of {}.
func managementRoutes(id uuid.UUID) []managementRoute {
	p := "/" + id.String()
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	return []managementRoute{
		{keyapi.OpList, "GET", "/", "", 200},
		{keyapi.OpGet, "GET", p, "", 200},
		{keyapi.OpGet, "PATCH", p, `{}`, 200},
		{keyapi.OpCreate, "POST", "/", `{"label":"x","scopes":"keys:read"}`, 201},
		{keyapi.OpRename, "PATCH", p, `{"label":"renamed"}`, 200},
		{keyapi.OpDeactivate, "PATCH", p, `{"active":false}`, 200},
		{keyapi.OpReactivate, "PATCH", p, `{"active":true}`, 200},
		{keyapi.OpSetExpiry, "PATCH", p, `{"expires_at":"` + exp + `"}`, 200},
		{keyapi.OpSetExpiry, "PATCH", p, `{"expires_at":null}`, 200},
		{keyapi.OpClone, "POST", p + "/clone", "", 201},
		{keyapi.OpRoll, "POST", p + "/roll", `{"grace":"1h"}`, 201},
		{keyapi.OpDelete, "DELETE", p, "", 204},
	}
}

// TestDefaultAuthorizerNeedsNamedKeysGrant runs every route for callers
// with and without a grant that names "keys": a "*" grant, read-only or
// full, never lets a key manage keys, on any route; "keys:read" lets it
// read and "keys:write" do everything, whatever its other scopes.
func TestDefaultAuthorizerNeedsNamedKeysGrant(t *testing.T) {
	callers := []struct {
		scopes        string // "": no key
		read, write   bool   // allowed
		refusedStatus int
	}{
		{scopes: "", refusedStatus: 401},
		{scopes: "lists:write", refusedStatus: 403},
		{scopes: "*:read", refusedStatus: 403},
		{scopes: "*:write", refusedStatus: 403},
		{scopes: "keys:read,lists:read", read: true, refusedStatus: 403},
		{scopes: "*:read,keys:read", read: true, refusedStatus: 403},
		{scopes: "*:write,keys:read", read: true, refusedStatus: 403},
		{scopes: "keys:write", read: true, write: true},
		{scopes: "keys:write,lists:read", read: true, write: true},
		{scopes: "*:read,keys:write", read: true, write: true},
		{scopes: "*:write,keys:write", read: true, write: true},
	}
	for _, c := range callers {
		for i, rt := range managementRoutes(uuid.Nil) {
			name := c.scopes
			if name == "" {
				name = "NoKey"
			}
			t.Run(name+"/"+string(rt.op)+"/"+rt.method+"_"+rt.body, func(t *testing.T) {
				e := newEnv(t, envOptions{})
				var tok string
				if c.scopes != "" {
					_, tok = e.mint("caller", c.scopes)
				}
				target, _ := e.mint("target", "keys:read")
				rt := managementRoutes(target.ID)[i]
				before := e.count()
				w := e.do(rt.method, rt.path, tok, rt.body)
				if (rt.op.Writes() && c.write) || (!rt.op.Writes() && c.read) {
					assert.Equal(t, rt.status, w.Code, "refused: %s", w.Body)
					return
				}
				p := problemOf(t, w, c.refusedStatus)
				assert.Equal(t, e.count(), before, "a refused request stored a key")
				after := e.get(t, target.ID)
				assert.Equal(t, target, after, "a refused request changed the target")
				if c.refusedStatus == 401 {
					assert.Equal(t, "unauthenticated", p.Code)
					assert.Equal(t, "Bearer", w.Header().Get("WWW-Authenticate"), "401 without WWW-Authenticate")
					return
				}
				need := "keys:read"
				if rt.op.Writes() {
					need = "keys:write"
				}
				assert.Equal(t, "forbidden", p.Code)
				assert.Contains(t, p.Detail, string(rt.op)+` requires scope "`+need+`"`, "the problem does not name the operation and scope")
				assert.Contains(t, p.Detail, `"*" grants give access to the application's data, not to key management`, "the problem does not explain the wildcard")
				assert.Contains(t, p.Detail, `add "`+need+`"`, "the problem does not name the scope to add")
			})
		}
	}
}

// roleAuthorizer lets users with the owner or admin role manage the keys
// of their account, with full access to delegate; it reads the account, the
// user and the role from headers a trusted proxy would set.
func roleAuthorizer(r *http.Request, op keyapi.Operation) (keyapi.Actor, error) {
	switch role := r.Header.Get("X-Role"); role {
	case "owner", "admin":
		return keyapi.Actor{Owner: r.Header.Get("X-Account"), Name: "user:" + r.Header.Get("X-User"), Scopes: keyapi.AdminScopes()}, nil
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
			r.Header.Set("X-Account", "acct_7")
			w := serve(e.h, r)
			if tc.status == 201 {
				k := decodeKey(t, w, 201)
				assert.Equal(t, "*:write", k.Scopes)
				assert.Equal(t, "acct_7", k.Owner, "the new key's owner in the response")
				assert.Equal(t, "acct_7", e.get(t, k.ID).Owner, "the new key's stored owner")
				rec := e.log.onlyRecord(t)
				assert.Equal(t, "user:alice", rec["actor"])
				assert.Equal(t, "acct_7", rec["owner"])
				assert.Nil(t, rec["actor_key_id"], "a user without a key logged with a key ID")
				return
			}
			p := problemOf(t, w, tc.status)
			assert.Contains(t, p.Detail, tc.detailHas)
			assert.NotContains(t, p.Detail, "session store", "the problem leaks the authorizer's error")
		})
	}
}

// escalationKey is the key an operation of TestNoEscalation starts from:
// the target it acts on, or the key create asks for.
type escalationKey struct {
	id     uuid.UUID // the target's; uuid.Nil for create
	scopes string    // a scope list; "" for create's default
	exp    time.Time // zero: never
	// newExp is the expiry a PATCH of expires_at sets; zero: an hour from
	// now.
	newExp time.Time
}

// newExpiry returns k.newExp, or an hour from now, as RFC 3339.
func (k escalationKey) newExpiry() string {
	if k.newExp.IsZero() {
		return time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	}
	return k.newExp.Format(time.RFC3339)
}

// escalationOp is an operation TestNoEscalation runs: how to build its
// request, and what it answers when allowed.
type escalationOp struct {
	name    string
	request func(k escalationKey) *http.Request
	onKey   bool // it acts on an existing key, the target (all but create)
	status  int  // its answer when allowed
}

var escalationOps = []escalationOp{
	{"create", func(k escalationKey) *http.Request {
		body := `{"label":"new"`
		if k.scopes != "" {
			body += `,"scopes":"` + k.scopes + `"`
		}
		if !k.exp.IsZero() {
			body += `,"expires_at":"` + k.exp.Format(time.RFC3339) + `"`
		}
		return newRequest("POST", "/", body+"}")
	}, false, 201},
	{"clone", func(k escalationKey) *http.Request {
		return newRequest("POST", "/"+k.id.String()+"/clone", "")
	}, true, 201},
	{"roll", func(k escalationKey) *http.Request {
		return newRequest("POST", "/"+k.id.String()+"/roll", `{"grace":"1h"}`)
	}, true, 201},
	{"reactivate", func(k escalationKey) *http.Request {
		return newRequest("PATCH", "/"+k.id.String(), `{"active":true}`)
	}, true, 200},
	{"reactivate_until", func(k escalationKey) *http.Request {
		return newRequest("PATCH", "/"+k.id.String(), `{"active":true,"expires_at":"`+k.newExpiry()+`"}`)
	}, true, 200},
	{"set_expiry", func(k escalationKey) *http.Request {
		return newRequest("PATCH", "/"+k.id.String(), `{"expires_at":"`+k.newExpiry()+`"}`)
	}, true, 200},
	{"remove_expiry", func(k escalationKey) *http.Request {
		return newRequest("PATCH", "/"+k.id.String(), `{"expires_at":null}`)
	}, true, 200},
	{"rename", func(k escalationKey) *http.Request {
		return newRequest("PATCH", "/"+k.id.String(), `{"label":"mine now"}`)
	}, true, 200},
	{"delete", func(k escalationKey) *http.Request {
		return newRequest("DELETE", "/"+k.id.String(), "")
	}, true, 204},
}

// escalationAuthorizers are the authorizers TestNoEscalation runs under.
var escalationAuthorizers = []struct {
	name string
	fn   keyapi.Authorizer // nil: the default, AuthorizeKey
}{{"DefaultAuthorizer", nil}, {"CustomAuthorizer", actorFromHeaders}}

// actorFromHeaders is an Authorizer that trusts any caller, with the scopes
// in X-Scopes and the expiry in X-Expires (absent: never).
func actorFromHeaders(r *http.Request, op keyapi.Operation) (keyapi.Actor, error) {
	s, err := apikey.ParseScopes(r.Header.Get("X-Scopes"))
	if err != nil {
		return keyapi.Actor{}, keyapi.ErrForbidden
	}
	a := keyapi.Actor{Owner: testOwner, Name: "user", Scopes: s}
	if v := r.Header.Get("X-Expires"); v != "" {
		if a.ExpiresAt, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return keyapi.Actor{}, keyapi.ErrForbidden
		}
	}
	return a, nil
}

// escalationRun is one request of TestNoEscalation: a caller with the
// given scopes and expiry runs op on a deactivated target key "target" with
// key's scopes and expiry (an expiry in the past is set in the store), or
// asks create for such a key.
type escalationRun struct {
	authz       keyapi.Authorizer // nil: the default, with a key of the caller's own
	actorScopes string
	actorExp    time.Time // zero: never
	key         escalationKey
	op          escalationOp
}

// escalationResult is what an escalationRun did.
type escalationResult struct {
	e      *env
	w      *httptest.ResponseRecorder
	target apikey.Key // before the request; zero for create
	before int        // the keys in the store before the request
}

func (run escalationRun) do(t *testing.T) escalationResult {
	t.Helper()
	e := newEnv(t, envOptions{api: keyapi.Options{Authorize: run.authz}})
	var actorTok string
	if run.authz == nil {
		_, actorTok = e.mintUntil("actor", run.actorScopes, run.actorExp)
	}
	var target apikey.Key
	if run.op.onKey {
		past := !run.key.exp.IsZero() && run.key.exp.Before(time.Now())
		exp := run.key.exp
		if past {
			exp = time.Time{} // set below: Create refuses past expiries
		}
		target, _ = e.mintUntil("target", run.key.scopes, exp)
		if past {
			_, err := e.store.Update(context.Background(), target.ID, apikey.Update{ExpiresAt: &run.key.exp})
			require.NoError(t, err)
		}
		var err error
		target, err = e.m.Deactivate(context.Background(), target.ID)
		require.NoError(t, err)
	}
	k := run.key
	k.id = target.ID
	r := run.op.request(k)
	if run.authz == nil {
		r.Header.Set("Authorization", "Bearer "+actorTok)
	} else {
		r.Header.Set("X-Scopes", run.actorScopes)
		if !run.actorExp.IsZero() {
			r.Header.Set("X-Expires", run.actorExp.Format(time.RFC3339Nano))
		}
	}
	before := e.count()
	return escalationResult{e: e, w: serve(e.h, r), target: target, before: before}
}

// assertNothingChanged checks that a refused request stored no key and left
// its target as it was.
func (res escalationResult) assertNothingChanged(t *testing.T) {
	t.Helper()
	assert.Equal(t, res.before, res.e.count(), "a refused request stored a key")
	if res.target.ID == uuid.Nil {
		return
	}
	after := res.e.get(t, res.target.ID)
	assert.False(t, after.Active, "a refused request reactivated the target")
	assert.Equal(t, "target", after.Label, "a refused request renamed the target")
	assert.True(t, after.ExpiresAt.Equal(res.target.ExpiresAt), "a refused request changed the target's expiry from %v to %v", res.target.ExpiresAt, after.ExpiresAt)
}

// TestAccessErrorMessage checks the text of an Authorizer's refusal, with
// and without a sentinel.
func TestAccessErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *keyapi.AccessError
		want string
	}{
		{"Forbidden", &keyapi.AccessError{Err: keyapi.ErrForbidden, Detail: "members may only read"},
			"keyapi: caller may not perform this operation: members may only read"},
		{"NoSentinel", &keyapi.AccessError{Detail: "members may only read"}, "keyapi: access refused: members may only read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.err.Error())
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
		{"*:write,keys:write", "", true},
		{"*:write,keys:write", "*:read,lists:write", true},
		{"*:write,keys:write", "*:write,keys:write", true},
		{"*:read,keys:write", "*:write,keys:write", false},
		{"*:read,keys:write", "*:read,keys:write", true},
	}
	for _, authz := range escalationAuthorizers {
		for _, tc := range tests {
			for _, op := range escalationOps {
				if tc.target == "" && op.onKey {
					continue // only create has a default
				}
				t.Run(authz.name+"/"+tc.actor+"/"+tc.target+"/"+op.name, func(t *testing.T) {
					res := escalationRun{authz: authz.fn, actorScopes: tc.actor, key: escalationKey{scopes: tc.target}, op: op}.do(t)
					if tc.allowed {
						assert.Equal(t, op.status, res.w.Code, "refused: %s", res.w.Body)
						return
					}
					p := problemOf(t, res.w, 403)
					canon, err := apikey.ParseScopes(tc.actor)
					require.NoError(t, err)
					assert.Equal(t, "escalation", p.Code)
					assert.Contains(t, p.Detail, canon.String(), "the problem does not name the caller's scopes")
					res.assertNothingChanged(t)
				})
			}
		}
	}

	// Lifetimes: offsets from now (0: never) of the caller's expiry, of the
	// key the operation starts from (the expires_at a create asks for, the
	// source of a clone or roll, the target of a PATCH) and of the expiry a
	// PATCH sets. Scopes are covered throughout.
	const hour = time.Hour
	lifetimes := []struct {
		name               string
		ops                string // space-separated
		actor, key, newExp time.Duration
		status             int           // 200: the operation's success
		want               time.Duration // on success, the new key's expiry, or the target's after a PATCH
		customOnly         bool          // the default authorizer cannot have an expired caller
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
		// These make no key usable, so the caller's expiry does not matter.
		{name: "ExpiringManagesNever", ops: "rename delete", actor: hour, status: 200},
		// Reactivating makes a key usable again, and a new expiry, or none,
		// keeps it usable: neither may leave it outliving the caller.
		{name: "ExpiringCannotReactivateNever", ops: "reactivate", actor: hour, status: 403},
		{name: "ExpiringCannotReactivateLater", ops: "reactivate", actor: hour, key: 2 * hour, status: 403},
		{name: "ExpiringReactivatesEarlier", ops: "reactivate", actor: hour, key: hour / 2, status: 200, want: hour / 2},
		{name: "ExpiringReactivatesSameExpiry", ops: "reactivate", actor: hour, key: hour, status: 200, want: hour},
		{name: "NeverReactivatesNever", ops: "reactivate", status: 200},
		{name: "ExpiringReactivatesNeverWithEarlierExpiry", ops: "reactivate_until", actor: hour, newExp: hour / 2, status: 200, want: hour / 2},
		{name: "ExpiringCannotReactivateWithLaterExpiry", ops: "reactivate_until", actor: hour, key: hour / 2, newExp: 2 * hour, status: 403},
		{name: "ExpiringCannotRemoveExpiry", ops: "remove_expiry", actor: hour, key: hour / 2, status: 403},
		{name: "NeverRemovesExpiry", ops: "remove_expiry", key: hour / 2, status: 200},
		{name: "ExpiringCannotExtendExpiry", ops: "set_expiry", actor: hour, key: hour / 2, newExp: 2 * hour, status: 403},
		{name: "ExpiringCannotShortenNeverBeyondItself", ops: "set_expiry", actor: hour, newExp: 2 * hour, status: 403},
		{name: "ExpiringShortensNever", ops: "set_expiry", actor: hour, newExp: hour / 2, status: 200, want: hour / 2},
		{name: "ExpiringExtendsToItsOwnExpiry", ops: "set_expiry", actor: hour, key: hour / 2, newExp: hour, status: 200, want: hour},
		{name: "NeverExtendsExpiry", ops: "set_expiry", key: hour / 2, newExp: 2 * hour, status: 200, want: 2 * hour},
	}
	for _, authz := range escalationAuthorizers {
		for _, tc := range lifetimes {
			if tc.customOnly && authz.fn == nil {
				continue
			}
			for _, name := range strings.Fields(tc.ops) {
				i := slices.IndexFunc(escalationOps, func(op escalationOp) bool { return op.name == name })
				require.NotEqual(t, -1, i, "no operation %q", name)
				op := escalationOps[i]
				t.Run(authz.name+"/lifetime/"+tc.name+"/"+op.name, func(t *testing.T) {
					now := time.Now().UTC().Truncate(time.Second)
					at := func(d time.Duration) time.Time {
						if d == 0 {
							return time.Time{}
						}
						return now.Add(d)
					}
					res := escalationRun{
						authz:       authz.fn,
						actorScopes: "keys:write,lists:read",
						actorExp:    at(tc.actor),
						key:         escalationKey{scopes: "lists:read", exp: at(tc.key), newExp: at(tc.newExp)},
						op:          op,
					}.do(t)
					if tc.status == 200 {
						require.Equal(t, op.status, res.w.Code, "refused: %s", res.w.Body)
						want := at(tc.want)
						switch op.status {
						case 201:
						case 200:
							if op.name != "rename" {
								got := res.e.get(t, res.target.ID)
								assert.True(t, got.ExpiresAt.Equal(want), "the target expires %v, want %v", got.ExpiresAt, want)
							}
							return
						default:
							return
						}
						k := decodeKey(t, res.w, 201)
						got := res.e.get(t, k.ID)
						assert.True(t, got.ExpiresAt.Equal(want), "new key expires %v, want %v", got.ExpiresAt, want)
						assert.Equal(t, got.ExpiresAt.IsZero(), k.ExpiresAt == "", "response expires_at %q, stored %v", k.ExpiresAt, got.ExpiresAt)
						return
					}
					p := problemOf(t, res.w, tc.status)
					switch tc.status {
					case 403:
						assert.Equal(t, "escalation", p.Code)
						assert.Contains(t, p.Detail, "outlive", "the problem does not say the key would outlive the caller")
					case 409:
						assert.Equal(t, "expired", p.Code)
						assert.Equal(t, "id", p.Field)
						assert.Contains(t, p.Detail, res.target.ID.String(), "the problem does not name the key")
					}
					res.assertNothingChanged(t)
				})
			}
		}
	}
}

func TestActorWithoutScopesCannotGrant(t *testing.T) {
	noScopes := func(r *http.Request, op keyapi.Operation) (keyapi.Actor, error) {
		return keyapi.Actor{Owner: testOwner, Name: "auditor"}, nil
	}
	e := newEnv(t, envOptions{api: keyapi.Options{Authorize: noScopes}})
	k, _ := e.mint("k", "lists:read")
	for _, rq := range []struct{ method, path, body string }{
		{"POST", "/", `{"label":"x","scopes":"lists:read"}`},
		{"POST", "/" + k.ID.String() + "/clone", ""},
		{"POST", "/" + k.ID.String() + "/roll", ""},
		{"PATCH", "/" + k.ID.String(), `{"label":"x"}`},
		{"PATCH", "/" + k.ID.String(), `{"active":true}`},
		{"PATCH", "/" + k.ID.String(), `{"expires_at":null}`},
		{"PATCH", "/" + k.ID.String(), `{"expires_at":"2100-01-01T00:00:00Z"}`},
		{"DELETE", "/" + k.ID.String(), ""},
	} {
		p := problemOf(t, e.do(rq.method, rq.path, "", rq.body), 403)
		assert.Equal(t, "escalation", p.Code, "%s %s", rq.method, rq.path)
	}
	// Reading and switching a key off need no scopes.
	for _, rq := range []struct{ method, path, body string }{
		{"GET", "/", ""}, {"GET", "/" + k.ID.String(), ""}, {"PATCH", "/" + k.ID.String(), `{"active":false}`},
	} {
		w := e.do(rq.method, rq.path, "", rq.body)
		assert.Equal(t, 200, w.Code, "%s %s: %s", rq.method, rq.path, w.Body)
	}
}

// TestNarrowKeyMayOnlyDeactivateBroaderKeys: a narrower keys:write key may
// read and deactivate a broader key, which stops a leaked key at once and
// can be undone, but may not reactivate, rename, re-expire or delete it; a
// key that covers it may.
func TestNarrowKeyMayOnlyDeactivateBroaderKeys(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, narrowTok := e.mint("narrow", "keys:write,lists:read")
	_, adminTok := e.mint("admin", adminScopes)
	broad, broadTok := e.mint("broad", "keys:write,*:read")
	path := "/" + broad.ID.String()
	w := e.do("GET", path, narrowTok, "")
	require.Equal(t, 200, w.Code, "get: %s", w.Body)
	w = e.do("PATCH", path, narrowTok, `{"active":false}`)
	require.Equal(t, 200, w.Code, "deactivate: %s", w.Body)
	_, err := e.m.Verify(context.Background(), broadTok)
	require.ErrorIs(t, err, apikey.ErrInactive, "the deactivated broad key verifies")
	for _, rq := range []struct{ method, body, field string }{
		{"PATCH", `{"active":true}`, "active"},
		{"PATCH", `{"label":"unused, delete me"}`, "label"},
		{"PATCH", `{"label":"x","active":false}`, "label"},
		{"PATCH", `{"expires_at":null}`, "expires_at"},
		{"PATCH", `{"expires_at":"2100-01-01T00:00:00Z"}`, "expires_at"},
		{"PATCH", `{"active":false,"expires_at":"2100-01-01T00:00:00Z"}`, "expires_at"},
		{"DELETE", "", ""},
	} {
		p := problemOf(t, e.do(rq.method, path, narrowTok, rq.body), 403)
		assert.Equal(t, "escalation", p.Code, "%s %s", rq.method, rq.body)
		assert.Equal(t, rq.field, p.Field, "%s %s", rq.method, rq.body)
	}
	after := e.get(t, broad.ID)
	assert.Equal(t, "broad", after.Label, "refused requests renamed the key")
	assert.False(t, after.Active, "refused requests reactivated the key")
	assert.True(t, after.ExpiresAt.IsZero(), "refused requests gave the key an expiry")
	w = e.do("PATCH", path, adminTok, `{"active":true,"label":"broad again"}`)
	assert.Equal(t, 200, w.Code, "admin reactivating: %s", w.Body)
	w = e.do("DELETE", path, adminTok, "")
	assert.Equal(t, 204, w.Code, "admin deleting: %s", w.Body)
}

func TestKeyCannotRemoveItself(t *testing.T) {
	e := newEnv(t, envOptions{})
	self, tok := e.mint("self", "keys:write,lists:read")
	path := "/" + self.ID.String()
	p := problemOf(t, e.do("DELETE", path, tok, ""), 409)
	assert.Equal(t, "self", p.Code, "delete self")
	p = problemOf(t, e.do("PATCH", path, tok, `{"active":false}`), 409)
	assert.Equal(t, "self", p.Code, "deactivate self")
	assert.Equal(t, "active", p.Field, "deactivate self")
	_, err := e.m.Verify(context.Background(), tok)
	require.NoError(t, err, "the key stopped verifying")
	// Renaming and activating itself are harmless; rolling itself is how a
	// key rotates.
	w := e.do("PATCH", path, tok, `{"label":"me","active":true}`)
	require.Equal(t, 200, w.Code, "rename self: %s", w.Body)
	n := decodeKey(t, e.do("POST", path+"/roll", tok, `{"grace":"1h"}`), 201)
	assert.Equal(t, self.ID, n.ClonedFrom, "roll self")
	assert.Equal(t, "keys:write,lists:read", n.Scopes, "roll self")
	// The new key may delete the old one.
	w = e.do("DELETE", path, n.Token, "")
	assert.Equal(t, 204, w.Code, "the new key deleting the old: %s", w.Body)
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
		got := e.get(t, n.ID)
		assert.True(t, got.ExpiresAt.Equal(exp), "rolled key expires %v, want %v", got.ExpiresAt, exp)
		assert.Equal(t, self.ID, got.ClonedFrom, "the rolled key's cloned_from")
		rec := e.log.onlyRecord(t)
		assert.Equal(t, exp.Format(time.RFC3339), rec["expires_at"], "the new key's expires_at in the log")
		self, tok = got, n.Token
	}
	forever, _ := e.mint("forever", "lists:read")
	p := assertProblem(t, e.do("POST", "/"+forever.ID.String()+"/roll", tok, ""), 403, "", "escalation", "would outlive the caller")
	assert.Contains(t, p.Detail, exp.Format(time.RFC3339), "the problem does not name the caller's expiry")
}

// recordingAuthorizer is an Authorizer for an operator of testOwner with
// full access that records the operations it is asked about, in order, and
// refuses those in refuse.
type recordingAuthorizer struct {
	refuse map[keyapi.Operation]bool
	mu     sync.Mutex
	ops    []keyapi.Operation
}

func (ra *recordingAuthorizer) authorize(r *http.Request, op keyapi.Operation) (keyapi.Actor, error) {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	ra.ops = append(ra.ops, op)
	if ra.refuse[op] {
		return keyapi.Actor{}, &keyapi.AccessError{Err: keyapi.ErrForbidden, Detail: "no " + string(op) + " for you"}
	}
	return keyapi.Actor{Owner: testOwner, Name: "operator", Scopes: keyapi.AdminScopes()}, nil
}

// asked returns the operations asked about so far and forgets them.
func (ra *recordingAuthorizer) asked() []keyapi.Operation {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	ops := ra.ops
	ra.ops = nil
	return ops
}

// TestPatchAuthorizesEachChange: a PATCH is decoded first and then
// authorized once per change it asks for, in a fixed order whatever the
// order of the body's members; {} is a get; one refusal refuses the whole
// PATCH before anything is written.
func TestPatchAuthorizesEachChange(t *testing.T) {
	const (
		rename     = keyapi.OpRename
		deactivate = keyapi.OpDeactivate
		reactivate = keyapi.OpReactivate
		setExpiry  = keyapi.OpSetExpiry
	)
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	tests := []struct {
		name   string
		body   string
		refuse []keyapi.Operation
		asked  []keyapi.Operation
		status int
		logOp  string
	}{
		{name: "EmptyIsGet", body: `{}`, asked: []keyapi.Operation{keyapi.OpGet}, status: 200, logOp: "get"},
		{name: "Rename", body: `{"label":"x"}`, asked: []keyapi.Operation{rename}, status: 200, logOp: "rename"},
		{name: "Deactivate", body: `{"active":false}`, asked: []keyapi.Operation{deactivate}, status: 200, logOp: "deactivate"},
		{name: "Reactivate", body: `{"active":true}`, asked: []keyapi.Operation{reactivate}, status: 200, logOp: "reactivate"},
		{name: "SetExpiry", body: `{"expires_at":"` + later + `"}`, asked: []keyapi.Operation{setExpiry}, status: 200, logOp: "set_expiry"},
		{name: "RemoveExpiry", body: `{"expires_at":null}`, asked: []keyapi.Operation{setExpiry}, status: 200, logOp: "set_expiry"},
		{name: "AllInFixedOrder", body: `{"expires_at":null,"active":false,"label":"x"}`,
			asked: []keyapi.Operation{rename, deactivate, setExpiry}, status: 200, logOp: "rename+deactivate+set_expiry"},
		{name: "LastRefusedRefusesAll", body: `{"label":"x","active":false,"expires_at":null}`, refuse: []keyapi.Operation{setExpiry},
			asked: []keyapi.Operation{rename, deactivate, setExpiry}, status: 403, logOp: "rename+deactivate+set_expiry"},
		{name: "FirstRefusedStops", body: `{"label":"x","active":false}`, refuse: []keyapi.Operation{rename},
			asked: []keyapi.Operation{rename}, status: 403, logOp: "rename+deactivate"},
		{name: "EmptyRefusedAsGet", body: `{}`, refuse: []keyapi.Operation{keyapi.OpGet},
			asked: []keyapi.Operation{keyapi.OpGet}, status: 403, logOp: "get"},
		{name: "MalformedBodyAsksNothing", body: `{"active":"no"}`, status: 400, logOp: "patch"},
		{name: "PastExpiryAsksNothing", body: `{"expires_at":"2001-01-01T00:00:00Z"}`, status: 400, logOp: "patch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ra := &recordingAuthorizer{refuse: map[keyapi.Operation]bool{}}
			for _, op := range tc.refuse {
				ra.refuse[op] = true
			}
			e := newEnv(t, envOptions{api: keyapi.Options{Authorize: ra.authorize}})
			k, _ := e.mintUntil("shop", "lists:read", time.Now().Add(30*time.Minute))
			e.log.records(t)
			writes := e.store.Calls(apikeytest.MethodUpdate)
			w := e.do("PATCH", "/"+k.ID.String(), "", tc.body)
			require.Equal(t, tc.status, w.Code, "body %s", w.Body)
			assert.Equal(t, tc.asked, ra.asked(), "operations asked about")
			assert.Equal(t, tc.logOp, e.log.onlyRecord(t)["op"], "op in the log")
			wantWrites := 0
			if tc.status == 200 && tc.body != `{}` {
				wantWrites = 1
			}
			assert.Equal(t, wantWrites, e.store.Calls(apikeytest.MethodUpdate)-writes, "store writes")
			if tc.status != 200 {
				assert.Equal(t, k, e.get(t, k.ID), "a refused PATCH changed the key")
			}
		})
	}
}

// memberAuthorizer is how an application might authorize signed-in users
// by role: owners and admins may do everything, members may list, get and
// deactivate keys (revoke a leaked one) but not re-enable, rename,
// re-expire, create or remove them. The role comes from a header a trusted
// proxy would set.
func memberAuthorizer(r *http.Request, op keyapi.Operation) (keyapi.Actor, error) {
	a := keyapi.Actor{Owner: testOwner, Name: "user:" + r.Header.Get("X-Role"), Scopes: keyapi.AdminScopes()}
	switch r.Header.Get("X-Role") {
	case "owner", "admin":
		return a, nil
	case "member":
		if op == keyapi.OpList || op == keyapi.OpGet || op == keyapi.OpDeactivate {
			return a, nil
		}
		return keyapi.Actor{}, &keyapi.AccessError{Err: keyapi.ErrForbidden, Detail: "members may not " + string(op) + " keys"}
	}
	return keyapi.Actor{}, keyapi.ErrUnauthenticated
}

// TestMemberMayRevokeNotReenable: with an authorizer that allows
// OpDeactivate but not OpReactivate, a member can switch a leaked key off
// but not on again, nor slip another change in with the deactivation; an
// admin can switch it on.
func TestMemberMayRevokeNotReenable(t *testing.T) {
	e := newEnv(t, envOptions{api: keyapi.Options{Authorize: memberAuthorizer}})
	k, tok := e.mint("leaked", "lists:read")
	path := "/" + k.ID.String()
	as := func(role, body string) *httptest.ResponseRecorder {
		r := newRequest("PATCH", path, body)
		r.Header.Set("X-Role", role)
		return serve(e.h, r)
	}

	for _, body := range []string{`{"label":"revoked","active":false}`, `{"active":false,"expires_at":null}`} {
		p := problemOf(t, as("member", body), 403)
		assert.Equal(t, "forbidden", p.Code, "member PATCH %s", body)
	}
	_, err := e.m.Verify(context.Background(), tok)
	require.NoError(t, err, "a refused PATCH deactivated the key")

	got := decodeKey(t, as("member", `{"active":false}`), 200)
	assert.False(t, got.Active, "the member's deactivation")
	_, err = e.m.Verify(context.Background(), tok)
	require.ErrorIs(t, err, apikey.ErrInactive, "the revoked key verifies")

	p := problemOf(t, as("member", `{"active":true}`), 403)
	assert.Equal(t, "members may not reactivate keys", p.Detail)
	_, err = e.m.Verify(context.Background(), tok)
	require.ErrorIs(t, err, apikey.ErrInactive, "the member re-enabled the key")

	got = decodeKey(t, as("admin", `{"active":true}`), 200)
	assert.True(t, got.Active, "the admin's reactivation")
	_, err = e.m.Verify(context.Background(), tok)
	assert.NoError(t, err, "the reactivated key does not verify")
}

// TestInvalidActorOwnerIs500: an Authorizer that names an owner
// apikey.CheckOwner refuses has a bug; the handler answers 500 without
// touching the store and logs the cause.
func TestInvalidActorOwnerIs500(t *testing.T) {
	for _, tc := range []struct{ name, owner string }{
		{"TooLong", strings.Repeat("a", apikey.MaxOwnerLen+1)},
		{"ControlCharacter", "acct\n42"},
		{"LeadingSpace", " acct_42"},
		{"NotUTF8", "acct_\xff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			authz := func(r *http.Request, op keyapi.Operation) (keyapi.Actor, error) {
				return keyapi.Actor{Owner: tc.owner, Name: "buggy", Scopes: keyapi.AdminScopes()}, nil
			}
			e := newEnv(t, envOptions{api: keyapi.Options{Authorize: authz}})
			k, _ := e.mint("shop", "lists:read")
			e.log.records(t)
			for _, rt := range managementRoutes(k.ID) {
				reads := e.store.Calls(apikeytest.MethodList) + e.store.Calls(apikeytest.MethodGet)
				p := problemOf(t, e.do(rt.method, rt.path, "", rt.body), 500)
				assert.Equal(t, "internal", p.Code, "%s %s", rt.method, rt.path)
				assert.Equal(t, "authorization failed", p.Detail, "%s %s", rt.method, rt.path)
				assert.Equal(t, reads, e.store.Calls(apikeytest.MethodList)+e.store.Calls(apikeytest.MethodGet), "%s %s read the store", rt.method, rt.path)
				rec := e.log.onlyRecord(t)
				assert.Equal(t, "ERROR", rec["level"], "%s %s", rt.method, rt.path)
				assert.Equal(t, "buggy", rec["actor"], "%s %s", rt.method, rt.path)
				assert.Contains(t, rec["err"], "invalid owner", "%s %s", rt.method, rt.path)
			}
			assert.Equal(t, 1, e.count(), "keys in the store")
			assert.Equal(t, k, e.get(t, k.ID), "the key changed")
		})
	}
}

// TestAuthorizerMustNameOneActor: an Authorizer that answers the changes of
// one PATCH with different actors has a bug; the handler answers 500 and
// writes nothing.
func TestAuthorizerMustNameOneActor(t *testing.T) {
	authz := func(r *http.Request, op keyapi.Operation) (keyapi.Actor, error) {
		a := keyapi.Actor{Owner: testOwner, Name: "operator", Scopes: keyapi.AdminScopes()}
		if op == keyapi.OpDeactivate {
			a.Owner = "acct_other"
		}
		return a, nil
	}
	e := newEnv(t, envOptions{api: keyapi.Options{Authorize: authz}})
	k, _ := e.mint("shop", "lists:read")
	e.log.records(t)
	p := problemOf(t, e.do("PATCH", "/"+k.ID.String(), "", `{"label":"x","active":false}`), 500)
	assert.Equal(t, "internal", p.Code)
	assert.Equal(t, k, e.get(t, k.ID), "the key changed")
	rec := e.log.onlyRecord(t)
	assert.Contains(t, rec["err"], `"acct_other"`, "the log does not name the second owner")
	// One change at a time is fine.
	w := e.do("PATCH", "/"+k.ID.String(), "", `{"label":"x"}`)
	assert.Equal(t, 200, w.Code, "rename: %s", w.Body)
}

// TestWildcardActorCannotGrantManagement: an Actor whose scopes reach
// "keys" only through "*" may hand out and manage data keys, but not keys
// that name "keys"; AdminScopes may.
func TestWildcardActorCannotGrantManagement(t *testing.T) {
	actorWith := func(s apikey.Scopes) keyapi.Authorizer {
		return func(r *http.Request, op keyapi.Operation) (keyapi.Actor, error) {
			return keyapi.Actor{Owner: testOwner, Name: "person", Scopes: s}, nil
		}
	}
	tests := []struct {
		name   string
		actor  apikey.Scopes
		scopes string // of the key created, or cloned and deleted
		status int
	}{
		{"full access creates data keys", apikey.FullAccess(), "*:write", 201},
		{"full access cannot create keys:read", apikey.FullAccess(), "keys:read", 403},
		{"full access cannot create a management key", apikey.FullAccess(), "*:write,keys:write", 403},
		{"read-only cannot create keys:read", apikey.ReadOnly(), "keys:read", 403},
		{"admin creates a management key", keyapi.AdminScopes(), "*:write,keys:write", 201},
		{"admin creates keys:read", keyapi.AdminScopes(), "keys:read,lists:read", 201},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{api: keyapi.Options{Authorize: actorWith(tc.actor)}})
			w := serve(e.h, newRequest("POST", "/", `{"label":"x","scopes":"`+tc.scopes+`"}`))
			if tc.status == 201 {
				decodeKey(t, w, 201)
			} else {
				p := problemOf(t, w, tc.status)
				assert.Equal(t, "escalation", p.Code)
				assert.Contains(t, p.Detail, "key management", "the detail says why")
			}
			// The same rule for managing an existing key of those scopes.
			k, _ := e.mint("existing", tc.scopes)
			path := "/" + k.ID.String()
			for _, op := range []struct{ method, path, body string }{
				{"POST", path + "/clone", ""},
				{"PATCH", path, `{"label":"renamed"}`},
				{"DELETE", path, ""},
			} {
				w := serve(e.h, newRequest(op.method, op.path, op.body))
				if tc.status == 201 {
					assert.Less(t, w.Code, 300, "%s %s: %s", op.method, op.path, w.Body)
				} else {
					assert.Equal(t, http.StatusForbidden, w.Code, "%s %s: %s", op.method, op.path, w.Body)
				}
			}
		})
	}
}

// TestCloneOfInactiveKeyNeedsReactivate: a clone is active, so cloning or
// rolling an inactive key needs OpReactivate too; a member who may roll
// but not reactivate cannot bring a revoked key's access back that way.
func TestCloneOfInactiveKeyNeedsReactivate(t *testing.T) {
	var asked []keyapi.Operation
	var mu sync.Mutex
	authorize := func(r *http.Request, op keyapi.Operation) (keyapi.Actor, error) {
		mu.Lock()
		asked = append(asked, op)
		mu.Unlock()
		if op == keyapi.OpReactivate && r.Header.Get("X-Role") == "member" {
			return keyapi.Actor{}, &keyapi.AccessError{Err: keyapi.ErrForbidden, Detail: "members may not reactivate keys"}
		}
		return keyapi.Actor{Owner: testOwner, Name: "person", Scopes: keyapi.AdminScopes()}, nil
	}
	e := newEnv(t, envOptions{api: keyapi.Options{Authorize: authorize}})
	active, _ := e.mint("active", "lists:read")
	revoked, _ := e.mint("revoked", "lists:read")
	_, err := e.m.Deactivate(context.Background(), revoked.ID)
	require.NoError(t, err)
	tests := []struct {
		name, role string
		key        apikey.Key
		op         string
		status     int
		asked      []keyapi.Operation
	}{
		{"member clones an active key", "member", active, "clone", 201, []keyapi.Operation{keyapi.OpClone}},
		{"member clones a revoked key", "member", revoked, "clone", 403, []keyapi.Operation{keyapi.OpClone, keyapi.OpReactivate}},
		{"member rolls a revoked key", "member", revoked, "roll", 403, []keyapi.Operation{keyapi.OpRoll, keyapi.OpReactivate}},
		{"admin clones a revoked key", "admin", revoked, "clone", 201, []keyapi.Operation{keyapi.OpClone, keyapi.OpReactivate}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			asked = nil
			mu.Unlock()
			before := e.count()
			r := newRequest("POST", "/"+tc.key.ID.String()+"/"+tc.op, "")
			r.Header.Set("X-Role", tc.role)
			w := serve(e.h, r)
			require.Equal(t, tc.status, w.Code, "body %s", w.Body)
			mu.Lock()
			assert.Equal(t, tc.asked, asked, "operations asked about")
			mu.Unlock()
			if tc.status != 201 {
				assert.Equal(t, before, e.count(), "a refused clone or roll minted a key")
				assert.True(t, e.get(t, tc.key.ID).ExpiresAt.IsZero(), "a refused roll set an expiry")
			}
		})
	}
}
