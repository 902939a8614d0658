package keyapi_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey/keyapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allOps are every management operation.
var allOps = []keyapi.Operation{
	keyapi.OpList, keyapi.OpGet, keyapi.OpCreate, keyapi.OpRename, keyapi.OpDeactivate,
	keyapi.OpReactivate, keyapi.OpSetExpiry, keyapi.OpClone, keyapi.OpRoll, keyapi.OpDelete,
}

func TestRoleManages(t *testing.T) {
	for role, want := range map[keyapi.Role]bool{
		keyapi.RoleOwner: true, keyapi.RoleAdmin: true, keyapi.RoleMember: false,
		"": false, "viewer": false, "Owner": false, "ADMIN": false, "owner ": false,
	} {
		assert.Equal(t, want, role.Manages(), "%q", role)
	}
}

// TestAuthorizeRoles checks the Authorizer of signed-in people: owners and
// admins may perform every operation, everyone else only list and read;
// whatever the role, the Actor is the person's account, with the scopes of
// an administrator and the session's end.
func TestAuthorizeRoles(t *testing.T) {
	end := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, role := range []keyapi.Role{keyapi.RoleOwner, keyapi.RoleAdmin, keyapi.RoleMember, "", "viewer", "Owner"} {
		p := keyapi.Principal{Account: "acct_42", Name: "ada@example.com", Role: role, ExpiresAt: end}
		var seen *http.Request
		authz := keyapi.AuthorizeRoles(func(r *http.Request) (keyapi.Principal, error) {
			seen = r
			return p, nil
		})
		for _, op := range allOps {
			t.Run(fmt.Sprintf("%q/%s", role, op), func(t *testing.T) {
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				a, err := authz(r, op)
				assert.Same(t, r, seen, "signedIn reads the request")
				if role.Manages() || op == keyapi.OpList || op == keyapi.OpGet {
					require.NoError(t, err)
					assert.Equal(t, "acct_42", a.Owner)
					assert.Equal(t, "ada@example.com", a.Name)
					assert.Equal(t, uuid.Nil, a.KeyID)
					assert.True(t, keyapi.AdminScopes().Equal(a.Scopes), "scopes %s", a.Scopes)
					assert.Equal(t, end, a.ExpiresAt)
					return
				}
				require.ErrorIs(t, err, keyapi.ErrForbidden)
				assert.NotErrorIs(t, err, keyapi.ErrUnauthenticated)
				var ae *keyapi.AccessError
				require.ErrorAs(t, err, &ae)
				verb := string(op)
				if op == keyapi.OpSetExpiry {
					verb = "change the expiry of"
				}
				assert.Equal(t, "only the owners and admins of the account may "+verb+" keys", ae.Detail)
				assert.Equal(t, keyapi.Actor{}, a)
			})
		}
	}
}

// TestAuthorizeRolesSignInFails checks that the application's sign-in
// errors reach the handler as they are: "no one is signed in" as
// ErrUnauthenticated, any other failure as itself.
func TestAuthorizeRolesSignInFails(t *testing.T) {
	boom := errors.New("session store unavailable")
	for _, tc := range []struct {
		name string
		err  error
		is   error
	}{
		{"no session", keyapi.ErrUnauthenticated, keyapi.ErrUnauthenticated},
		{"wrapped", fmt.Errorf("session expired: %w", keyapi.ErrUnauthenticated), keyapi.ErrUnauthenticated},
		{"with a detail", &keyapi.AccessError{Err: keyapi.ErrUnauthenticated, Detail: "sign in again"}, keyapi.ErrUnauthenticated},
		{"failure", boom, boom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			authz := keyapi.AuthorizeRoles(func(*http.Request) (keyapi.Principal, error) {
				// An application may return a principal with its error;
				// it must not be used.
				return keyapi.Principal{Account: "acct_42", Role: keyapi.RoleOwner}, tc.err
			})
			for _, op := range allOps {
				a, err := authz(httptest.NewRequest(http.MethodGet, "/", nil), op)
				assert.ErrorIs(t, err, tc.is, op)
				assert.Equal(t, keyapi.Actor{}, a, op)
			}
		})
	}
}

// TestAuthorizeRolesHandler checks AuthorizeRoles behind the management
// API: members list and read their account's keys and are refused every
// change with 403; owners manage them, management keys included, never
// reaching another account's keys, and no key they make outlives their
// session; without a session, 401.
func TestAuthorizeRolesHandler(t *testing.T) {
	end := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	sessions := map[string]keyapi.Principal{
		"owner":   {Account: testOwner, Name: "owner@example.com", Role: keyapi.RoleOwner},
		"member":  {Account: testOwner, Name: "member@example.com", Role: keyapi.RoleMember},
		"expires": {Account: testOwner, Name: "temp@example.com", Role: keyapi.RoleAdmin, ExpiresAt: end},
	}
	e := newEnv(t, envOptions{api: keyapi.Options{Logger: discardLogger(), Authorize: keyapi.AuthorizeRoles(
		func(r *http.Request) (keyapi.Principal, error) {
			p, ok := sessions[r.Header.Get("X-Session")]
			if !ok {
				return keyapi.Principal{}, keyapi.ErrUnauthenticated
			}
			return p, nil
		})}})
	mine, _ := e.mint("mine", "lists:read")
	theirs, _ := e.mintKey("acct_other", "theirs", "", time.Time{})
	as := func(session, method, path, body string) *httptest.ResponseRecorder {
		t.Helper()
		r := newRequest(method, path, body)
		if session != "" {
			r.Header.Set("X-Session", session)
		}
		return serve(e.h, r)
	}

	t.Run("member", func(t *testing.T) {
		list := as("member", http.MethodGet, "/", "")
		require.Equal(t, http.StatusOK, list.Code, list.Body)
		assert.Contains(t, list.Body.String(), mine.ID.String())
		assert.NotContains(t, list.Body.String(), theirs.ID.String())
		assert.Equal(t, http.StatusOK, as("member", http.MethodGet, "/"+mine.ID.String(), "").Code)
		before := e.count()
		for _, rq := range []struct{ method, path, body string }{
			{http.MethodPost, "/", `{"label":"x","scopes":"lists:read"}`},
			{http.MethodPatch, "/" + mine.ID.String(), `{"label":"x"}`},
			{http.MethodPatch, "/" + mine.ID.String(), `{"active":false}`},
			{http.MethodPost, "/" + mine.ID.String() + "/clone", ""},
			{http.MethodPost, "/" + mine.ID.String() + "/roll", `{"grace":"1h"}`},
			{http.MethodDelete, "/" + mine.ID.String(), ""},
		} {
			w := as("member", rq.method, rq.path, rq.body)
			assertProblem(t, w, http.StatusForbidden, "", keyapi.CodeForbidden, "only the owners and admins of the account may")
		}
		assert.Equal(t, before, e.count())
		k := e.get(t, mine.ID)
		assert.Equal(t, "mine", k.Label)
		assert.True(t, k.Active)
	})

	t.Run("owner", func(t *testing.T) {
		w := as("owner", http.MethodPost, "/", `{"label":"manager","scopes":"*:write,keys:write"}`)
		nk := decodeKey(t, w, http.StatusCreated)
		assert.Equal(t, testOwner, nk.Owner)
		assert.Equal(t, "*:write,keys:write", nk.Scopes)
		assert.Empty(t, nk.ExpiresAt)
		w = as("owner", http.MethodPatch, "/"+mine.ID.String(), `{"label":"renamed","active":false}`)
		require.Equal(t, http.StatusOK, w.Code, w.Body)
		assert.False(t, e.get(t, mine.ID).Active)
		for _, rq := range []struct{ method, path, body string }{
			{http.MethodGet, "/" + theirs.ID.String(), ""},
			{http.MethodPatch, "/" + theirs.ID.String(), `{"active":false}`},
			{http.MethodDelete, "/" + theirs.ID.String(), ""},
		} {
			assertProblem(t, as("owner", rq.method, rq.path, rq.body), http.StatusNotFound, "id", keyapi.CodeNotFound, "")
		}
		assert.True(t, e.get(t, theirs.ID).Active)
	})

	t.Run("session's end", func(t *testing.T) {
		nk := decodeKey(t, as("expires", http.MethodPost, "/", `{"label":"temp","scopes":"lists:read"}`), http.StatusCreated)
		exp, err := time.Parse(time.RFC3339, nk.ExpiresAt)
		require.NoError(t, err)
		assert.True(t, end.Equal(exp), "the key expires at %v, not at the session's end %v", exp, end)
	})

	t.Run("no session", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			w := as("", method, "/", `{"label":"x"}`)
			assertProblem(t, w, http.StatusUnauthorized, "", keyapi.CodeUnauthenticated, "")
		}
	})
}

// TestAuthorizeRolesNeedsAnAccount checks that a signed-in person without
// an account reaches no keys, whatever their role: "" owns the keys of no
// account, an operator's, which a session missing its account must not
// reach.
func TestAuthorizeRolesNeedsAnAccount(t *testing.T) {
	for _, role := range []keyapi.Role{keyapi.RoleOwner, keyapi.RoleAdmin, keyapi.RoleMember} {
		authz := keyapi.AuthorizeRoles(func(*http.Request) (keyapi.Principal, error) {
			return keyapi.Principal{Name: "new@example.com", Role: role}, nil
		})
		for _, op := range allOps {
			t.Run(fmt.Sprintf("%s/%s", role, op), func(t *testing.T) {
				a, err := authz(httptest.NewRequest(http.MethodGet, "/", nil), op)
				require.Error(t, err)
				assert.NotErrorIs(t, err, keyapi.ErrForbidden, "a bug of the application's, answered 500")
				assert.NotErrorIs(t, err, keyapi.ErrUnauthenticated)
				assert.Contains(t, err.Error(), "Principal.Account is empty")
				assert.Equal(t, keyapi.Actor{}, a)
			})
		}
	}
}
