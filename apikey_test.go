package apikey_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/memstore"
)

// countingStore wraps a Store and counts the calls the Manager makes.
type countingStore struct {
	apikey.Store
	gets, marks atomic.Int64
	mu          sync.Mutex
	uses        []apikey.Use
	failGet     error
	failMark    error
}

func (s *countingStore) Get(ctx context.Context, id uuid.UUID) (apikey.Key, error) {
	s.gets.Add(1)
	if s.failGet != nil {
		return apikey.Key{}, s.failGet
	}
	return s.Store.Get(ctx, id)
}

func (s *countingStore) MarkUsed(ctx context.Context, uses []apikey.Use) error {
	s.marks.Add(1)
	if s.failMark != nil {
		return s.failMark
	}
	s.mu.Lock()
	s.uses = append(s.uses, uses...)
	s.mu.Unlock()
	return s.Store.MarkUsed(ctx, uses)
}

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

func newManager(t *testing.T, opts apikey.Options) (*apikey.Manager, *countingStore) {
	t.Helper()
	cs := &countingStore{Store: memstore.New()}
	if opts.Store != nil {
		cs.Store = opts.Store
	}
	opts.Store = cs
	m, err := apikey.NewManager(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, cs
}

func create(t *testing.T, m *apikey.Manager, p apikey.CreateParams) (apikey.Key, string) {
	t.Helper()
	if p.Label == "" {
		p.Label = "test key"
	}
	k, tok, err := m.Create(context.Background(), p)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return k, tok.Reveal()
}

func TestCreateReturnsRecordAndTokenOnce(t *testing.T) {
	clk := newClock()
	m, cs := newManager(t, apikey.Options{Now: clk.Now})
	ro := apikey.ReadOnly()
	k, tok, err := m.Create(context.Background(), apikey.CreateParams{Label: "shop integration", Scopes: ro})
	if err != nil {
		t.Fatal(err)
	}
	if k.ID.Version() != 7 {
		t.Errorf("ID %s is UUID version %d, want 7", k.ID, k.ID.Version())
	}
	if k.Label != "shop integration" || !k.Scopes.Equal(ro) || !k.Active || !k.CreatedAt.Equal(clk.Now()) {
		t.Errorf("record = %+v", k)
	}
	if !k.LastUsedAt.IsZero() || !k.ExpiresAt.IsZero() || k.ClonedFrom != uuid.Nil {
		t.Errorf("new key has LastUsedAt %v, ExpiresAt %v, ClonedFrom %v", k.LastUsedAt, k.ExpiresAt, k.ClonedFrom)
	}
	text := tok.Reveal()
	if !strings.HasPrefix(text, "sk_") || k.Hint != "sk_…"+text[len(text)-4:] || tok.String() != k.Hint {
		t.Errorf("token %q, hint %q, String %q", text, k.Hint, tok.String())
	}
	if !k.Digest.IsZero() {
		t.Error("Create returned a record carrying the digest")
	}
	stored, err := cs.Store.Get(context.Background(), k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Digest.Algorithm() != apikey.SHA256 || bytes.Contains(stored.Digest.Bytes(), []byte(text[3:])) {
		t.Errorf("stored digest algorithm %v", stored.Digest.Algorithm())
	}
	for _, get := range []func() (apikey.Key, error){
		func() (apikey.Key, error) { return m.Get(context.Background(), k.ID) },
		func() (apikey.Key, error) { return m.Verify(context.Background(), text) },
		func() (apikey.Key, error) {
			ks, err := m.List(context.Background(), apikey.ListOptions{})
			if err != nil || len(ks) != 1 {
				return apikey.Key{}, err
			}
			return ks[0], nil
		},
	} {
		got, err := get()
		if err != nil || got.ID != k.ID || !got.Digest.IsZero() {
			t.Errorf("read back %s, digest zero %v, err %v", got.ID, got.Digest.IsZero(), err)
		}
	}
}

func TestCreateDefaultsToFullAccess(t *testing.T) {
	m, _ := newManager(t, apikey.Options{})
	k, _ := create(t, m, apikey.CreateParams{Label: "default"})
	if !k.Scopes.IsFullAccess() {
		t.Fatalf("default scopes = %q, want *:write", k.Scopes)
	}
}

func TestCreateRejectsBadInput(t *testing.T) {
	clk := newClock()
	cat, _ := apikey.NewCatalog("lists", "profiles")
	m, cs := newManager(t, apikey.Options{Now: clk.Now, Catalog: cat})
	orders, _ := apikey.ParseScopes("orders:read")
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
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("Create err = %v, want %v", err, tt.want)
			}
			if !tok.IsZero() {
				t.Fatal("a failed Create returned a token")
			}
		})
	}
	if ks, _ := cs.List(context.Background(), apikey.ListOptions{}); len(ks) != 0 {
		t.Fatalf("failed Creates stored %d keys", len(ks))
	}
	if _, _, err := m.Create(context.Background(), apikey.CreateParams{Label: "ok \x00 \"quoted\""}); err != nil {
		t.Fatalf("label with NUL and quotes refused: %v", err)
	}
}

func TestVerifyErrors(t *testing.T) {
	clk := newClock()
	m, cs := newManager(t, apikey.Options{Now: clk.Now})
	ctx := context.Background()
	k, tok := create(t, m, apikey.CreateParams{})
	inactive, inactiveTok := create(t, m, apikey.CreateParams{})
	if _, err := m.Deactivate(ctx, inactive.ID); err != nil {
		t.Fatal(err)
	}
	_, expiringTok := create(t, m, apikey.CreateParams{ExpiresAt: clk.Now().Add(time.Hour)})
	var wrongSecret [32]byte
	wrongSecret[0] = 1
	stored, _ := cs.Store.Get(ctx, k.ID)
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
				if err != nil {
					t.Fatalf("Verify = %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if tt.want == apikey.ErrInvalidKey && err != apikey.ErrInvalidKey {
				t.Fatalf("invalid keys must all return the same error value, got %v", err)
			}
			if got.ID != uuid.Nil {
				t.Fatalf("failed Verify returned key %s", got.ID)
			}
		})
	}
}

func TestVerifyRejectsMalformedWithoutStoreLookup(t *testing.T) {
	m, cs := newManager(t, apikey.Options{})
	_, tok := create(t, m, apikey.CreateParams{})
	before := cs.gets.Load()
	for _, bad := range []string{"", "sk_", tok[:len(tok)-1], tok + "0", tok[:20] + "!" + tok[21:]} {
		if _, err := m.Verify(context.Background(), bad); !errors.Is(err, apikey.ErrInvalidKey) {
			t.Fatalf("Verify(%q) = %v", bad, err)
		}
	}
	if n := cs.gets.Load() - before; n != 0 {
		t.Fatalf("malformed tokens caused %d store lookups", n)
	}
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
			if _, err := m.Verify(context.Background(), mutated); !errors.Is(err, apikey.ErrInvalidKey) {
				t.Fatalf("token with position %d changed to %q: Verify = %v", i, c, err)
			}
		}
	}
	if tried < len(tok)*60 {
		t.Fatalf("only %d mutations tried", tried)
	}
}

func TestVerifyStoreFailureFailsClosed(t *testing.T) {
	m, cs := newManager(t, apikey.Options{})
	_, tok := create(t, m, apikey.CreateParams{})
	boom := errors.New("disk on fire")
	cs.failGet = boom
	k, err := m.Verify(context.Background(), tok)
	if err == nil || !errors.Is(err, boom) || errors.Is(err, apikey.ErrInvalidKey) || k.ID != uuid.Nil {
		t.Fatalf("Verify with failing store = %v, %v; want the store error, no key", k.ID, err)
	}
}

func TestStatusToggleRenameDelete(t *testing.T) {
	m, _ := newManager(t, apikey.Options{})
	ctx := context.Background()
	k, tok := create(t, m, apikey.CreateParams{Label: "before"})
	steps := []struct {
		name string
		do   func() error
		want error
	}{
		{"deactivate", func() error { _, err := m.Deactivate(ctx, k.ID); return err }, apikey.ErrInactive},
		{"deactivate again is a no-op", func() error { _, err := m.Deactivate(ctx, k.ID); return err }, apikey.ErrInactive},
		{"reactivate", func() error { _, err := m.Activate(ctx, k.ID); return err }, nil},
		{"rename keeps it working", func() error {
			r, err := m.Rename(ctx, k.ID, "after")
			if err == nil && r.Label != "after" {
				t.Fatalf("Rename returned label %q", r.Label)
			}
			return err
		}, nil},
		{"delete", func() error { return m.Delete(ctx, k.ID) }, apikey.ErrInvalidKey},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := s.do(); err != nil {
				t.Fatal(err)
			}
			_, err := m.Verify(ctx, tok)
			if s.want == nil && err != nil || s.want != nil && !errors.Is(err, s.want) {
				t.Fatalf("Verify after %s = %v, want %v", s.name, err, s.want)
			}
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
		if err := call(); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("%s of a missing key = %v, want ErrNotFound", name, err)
		}
	}
	if _, err := m.Rename(ctx, k.ID, ""); !errors.Is(err, apikey.ErrInvalidLabel) {
		t.Errorf("Rename to blank = %v", err)
	}
}

func TestClone(t *testing.T) {
	m, _ := newManager(t, apikey.Options{})
	ctx := context.Background()
	sc, _ := apikey.ParseScopes("campaigns:read,lists:write")
	orig, origTok := create(t, m, apikey.CreateParams{Label: "shop", Scopes: sc})
	c, ctok, err := m.Clone(ctx, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == orig.ID || ctok.Reveal() == origTok || c.Label != "shop" || !c.Scopes.Equal(sc) || c.ClonedFrom != orig.ID || !c.Active {
		t.Fatalf("clone = %+v", c)
	}
	for _, tok := range []string{origTok, ctok.Reveal()} {
		if _, err := m.Verify(ctx, tok); err != nil {
			t.Fatalf("Verify after clone: %v", err)
		}
	}
	if _, err := m.Deactivate(ctx, orig.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(ctx, ctok.Reveal()); err != nil {
		t.Fatalf("deactivating the original stopped the clone: %v", err)
	}
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
			p := apikey.CreateParams{}
			if tt.origExpiresIn > 0 {
				p.ExpiresAt = clk.Now().Add(tt.origExpiresIn)
			}
			orig, origTok := create(t, m, p)
			nk, ntok, err := m.Roll(ctx, orig.ID, tt.grace)
			if err != nil {
				t.Fatal(err)
			}
			if nk.ClonedFrom != orig.ID || !nk.ExpiresAt.Equal(p.ExpiresAt) {
				t.Fatalf("rolled key expires %v, want the original's former expiry %v", nk.ExpiresAt, p.ExpiresAt)
			}
			clk.Add(tt.checkAt)
			if _, err := m.Verify(ctx, origTok); tt.wantOrig == nil && err != nil || tt.wantOrig != nil && !errors.Is(err, tt.wantOrig) {
				t.Fatalf("original Verify = %v, want %v", err, tt.wantOrig)
			}
			if _, err := m.Verify(ctx, ntok.Reveal()); tt.wantNew == nil && err != nil || tt.wantNew != nil && !errors.Is(err, tt.wantNew) {
				t.Fatalf("new key Verify = %v, want %v", err, tt.wantNew)
			}
		})
	}
	m, _ := newManager(t, apikey.Options{})
	k, _ := create(t, m, apikey.CreateParams{})
	if _, _, err := m.Roll(ctx, k.ID, -time.Second); err == nil {
		t.Fatal("Roll with negative grace succeeded")
	}
}

func TestUsageWritesAtMostOncePerKeyPerInterval(t *testing.T) {
	clk := newClock()
	m, cs := newManager(t, apikey.Options{Now: clk.Now, UsageInterval: time.Minute})
	ctx := context.Background()
	a, atok := create(t, m, apikey.CreateParams{})
	b, btok := create(t, m, apikey.CreateParams{})
	verify := func(tok string, n int) {
		for range n {
			if _, err := m.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
	}
	flush := func() []apikey.Use {
		cs.mu.Lock()
		cs.uses = nil
		cs.mu.Unlock()
		if err := m.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		cs.mu.Lock()
		defer cs.mu.Unlock()
		return cs.uses
	}

	verify(atok, 100)
	clk.Add(time.Second)
	verify(atok, 100)
	verify(btok, 3)
	uses := flush()
	if len(uses) != 2 || cs.marks.Load() != 1 {
		t.Fatalf("first flush wrote %d uses in %d calls, want 2 uses (one per key) in 1 call", len(uses), cs.marks.Load())
	}
	got, _ := m.Get(ctx, a.ID)
	if got.LastUsedAt.IsZero() || clk.Now().Sub(got.LastUsedAt) >= time.Minute {
		t.Fatalf("LastUsedAt = %v, want within the interval before %v", got.LastUsedAt, clk.Now())
	}

	clk.Add(30 * time.Second) // within the interval of the recorded use
	verify(atok, 50)
	if uses := flush(); len(uses) != 0 {
		t.Fatalf("use within the interval wrote %d uses", len(uses))
	}

	clk.Add(31 * time.Second) // a minute after the recorded use
	verify(atok, 50)
	uses = flush()
	if len(uses) != 1 || uses[0].ID != a.ID {
		t.Fatalf("after the interval flush wrote %v, want one use of %s", uses, a.ID)
	}
	if err := m.Delete(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatalf("Flush with nothing pending: %v", err)
	}
}

func TestCloseFlushesPendingUse(t *testing.T) {
	clk := newClock()
	m, cs := newManager(t, apikey.Options{Now: clk.Now})
	k, tok := create(t, m, apikey.CreateParams{})
	if _, err := m.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	got, _ := cs.Store.Get(context.Background(), k.ID)
	if !got.LastUsedAt.Equal(clk.Now()) {
		t.Fatalf("LastUsedAt after Close = %v, want %v", got.LastUsedAt, clk.Now())
	}
	if _, err := m.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify after Close: %v", err)
	}
}

func TestUsageTrackingDisabled(t *testing.T) {
	m, cs := newManager(t, apikey.Options{UsageInterval: -1})
	_, tok := create(t, m, apikey.CreateParams{})
	m.Verify(context.Background(), tok)
	m.Close()
	if cs.marks.Load() != 0 {
		t.Fatalf("disabled tracking wrote %d times", cs.marks.Load())
	}
}

func TestHashAlgorithms(t *testing.T) {
	ctx := context.Background()
	pepper := bytes.Repeat([]byte{7}, 32)
	store := memstore.New()
	cheapArgon := apikey.Argon2Params{Time: 1, Memory: 64, Threads: 1}
	mk := func(opts apikey.Options) *apikey.Manager {
		opts.Store, opts.UsageInterval = store, -1
		m, err := apikey.NewManager(opts)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	plain := mk(apikey.Options{})
	peppered := mk(apikey.Options{Hash: apikey.HMACSHA256, Pepper: pepper})
	otherPepper := mk(apikey.Options{Hash: apikey.HMACSHA256, Pepper: bytes.Repeat([]byte{8}, 32)})
	argon := mk(apikey.Options{Hash: apikey.Argon2id, Argon2: cheapArgon})

	_, shaTok, _ := plain.Create(ctx, apikey.CreateParams{Label: "sha"})
	_, hmacTok, _ := peppered.Create(ctx, apikey.CreateParams{Label: "hmac"})
	_, argonTok, _ := argon.Create(ctx, apikey.CreateParams{Label: "argon"})
	tests := []struct {
		name string
		m    *apikey.Manager
		tok  apikey.Token
		ok   bool
	}{
		{"sha256 by default manager", plain, shaTok, true},
		{"sha256 key after switching to hmac", peppered, shaTok, true},
		{"hmac with its pepper", peppered, hmacTok, true},
		{"hmac without a pepper fails closed", plain, hmacTok, false},
		{"hmac with another pepper", otherPepper, hmacTok, false},
		{"argon2id", argon, argonTok, true},
		{"argon2id from another manager", plain, argonTok, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.m.Verify(ctx, tt.tok.Reveal())
			if tt.ok != (err == nil) || !tt.ok && !errors.Is(err, apikey.ErrInvalidKey) {
				t.Fatalf("Verify = %v, want ok=%v", err, tt.ok)
			}
		})
	}
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
			if m, err := apikey.NewManager(opts); err == nil {
				m.Close()
				t.Fatal("NewManager succeeded")
			}
		})
	}
}

func TestPrefixSeparatesApplications(t *testing.T) {
	s := memstore.New()
	live, _ := apikey.NewManager(apikey.Options{Store: s, Prefix: "sk_live"})
	test, _ := apikey.NewManager(apikey.Options{Store: s, Prefix: "sk_test"})
	defer live.Close()
	defer test.Close()
	_, tok, err := live.Create(context.Background(), apikey.CreateParams{Label: "live"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.Reveal(), "sk_live_") {
		t.Fatalf("token %q lacks the prefix", tok.Reveal())
	}
	if _, err := test.Verify(context.Background(), tok.Reveal()); !errors.Is(err, apikey.ErrInvalidKey) {
		t.Fatalf("live token verified by the test manager: %v", err)
	}
}

func TestVerifyAllocations(t *testing.T) {
	m, _ := newManager(t, apikey.Options{})
	_, tok := create(t, m, apikey.CreateParams{})
	ctx := context.Background()
	m.Verify(ctx, tok) // note the first use
	if n := testing.AllocsPerRun(200, func() {
		if _, err := m.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Fatalf("Verify allocates %v times, want at most 1", n)
	}
}

func TestUsageRecordsEveryKeyDespiteFilterCollisions(t *testing.T) {
	clk := newClock()
	m, cs := newManager(t, apikey.Options{Now: clk.Now})
	ctx := context.Background()
	const n = 3000 // more keys than the pending filter has slots
	toks := make([]string, n)
	for i := range toks {
		_, toks[i] = create(t, m, apikey.CreateParams{})
	}
	for range 2 {
		for _, tok := range toks {
			if _, err := m.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ks, _ := m.List(ctx, apikey.ListOptions{})
	for _, k := range ks {
		if k.LastUsedAt.IsZero() {
			t.Fatalf("key %s was verified but has no LastUsedAt", k.ID)
		}
	}
	if len(cs.uses) != n {
		t.Fatalf("flush wrote %d uses for %d keys", len(cs.uses), n)
	}
}

func TestUpdateAppliesFieldsTogether(t *testing.T) {
	clk := newClock()
	m, _ := newManager(t, apikey.Options{Now: clk.Now})
	ctx := context.Background()
	k, tok := create(t, m, apikey.CreateParams{Label: "before"})
	label, inactive := "after", false
	got, err := m.Update(ctx, k.ID, apikey.Update{Label: &label, Active: &inactive})
	if err != nil || got.Label != "after" || got.Active || !got.Digest.IsZero() {
		t.Fatalf("Update = %+v, %v", got, err)
	}
	if _, err := m.Verify(ctx, tok); !errors.Is(err, apikey.ErrInactive) {
		t.Fatalf("Verify after Update = %v", err)
	}
	blank := " "
	if _, err := m.Update(ctx, k.ID, apikey.Update{Label: &blank, Active: new(bool)}); !errors.Is(err, apikey.ErrInvalidLabel) {
		t.Fatalf("Update with a blank label = %v", err)
	}
	past := clk.Now().Add(-time.Minute)
	if _, err := m.Update(ctx, k.ID, apikey.Update{ExpiresAt: &past}); !errors.Is(err, apikey.ErrInvalidExpiry) {
		t.Fatal("Update to a past expiry succeeded")
	}
	if got, _ := m.Get(ctx, k.ID); got.Label != "after" || got.Active || !got.ExpiresAt.IsZero() {
		t.Fatalf("refused Updates changed the key: %+v", got)
	}
	if _, err := m.Update(ctx, uuid.Must(uuid.NewV7()), apikey.Update{Label: &label}); !errors.Is(err, apikey.ErrNotFound) {
		t.Fatalf("Update of a missing key = %v", err)
	}
}

func TestCloneAndRollNeverOutliveTheSource(t *testing.T) {
	clk := newClock()
	m, _ := newManager(t, apikey.Options{Now: clk.Now})
	ctx := context.Background()
	exp := clk.Now().Add(time.Hour)
	src, _ := create(t, m, apikey.CreateParams{ExpiresAt: exp})
	c, ctok, err := m.Clone(ctx, src.ID)
	if err != nil || !c.ExpiresAt.Equal(exp) {
		t.Fatalf("Clone of an expiring key: expires %v, %v; want %v", c.ExpiresAt, err, exp)
	}
	r, _, err := m.Roll(ctx, src.ID, 24*time.Hour)
	if err != nil || !r.ExpiresAt.Equal(exp) {
		t.Fatalf("Roll of an expiring key: expires %v, %v; want %v", r.ExpiresAt, err, exp)
	}
	clk.Add(time.Hour)
	if _, err := m.Verify(ctx, ctok.Reveal()); !errors.Is(err, apikey.ErrExpired) {
		t.Fatalf("clone after the source's expiry: %v", err)
	}
	for name, call := range map[string]func() error{
		"clone": func() error { _, _, err := m.Clone(ctx, src.ID); return err },
		"roll":  func() error { _, _, err := m.Roll(ctx, src.ID, time.Hour); return err },
	} {
		if err := call(); !errors.Is(err, apikey.ErrExpired) || !strings.Contains(err.Error(), src.ID.String()) {
			t.Errorf("%s of an expired key = %v, want ErrExpired naming the key", name, err)
		}
	}
	missing := uuid.Must(uuid.NewV7())
	if _, err := m.Get(ctx, missing); !errors.Is(err, apikey.ErrNotFound) || !strings.Contains(err.Error(), missing.String()) {
		t.Errorf("Get(missing) = %v, want ErrNotFound naming the ID", err)
	}
}

func TestFailedFlushIsRetried(t *testing.T) {
	clk := newClock()
	m, cs := newManager(t, apikey.Options{Now: clk.Now})
	ctx := context.Background()
	k, tok := create(t, m, apikey.CreateParams{})
	if _, err := m.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	cs.failMark = errors.New("disk full")
	if err := m.Flush(ctx); err == nil || !errors.Is(err, cs.failMark) {
		t.Fatalf("Flush with a failing store = %v", err)
	}
	cs.failMark = nil
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Get(ctx, k.ID); !got.LastUsedAt.Equal(clk.Now()) {
		t.Fatalf("LastUsedAt after the retried flush = %v, want %v", got.LastUsedAt, clk.Now())
	}
}
