package apikey_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/keyscope/apikey/memstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckOwner(t *testing.T) {
	tests := []struct {
		name, owner string
		ok          bool
		inMsg       string // part of the error, which must name the value
	}{
		{"empty: no owner", "", true, ""},
		{"account id", "acct_42", true, ""},
		{"email", "ops@example.com", true, ""},
		{"unicode", "bücher-köln 東京 🦊", true, ""},
		{"inner space", "acme corp", true, ""},
		{"longest", strings.Repeat("a", apikey.MaxOwnerLen), true, ""},
		{"multi-byte at the limit", strings.Repeat("é", apikey.MaxOwnerLen/2), true, ""},
		{"too long", strings.Repeat("a", apikey.MaxOwnerLen+1), false, "129 bytes, more than 128"},
		{"not utf-8", "acme\xff", false, `"acme\xff" is not valid UTF-8`},
		{"NUL", "acme\x00", false, `"acme\x00" holds a control character`},
		{"newline", "acme\nroot", false, "control character"},
		{"DEL", "acme\x7f", false, "control character"},
		{"C1 control", "acme\u0085", false, "control character"},
		{"leading space", " acme", false, `" acme" starts or ends with white space`},
		{"trailing space", "acme ", false, "white space"},
		{"only spaces", "   ", false, "white space"},
		{"no-break space at the end", "acme\u00a0", false, "white space"},
		{"zero-width space", "acme\u200b", false, "invisible format character"},
		{"only a zero-width space", "\u200b", false, "invisible format character"},
		{"byte order mark", "\ufeffacme", false, "invisible format character"},
		{"soft hyphen", "ac\u00adme", false, "invisible format character"},
		{"right-to-left override", "ac\u202eme", false, "invisible format character"},
		{"bidi isolate", "\u2066acme\u2069", false, "invisible format character"},
		{"tag character", "acme\U000E0041", false, "invisible format character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := apikey.CheckOwner(tt.owner)
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, apikey.ErrInvalidOwner)
			assert.ErrorContains(t, err, tt.inMsg)
		})
	}
	t.Run("long values are clipped in the error", func(t *testing.T) {
		err := apikey.CheckOwner(strings.Repeat("x", 10_000))
		require.Error(t, err)
		assert.Less(t, len(err.Error()), 200, "error %q echoes the whole value", err)
	})
}

func TestCreateRefusesBadOwnerAndStoresNothing(t *testing.T) {
	m, store := newManager(t, apikey.Options{})
	_, tok, err := m.Create(context.Background(), apikey.CreateParams{Label: "x", Owner: "acme\n"})
	require.ErrorIs(t, err, apikey.ErrInvalidOwner)
	assert.True(t, tok.IsZero(), "a failed Create returned a token")
	ks, err := store.List(context.Background(), apikey.ListOptions{AllOwners: true})
	require.NoError(t, err)
	assert.Empty(t, ks, "a refused Create stored a key")
}

// TestOwnerTravelsWithTheKey checks that the owner given at creation is the
// one Verify, Get, List, Clone, Roll and the updates return.
func TestOwnerTravelsWithTheKey(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t, apikey.Options{})
	k, tok := create(t, m, apikey.CreateParams{Owner: "acct_42"})
	assert.Equal(t, "acct_42", k.Owner, "Create")
	assert.Equal(t, "acct_42", verify(t, m, tok, nil).Owner, "Verify")
	got, err := m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, "acct_42", got.Owner, "Get")
	c, ctok, err := m.Clone(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, "acct_42", c.Owner, "Clone")
	assert.Equal(t, "acct_42", verify(t, m, ctok.Reveal(), nil).Owner, "Verify of the clone")
	r, rtok, err := m.Roll(ctx, c.ID, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, "acct_42", r.Owner, "Roll")
	assert.Equal(t, "acct_42", verify(t, m, rtok.Reveal(), nil).Owner, "Verify of the rolled key")
	label := "renamed"
	u, err := m.Update(ctx, k.ID, apikey.Update{Label: &label})
	require.NoError(t, err)
	assert.Equal(t, "acct_42", u.Owner, "Update")
	d, err := m.Deactivate(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, "acct_42", d.Owner, "Deactivate")
	ks, err := m.List(ctx, apikey.ListOptions{Owner: "acct_42"})
	require.NoError(t, err)
	assert.Len(t, ks, 3, "List of the owner")
	for _, k := range ks {
		assert.Equal(t, "acct_42", k.Owner, "List")
	}
}

func TestGuardPassesTheOwnerToHandlers(t *testing.T) {
	m, _ := newManager(t, apikey.Options{})
	_, tok := create(t, m, apikey.CreateParams{Owner: "acme"})
	g, err := apikey.NewGuard(m, apikey.GuardOptions{})
	require.NoError(t, err)
	var owner string
	h := g.MustRequire("lists:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, ok := apikey.FromContext(r.Context())
		require.True(t, ok, "FromContext")
		owner = k.Owner
	}))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/api/lists", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "acme", owner)
}

func TestListIsConfinedToOneOwner(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t, apikey.Options{})
	mine := map[string][]uuid.UUID{}
	for _, owner := range []string{"", "acme", "Acme", "acme2", "bücher"} {
		for range 3 {
			k, _ := create(t, m, apikey.CreateParams{Owner: owner})
			mine[owner] = append([]uuid.UUID{k.ID}, mine[owner]...) // newest first
		}
	}
	ids := func(ks []apikey.Key) []uuid.UUID {
		out := []uuid.UUID{}
		for _, k := range ks {
			out = append(out, k.ID)
		}
		return out
	}
	for owner, want := range mine {
		t.Run("owner "+owner, func(t *testing.T) {
			ks, err := m.List(ctx, apikey.ListOptions{Owner: owner})
			require.NoError(t, err)
			assert.Equal(t, want, ids(ks))
		})
	}
	t.Run("zero options list the keys without an owner", func(t *testing.T) {
		ks, err := m.List(ctx, apikey.ListOptions{})
		require.NoError(t, err)
		assert.Equal(t, mine[""], ids(ks))
	})
	t.Run("an owner with no keys", func(t *testing.T) {
		ks, err := m.List(ctx, apikey.ListOptions{Owner: "nobody"})
		require.NoError(t, err)
		assert.Empty(t, ks)
	})
	t.Run("every owner", func(t *testing.T) {
		ks, err := m.List(ctx, apikey.ListOptions{AllOwners: true})
		require.NoError(t, err)
		assert.Len(t, ks, 15)
	})
	t.Run("bad options name the problem", func(t *testing.T) {
		for _, tc := range []struct {
			opts  apikey.ListOptions
			inMsg string
		}{
			{apikey.ListOptions{Owner: " acme"}, `" acme"`},
			{apikey.ListOptions{Owner: "acme", AllOwners: true}, `both AllOwners and Owner "acme"`},
			{apikey.ListOptions{Limit: -1}, "Limit -1 is negative"},
		} {
			_, err := m.List(ctx, tc.opts)
			assert.ErrorContains(t, err, tc.inMsg, "List(%+v)", tc.opts)
		}
	})
}

func TestRevoke(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m, _ := newManager(t, apikey.Options{Now: clk.Now})
	leaked, leakedTok := create(t, m, apikey.CreateParams{Owner: "acme"})
	other, otherTok := create(t, m, apikey.CreateParams{Owner: "acme"})
	verify(t, m, leakedTok, nil) // now cached

	got, err := m.Revoke(ctx, leakedTok)
	require.NoError(t, err, "Revoke")
	assert.Equal(t, leaked.ID, got.ID)
	assert.Equal(t, "acme", got.Owner)
	assert.False(t, got.Active, "the returned record is still active")
	verify(t, m, leakedTok, apikey.ErrInactive) // at once, whatever the cache holds
	verify(t, m, otherTok, nil)

	again, err := m.Revoke(ctx, leakedTok)
	require.NoError(t, err, "revoking an inactive key")
	assert.False(t, again.Active)

	forged := apikey.FormatToken(apikey.DefaultPrefix, other.ID, [32]byte{1})
	unknown := apikey.FormatToken(apikey.DefaultPrefix, uuid.Must(uuid.NewV7()), [32]byte{1})
	for name, tok := range map[string]string{
		"wrong secret": forged,
		"unknown key":  unknown,
		"malformed":    "sk_nope",
		"other prefix": strings.Replace(otherTok, "sk_", "pk_", 1),
		"empty":        "",
		"one char off": otherTok[:len(otherTok)-1] + otherLast(otherTok[len(otherTok)-1]),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := m.Revoke(ctx, tok)
			assert.ErrorIs(t, err, apikey.ErrInvalidKey)
		})
	}
	verify(t, m, otherTok, nil) // the forged revocations changed nothing

	t.Run("an expired key", func(t *testing.T) {
		exp, expTok := create(t, m, apikey.CreateParams{ExpiresAt: clk.Now().Add(time.Minute)})
		clk.Add(time.Hour)
		got, err := m.Revoke(ctx, expTok)
		require.NoError(t, err)
		assert.Equal(t, exp.ID, got.ID)
		assert.False(t, got.Active)
	})
}

func TestRevokeArgon2id(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t, apikey.Options{Hash: apikey.Argon2id, Argon2: cheapArgon2})
	k, tok := create(t, m, apikey.CreateParams{Owner: "acme"})
	_, err := m.Revoke(ctx, apikey.FormatToken(apikey.DefaultPrefix, k.ID, [32]byte{7}))
	require.ErrorIs(t, err, apikey.ErrInvalidKey, "wrong secret")
	verify(t, m, tok, nil)
	got, err := m.Revoke(ctx, tok)
	require.NoError(t, err)
	assert.False(t, got.Active)
	verify(t, m, tok, apikey.ErrInactive)
}

func TestRevokeStoreFailure(t *testing.T) {
	ctx := context.Background()
	m, store := newManager(t, apikey.Options{})
	_, tok := create(t, m, apikey.CreateParams{})
	boom := errors.New("disk on fire")
	store.Fail(apikeytest.MethodGet, boom)
	_, err := m.Revoke(ctx, tok)
	require.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, apikey.ErrInvalidKey, "a store failure must not read as a bad token")
}

// ownerlessStore is a Store written before keys had owners: it drops
// Key.Owner and ignores ListOptions.Owner.
type ownerlessStore struct{ *memstore.Store }

func (s ownerlessStore) Create(ctx context.Context, k apikey.Key) error {
	k.Owner = ""
	return s.Store.Create(ctx, k)
}

func (s ownerlessStore) List(ctx context.Context, opts apikey.ListOptions) ([]apikey.Key, error) {
	return s.Store.List(ctx, apikey.ListOptions{AllOwners: true, Before: opts.Before, Limit: opts.Limit})
}

// TestManagerFailsClosedOnStoresWithoutOwners: a store that predates owners
// must not silently merge accounts.
func TestManagerFailsClosedOnStoresWithoutOwners(t *testing.T) {
	ctx := context.Background()
	inner := memstore.New()
	m, _ := newManager(t, apikey.Options{Store: ownerlessStore{inner}})

	_, tok, err := m.Create(ctx, apikey.CreateParams{Label: "x", Owner: "acme"})
	require.ErrorIs(t, err, apikey.ErrStoreContract)
	assert.ErrorContains(t, err, `owner "", not "acme"`)
	assert.True(t, tok.IsZero(), "a token was handed out")
	assert.Zero(t, inner.Len(), "the key with the lost owner was kept")

	// Ownerless keys still work in such a store, for single-tenant apps...
	create(t, m, apikey.CreateParams{})
	require.NoError(t, inner.Create(ctx, apikey.Key{ID: uuid.Must(uuid.NewV7()), Owner: "acme", Label: "theirs"}))
	// ...but a listing that would show another owner's key fails.
	_, err = m.List(ctx, apikey.ListOptions{})
	require.ErrorIs(t, err, apikey.ErrStoreContract)
	assert.ErrorContains(t, err, `of owner "acme"`)
}

// otherLast returns a base62 digit other than c, so that replacing a token's
// last character with it always changes the token.
func otherLast(c byte) string {
	if c == 'x' {
		return "y"
	}
	return "x"
}
