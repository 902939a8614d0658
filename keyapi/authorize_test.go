package keyapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/keyapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
			assert.Equal(t, "unauthenticated", p.Code, "no key")
			p = problemOf(t, e.do(o.method, o.path, noneTok, o.body), 403)
			assert.Equal(t, "forbidden", p.Code, "key without keys scope")
			assert.Contains(t, p.Detail, "keys:", "key without keys scope")
			w := e.do(o.method, o.path, readTok, o.body)
			if o.op.Writes() {
				p := problemOf(t, w, 403)
				assert.Contains(t, p.Detail, "keys:write", "keys:read key")
			} else {
				assert.Equal(t, o.status, w.Code, "keys:read key: %s", w.Body)
			}
			w = e.do(o.method, o.path, writeTok, o.body)
			assert.Equal(t, o.status, w.Code, "keys:write key: %s", w.Body)
		})
	}
	w := e.do("GET", "/", "", "")
	assert.Equal(t, "Bearer", w.Header().Get("WWW-Authenticate"), "401 without WWW-Authenticate")
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
				assert.Equal(t, "*:write", k.Scopes)
				rec := e.log.onlyRecord(t)
				assert.Equal(t, "user:alice", rec["actor"])
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
	a := keyapi.Actor{Name: "user", Scopes: s}
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
		{"*:write", "", true},
		{"*:write", "*:read,lists:write", true},
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

	// Lifetimes: offsets from now (0: never) of the caller's expiry and of
	// the key the operation starts from: the expires_at a create asks for,
	// or the source of a clone or roll. Scopes are covered throughout.
	const hour = time.Hour
	lifetimes := []struct {
		name       string
		ops        string // space-separated
		actor, key time.Duration
		status     int           // 200: the operation's success
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
						key:         escalationKey{scopes: "lists:read", exp: at(tc.key)},
						op:          op,
					}.do(t)
					if tc.status == 200 {
						require.Equal(t, op.status, res.w.Code, "refused: %s", res.w.Body)
						if op.status != 201 {
							return
						}
						k := decodeKey(t, res.w, 201)
						got := res.e.get(t, k.ID)
						want := at(tc.want)
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
// can be undone, but may not reactivate, rename or delete it; a key that
// covers it may.
func TestNarrowKeyMayOnlyDeactivateBroaderKeys(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, narrowTok := e.mint("narrow", "keys:write,lists:read")
	_, adminTok := e.mint("admin", "")
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
		{"DELETE", "", ""},
	} {
		p := problemOf(t, e.do(rq.method, path, narrowTok, rq.body), 403)
		assert.Equal(t, "escalation", p.Code, "%s %s", rq.method, rq.body)
		assert.Equal(t, rq.field, p.Field, "%s %s", rq.method, rq.body)
	}
	after := e.get(t, broad.ID)
	assert.Equal(t, "broad", after.Label, "refused requests renamed the key")
	assert.False(t, after.Active, "refused requests reactivated the key")
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
