package keyapi_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/keyscope/apikey/keyapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
			_, admTok := e.mint("admin", adminScopes)
			before := e.count()
			w := e.do("POST", "/", admTok, tc.body)
			if tc.status != 201 {
				assertProblem(t, w, tc.status, tc.field, tc.code, tc.detailHas)
				assert.Equal(t, before, e.count(), "a refused create stored a key")
				return
			}
			k := decodeKey(t, w, 201)
			assert.Equal(t, "shop", k.Label)
			assert.Equal(t, tc.wantScopes, k.Scopes)
			assert.Equal(t, tc.wantExpiry, k.ExpiresAt)
			assert.True(t, k.Active, "the new key is inactive")
			require.NotEmpty(t, k.Token)
			assert.Equal(t, "/"+k.ID.String(), w.Header().Get("Location"))
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"), "Cache-Control of a response with a token")
			got, err := e.m.Verify(context.Background(), k.Token)
			require.NoError(t, err, "the returned token does not verify")
			assert.Equal(t, k.ID, got.ID, "the returned token verifies as another key")
			assert.Equal(t, tc.wantScopes, got.Scopes.String())
		})
	}
}

func TestCreateWithCatalogSuggests(t *testing.T) {
	cat, err := apikey.NewCatalog("campaigns", "lists", "keys")
	require.NoError(t, err)
	e := newEnv(t, envOptions{catalog: cat})
	_, admTok := e.mint("admin", adminScopes)
	p := assertProblem(t, e.do("POST", "/", admTok, `{"label":"x","scopes":"list:read"}`), 400, "scopes", "invalid", `"list:read"`)
	assert.Contains(t, p.Detail, `"lists"`, "the problem does not suggest lists")
}

func TestTokenIsShownOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, admTok := e.mint("admin", adminScopes)
	created := decodeKey(t, e.do("POST", "/", admTok, `{"label":"shop"}`), 201)
	require.Greater(t, len(created.Token), 20, "token")
	digest := storedDigest(t, e, created.ID)

	for _, path := range []string{"/", "/" + created.ID.String()} {
		w := e.do("GET", path, admTok, "")
		require.Equal(t, 200, w.Code, "GET %s: %s", path, w.Body)
		body := w.Body.String()
		assert.NotContains(t, body, created.Token, "GET %s shows the token", path)
		assert.NotContains(t, body, created.Token[len(created.Token)-20:], "GET %s shows the token's end", path)
		for _, s := range digest {
			assert.NotContains(t, body, s, "GET %s shows the digest", path)
		}
		assert.Contains(t, body, created.Hint, "GET %s lacks the hint", path)
	}
	got := decodeKey(t, e.do("GET", "/"+created.ID.String(), admTok, ""), 200)
	assert.Empty(t, got.Token, "GET one has a token member")
}

func TestList(t *testing.T) {
	e := newEnv(t, envOptions{})
	adm, admTok := e.mint("admin", adminScopes)
	ids := []uuid.UUID{adm.ID}
	for i := range 6 {
		k, _ := e.mint(fmt.Sprintf("key %d", i), "lists:read")
		ids = append(ids, k.ID)
	}
	newestFirst := slices.Clone(ids)
	slices.Reverse(newestFirst)

	t.Run("DefaultPageHoldsAll", func(t *testing.T) {
		var resp listJSON
		decodeStrict(t, e.do("GET", "/", admTok, ""), 200, &resp)
		assert.Empty(t, resp.Next)
		require.Len(t, resp.Keys, len(ids))
		for i, k := range resp.Keys {
			assert.Equal(t, newestFirst[i], k.ID, "key %d (newest first)", i)
			assert.Empty(t, k.Token, "listed key %d has a token", i)
			assert.NotEmpty(t, k.Hint, "listed key %d lacks a hint", i)
		}
	})

	t.Run("PagesFollowNext", func(t *testing.T) {
		var got []uuid.UUID
		path := "/?limit=3"
		for pages := 0; path != ""; pages++ {
			require.LessOrEqual(t, pages, len(ids), "paging does not end")
			var resp listJSON
			decodeStrict(t, e.do("GET", path, admTok, ""), 200, &resp)
			require.LessOrEqual(t, len(resp.Keys), 3, "keys on a page with limit 3")
			for _, k := range resp.Keys {
				got = append(got, k.ID)
			}
			path = ""
			if resp.Next != "" {
				path = "/?limit=3&before=" + resp.Next
			}
		}
		assert.Equal(t, newestFirst, got, "the keys paged through, newest first")
	})

	t.Run("ExactPageHasNoNext", func(t *testing.T) {
		var resp listJSON
		decodeStrict(t, e.do("GET", fmt.Sprintf("/?limit=%d", len(ids)), admTok, ""), 200, &resp)
		assert.Len(t, resp.Keys, len(ids))
		assert.Empty(t, resp.Next)
	})

	for _, q := range []string{"limit=0", "limit=-1", "limit=1001", "limit=x", "before=nope"} {
		t.Run("Bad_"+q, func(t *testing.T) {
			p := problemOf(t, e.do("GET", "/?"+q, admTok, ""), 400)
			want, _, _ := strings.Cut(q, "=")
			assert.Equal(t, want, p.Field)
		})
	}
}

func TestListEmpty(t *testing.T) {
	e := newEnv(t, envOptions{api: keyapi.Options{Authorize: allowAll}})
	w := e.do("GET", "/", "", "")
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, `{"keys":[]}`, strings.TrimSpace(w.Body.String()))
}

func TestGet(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, admTok := e.mint("admin", adminScopes)
	k, _ := e.mint("shop", "lists:read")
	got := decodeKey(t, e.do("GET", "/"+k.ID.String(), admTok, ""), 200)
	assert.Equal(t, k.ID, got.ID)
	assert.Equal(t, "shop", got.Label)
	assert.Equal(t, "lists:read", got.Scopes)
	assert.True(t, got.Active, "the key is inactive")
	assert.Equal(t, k.Hint, got.Hint)
	for _, id := range []string{uuid.Must(uuid.NewV7()).String(), "not-a-uuid"} {
		assertProblem(t, e.do("GET", "/"+id, admTok, ""), 404, "id", "not_found", id)
	}
}

func TestUpdate(t *testing.T) {
	later := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	tests := []struct {
		name       string
		body       string
		inactive   bool      // the target starts deactivated
		expires    time.Time // the target's expiry; zero: never
		status     int
		wantLabel  string
		wantActive bool
		wantExpiry time.Time // zero: never
		field      string
		code       string
		detailHas  string
	}{
		{name: "Rename", body: `{"label":"renamed"}`, status: 200, wantLabel: "renamed", wantActive: true},
		{name: "Deactivate", body: `{"active":false}`, status: 200, wantLabel: "shop", wantActive: false},
		{name: "Reactivate", body: `{"active":true}`, inactive: true, status: 200, wantLabel: "shop", wantActive: true},
		{name: "RenameAndDeactivate", body: `{"label":"old","active":false}`, status: 200, wantLabel: "old", wantActive: false},
		{name: "NothingIsNoOp", body: `{}`, status: 200, wantLabel: "shop", wantActive: true},
		{name: "SetExpiry", body: `{"expires_at":"` + later.Format(time.RFC3339) + `"}`, status: 200, wantLabel: "shop", wantActive: true, wantExpiry: later},
		{name: "SetExpiryWithOffset", body: `{"expires_at":"` + later.In(time.FixedZone("", 5400)).Format(time.RFC3339) + `"}`, status: 200, wantLabel: "shop", wantActive: true, wantExpiry: later},
		{name: "RemoveExpiry", body: `{"expires_at":null}`, expires: later, status: 200, wantLabel: "shop", wantActive: true},
		{name: "AllAtOnce", body: `{"label":"back","active":true,"expires_at":"` + later.Format(time.RFC3339) + `"}`, inactive: true,
			status: 200, wantLabel: "back", wantActive: true, wantExpiry: later},
		{name: "ExpiryInThePast", body: `{"label":"x","expires_at":"2001-02-03T04:05:06Z"}`, status: 400, field: "expires_at", code: "invalid", detailHas: "in the future"},
		{name: "ExpiryNotRFC3339", body: `{"expires_at":"2100-01-02"}`, status: 400, field: "expires_at", code: "invalid", detailHas: `"2100-01-02"`},
		{name: "ExpiryEmpty", body: `{"expires_at":""}`, status: 400, field: "expires_at", code: "invalid", detailHas: "RFC 3339"},
		{name: "ExpiryNotString", body: `{"expires_at":4102444800}`, status: 400, field: "expires_at", code: "invalid", detailHas: "or null"},
		{name: "ExpiryFalse", body: `{"expires_at":false}`, status: 400, field: "expires_at", code: "invalid", detailHas: "or null"},
		{name: "ScopesAreFixed", body: `{"scopes":"full"}`, status: 400, field: "scopes", code: "scopes_fixed", detailHas: "fixed at creation"},
		{name: "ScopesAnyCase", body: `{"Scopes":"lists:read"}`, status: 400, field: "scopes", code: "scopes_fixed", detailHas: "new key"},
		{name: "ScopesNull", body: `{"scopes":null}`, status: 400, field: "scopes", code: "scopes_fixed"},
		{name: "ScopesBeforeUnknown", body: `{"label":"x","scopes":"full","colour":"red"}`, status: 400, field: "scopes", code: "scopes_fixed"},
		{name: "OwnerIsFixed", body: `{"owner":"acct_42"}`, status: 400, field: "owner", code: "owner_fixed", detailHas: "cannot choose or change its owner"},
		{name: "OwnerAnyCase", body: `{"label":"x","OWNER":"acct_7"}`, status: 400, field: "owner", code: "owner_fixed"},
		{name: "BlankLabelChangesNothing", body: `{"label":"","active":false}`, status: 400, field: "label", code: "invalid"},
		{name: "ActiveNotBool", body: `{"active":"no"}`, status: 400, field: "active", code: "invalid", detailHas: "boolean"},
		{name: "UnknownMember", body: `{"expires":"2030-01-01T00:00:00Z"}`, status: 400, field: "expires", code: "unknown_field"},
		{name: "EmptyBody", body: ``, status: 400, code: "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			_, admTok := e.mint("admin", adminScopes)
			k, tok := e.mintUntil("shop", "lists:read", tc.expires)
			if tc.inactive {
				_, err := e.m.Deactivate(context.Background(), k.ID)
				require.NoError(t, err)
			}
			w := e.do("PATCH", "/"+k.ID.String(), admTok, tc.body)
			if tc.status != 200 {
				assertProblem(t, w, tc.status, tc.field, tc.code, tc.detailHas)
				after := e.get(t, k.ID)
				assert.Equal(t, "shop", after.Label, "a refused PATCH renamed the key")
				assert.Equal(t, !tc.inactive, after.Active, "a refused PATCH changed the key's status")
				assert.True(t, after.ExpiresAt.Equal(tc.expires), "a refused PATCH changed the key's expiry to %v", after.ExpiresAt)
				return
			}
			got := decodeKey(t, w, 200)
			assert.Equal(t, tc.wantLabel, got.Label)
			assert.Equal(t, tc.wantActive, got.Active)
			assert.Equal(t, "lists:read", got.Scopes)
			assert.Equal(t, testOwner, got.Owner)
			if tc.wantExpiry.IsZero() {
				assert.Empty(t, got.ExpiresAt, "expires_at in the response")
			} else {
				assert.Equal(t, tc.wantExpiry.Format(time.RFC3339), got.ExpiresAt, "expires_at in the response")
			}
			stored := e.get(t, k.ID)
			assert.True(t, stored.ExpiresAt.Equal(tc.wantExpiry), "stored expiry %v, want %v", stored.ExpiresAt, tc.wantExpiry)
			_, err := e.m.Verify(context.Background(), tok)
			if tc.wantActive {
				assert.NoError(t, err, "the active key does not verify")
			} else {
				assert.ErrorIs(t, err, apikey.ErrInactive, "the deactivated key verifies")
			}
		})
	}
	t.Run("UnknownKey", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		_, admTok := e.mint("admin", adminScopes)
		problemOf(t, e.do("PATCH", "/"+uuid.Must(uuid.NewV7()).String(), admTok, `{"active":false}`), 404)
	})
}

// TestUpdateIsAtomic: a PATCH that renames, changes the status and sets the
// expiry applies in one store write, so a failure leaves the key as it was
// rather than renamed but still active.
func TestUpdateIsAtomic(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, admTok := e.mint("admin", adminScopes)
	k, tok := e.mint("shop", "lists:read")
	path := "/" + k.ID.String()
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	body := `{"label":"retired","active":false,"expires_at":"` + exp.Format(time.RFC3339) + `"}`

	// Fail the writes that change a key's status.
	e.store.FailWhen(apikeytest.MethodUpdate, func(c apikeytest.Call) error {
		if c.Update.Active != nil {
			return errStoreDown
		}
		return nil
	})
	p := problemOf(t, e.do("PATCH", path, admTok, body), 503)
	assert.Equal(t, "unavailable", p.Code)
	after := e.get(t, k.ID)
	assert.Equal(t, "shop", after.Label, "a failed PATCH half-applied: it renamed the key")
	assert.True(t, after.Active, "a failed PATCH deactivated the key")
	assert.True(t, after.ExpiresAt.IsZero(), "a failed PATCH gave the key an expiry")

	e.store.FailWhen(apikeytest.MethodUpdate, nil)
	writes := e.store.Calls(apikeytest.MethodUpdate)
	got := decodeKey(t, e.do("PATCH", path, admTok, body), 200)
	assert.Equal(t, "retired", got.Label)
	assert.False(t, got.Active, "the key is still active")
	assert.Equal(t, exp.Format(time.RFC3339), got.ExpiresAt)
	assert.Equal(t, 1, e.store.Calls(apikeytest.MethodUpdate)-writes, "store writes of a PATCH of label, status and expiry")
	_, err := e.m.Verify(context.Background(), tok)
	assert.ErrorIs(t, err, apikey.ErrInactive, "the deactivated key verifies")
}

func TestDelete(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, admTok := e.mint("admin", adminScopes)
	k, tok := e.mint("shop", "lists:read")
	w := e.do("DELETE", "/"+k.ID.String(), admTok, "")
	require.Equal(t, 204, w.Code, "DELETE: %s", w.Body)
	assert.Zero(t, w.Body.Len(), "DELETE answered with a body: %q", w.Body)
	_, err := e.m.Verify(context.Background(), tok)
	assert.ErrorIs(t, err, apikey.ErrInvalidKey, "the deleted key verifies")
	problemOf(t, e.do("GET", "/"+k.ID.String(), admTok, ""), 404)
	problemOf(t, e.do("DELETE", "/"+k.ID.String(), admTok, ""), 404)
}

func TestClone(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, admTok := e.mint("admin", adminScopes)
	src, srcTok := e.mint("shop", "campaigns:read,lists:write")
	for _, body := range []string{"", "{}"} {
		w := e.do("POST", "/"+src.ID.String()+"/clone", admTok, body)
		c := decodeKey(t, w, 201)
		assert.NotEqual(t, src.ID, c.ID, "body %q: the clone has the original's ID", body)
		assert.Equal(t, src.ID, c.ClonedFrom, "body %q: cloned_from", body)
		assert.Equal(t, "shop", c.Label, "body %q: label", body)
		assert.Equal(t, "campaigns:read,lists:write", c.Scopes, "body %q: scopes", body)
		assert.True(t, c.Active, "body %q: the clone is inactive", body)
		require.NotEmpty(t, c.Token, "body %q: token", body)
		assert.Equal(t, "/"+c.ID.String(), w.Header().Get("Location"), "body %q: Location", body)
		got, err := e.m.Verify(context.Background(), c.Token)
		require.NoError(t, err, "body %q: the clone's token", body)
		assert.Equal(t, c.ID, got.ID, "body %q: the clone's token verifies as another key", body)
	}
	_, err := e.m.Verify(context.Background(), srcTok)
	assert.NoError(t, err, "the original stopped verifying")
	assertProblem(t, e.do("POST", "/"+src.ID.String()+"/clone", admTok, `{"label":"x"}`), 400, "label", "unknown_field", "")
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
			_, admTok := e.mint("admin", adminScopes)
			src, srcTok := e.mint("shop", "lists:write")
			w := e.do("POST", "/"+src.ID.String()+"/roll", admTok, tc.body)
			if tc.status != 201 {
				assertProblem(t, w, tc.status, "grace", "invalid", tc.detailHas)
				assert.True(t, e.get(t, src.ID).ExpiresAt.IsZero(), "a refused roll gave the original an expiry")
				assert.Equal(t, 2, e.count(), "a refused roll stored a key")
				return
			}
			n := decodeKey(t, w, 201)
			assert.Equal(t, src.ID, n.ClonedFrom)
			assert.Equal(t, "lists:write", n.Scopes)
			require.NotEmpty(t, n.Token)
			_, err := e.m.Verify(context.Background(), n.Token)
			assert.NoError(t, err, "the new token does not verify")
			orig := e.get(t, src.ID)
			created, err := time.Parse(time.RFC3339Nano, n.CreatedAt)
			require.NoError(t, err, "created_at")
			want := created.Add(tc.grace)
			assert.True(t, orig.ExpiresAt.Equal(want), "original expires %v, want %v", orig.ExpiresAt, want)
			_, err = e.m.Verify(context.Background(), srcTok)
			if tc.grace > 0 {
				assert.NoError(t, err, "the original stopped verifying within its grace")
			} else {
				assert.ErrorIs(t, err, apikey.ErrExpired, "the original still verifies after a roll without grace")
			}
		})
	}
}

// TestRollUndoesCloneWhenOriginalCannotExpire: a roll is all or nothing
// (apikey.Manager.Roll), so when the original cannot be given its expiry the
// handler answers an error and leaves no new key behind.
func TestRollUndoesCloneWhenOriginalCannotExpire(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, admTok := e.mint("admin", adminScopes)
	src, srcTok := e.mint("shop", "lists:write")
	e.store.Fail(apikeytest.MethodUpdate, errStoreDown)
	p := problemOf(t, e.do("POST", "/"+src.ID.String()+"/roll", admTok, `{"grace":"1h"}`), 503)
	assert.NotContains(t, p.Detail, "disk on fire", "the problem leaks the store's error")
	assert.Equal(t, 2, e.count(), "keys in the store: want the admin key and the original only")
	assert.True(t, e.get(t, src.ID).ExpiresAt.IsZero(), "the original has an expiry")
	_, err := e.m.Verify(context.Background(), srcTok)
	assert.NoError(t, err, "the original stopped verifying")
}

// TestOtherOwnersKeysAreNotFound runs every operation on one key against a
// key of another owner, and checks that the answer is the 404 of an ID that
// does not exist, byte for byte (the same key, deleted, gives it), and that
// the key is left as it was.
func TestOtherOwnersKeysAreNotFound(t *testing.T) {
	pairs := []struct{ caller, other string }{
		{testOwner, "acct_other"},
		{testOwner, ""},        // keys without owner
		{"", testOwner},        // a single-tenant caller
		{"acct_42", "ACCT_42"}, // owners compare byte for byte
		{"bücher-köln", "bücher-koln"},
	}
	for _, pair := range pairs {
		for i, rt := range managementRoutes(uuid.Nil) {
			if !strings.HasPrefix(rt.path, "/"+uuid.Nil.String()) {
				continue // list and create name no key
			}
			t.Run(pair.caller+"/"+pair.other+"/"+rt.method+"_"+rt.body+string(rt.op), func(t *testing.T) {
				e := newEnv(t, envOptions{api: keyapi.Options{Authorize: ownerFromHeader}})
				k, tok := e.mintKey(pair.other, "theirs", "lists:read", time.Time{})
				rt := managementRoutes(k.ID)[i]
				before := e.count()
				theirs := e.doAs(pair.caller, rt.method, rt.path, rt.body)
				theirsBody := theirs.Body.String() // before assertProblem reads it
				assertProblem(t, theirs, 404, "id", "not_found", k.ID.String())
				assert.Equal(t, k, e.get(t, k.ID), "the other owner's key changed")
				assert.Equal(t, before, e.count(), "a request on another owner's key stored a key")
				_, err := e.m.Verify(context.Background(), tok)
				assert.NoError(t, err, "the other owner's key stopped verifying")

				require.NoError(t, e.m.Delete(context.Background(), k.ID))
				unknown := e.doAs(pair.caller, rt.method, rt.path, rt.body)
				assert.Equal(t, unknown.Code, theirs.Code, "status")
				assert.Equal(t, unknown.Header(), theirs.Header(), "headers")
				assert.Equal(t, unknown.Body.String(), theirsBody, "body: another owner's key and an unknown ID must look the same")
			})
		}
	}
}

// TestListIsConfinedToOwner: a caller lists its owner's keys only, newest
// first, page by page, whatever cursor it passes, even one of another
// owner's key.
func TestListIsConfinedToOwner(t *testing.T) {
	e := newEnv(t, envOptions{api: keyapi.Options{Authorize: ownerFromHeader}})
	owners := []string{testOwner, "acct_other", "", "bücher-köln", "Acct_42"}
	byOwner := map[string][]uuid.UUID{} // newest first
	var all []uuid.UUID                 // oldest first
	for i := range 4 {
		for _, o := range owners {
			k, _ := e.mintKey(o, fmt.Sprintf("%s %d", o, i), "lists:read", time.Time{})
			byOwner[o] = append([]uuid.UUID{k.ID}, byOwner[o]...)
			all = append(all, k.ID)
		}
	}
	// listAll pages through the owner's list from the cursor before (""
	// for the start) and returns the IDs listed.
	listAll := func(t *testing.T, owner, before string) []uuid.UUID {
		t.Helper()
		var got []uuid.UUID
		path := "/?limit=3"
		if before != "" {
			path += "&before=" + before
		}
		for pages := 0; path != ""; pages++ {
			require.LessOrEqual(t, pages, len(all), "paging does not end")
			var resp listJSON
			decodeStrict(t, e.doAs(owner, "GET", path, ""), 200, &resp)
			for _, k := range resp.Keys {
				assert.Equal(t, owner, k.Owner, "a listed key's owner")
				got = append(got, k.ID)
			}
			path = ""
			if resp.Next != "" {
				path = "/?limit=3&before=" + resp.Next
			}
		}
		return got
	}
	for _, o := range owners {
		t.Run("Owner="+o, func(t *testing.T) {
			assert.Equal(t, byOwner[o], listAll(t, o, ""), "the owner's keys, newest first")
			// A cursor of another owner's key: the owner's keys older than it.
			cursor := all[len(all)/2]
			var want []uuid.UUID
			for _, id := range byOwner[o] {
				if id.String() < cursor.String() {
					want = append(want, id)
				}
			}
			assert.Equal(t, want, listAll(t, o, cursor.String()), "keys before another owner's key %s", cursor)
		})
	}
	t.Run("OwnerWithoutKeys", func(t *testing.T) {
		w := e.doAs("acct_none", "GET", "/", "")
		assert.Equal(t, 200, w.Code)
		assert.Equal(t, `{"keys":[]}`, strings.TrimSpace(w.Body.String()))
	})
}

// TestKeysBelongToTheCaller: a key created through the API belongs to the
// caller's owner, as do its clones and rolled keys; a request body cannot
// name an owner, on any route.
func TestKeysBelongToTheCaller(t *testing.T) {
	e := newEnv(t, envOptions{api: keyapi.Options{Authorize: ownerFromHeader}})
	for _, owner := range []string{"acct_7", "", "bücher-köln"} {
		t.Run("Owner="+owner, func(t *testing.T) {
			k := decodeKey(t, e.doAs(owner, "POST", "/", `{"label":"mine"}`), 201)
			assert.Equal(t, owner, k.Owner, "the new key's owner in the response")
			assert.Equal(t, owner, e.get(t, k.ID).Owner, "the new key's stored owner")
			v, err := e.m.Verify(context.Background(), k.Token)
			require.NoError(t, err)
			assert.Equal(t, owner, v.Owner, "the verified key's owner")
			c := decodeKey(t, e.doAs(owner, "POST", "/"+k.ID.String()+"/clone", ""), 201)
			assert.Equal(t, owner, e.get(t, c.ID).Owner, "the clone's owner")
			r := decodeKey(t, e.doAs(owner, "POST", "/"+c.ID.String()+"/roll", `{"grace":"1h"}`), 201)
			assert.Equal(t, owner, e.get(t, r.ID).Owner, "the rolled key's owner")
		})
	}
	k, _ := e.mintKey("acct_7", "mine", "lists:read", time.Time{})
	id := k.ID.String()
	for _, rq := range []struct{ name, method, path, body string }{
		{"Create", "POST", "/", `{"label":"x","owner":"acct_8"}`},
		{"CreateOwnOwner", "POST", "/", `{"label":"x","owner":"acct_7"}`},
		{"CreateNull", "POST", "/", `{"label":"x","owner":null}`},
		{"CreateAnyCase", "POST", "/", `{"Owner":"acct_8","label":"x"}`},
		{"CreateBeforeUnknown", "POST", "/", `{"label":"x","colour":"red","owner":"acct_8"}`},
		{"Patch", "PATCH", "/" + id, `{"owner":"acct_8"}`},
		{"Clone", "POST", "/" + id + "/clone", `{"owner":"acct_8"}`},
		{"Roll", "POST", "/" + id + "/roll", `{"grace":"1h","owner":"acct_8"}`},
	} {
		t.Run("Refused/"+rq.name, func(t *testing.T) {
			before := e.count()
			assertProblem(t, e.doAs("acct_7", rq.method, rq.path, rq.body), 400, "owner", "owner_fixed", "the account the caller acts for")
			assert.Equal(t, before, e.count(), "a refused request stored a key")
			assert.Equal(t, k, e.get(t, k.ID), "a refused request changed the key")
		})
	}
}
