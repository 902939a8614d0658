package apikey_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/keyscope/apikey/memstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clock is a settable time source for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)} }

// newManager returns a Manager for opts over a FaultStore, which wraps
// opts.Store (memstore unless set) and counts the calls the Manager makes.
// The Manager is closed when the test ends.
func newManager(t *testing.T, opts apikey.Options) (*apikey.Manager, *apikeytest.FaultStore) {
	t.Helper()
	if opts.Store == nil {
		opts.Store = memstore.New()
	}
	store := apikeytest.NewFaultStore(opts.Store)
	opts.Store = store
	return apikeytest.NewManager(t, opts), store
}

func create(t *testing.T, m *apikey.Manager, p apikey.CreateParams) (apikey.Key, string) {
	t.Helper()
	if p.Label == "" {
		p.Label = "test key"
	}
	k, tok, err := m.Create(context.Background(), p)
	require.NoError(t, err, "Create")
	return k, tok.Reveal()
}

// createExpiringIn creates a key in m that expires d after m.Now(), or
// never when d is 0.
func createExpiringIn(t *testing.T, m *apikey.Manager, d time.Duration) (apikey.Key, string) {
	t.Helper()
	var p apikey.CreateParams
	if d > 0 {
		p.ExpiresAt = m.Now().Add(d)
	}
	return create(t, m, p)
}

// verify checks that Verify(tok) fails with want (nil: succeeds), and
// returns the key it verified.
func verify(t *testing.T, m *apikey.Manager, tok string, want error) apikey.Key {
	t.Helper()
	k, err := m.Verify(context.Background(), tok)
	if want == nil {
		assert.NoError(t, err, "Verify")
	} else {
		assert.ErrorIs(t, err, want, "Verify")
	}
	return k
}

func TestCreateReturnsRecordAndTokenOnce(t *testing.T) {
	clk := newClock()
	m, store := newManager(t, apikey.Options{Now: clk.Now})
	ro := apikey.ReadOnly()
	k, tok, err := m.Create(context.Background(), apikey.CreateParams{Label: "shop integration", Scopes: ro})
	require.NoError(t, err)
	assert.Equal(t, uuid.Version(7), k.ID.Version(), "version of ID %s", k.ID)
	assert.Equal(t, "shop integration", k.Label)
	assert.True(t, k.Scopes.Equal(ro), "scopes %q, want %q", k.Scopes, ro)
	assert.True(t, k.Active, "new key is inactive")
	assert.Equal(t, clk.Now(), k.CreatedAt)
	assert.Zero(t, k.LastUsedAt, "new key's LastUsedAt")
	assert.Zero(t, k.ExpiresAt, "new key's ExpiresAt")
	assert.Equal(t, uuid.Nil, k.ClonedFrom, "new key's ClonedFrom")

	text := tok.Reveal()
	require.True(t, strings.HasPrefix(text, "sk_"), "token %q lacks the prefix", text)
	assert.Equal(t, "sk_…"+text[len(text)-4:], k.Hint)
	assert.Equal(t, k.Hint, tok.String())
	stored, err := store.Unwrap().Get(context.Background(), k.ID)
	require.NoError(t, err)
	assert.Equal(t, apikey.SHA256, stored.Digest.Algorithm(), "stored digest algorithm")
	assert.False(t, bytes.Contains(stored.Digest.Bytes(), []byte(text[3:])), "stored digest holds the token")
}

// TestManagerReturnsNoDigest calls every Manager method that returns a
// record, in turn on one key, and checks that none of the records carries
// the digest the store holds.
func TestManagerReturnsNoDigest(t *testing.T) {
	m, store := newManager(t, apikey.Options{})
	ctx := context.Background()
	k, tok := create(t, m, apikey.CreateParams{})
	stored, err := store.Unwrap().Get(ctx, k.ID)
	require.NoError(t, err)
	require.False(t, stored.Digest.IsZero(), "the store holds no digest")

	one := func(k apikey.Key, err error) ([]apikey.Key, error) { return []apikey.Key{k}, err }
	minted := func(k apikey.Key, _ apikey.Token, err error) ([]apikey.Key, error) { return one(k, err) }
	label := "updated"
	calls := []struct {
		name string
		call func() ([]apikey.Key, error)
		id   uuid.UUID // the ID of every record returned; uuid.Nil for a new key
	}{
		{"Get", func() ([]apikey.Key, error) { return one(m.Get(ctx, k.ID)) }, k.ID},
		{"List", func() ([]apikey.Key, error) { return m.List(ctx, apikey.ListOptions{}) }, k.ID},
		{"Verify", func() ([]apikey.Key, error) { return one(m.Verify(ctx, tok)) }, k.ID},
		{"Update", func() ([]apikey.Key, error) { return one(m.Update(ctx, k.ID, apikey.Update{Label: &label})) }, k.ID},
		{"Rename", func() ([]apikey.Key, error) { return one(m.Rename(ctx, k.ID, "renamed")) }, k.ID},
		{"Deactivate", func() ([]apikey.Key, error) { return one(m.Deactivate(ctx, k.ID)) }, k.ID},
		{"Activate", func() ([]apikey.Key, error) { return one(m.Activate(ctx, k.ID)) }, k.ID},
		{"Create", func() ([]apikey.Key, error) { return minted(m.Create(ctx, apikey.CreateParams{Label: "new"})) }, uuid.Nil},
		{"Clone", func() ([]apikey.Key, error) { return minted(m.Clone(ctx, k.ID)) }, uuid.Nil},
		{"Roll", func() ([]apikey.Key, error) { return minted(m.Roll(ctx, k.ID, time.Hour)) }, uuid.Nil},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			ks, err := c.call()
			require.NoError(t, err)
			require.NotEmpty(t, ks)
			for _, got := range ks {
				if c.id != uuid.Nil {
					assert.Equal(t, c.id, got.ID, "ID of a record returned")
				}
				assert.True(t, got.Digest.IsZero(), "record %s carries the digest", got.ID)
			}
		})
	}
}

func TestCreateDefaultsToFullAccess(t *testing.T) {
	m, _ := newManager(t, apikey.Options{})
	k, _ := create(t, m, apikey.CreateParams{Label: "default"})
	assert.True(t, k.Scopes.IsFullAccess(), "default scopes = %q, want *:write", k.Scopes)
}

func TestCreateRejectsBadInput(t *testing.T) {
	clk := newClock()
	cat, err := apikey.NewCatalog("lists", "profiles")
	require.NoError(t, err)
	m, store := newManager(t, apikey.Options{Now: clk.Now, Catalog: cat})
	orders, err := apikey.ParseScopes("orders:read")
	require.NoError(t, err)
	tests := []struct {
		name string
		p    apikey.CreateParams
		want error
	}{
		{"blank label", apikey.CreateParams{Label: "  "}, apikey.ErrInvalidLabel},
		{"long label", apikey.CreateParams{Label: strings.Repeat("x", apikey.MaxLabelLen+1)}, apikey.ErrInvalidLabel},
		{"invalid utf-8", apikey.CreateParams{Label: "bad \xff"}, apikey.ErrInvalidLabel},
		{"resource outside catalog", apikey.CreateParams{Label: "x", Scopes: orders}, apikey.ErrInvalidScope},
		{"expiry in the past", apikey.CreateParams{Label: "x", ExpiresAt: clk.Now().Add(-time.Second)}, apikey.ErrInvalidExpiry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, tok, err := m.Create(context.Background(), tt.p)
			assert.ErrorIs(t, err, tt.want)
			assert.True(t, tok.IsZero(), "a failed Create returned a token")
		})
	}
	ks, err := store.List(context.Background(), apikey.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, ks, "failed Creates stored keys")
	_, _, err = m.Create(context.Background(), apikey.CreateParams{Label: "ok \x00 \"quoted\""})
	assert.NoError(t, err, "label with NUL and quotes refused")
}

func TestVerifyErrors(t *testing.T) {
	clk := newClock()
	m, store := newManager(t, apikey.Options{Now: clk.Now})
	ctx := context.Background()
	k, tok := create(t, m, apikey.CreateParams{})
	inactive, inactiveTok := create(t, m, apikey.CreateParams{})
	_, err := m.Deactivate(ctx, inactive.ID)
	require.NoError(t, err)
	_, expiringTok := create(t, m, apikey.CreateParams{ExpiresAt: clk.Now().Add(time.Hour)})
	var wrongSecret [32]byte
	wrongSecret[0] = 1
	stored, err := store.Unwrap().Get(ctx, k.ID)
	require.NoError(t, err)
	var digestSecret [32]byte
	copy(digestSecret[:], stored.Digest.Bytes()[1:])

	tests := []struct {
		name    string
		token   string
		advance time.Duration
		want    error
	}{
		{"valid", tok, 0, nil},
		{"empty", "", 0, apikey.ErrInvalidKey},
		{"garbage", "hello", 0, apikey.ErrInvalidKey},
		{"bearer prefix left on", "Bearer " + tok, 0, apikey.ErrInvalidKey},
		{"other prefix", "pk" + tok[2:], 0, apikey.ErrInvalidKey},
		{"unknown id", apikey.FormatToken("sk", uuid.Must(uuid.NewV7()), wrongSecret), 0, apikey.ErrInvalidKey},
		{"wrong secret", apikey.FormatToken("sk", k.ID, wrongSecret), 0, apikey.ErrInvalidKey},
		{"stored digest as secret", apikey.FormatToken("sk", k.ID, digestSecret), 0, apikey.ErrInvalidKey},
		{"inactive", inactiveTok, 0, apikey.ErrInactive},
		{"not yet expired", expiringTok, 59 * time.Minute, nil},
		{"expired", expiringTok, time.Minute, apikey.ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.Add(tt.advance)
			got, err := m.Verify(ctx, tt.token)
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.want)
			if tt.want == apikey.ErrInvalidKey {
				assert.Same(t, apikey.ErrInvalidKey, err, "invalid keys must all return the same error value")
			}
			assert.Equal(t, uuid.Nil, got.ID, "failed Verify returned a key")
		})
	}
}

func TestVerifyRejectsMalformedWithoutStoreLookup(t *testing.T) {
	m, store := newManager(t, apikey.Options{})
	_, tok := create(t, m, apikey.CreateParams{})
	before := store.Calls(apikeytest.MethodGet)
	for _, bad := range []string{"", "sk_", tok[:len(tok)-1], tok + "0", tok[:20] + "!" + tok[21:]} {
		_, err := m.Verify(context.Background(), bad)
		assert.ErrorIs(t, err, apikey.ErrInvalidKey, "Verify(%q)", bad)
	}
	assert.Equal(t, before, store.Calls(apikeytest.MethodGet), "malformed tokens caused store lookups")
}

func TestNoSingleCharacterChangeVerifies(t *testing.T) {
	m, _ := newManager(t, apikey.Options{UsageInterval: -1})
	_, tok := create(t, m, apikey.CreateParams{})
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-"
	tried := 0
	for i := range len(tok) {
		for j := range len(alphabet) {
			c := alphabet[j]
			if tok[i] == c {
				continue
			}
			mutated := tok[:i] + string(c) + tok[i+1:]
			tried++
			_, err := m.Verify(context.Background(), mutated)
			if !assert.ErrorIs(t, err, apikey.ErrInvalidKey, "token with position %d changed to %q", i, c) {
				return // one mutation that verifies is enough to report
			}
		}
	}
	assert.GreaterOrEqual(t, tried, len(tok)*60, "mutations tried")
}

func TestVerifyStoreFailureFailsClosed(t *testing.T) {
	m, store := newManager(t, apikey.Options{})
	_, tok := create(t, m, apikey.CreateParams{})
	boom := errors.New("disk on fire")
	store.Fail(apikeytest.MethodGet, boom)
	k, err := m.Verify(context.Background(), tok)
	assert.ErrorIs(t, err, boom, "Verify with a failing store must return the store error")
	assert.NotErrorIs(t, err, apikey.ErrInvalidKey)
	assert.Equal(t, uuid.Nil, k.ID, "Verify with a failing store returned a key")
}

func TestStatusToggleRenameDelete(t *testing.T) {
	m, _ := newManager(t, apikey.Options{})
	ctx := context.Background()
	k, tok := create(t, m, apikey.CreateParams{Label: "before"})
	steps := []struct {
		name string
		do   func(t *testing.T) error
		want error
	}{
		{"deactivate", func(*testing.T) error { _, err := m.Deactivate(ctx, k.ID); return err }, apikey.ErrInactive},
		{"deactivate again is a no-op", func(*testing.T) error { _, err := m.Deactivate(ctx, k.ID); return err }, apikey.ErrInactive},
		{"reactivate", func(*testing.T) error { _, err := m.Activate(ctx, k.ID); return err }, nil},
		{"rename keeps it working", func(t *testing.T) error {
			r, err := m.Rename(ctx, k.ID, "after")
			if err == nil {
				assert.Equal(t, "after", r.Label, "label Rename returned")
			}
			return err
		}, nil},
		{"delete", func(*testing.T) error { return m.Delete(ctx, k.ID) }, apikey.ErrInvalidKey},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			require.NoError(t, s.do(t))
			verify(t, m, tok, s.want)
		})
	}
	missing := uuid.Must(uuid.NewV7())
	for name, call := range map[string]func() error{
		"delete":     func() error { return m.Delete(ctx, missing) },
		"deactivate": func() error { _, err := m.Deactivate(ctx, missing); return err },
		"rename":     func() error { _, err := m.Rename(ctx, missing, "x"); return err },
		"clone":      func() error { _, _, err := m.Clone(ctx, missing); return err },
		"roll":       func() error { _, _, err := m.Roll(ctx, missing, 0); return err },
		"get":        func() error { _, err := m.Get(ctx, missing); return err },
	} {
		assert.ErrorIs(t, call(), apikey.ErrNotFound, "%s of a missing key", name)
	}
	_, err := m.Rename(ctx, k.ID, "")
	assert.ErrorIs(t, err, apikey.ErrInvalidLabel, "Rename to blank")
}

func TestClone(t *testing.T) {
	m, _ := newManager(t, apikey.Options{})
	ctx := context.Background()
	sc, err := apikey.ParseScopes("campaigns:read,lists:write")
	require.NoError(t, err)
	orig, origTok := create(t, m, apikey.CreateParams{Label: "shop", Scopes: sc})
	c, ctok, err := m.Clone(ctx, orig.ID)
	require.NoError(t, err)
	assert.NotEqual(t, orig.ID, c.ID, "clone ID")
	assert.NotEqual(t, origTok, ctok.Reveal(), "clone token")
	assert.Equal(t, "shop", c.Label)
	assert.True(t, c.Scopes.Equal(sc), "clone scopes %q, want %q", c.Scopes, sc)
	assert.Equal(t, orig.ID, c.ClonedFrom)
	assert.True(t, c.Active, "clone is inactive")
	verify(t, m, origTok, nil)
	verify(t, m, ctok.Reveal(), nil)
	_, err = m.Deactivate(ctx, orig.ID)
	require.NoError(t, err)
	verify(t, m, ctok.Reveal(), nil) // deactivating the original leaves the clone working
}

func TestRoll(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name          string
		origExpiresIn time.Duration // 0: never
		grace         time.Duration
		checkAt       time.Duration
		wantOrig      error
		wantNew       error
	}{
		{"zero grace expires at once", 0, 0, 0, apikey.ErrExpired, nil},
		{"within grace", 0, time.Hour, 59 * time.Minute, nil, nil},
		{"after grace", 0, time.Hour, time.Hour, apikey.ErrExpired, nil},
		{"earlier expiry kept, and inherited", 10 * time.Minute, time.Hour, 10 * time.Minute, apikey.ErrExpired, apikey.ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			m, _ := newManager(t, apikey.Options{Now: clk.Now})
			orig, origTok := createExpiringIn(t, m, tt.origExpiresIn)
			nk, ntok, err := m.Roll(ctx, orig.ID, tt.grace)
			require.NoError(t, err)
			assert.Equal(t, orig.ID, nk.ClonedFrom)
			assert.Equal(t, orig.ExpiresAt, nk.ExpiresAt, "the rolled key must take the original's former expiry")
			clk.Add(tt.checkAt)
			verify(t, m, origTok, tt.wantOrig)
			verify(t, m, ntok.Reveal(), tt.wantNew)
		})
	}
	m, _ := newManager(t, apikey.Options{})
	k, _ := create(t, m, apikey.CreateParams{})
	_, _, err := m.Roll(ctx, k.ID, -time.Second)
	assert.Error(t, err, "Roll with negative grace")
}

// TestRollIsAllOrNothing fails the write that sets the original's expiry,
// in the ways a store can fail it, and checks that Roll leaves the store as
// it found it: the original alone, with its former expiry, still verifying.
func TestRollIsAllOrNothing(t *testing.T) {
	errLost := errors.New("connection reset before the reply")
	failures := []struct {
		name string
		// fault returns the function that decides the Update calls of
		// store; cancel cancels the context the Roll runs with.
		fault func(store *apikeytest.FaultStore, cancel context.CancelFunc) func(apikeytest.Call) error
		want  error
	}{
		{"update fails", func(*apikeytest.FaultStore, context.CancelFunc) func(apikeytest.Call) error {
			return func(apikeytest.Call) error { return errLost }
		}, errLost},
		{"update applied but reported failed", func(store *apikeytest.FaultStore, _ context.CancelFunc) func(apikeytest.Call) error {
			return func(c apikeytest.Call) error {
				if store.Calls(apikeytest.MethodUpdate) > 1 {
					return nil // the undo goes through
				}
				if _, err := store.Unwrap().Update(context.Background(), c.ID, c.Update); err != nil {
					return err
				}
				return errLost
			}
		}, errLost},
		{"caller's context cancelled during the update", func(store *apikeytest.FaultStore, cancel context.CancelFunc) func(apikeytest.Call) error {
			return func(apikeytest.Call) error {
				if store.Calls(apikeytest.MethodUpdate) > 1 {
					return nil // the undo runs on a context of its own
				}
				cancel()
				return context.Canceled
			}
		}, context.Canceled},
	}
	for _, f := range failures {
		for _, origExpiresIn := range []time.Duration{0, time.Hour} {
			t.Run(f.name+"/expires in "+origExpiresIn.String(), func(t *testing.T) {
				m, store := newManager(t, apikey.Options{Now: newClock().Now})
				orig, origTok := createExpiringIn(t, m, origExpiresIn)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				store.FailWhen(apikeytest.MethodUpdate, f.fault(store, cancel))

				k, tok, err := m.Roll(ctx, orig.ID, 0)
				assert.ErrorIs(t, err, f.want)
				assert.Zero(t, k, "a failed Roll returned a key")
				assert.True(t, tok.IsZero(), "a failed Roll returned a token")
				assert.Equal(t, 2, store.Calls(apikeytest.MethodCreate), "Roll stored no clone to undo")
				ks, err := store.Unwrap().List(context.Background(), apikey.ListOptions{})
				require.NoError(t, err)
				require.Len(t, ks, 1, "the store must hold only the original")
				assert.Equal(t, orig.ID, ks[0].ID)
				assert.Equal(t, orig.ExpiresAt, ks[0].ExpiresAt, "the original's expiry after a failed Roll")
				verify(t, m, origTok, nil)
			})
		}
	}
}

// TestRollUndoFailureNamesTheClone fails both the write that sets the
// original's expiry and the deletion of the clone: the error must name the
// clone left behind, and no token may come out.
func TestRollUndoFailureNamesTheClone(t *testing.T) {
	m, store := newManager(t, apikey.Options{})
	ctx := context.Background()
	orig, _ := create(t, m, apikey.CreateParams{})
	errUpdate, errDelete := errors.New("update failed"), errors.New("delete failed")
	store.Fail(apikeytest.MethodUpdate, errUpdate)
	store.Fail(apikeytest.MethodDelete, errDelete)

	k, tok, rollErr := m.Roll(ctx, orig.ID, time.Hour)
	require.Error(t, rollErr)
	assert.ErrorIs(t, rollErr, errUpdate)
	assert.ErrorIs(t, rollErr, errDelete)
	assert.Zero(t, k, "a failed Roll returned a key")
	assert.True(t, tok.IsZero(), "a failed Roll returned a token")
	ks, err := store.Unwrap().List(ctx, apikey.ListOptions{})
	require.NoError(t, err)
	require.Len(t, ks, 2, "the original and the clone that could not be deleted")
	var clone apikey.Key
	for _, k := range ks {
		if k.ID != orig.ID {
			clone = k
		}
	}
	require.Equal(t, orig.ID, clone.ClonedFrom, "the store holds no clone of the original")
	assert.ErrorContains(t, rollErr, clone.ID.String(), "the error must name the clone left behind")
}

func TestNewManagerRejectsBadOptions(t *testing.T) {
	s := memstore.New()
	tests := map[string]apikey.Options{
		"no store":          {},
		"bad prefix":        {Store: s, Prefix: "s-k"},
		"prefix ends in _":  {Store: s, Prefix: "sk_"},
		"hmac no pepper":    {Store: s, Hash: apikey.HMACSHA256},
		"short pepper":      {Store: s, Hash: apikey.HMACSHA256, Pepper: []byte("short")},
		"unknown algorithm": {Store: s, Hash: 42},
		"argon2 threads":    {Store: s, Hash: apikey.Argon2id, Argon2: apikey.Argon2Params{Memory: 1}},
	}
	for name, opts := range tests {
		t.Run(name, func(t *testing.T) {
			m, err := apikey.NewManager(opts)
			if !assert.Error(t, err, "NewManager succeeded") {
				m.Close()
			}
		})
	}
}

func TestPrefixSeparatesApplications(t *testing.T) {
	s := memstore.New()
	live := apikeytest.NewManager(t, apikey.Options{Store: s, Prefix: "sk_live"})
	test := apikeytest.NewManager(t, apikey.Options{Store: s, Prefix: "sk_test"})
	_, tok, err := live.Create(context.Background(), apikey.CreateParams{Label: "live"})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(tok.Reveal(), "sk_live_"), "token %q lacks the prefix", tok.Reveal())
	verify(t, test, tok.Reveal(), apikey.ErrInvalidKey) // the live token does not verify in test
}

func TestManagerPrefix(t *testing.T) {
	for _, tt := range []struct{ name, prefix, want string }{
		{"unset", "", apikey.DefaultPrefix},
		{"set", "pk_live", "pk_live"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newManager(t, apikey.Options{Prefix: tt.prefix})
			assert.Equal(t, tt.want, m.Prefix())
			_, tok := create(t, m, apikey.CreateParams{})
			assert.True(t, strings.HasPrefix(tok, m.Prefix()+"_"), "token %q does not start with Prefix() %q", tok, m.Prefix())
		})
	}
}

func TestManagerNow(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 23, 13, 0, 0, 123456789, time.FixedZone("CET", 3600))}
	m, _ := newManager(t, apikey.Options{Now: clk.Now})
	assert.Equal(t, time.Date(2026, 11, 23, 12, 0, 0, 123456000, time.UTC), m.Now(),
		"Now must read Options.Now in UTC, truncated to whole microseconds")
	clk.Add(time.Hour + 999*time.Nanosecond)
	assert.Equal(t, time.Date(2026, 11, 23, 13, 0, 0, 123457000, time.UTC), m.Now(), "Now after the clock moved")

	m, _ = newManager(t, apikey.Options{})
	before := time.Now().Truncate(time.Microsecond)
	got := m.Now()
	after := time.Now()
	assert.Equal(t, time.UTC, got.Location(), "default clock's location")
	assert.Zero(t, got.Nanosecond()%1000, "default clock's time %v has sub-microsecond digits", got)
	assert.WithinRange(t, got, before, after, "default clock must be time.Now")
}

func TestVerifyAllocations(t *testing.T) {
	m, _ := newManager(t, apikey.Options{})
	_, tok := create(t, m, apikey.CreateParams{})
	ctx := context.Background()
	verify(t, m, tok, nil) // note the first use
	// err is the first failure of the Verify calls measured.
	var err error
	n := testing.AllocsPerRun(200, func() {
		if _, e := m.Verify(ctx, tok); e != nil && err == nil {
			err = e
		}
	})
	require.NoError(t, err)
	assert.LessOrEqual(t, n, 1.0, "allocations per Verify")
}

func TestUpdateAppliesFieldsTogether(t *testing.T) {
	clk := newClock()
	m, _ := newManager(t, apikey.Options{Now: clk.Now})
	ctx := context.Background()
	k, tok := create(t, m, apikey.CreateParams{Label: "before"})
	label, inactive := "after", false
	got, err := m.Update(ctx, k.ID, apikey.Update{Label: &label, Active: &inactive})
	require.NoError(t, err)
	assert.Equal(t, "after", got.Label)
	assert.False(t, got.Active, "Update returned an active key")
	verify(t, m, tok, apikey.ErrInactive)

	blank := " "
	_, err = m.Update(ctx, k.ID, apikey.Update{Label: &blank, Active: new(bool)})
	assert.ErrorIs(t, err, apikey.ErrInvalidLabel, "Update with a blank label")
	past := clk.Now().Add(-time.Minute)
	_, err = m.Update(ctx, k.ID, apikey.Update{ExpiresAt: &past})
	assert.ErrorIs(t, err, apikey.ErrInvalidExpiry, "Update to a past expiry")
	got, err = m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, "after", got.Label, "label after refused Updates")
	assert.False(t, got.Active, "refused Updates activated the key")
	assert.Zero(t, got.ExpiresAt, "expiry after refused Updates")
	_, err = m.Update(ctx, uuid.Must(uuid.NewV7()), apikey.Update{Label: &label})
	assert.ErrorIs(t, err, apikey.ErrNotFound, "Update of a missing key")
}

func TestCloneAndRollNeverOutliveTheSource(t *testing.T) {
	clk := newClock()
	m, _ := newManager(t, apikey.Options{Now: clk.Now})
	ctx := context.Background()
	exp := clk.Now().Add(time.Hour)
	src, _ := create(t, m, apikey.CreateParams{ExpiresAt: exp})
	c, ctok, err := m.Clone(ctx, src.ID)
	require.NoError(t, err)
	assert.Equal(t, exp, c.ExpiresAt, "expiry of the clone of an expiring key")
	r, _, err := m.Roll(ctx, src.ID, 24*time.Hour)
	require.NoError(t, err)
	assert.Equal(t, exp, r.ExpiresAt, "expiry of the roll of an expiring key")
	clk.Add(time.Hour)
	verify(t, m, ctok.Reveal(), apikey.ErrExpired) // the clone after the source's expiry
	for name, call := range map[string]func() error{
		"clone": func() error { _, _, err := m.Clone(ctx, src.ID); return err },
		"roll":  func() error { _, _, err := m.Roll(ctx, src.ID, time.Hour); return err },
	} {
		err := call()
		assert.ErrorIs(t, err, apikey.ErrExpired, "%s of an expired key", name)
		assert.ErrorContains(t, err, src.ID.String(), "%s of an expired key must name it", name)
	}
	missing := uuid.Must(uuid.NewV7())
	_, err = m.Get(ctx, missing)
	assert.ErrorIs(t, err, apikey.ErrNotFound, "Get(missing)")
	assert.ErrorContains(t, err, missing.String(), "Get(missing) must name the ID")
}

// logRecords decodes the JSON records a slog.JSONHandler wrote to buf.
func logRecords(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &r), "log line %q", line)
		recs = append(recs, r)
	}
	return recs
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// failingManager returns a Manager logging as JSON to the returned buffer,
// with a key and its token, whose store then fails every Get with an error
// that names the key ID, as a store's error may.
func failingManager(t *testing.T, clk *clock) (*apikey.Manager, *syncBuffer, apikey.Key, string) {
	t.Helper()
	var logs syncBuffer
	m, store := newManager(t, apikey.Options{Now: clk.Now, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	k, tok := create(t, m, apikey.CreateParams{})
	store.FailWhen(apikeytest.MethodGet, func(c apikeytest.Call) error {
		return fmt.Errorf("database disk image is malformed (reading %s)", c.ID)
	})
	return m, &logs, k, tok
}

// assertNoToken checks that no log record holds tok or a part of it that
// would give its secret away.
func assertNoToken(t *testing.T, logs string, tok string) {
	t.Helper()
	body := tok[strings.IndexByte(tok, '_')+1:]
	secret := body[22 : 22+44]
	for _, part := range []string{tok, body, secret, secret[:11], secret[33:]} {
		assert.NotContains(t, logs, part, "the log holds the token or its secret")
	}
}

// TestVerifyLogsStoreFailures is the reproduction of issue 10, item 5: 60
// verifications against a failing store log one record, not 60 and not
// none; once the interval has passed, the next failure logs a record that
// counts the failures left out. The records name the key, never its token.
func TestVerifyLogsStoreFailures(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m, logs, k, tok := failingManager(t, clk)
	fail := func(n int) {
		t.Helper()
		for range n {
			_, err := m.Verify(ctx, tok)
			require.Error(t, err, "Verify with a failing store")
			require.NotErrorIs(t, err, apikey.ErrInvalidKey, "a store failure is not an invalid key")
		}
	}

	fail(60)
	recs := logRecords(t, &logs.b)
	require.Len(t, recs, 1, "records after 60 failures")
	assert.Equal(t, "ERROR", recs[0]["level"])
	assert.Equal(t, k.ID.String(), recs[0]["key_id"])
	assert.Contains(t, recs[0]["err"], "database disk image is malformed", "the record holds the store's error")
	assert.EqualValues(t, 0, recs[0]["suppressed"], "failures left out before the first record")

	clk.Add(apikey.StoreFailureLogInterval - time.Nanosecond)
	fail(1)
	require.Len(t, logRecords(t, &logs.b), 1, "records just before the interval has passed")

	clk.Add(time.Nanosecond)
	fail(1)
	recs = logRecords(t, &logs.b)
	require.Len(t, recs, 2, "records once the interval has passed")
	assert.EqualValues(t, 60, recs[1]["suppressed"], "the second record counts the failures left out")
	assertNoToken(t, logs.b.String(), tok)
}

// TestVerifyLogsNothingButStoreFailures checks that verifications the store
// answers, whatever their outcome, log nothing.
func TestVerifyLogsNothingButStoreFailures(t *testing.T) {
	var logs bytes.Buffer
	m, _ := newManager(t, apikey.Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	k, tok := create(t, m, apikey.CreateParams{})
	off, offTok := create(t, m, apikey.CreateParams{})
	_, err := m.Deactivate(context.Background(), off.ID)
	require.NoError(t, err)
	for _, tt := range []struct {
		name, tok string
		want      error
	}{
		{"valid", tok, nil},
		{"inactive", offTok, apikey.ErrInactive},
		{"malformed", tok[:len(tok)-1], apikey.ErrInvalidKey},
		{"unknown key", apikey.FormatToken("sk", uuid.Must(uuid.NewV7()), [32]byte{1}), apikey.ErrInvalidKey},
		{"wrong secret", apikey.FormatToken("sk", k.ID, [32]byte{1}), apikey.ErrInvalidKey},
	} {
		verify(t, m, tt.tok, tt.want)
		assert.Empty(t, logs.String(), "log after a verification of a %s token", tt.name)
	}
}

// TestVerifyLogsNoFailureWhenTheCallerGaveUp checks that a store giving up
// because the request's context ended is not logged as a store failure, and
// does not use up the log's slot for the next real one.
func TestVerifyLogsNoFailureWhenTheCallerGaveUp(t *testing.T) {
	clk := newClock()
	var logs syncBuffer
	m, store := newManager(t, apikey.Options{Now: clk.Now, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	_, tok := create(t, m, apikey.CreateParams{})
	for _, end := range []func() (context.Context, context.CancelFunc){
		func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
		func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Unix(0, 0))
		},
	} {
		ctx, cancel := end()
		cancel()
		// A store gives up with the context's error, as database/sql does.
		store.FailWhen(apikeytest.MethodGet, func(apikeytest.Call) error { return fmt.Errorf("reading: %w", ctx.Err()) })
		_, err := m.Verify(ctx, tok)
		require.ErrorIs(t, err, ctx.Err(), "Verify with an ended context")
	}
	assert.Empty(t, logs.b.String(), "a caller giving up was logged as a store failure")

	store.FailWhen(apikeytest.MethodGet, func(apikeytest.Call) error { return errors.New("disk I/O error") })
	_, err := m.Verify(context.Background(), tok)
	require.Error(t, err)
	assert.Contains(t, logs.b.String(), "disk I/O error", "the next real failure is logged at once")
}

// TestVerifyStoreFailureLogUnderConcurrency fails verifications from many
// goroutines at once: they log one record between them, and the next
// record counts every other failure.
func TestVerifyStoreFailureLogUnderConcurrency(t *testing.T) {
	const goroutines, each = 8, 50
	clk := newClock()
	m, logs, _, tok := failingManager(t, clk)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := m.Verify(context.Background(), tok); err == nil {
					t.Error("Verify with a failing store succeeded")
				}
			}
		}()
	}
	wg.Wait()
	require.Len(t, logRecords(t, &logs.b), 1, "records after %d concurrent failures", goroutines*each)
	clk.Add(apikey.StoreFailureLogInterval)
	_, err := m.Verify(context.Background(), tok)
	require.Error(t, err)
	recs := logRecords(t, &logs.b)
	require.Len(t, recs, 2, "records once the interval has passed")
	assert.EqualValues(t, goroutines*each-1, recs[1]["suppressed"], "failures left out")
	assertNoToken(t, logs.b.String(), tok)
}

// TestGuardStoreFailureIsLogged is issue 10's item 5 through HTTP: 60
// requests against a failing store get 503, and the Manager's log has one
// record of it.
func TestGuardStoreFailureIsLogged(t *testing.T) {
	clk := newClock()
	m, logs, _, tok := failingManager(t, clk)
	g, err := apikey.NewGuard(m, apikey.GuardOptions{})
	require.NoError(t, err)
	h := g.MustRequire("lists:read")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("the handler ran with a failing store")
	}))
	for i := range 60 {
		req := httptest.NewRequest("GET", "/api/lists", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusServiceUnavailable, rec.Code, "request %d", i+1)
	}
	assert.Len(t, logRecords(t, &logs.b), 1, "records after 60 failed requests")
	assertNoToken(t, logs.b.String(), tok)
}
