package apikey_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/keyscope/apikey/memstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cacheFixture is a Manager over a counting store (memstore unless
// opts.Store is set), driven by a settable clock.
type cacheFixture struct {
	store *apikeytest.FaultStore
	clock *clock
	m     *apikey.Manager
}

// newCacheFixture returns a cacheFixture for opts; usage tracking is off
// unless opts.UsageInterval is set.
func newCacheFixture(t *testing.T, opts apikey.Options) *cacheFixture {
	t.Helper()
	f := &cacheFixture{clock: newClock()}
	opts.Now = f.clock.Now
	if opts.UsageInterval == 0 {
		opts.UsageInterval = -1
	}
	f.m, f.store = newManager(t, opts)
	return f
}

func (f *cacheFixture) create(t *testing.T, label string) (apikey.Key, string) {
	t.Helper()
	return create(t, f.m, apikey.CreateParams{Label: label})
}

// gets returns how many times the fixture's Manager has read its store.
func (f *cacheFixture) gets() int { return f.store.Calls(apikeytest.MethodGet) }

func randomSecret(t *testing.T) (s [32]byte) {
	t.Helper()
	_, err := rand.Read(s[:])
	require.NoError(t, err)
	return s
}

func TestCacheServesRepeatedVerifications(t *testing.T) {
	f := newCacheFixture(t, apikey.Options{CacheTTL: 10 * time.Second})
	_, tok := f.create(t, "cached")
	for range 100 {
		verify(t, f.m, tok, nil)
	}
	assert.Equal(t, 1, f.gets(), "store reads of 100 verifications")
	f.clock.Add(10*time.Second - time.Microsecond)
	verify(t, f.m, tok, nil)
	assert.Equal(t, 1, f.gets(), "store reads after a verification just inside the TTL")
	f.clock.Add(time.Microsecond)
	verify(t, f.m, tok, nil)
	assert.Equal(t, 2, f.gets(), "store reads after a verification at the TTL")
}

func TestCacheDisabledReadsStoreEveryTime(t *testing.T) {
	f := newCacheFixture(t, apikey.Options{CacheTTL: -1})
	_, tok := f.create(t, "uncached")
	for range 10 {
		verify(t, f.m, tok, nil)
	}
	assert.Equal(t, 10, f.gets(), "store reads of 10 verifications without cache")
}

func TestCacheDefaults(t *testing.T) {
	f := newCacheFixture(t, apikey.Options{})
	_, tok := f.create(t, "defaults")
	verify(t, f.m, tok, nil)
	f.clock.Add(apikey.DefaultCacheTTL - time.Nanosecond)
	verify(t, f.m, tok, nil)
	assert.Equal(t, 1, f.gets(), "store reads: the cache must be on by default for %v", apikey.DefaultCacheTTL)
	_, err := apikey.NewManager(apikey.Options{Store: memstore.New(), CacheSize: -1})
	assert.ErrorContains(t, err, "CacheSize", "NewManager with CacheSize -1 must fail naming CacheSize")
}

// TestCacheChangesThroughManagerTakeEffectAtOnce warms the cache, changes
// the key through the same Manager, and verifies again at the same instant.
func TestCacheChangesThroughManagerTakeEffectAtOnce(t *testing.T) {
	ctx := context.Background()
	tokens := map[string]string{} // label -> token
	cases := []struct {
		name   string
		change func(m *apikey.Manager, id uuid.UUID) error
		want   error
		check  func(t *testing.T, k apikey.Key)
	}{
		{"Deactivate", func(m *apikey.Manager, id uuid.UUID) error {
			_, err := m.Deactivate(ctx, id)
			return err
		}, apikey.ErrInactive, nil},
		{"Activate", func(m *apikey.Manager, id uuid.UUID) error {
			// Cache the inactive record first.
			if _, err := m.Deactivate(ctx, id); err != nil {
				return err
			}
			k, err := m.Get(ctx, id)
			if err != nil {
				return err
			}
			if _, err := m.Verify(ctx, tokens[k.Label]); !errors.Is(err, apikey.ErrInactive) {
				return fmt.Errorf("verify after deactivate = %v, want ErrInactive", err)
			}
			_, err = m.Activate(ctx, id)
			return err
		}, nil, nil},
		{"Delete", func(m *apikey.Manager, id uuid.UUID) error {
			return m.Delete(ctx, id)
		}, apikey.ErrInvalidKey, nil},
		{"Roll", func(m *apikey.Manager, id uuid.UUID) error {
			_, _, err := m.Roll(ctx, id, 0)
			return err
		}, apikey.ErrExpired, nil},
		{"Rename", func(m *apikey.Manager, id uuid.UUID) error {
			_, err := m.Rename(ctx, id, "renamed")
			return err
		}, nil, func(t *testing.T, k apikey.Key) {
			assert.Equal(t, "renamed", k.Label, "label Verify returned after Rename")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newCacheFixture(t, apikey.Options{CacheTTL: time.Hour})
			k, tok := f.create(t, tc.name)
			tokens[tc.name] = tok
			verify(t, f.m, tok, nil)
			verify(t, f.m, tok, nil) // served from the cache
			require.NoError(t, tc.change(f.m, k.ID))
			got := verify(t, f.m, tok, tc.want)
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

// TestCacheChangesElsewhereTakeEffectWithinTTL changes a key through a
// second Manager on the same store, as another process would.
func TestCacheChangesElsewhereTakeEffectWithinTTL(t *testing.T) {
	const ttl = 3 * time.Second
	f := newCacheFixture(t, apikey.Options{CacheTTL: ttl})
	other := apikeytest.NewManager(t, apikey.Options{Store: f.store, UsageInterval: -1})
	k, tok := f.create(t, "shared")
	verify(t, f.m, tok, nil)
	_, err := other.Deactivate(context.Background(), k.ID)
	require.NoError(t, err)
	f.clock.Add(ttl - time.Millisecond)
	verify(t, f.m, tok, nil) // still cached: the documented staleness
	f.clock.Add(time.Millisecond)
	verify(t, f.m, tok, apikey.ErrInactive)
}

// TestCacheShowsUsageFlushedByThisManager checks that a cached record
// shows the last use this Manager wrote, as an uncached one would.
func TestCacheShowsUsageFlushedByThisManager(t *testing.T) {
	f := newCacheFixture(t, apikey.Options{CacheTTL: time.Hour, UsageInterval: time.Hour})
	_, tok := f.create(t, "used")
	assert.Zero(t, verify(t, f.m, tok, nil).LastUsedAt, "LastUsedAt of the first verification")
	used := f.clock.Now()
	require.NoError(t, f.m.Flush(context.Background()))
	f.clock.Add(time.Minute)
	assert.Equal(t, used, verify(t, f.m, tok, nil).LastUsedAt, "LastUsedAt of a verification after Flush")
	assert.Equal(t, 1, f.gets(), "store reads")
}

func TestCacheStillChecksExpiryAndSecret(t *testing.T) {
	f := newCacheFixture(t, apikey.Options{CacheTTL: time.Hour})
	k, tok := create(t, f.m, apikey.CreateParams{Label: "expiring", ExpiresAt: f.clock.Now().Add(time.Minute)})
	verify(t, f.m, tok, nil)
	wrong := apikey.FormatToken(apikey.DefaultPrefix, k.ID, randomSecret(t))
	verify(t, f.m, wrong, apikey.ErrInvalidKey)
	f.clock.Add(time.Minute)
	verify(t, f.m, tok, apikey.ErrExpired)
	verify(t, f.m, wrong, apikey.ErrInvalidKey)
	assert.Equal(t, 1, f.gets(), "store reads: the checks must be made on the cached record")
}

// TestCacheHoldsNoSecret walks everything the cache holds, by reflection,
// looking for the token or its secret.
func TestCacheHoldsNoSecret(t *testing.T) {
	for _, hash := range []apikey.HashAlgorithm{apikey.SHA256, apikey.HMACSHA256, apikey.Argon2id} {
		t.Run(hash.String(), func(t *testing.T) {
			f := newCacheFixture(t, apikey.Options{Hash: hash, Pepper: bytes.Repeat([]byte{7}, 32),
				Argon2: apikey.Argon2Params{Time: 1, Memory: 64}})
			secret := randomSecret(t)
			id := uuid.Must(uuid.NewV7())
			rec, err := f.m.CacheTestRecord(id, secret, "inspected")
			require.NoError(t, err)
			require.NoError(t, f.store.Create(context.Background(), rec))
			tok := apikey.FormatToken(apikey.DefaultPrefix, id, secret)
			verify(t, f.m, tok, nil)
			keys, _ := f.m.CacheTestLen()
			require.Equal(t, 1, keys, "records in the cache")
			var found []string
			walk(reflect.ValueOf(f.m.CacheTestContents()), "cache", map[uintptr]bool{}, func(path string, b []byte) {
				if bytes.Contains(b, secret[:]) || bytes.Contains(b, []byte(tok)) || bytes.Contains(b, []byte(tok[3:50])) {
					found = append(found, path)
				}
			})
			assert.Empty(t, found, "places where the cache holds the secret or token")
		})
	}
}

// walk calls visit with the bytes of every string, byte slice and byte
// array reachable from v.
func walk(v reflect.Value, path string, seen map[uintptr]bool, visit func(string, []byte)) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true
		walk(v.Elem(), path, seen, visit)
	case reflect.Interface:
		if !v.IsNil() {
			walk(v.Elem(), path, seen, visit)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			walk(v.Field(i), path+"."+v.Type().Field(i).Name, seen, visit)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			walk(it.Key(), path+"[key]", seen, visit)
			walk(it.Value(), path+"[value]", seen, visit)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			for i := range b {
				b[i] = byte(v.Index(i).Uint())
			}
			visit(path, b)
			return
		}
		for i := range v.Len() {
			walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i), seen, visit)
		}
	case reflect.String:
		visit(path, []byte(v.String()))
	}
}

func TestCacheRemembersUnknownIDsBriefly(t *testing.T) {
	ctx := context.Background()
	f := newCacheFixture(t, apikey.Options{CacheTTL: time.Hour, NegativeCacheTTL: 2 * time.Second})
	secret, id := randomSecret(t), uuid.Must(uuid.NewV7())
	tok := apikey.FormatToken(apikey.DefaultPrefix, id, secret)
	for range 50 {
		verify(t, f.m, tok, apikey.ErrInvalidKey)
	}
	assert.Equal(t, 1, f.gets(), "store reads of 50 verifications of an unknown ID")
	// The key appears behind the Manager's back, as if another process
	// had created it: the remembered "unknown" holds until its TTL.
	rec, err := f.m.CacheTestRecord(id, secret, "late")
	require.NoError(t, err)
	require.NoError(t, f.store.Create(ctx, rec))
	verify(t, f.m, tok, apikey.ErrInvalidKey)
	f.clock.Add(2 * time.Second)
	verify(t, f.m, tok, nil)
}

func TestCacheNegativeDisabled(t *testing.T) {
	f := newCacheFixture(t, apikey.Options{NegativeCacheTTL: -1})
	tok := apikey.FormatToken(apikey.DefaultPrefix, uuid.Must(uuid.NewV7()), randomSecret(t))
	for range 5 {
		verify(t, f.m, tok, apikey.ErrInvalidKey)
	}
	assert.Equal(t, 5, f.gets(), "store reads of 5 verifications")
}

// TestCacheFloodOfUnknownIDsKeepsRealKeys verifies many made-up IDs and
// checks that the cache stays bounded and real keys stay cached.
func TestCacheFloodOfUnknownIDsKeepsRealKeys(t *testing.T) {
	for _, tc := range []struct{ size, real int }{
		{1, 1},    // one shard, full
		{256, 16}, // few enough real keys that no shard overflows with them
	} {
		t.Run(fmt.Sprint("size ", tc.size), func(t *testing.T) {
			f := newCacheFixture(t, apikey.Options{CacheSize: tc.size, CacheTTL: time.Hour, NegativeCacheTTL: time.Hour})
			var toks []string
			for i := range tc.real {
				_, tok := f.create(t, fmt.Sprint("real ", i))
				verify(t, f.m, tok, nil)
				toks = append(toks, tok)
			}
			for range 20 * tc.size {
				fake := apikey.FormatToken(apikey.DefaultPrefix, uuid.Must(uuid.NewV7()), randomSecret(t))
				verify(t, f.m, fake, apikey.ErrInvalidKey)
			}
			keys, missing := f.m.CacheTestLen()
			assert.LessOrEqual(t, keys, tc.size, "records in the cache")
			assert.LessOrEqual(t, missing, max(1, tc.size/4), "unknown IDs in the cache")
			before := f.gets()
			for _, tok := range toks {
				verify(t, f.m, tok, nil)
			}
			assert.Equal(t, before, f.gets(), "store reads after a flood of unknown IDs: real keys must stay cached")
		})
	}
}

func TestCacheIsBounded(t *testing.T) {
	for _, size := range []int{1, 5, 64, 100} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			f := newCacheFixture(t, apikey.Options{CacheSize: size, CacheTTL: time.Hour})
			var toks []string
			for i := range 4*size + 10 {
				_, tok := f.create(t, fmt.Sprint("key ", i))
				toks = append(toks, tok)
				verify(t, f.m, tok, nil)
				keys, _ := f.m.CacheTestLen()
				require.LessOrEqual(t, keys, size, "records in the cache, bounded by CacheSize")
			}
			for _, tok := range toks { // evicted keys still verify
				verify(t, f.m, tok, nil)
			}
			keys, _ := f.m.CacheTestLen()
			assert.NotZero(t, keys, "records in the cache after verifications")
		})
	}
}

// TestCacheUnknownIDDoesNotShadowCreate remembers a new key's ID as unknown
// while Create is storing it, which only a guess of the ID could do, and
// checks that the new key verifies at once anyway.
func TestCacheUnknownIDDoesNotShadowCreate(t *testing.T) {
	f := newCacheFixture(t, apikey.Options{CacheTTL: time.Hour, NegativeCacheTTL: time.Hour})
	ctx := context.Background()
	src, _ := f.create(t, "source")
	mints := map[string]func() (apikey.Key, apikey.Token, error){
		"Create": func() (apikey.Key, apikey.Token, error) {
			return f.m.Create(ctx, apikey.CreateParams{Label: "new"})
		},
		"Clone": func() (apikey.Key, apikey.Token, error) { return f.m.Clone(ctx, src.ID) },
		"Roll":  func() (apikey.Key, apikey.Token, error) { return f.m.Roll(ctx, src.ID, time.Hour) },
	}
	for name, mint := range mints {
		t.Run(name, func(t *testing.T) {
			// Before the new record is stored, verify a token guessing its ID.
			f.store.FailWhen(apikeytest.MethodCreate, func(c apikeytest.Call) error {
				fake := apikey.FormatToken(apikey.DefaultPrefix, c.ID, [32]byte{1})
				_, err := f.m.Verify(ctx, fake)
				assert.ErrorIs(t, err, apikey.ErrInvalidKey, "Verify of the new ID before it is stored")
				return nil
			})
			defer f.store.FailWhen(apikeytest.MethodCreate, nil)
			_, tok, err := mint()
			require.NoError(t, err)
			require.NotZero(t, f.gets(), "the guessed ID was never looked up")
			verify(t, f.m, tok.Reveal(), nil)
		})
	}
}

// blockingStore lets a test hold a Get between reading the store and
// returning, to interleave a change with a verification.
type blockingStore struct {
	apikey.Store
	mu    sync.Mutex
	hold  bool
	read  chan struct{} // Get has read the record
	leave chan struct{} // Get may return
}

func (s *blockingStore) Get(ctx context.Context, id uuid.UUID) (apikey.Key, error) {
	k, err := s.Store.Get(ctx, id)
	s.mu.Lock()
	hold := s.hold
	s.hold = false
	s.mu.Unlock()
	if hold {
		s.read <- struct{}{}
		<-s.leave
	}
	return k, err
}

func (s *blockingStore) holdNextGet() {
	s.mu.Lock()
	s.hold = true
	s.mu.Unlock()
}

// TestCacheStaleFillDoesNotResurrect runs a Verify that reads an active
// record from the store, then lets Deactivate (or Delete) complete before
// the Verify puts what it read into the cache. The next Verify must see the
// change.
func TestCacheStaleFillDoesNotResurrect(t *testing.T) {
	ctx := context.Background()
	changes := map[string]struct {
		change func(m *apikey.Manager, id uuid.UUID) error
		want   error
	}{
		"Deactivate": {func(m *apikey.Manager, id uuid.UUID) error { _, err := m.Deactivate(ctx, id); return err }, apikey.ErrInactive},
		"Delete":     {func(m *apikey.Manager, id uuid.UUID) error { return m.Delete(ctx, id) }, apikey.ErrInvalidKey},
		"Roll":       {func(m *apikey.Manager, id uuid.UUID) error { _, _, err := m.Roll(ctx, id, 0); return err }, apikey.ErrExpired},
	}
	for name, tc := range changes {
		t.Run(name, func(t *testing.T) {
			store := &blockingStore{Store: memstore.New(), read: make(chan struct{}), leave: make(chan struct{})}
			f := newCacheFixture(t, apikey.Options{Store: store, CacheTTL: time.Hour})
			k, tok := f.create(t, "raced")
			store.holdNextGet()
			done := make(chan error)
			go func() {
				_, err := f.m.Verify(ctx, tok)
				done <- err
			}()
			<-store.read // the Verify holds the active record
			require.NoError(t, tc.change(f.m, k.ID))
			close(store.leave) // now it tries to cache it
			require.NoError(t, <-done, "the racing Verify, which read before the change")
			verify(t, f.m, tok, tc.want)
		})
	}
}

func TestArgon2idRunsOncePerCachedRecord(t *testing.T) {
	clk := newClock()
	m, _ := newManager(t, apikey.Options{Now: clk.Now, Hash: apikey.Argon2id, Argon2: apikey.Argon2Params{Time: 1, Memory: 64}})
	ctx := context.Background()
	k, tok := create(t, m, apikey.CreateParams{})
	var wrong [32]byte
	forged := apikey.FormatToken("sk", k.ID, wrong)
	steps := []struct {
		name     string
		do       func()
		token    string
		wantErr  error
		wantSlow int64
	}{
		{"first verification computes Argon2id", nil, tok, nil, 1},
		{"repeats compare the proof", nil, tok, nil, 1},
		{"a wrong secret fails on the proof", nil, forged, apikey.ErrInvalidKey, 1},
		{"a change drops the proof", func() { m.Rename(ctx, k.ID, "renamed") }, tok, nil, 2},
		{"and the new proof serves again", nil, tok, nil, 2},
		{"the TTL drops it too", func() { clk.Add(apikey.DefaultCacheTTL) }, forged, apikey.ErrInvalidKey, 3},
		{"a failed check leaves no proof", nil, tok, nil, 4},
	}
	for _, s := range steps {
		if s.do != nil {
			s.do()
		}
		_, err := m.Verify(ctx, s.token)
		if s.wantErr == nil {
			require.NoError(t, err, s.name)
		} else {
			require.ErrorIs(t, err, s.wantErr, s.name)
		}
		require.Equal(t, s.wantSlow, apikey.SlowChecks(m), "%s: Argon2id computations", s.name)
	}
}

func TestArgon2idWithoutCacheChecksEveryTime(t *testing.T) {
	m, _ := newManager(t, apikey.Options{CacheTTL: -1, Hash: apikey.Argon2id, Argon2: apikey.Argon2Params{Time: 1, Memory: 64}})
	_, tok := create(t, m, apikey.CreateParams{})
	for i := range 3 {
		verify(t, m, tok, nil)
		assert.Equal(t, int64(i+1), apikey.SlowChecks(m), "Argon2id computations after %d verifications", i+1)
	}
}

// TestArgon2idFloodForOneKeyHoldsOneSlot is issue 10's item 6 without
// timing: 16 forged verifications of one key ID at once hold one global
// slot, the others waiting for that key's turn, so that another key's first
// verification still gets a slot; a waiter whose context ends gives up; and
// once the flood has passed, no state is left for the key.
func TestArgon2idFloodForOneKeyHoldsOneSlot(t *testing.T) {
	const flood = 16
	m, _ := newManager(t, apikey.Options{Hash: apikey.Argon2id, Argon2: cheapArgon2})
	apikey.SetSlowSlots(m, 2)
	target, _ := create(t, m, apikey.CreateParams{Label: "flooded"})
	_, otherTok := create(t, m, apikey.CreateParams{Label: "other"})
	forged := apikey.FormatToken("sk", target.ID, [32]byte{1})

	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) }) // before the Manager closes
	arrived := make(chan string, 2*flood)                           // "computing" or "waiting", for the target
	var computing, maxComputing atomic.Int32
	apikey.SetSlowHooks(m, apikey.SlowHooks{
		Inside: func(id uuid.UUID) {
			if id != target.ID {
				return
			}
			n := computing.Add(1)
			for old := maxComputing.Load(); n > old && !maxComputing.CompareAndSwap(old, n); old = maxComputing.Load() {
			}
			arrived <- "computing"
			<-release
			computing.Add(-1)
		},
		Waiting: func(id uuid.UUID) {
			if id == target.ID {
				arrived <- "waiting"
			}
		},
	})
	next := func() string {
		t.Helper()
		select {
		case a := <-arrived:
			return a
		case <-time.After(10 * time.Second):
			t.Fatal("no forged verification started computing or waiting within 10 s")
			return ""
		}
	}

	var wg sync.WaitGroup
	errs := make(chan error, flood)
	for range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := m.Verify(context.Background(), forged)
			errs <- err
		}()
	}
	counts := map[string]int{}
	for range flood {
		counts[next()]++
		require.LessOrEqual(t, counts["computing"], 1, "forged verifications of one key computing at once")
	}
	assert.Equal(t, map[string]int{"computing": 1, "waiting": flood - 1}, counts, "forged verifications of one key")
	assert.Equal(t, 1, apikey.SlowSlotsInUse(m), "global slots the flood holds")
	assert.Equal(t, 1, apikey.SlowTurns(m), "keys with a turn")

	verify(t, m, otherTok, nil) // another key takes the other slot, with the flood still on

	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := m.Verify(ctx, forged)
		gaveUp <- err
	}()
	require.Equal(t, "waiting", next(), "one more forged verification")
	cancel()
	assert.ErrorIs(t, <-gaveUp, context.Canceled, "a verification waiting for its key's turn when its context ends")

	releaseOnce.Do(func() { close(release) })
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.ErrorIs(t, err, apikey.ErrInvalidKey, "forged verification")
	}
	assert.EqualValues(t, 1, maxComputing.Load(), "most forged verifications of one key computing at once")
	assert.Equal(t, 0, apikey.SlowSlotsInUse(m), "global slots held after the flood")
	assert.Equal(t, 0, apikey.SlowTurns(m), "keys with a turn after the flood")
}

// TestArgon2idTurnsAreForgotten verifies many keys at once, with right and
// forged secrets: once all are done, the Manager keeps no turn for any key.
func TestArgon2idTurnsAreForgotten(t *testing.T) {
	m, _ := newManager(t, apikey.Options{CacheTTL: -1, Hash: apikey.Argon2id, Argon2: cheapArgon2})
	var toks []string
	for range 20 {
		k, tok := create(t, m, apikey.CreateParams{})
		toks = append(toks, tok, apikey.FormatToken("sk", k.ID, [32]byte{1}))
	}
	var wg sync.WaitGroup
	for i := range 3 * len(toks) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := toks[i%len(toks)]
			_, err := m.Verify(context.Background(), tok)
			if wantErr := i%2 == 1; (err != nil) != wantErr || (wantErr && !errors.Is(err, apikey.ErrInvalidKey)) {
				t.Errorf("Verify of token %d: %v", i%len(toks), err)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 0, apikey.SlowTurns(m), "keys with a turn once every verification is done")
	assert.EqualValues(t, 3*len(toks), apikey.SlowChecks(m), "Argon2id computations")
}
