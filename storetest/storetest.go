// Package storetest is the conformance suite for [apikey.Store]
// implementations. Every store keyscope ships runs it, and so can a third
// party's, from a test of a few lines:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) apikey.Store {
//			return mystore.New(...) // a fresh, empty store
//		})
//	}
//
// The factory is called once per subtest and must return an empty store; use
// t.Cleanup in it to release resources.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
)

// Run runs the whole conformance suite against stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) apikey.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s apikey.Store)
	}{
		{"CreateThenGetRoundTrips", testCreateGet},
		{"CreateDuplicateIDFails", testCreateDuplicate},
		{"GetMissingIsNotFound", testGetMissing},
		{"ReturnedRecordsAreCopies", testCopies},
		{"LabelsRoundTripExactly", testLabels},
		{"ScopesRoundTrip", testScopes},
		{"DigestsOfEveryAlgorithmRoundTrip", testDigests},
		{"ListEmpty", testListEmpty},
		{"ListNewestFirstWithPaging", testListPaging},
		{"UpdateFields", testUpdate},
		{"UpdateMissingIsNotFound", testUpdateMissing},
		{"UpdateNothingReturnsCurrent", testUpdateNothing},
		{"DeleteRemoves", testDelete},
		{"DeleteMissingIsNotFound", testDeleteMissing},
		{"MarkUsedMovesForwardOnly", testMarkUsed},
		{"CanceledContextFails", testCanceled},
		{"ManagerLifecycle", testManagerLifecycle},
		{"ConcurrentStress", testStress},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

var baseTime = time.Date(2026, 11, 23, 10, 30, 0, 123456000, time.UTC)

func sha256Digest(t *testing.T, fill byte) apikey.Digest {
	t.Helper()
	b := append([]byte{byte(apikey.SHA256)}, bytes.Repeat([]byte{fill}, 32)...)
	d, err := apikey.DecodeDigest(b)
	if err != nil {
		t.Fatalf("DecodeDigest: %v", err)
	}
	return d
}

// newRecord returns a complete record with a fresh UUIDv7.
func newRecord(t *testing.T, label string) apikey.Key {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := apikey.ParseScopes("campaigns:read,lists:write")
	if err != nil {
		t.Fatal(err)
	}
	return apikey.Key{
		ID:         id,
		Label:      label,
		Scopes:     sc,
		Active:     true,
		CreatedAt:  baseTime,
		LastUsedAt: baseTime.Add(time.Hour),
		ExpiresAt:  baseTime.Add(48 * time.Hour),
		ClonedFrom: uuid.Must(uuid.NewV7()),
		Hint:       "sk_…a1b2",
		Digest:     sha256Digest(t, 0xab),
	}
}

func mustCreate(t *testing.T, s apikey.Store, k apikey.Key) {
	t.Helper()
	if err := s.Create(context.Background(), k); err != nil {
		t.Fatalf("Create(%s): %v", k.ID, err)
	}
}

func mustGet(t *testing.T, s apikey.Store, id uuid.UUID) apikey.Key {
	t.Helper()
	k, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return k
}

// Diff describes field by field how got differs from want, digests
// included (compared in constant time, never printed), or returns "" when
// they are equal. Times are compared with time.Time.Equal.
func Diff(got, want apikey.Key) string {
	var d []string
	check := func(field string, ok bool, g, w any) {
		if !ok {
			d = append(d, fmt.Sprintf("%s = %v, want %v", field, g, w))
		}
	}
	check("ID", got.ID == want.ID, got.ID, want.ID)
	check("Label", got.Label == want.Label, fmt.Sprintf("%.40q", got.Label), fmt.Sprintf("%.40q", want.Label))
	check("Scopes", got.Scopes.Equal(want.Scopes), got.Scopes, want.Scopes)
	check("Active", got.Active == want.Active, got.Active, want.Active)
	check("CreatedAt", got.CreatedAt.Equal(want.CreatedAt), got.CreatedAt, want.CreatedAt)
	check("LastUsedAt", got.LastUsedAt.Equal(want.LastUsedAt), got.LastUsedAt, want.LastUsedAt)
	check("ExpiresAt", got.ExpiresAt.Equal(want.ExpiresAt), got.ExpiresAt, want.ExpiresAt)
	check("ClonedFrom", got.ClonedFrom == want.ClonedFrom, got.ClonedFrom, want.ClonedFrom)
	check("Hint", got.Hint == want.Hint, got.Hint, want.Hint)
	check("Digest", got.Digest.Equal(want.Digest), got.Digest.Algorithm(), want.Digest.Algorithm())
	return strings.Join(d, "; ")
}

func testCreateGet(t *testing.T, s apikey.Store) {
	cases := map[string]func(*apikey.Key){
		"all fields set": func(*apikey.Key) {},
		"optional fields zero": func(k *apikey.Key) {
			k.LastUsedAt, k.ExpiresAt, k.ClonedFrom = time.Time{}, time.Time{}, uuid.Nil
		},
		"inactive": func(k *apikey.Key) { k.Active = false },
		"times given in another zone": func(k *apikey.Key) {
			zone := time.FixedZone("UTC+5", 5*3600)
			k.CreatedAt, k.LastUsedAt, k.ExpiresAt = k.CreatedAt.In(zone), k.LastUsedAt.In(zone), k.ExpiresAt.In(zone)
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			k := newRecord(t, "shop integration")
			mutate(&k)
			mustCreate(t, s, k)
			got := mustGet(t, s, k.ID)
			if d := Diff(got, k); d != "" {
				t.Fatalf("Get after Create: %s", d)
			}
			for _, tm := range []time.Time{got.CreatedAt, got.LastUsedAt, got.ExpiresAt} {
				if !tm.IsZero() && tm.Location() != time.UTC {
					t.Errorf("time %v read back in %v, want UTC", tm, tm.Location())
				}
			}
		})
	}
}

func testCreateDuplicate(t *testing.T, s apikey.Store) {
	k := newRecord(t, "first")
	mustCreate(t, s, k)
	dup := newRecord(t, "second")
	dup.ID = k.ID
	dup.Active = false
	err := s.Create(context.Background(), dup)
	if !errors.Is(err, apikey.ErrDuplicateID) {
		t.Fatalf("Create duplicate: err = %v, want ErrDuplicateID", err)
	}
	if d := Diff(mustGet(t, s, k.ID), k); d != "" {
		t.Fatalf("duplicate Create changed the stored record: %s", d)
	}
}

func testGetMissing(t *testing.T, s apikey.Store) {
	for name, id := range map[string]uuid.UUID{"random": uuid.Must(uuid.NewV7()), "nil": uuid.Nil} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Get(context.Background(), id)
			if !errors.Is(err, apikey.ErrNotFound) {
				t.Fatalf("Get(missing) err = %v, want ErrNotFound", err)
			}
		})
	}
}

// testCopies checks that a store hands out copies: a store that kept the
// slice it returns from List, or kept pointers to records it was given,
// would fail it.
func testCopies(t *testing.T, s apikey.Store) {
	k := newRecord(t, "original")
	mustCreate(t, s, k)
	want := k
	k.Label = "changed after Create"
	got := mustGet(t, s, want.ID)
	got.Label, got.Active = "changed after Get", false
	list, err := s.List(context.Background(), apikey.ListOptions{})
	if err != nil || len(list) != 1 {
		t.Fatalf("List: %d keys, %v", len(list), err)
	}
	list[0].Label = "changed after List"
	if d := Diff(mustGet(t, s, want.ID), want); d != "" {
		t.Fatalf("mutating a passed or returned record changed the store: %s", d)
	}
}

func testLabels(t *testing.T, s apikey.Store) {
	labels := map[string]string{
		"quotes":    `it's a "quoted" label`,
		"nul bytes": "before\x00after\x00",
		"sql":       "x'); DROP TABLE keys; --",
		"unicode":   "clé für 商店 🔑",
		"10kB":      strings.Repeat("abcdefghij", 1024),
		"newlines":  "line one\nline two\r\n\ttab",
		"percent":   "100% _like_ %s",
	}
	for name, label := range labels {
		t.Run(name, func(t *testing.T) {
			k := newRecord(t, label)
			mustCreate(t, s, k)
			if got := mustGet(t, s, k.ID); got.Label != label {
				t.Fatalf("label read back as %.60q, want %.60q", got.Label, label)
			}
			renamed := label + " (renamed)"
			got, err := s.Update(context.Background(), k.ID, apikey.Update{Label: &renamed})
			if err != nil || got.Label != renamed {
				t.Fatalf("Update label: %.60q, %v", got.Label, err)
			}
		})
	}
}

func testScopes(t *testing.T, s apikey.Store) {
	lists := []string{"*:write", "*:read", "*:read,lists:write", "campaigns:read,data-privacy:write,lists:write", "a.b_c-d:read"}
	for _, list := range lists {
		t.Run(list, func(t *testing.T) {
			sc, err := apikey.ParseScopes(list)
			if err != nil {
				t.Fatal(err)
			}
			k := newRecord(t, "scopes")
			k.Scopes = sc
			mustCreate(t, s, k)
			if got := mustGet(t, s, k.ID).Scopes; !got.Equal(sc) {
				t.Fatalf("scopes read back as %q, want %q", got, sc)
			}
		})
	}
}

func testDigests(t *testing.T, s apikey.Store) {
	// Build real digests through Managers writing to this very store.
	configs := map[string]apikey.Options{
		"sha256":      {Hash: apikey.SHA256},
		"hmac-sha256": {Hash: apikey.HMACSHA256, Pepper: bytes.Repeat([]byte("p"), 32)},
		"argon2id":    {Hash: apikey.Argon2id, Argon2: apikey.Argon2Params{Time: 1, Memory: 64, Threads: 1}},
	}
	for name, opts := range configs {
		t.Run(name, func(t *testing.T) {
			opts.Store, opts.UsageInterval = s, -1
			m, err := apikey.NewManager(opts)
			if err != nil {
				t.Fatal(err)
			}
			k, tok, err := m.Create(context.Background(), apikey.CreateParams{Label: name})
			if err != nil {
				t.Fatal(err)
			}
			stored := mustGet(t, s, k.ID)
			if got := stored.Digest.Algorithm(); got.String() != name {
				t.Fatalf("stored digest algorithm = %v, want %s", got, name)
			}
			again, err := apikey.DecodeDigest(stored.Digest.Bytes())
			if err != nil || !again.Equal(stored.Digest) {
				t.Fatalf("digest does not survive Bytes/DecodeDigest: %v", err)
			}
			if _, err := m.Verify(context.Background(), tok.Reveal()); err != nil {
				t.Fatalf("Verify with the stored %s digest: %v", name, err)
			}
		})
	}
}

func testListEmpty(t *testing.T, s apikey.Store) {
	ks, err := s.List(context.Background(), apikey.ListOptions{})
	if err != nil || len(ks) != 0 {
		t.Fatalf("List on empty store = %d keys, %v; want 0, nil", len(ks), err)
	}
}

func testListPaging(t *testing.T, s apikey.Store) {
	const n = 25
	var ids []uuid.UUID
	for i := range n {
		k := newRecord(t, fmt.Sprintf("key %d", i))
		mustCreate(t, s, k)
		ids = append(ids, k.ID)
	}
	all, err := s.List(context.Background(), apikey.ListOptions{})
	if err != nil || len(all) != n {
		t.Fatalf("List = %d keys, %v; want %d", len(all), err, n)
	}
	for i, k := range all {
		if k.ID != ids[n-1-i] {
			t.Fatalf("List[%d] = %s (%q), want newest first %s", i, k.ID, k.Label, ids[n-1-i])
		}
	}
	for _, limit := range []int{1, 7, 25, 100} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			var got []uuid.UUID
			opts := apikey.ListOptions{Limit: limit}
			for range n + 1 {
				page, err := s.List(context.Background(), opts)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > limit {
					t.Fatalf("page of %d keys exceeds limit %d", len(page), limit)
				}
				if len(page) == 0 {
					break
				}
				for _, k := range page {
					got = append(got, k.ID)
				}
				opts.Before = page[len(page)-1].ID
			}
			if len(got) != n {
				t.Fatalf("paging returned %d keys, want %d", len(got), n)
			}
			for i := range got {
				if got[i] != all[i].ID {
					t.Fatalf("paged key %d = %s, want %s", i, got[i], all[i].ID)
				}
			}
		})
	}
}

func testUpdate(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	k := newRecord(t, "before")
	mustCreate(t, s, k)
	label, inactive, exp := "after", false, baseTime.Add(time.Minute).In(time.FixedZone("UTC-7", -7*3600))
	got, err := s.Update(ctx, k.ID, apikey.Update{Label: &label, Active: &inactive, ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	want := k
	want.Label, want.Active, want.ExpiresAt = label, false, exp
	if d := Diff(got, want); d != "" {
		t.Fatalf("Update returned: %s", d)
	}
	got = mustGet(t, s, k.ID)
	if d := Diff(got, want); d != "" {
		t.Fatalf("Get after Update: %s", d)
	}
	if got.ExpiresAt.Location() != time.UTC {
		t.Fatalf("ExpiresAt read back in %v, want UTC", got.ExpiresAt.Location())
	}
	active, noExpiry := true, time.Time{}
	got, err = s.Update(ctx, k.ID, apikey.Update{Active: &active, ExpiresAt: &noExpiry})
	if err != nil {
		t.Fatal(err)
	}
	want.Active, want.ExpiresAt = true, time.Time{}
	if d := Diff(got, want); d != "" {
		t.Fatalf("reactivate and clear expiry: %s", d)
	}
}

func testUpdateMissing(t *testing.T, s apikey.Store) {
	label := "x"
	_, err := s.Update(context.Background(), uuid.Must(uuid.NewV7()), apikey.Update{Label: &label})
	if !errors.Is(err, apikey.ErrNotFound) {
		t.Fatalf("Update(missing) err = %v, want ErrNotFound", err)
	}
	ks, _ := s.List(context.Background(), apikey.ListOptions{})
	if len(ks) != 0 {
		t.Fatalf("Update(missing) created %d records", len(ks))
	}
}

func testUpdateNothing(t *testing.T, s apikey.Store) {
	k := newRecord(t, "same")
	mustCreate(t, s, k)
	got, err := s.Update(context.Background(), k.ID, apikey.Update{})
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(got, k); d != "" {
		t.Fatalf("empty Update: %s", d)
	}
	if _, err := s.Update(context.Background(), uuid.Must(uuid.NewV7()), apikey.Update{}); !errors.Is(err, apikey.ErrNotFound) {
		t.Fatalf("empty Update of missing key: err = %v, want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, s apikey.Store) {
	keep, gone := newRecord(t, "keep"), newRecord(t, "gone")
	mustCreate(t, s, keep)
	mustCreate(t, s, gone)
	if err := s.Delete(context.Background(), gone.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), gone.ID); !errors.Is(err, apikey.ErrNotFound) {
		t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
	}
	if d := Diff(mustGet(t, s, keep.ID), keep); d != "" {
		t.Fatalf("Delete of another key changed this one: %s", d)
	}
	ks, err := s.List(context.Background(), apikey.ListOptions{})
	if err != nil || len(ks) != 1 || ks[0].ID != keep.ID {
		t.Fatalf("List after Delete = %d keys, %v", len(ks), err)
	}
}

func testDeleteMissing(t *testing.T, s apikey.Store) {
	k := newRecord(t, "twice")
	mustCreate(t, s, k)
	if err := s.Delete(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(context.Background(), k.ID); !errors.Is(err, apikey.ErrNotFound) {
		t.Fatalf("second Delete: err = %v, want ErrNotFound", err)
	}
	if err := s.Delete(context.Background(), uuid.Must(uuid.NewV7())); !errors.Is(err, apikey.ErrNotFound) {
		t.Fatalf("Delete(never stored): err = %v, want ErrNotFound", err)
	}
}

func testMarkUsed(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	k := newRecord(t, "used")
	k.LastUsedAt = time.Time{}
	other := newRecord(t, "untouched")
	mustCreate(t, s, k)
	mustCreate(t, s, other)
	t1 := baseTime.Add(2 * time.Hour)
	if err := s.MarkUsed(ctx, []apikey.Use{{ID: k.ID, At: t1}, {ID: uuid.Must(uuid.NewV7()), At: t1}}); err != nil {
		t.Fatalf("MarkUsed with a missing ID: %v", err)
	}
	if got := mustGet(t, s, k.ID).LastUsedAt; !got.Equal(t1) {
		t.Fatalf("LastUsedAt = %v, want %v", got, t1)
	}
	if err := s.MarkUsed(ctx, []apikey.Use{{ID: k.ID, At: t1.Add(-time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, k.ID).LastUsedAt; !got.Equal(t1) {
		t.Fatalf("LastUsedAt moved backwards to %v, want %v", got, t1)
	}
	if d := Diff(mustGet(t, s, other.ID), other); d != "" {
		t.Fatalf("MarkUsed changed another key: %s", d)
	}
	if err := s.MarkUsed(ctx, nil); err != nil {
		t.Fatalf("MarkUsed(nil): %v", err)
	}
}

func testCanceled(t *testing.T, s apikey.Store) {
	k := newRecord(t, "present")
	mustCreate(t, s, k)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	label := "changed"
	calls := map[string]func() error{
		"Create":   func() error { return s.Create(ctx, newRecord(t, "new")) },
		"Get":      func() error { _, err := s.Get(ctx, k.ID); return err },
		"List":     func() error { _, err := s.List(ctx, apikey.ListOptions{}); return err },
		"Update":   func() error { _, err := s.Update(ctx, k.ID, apikey.Update{Label: &label}); return err },
		"Delete":   func() error { return s.Delete(ctx, k.ID) },
		"MarkUsed": func() error { return s.MarkUsed(ctx, []apikey.Use{{ID: k.ID, At: time.Now()}}) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); err == nil {
				t.Fatalf("%s with a canceled context succeeded", name)
			}
		})
	}
	if d := Diff(mustGet(t, s, k.ID), k); d != "" {
		t.Fatalf("calls with a canceled context changed the store: %s", d)
	}
}

// testManagerLifecycle runs the Manager's operations over the store, as an
// application would.
func testManagerLifecycle(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	m, err := apikey.NewManager(apikey.Options{Store: s, UsageInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	k, tok, err := m.Create(ctx, apikey.CreateParams{Label: "lifecycle", Scopes: apikey.ReadOnly()})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(token string, want error) {
		t.Helper()
		_, err := m.Verify(ctx, token)
		if !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Fatalf("Verify = %v, want %v", err, want)
		}
	}
	verify(tok.Reveal(), nil)
	if _, err := m.Deactivate(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	verify(tok.Reveal(), apikey.ErrInactive)
	if _, err := m.Activate(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	verify(tok.Reveal(), nil)
	c, ctok, err := m.Clone(ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClonedFrom != k.ID || !c.Scopes.Equal(k.Scopes) || c.Label != k.Label {
		t.Fatalf("clone = %+v, want label, scopes and ClonedFrom of %s", c, k.ID)
	}
	verify(ctok.Reveal(), nil)
	verify(tok.Reveal(), nil)
	if err := m.Delete(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	verify(tok.Reveal(), apikey.ErrInvalidKey)
	verify(ctok.Reveal(), nil)
}

// testStress runs workers that create, verify, toggle, clone and delete keys
// concurrently through a Manager, then checks the store against the model
// each worker kept of its own keys. Run it under -race.
func testStress(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	m, err := apikey.NewManager(apikey.Options{Store: s, UsageInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const workers, ops = 8, 150
	// A few keys every worker toggles and verifies at once.
	type shared struct {
		id  uuid.UUID
		tok string
	}
	var common []shared
	for i := range 4 {
		k, tok, err := m.Create(ctx, apikey.CreateParams{Label: fmt.Sprintf("shared %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		common = append(common, shared{k.ID, tok.Reveal()})
	}
	type model struct {
		tok    string
		active bool
	}
	models := make([]map[uuid.UUID]*model, workers)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			mine := map[uuid.UUID]*model{}
			models[w] = mine
			var ids []uuid.UUID
			pick := func() (uuid.UUID, *model) {
				id := ids[rng.IntN(len(ids))]
				return id, mine[id]
			}
			for i := range ops {
				var err error
				switch op := rng.IntN(10); {
				case op < 3 || len(ids) == 0:
					var k apikey.Key
					var tok apikey.Token
					k, tok, err = m.Create(ctx, apikey.CreateParams{Label: fmt.Sprintf("w%d op%d", w, i)})
					if err == nil {
						mine[k.ID] = &model{tok: tok.Reveal(), active: true}
						ids = append(ids, k.ID)
					}
				case op < 5:
					id, mk := pick()
					_, verr := m.Verify(ctx, mk.tok)
					if mk.active && verr != nil || !mk.active && !errors.Is(verr, apikey.ErrInactive) {
						err = fmt.Errorf("Verify(%s) active=%v: %v", id, mk.active, verr)
					}
				case op < 7:
					id, mk := pick()
					if mk.active {
						_, err = m.Deactivate(ctx, id)
					} else {
						_, err = m.Activate(ctx, id)
					}
					mk.active = !mk.active
				case op < 8:
					id, _ := pick()
					var k apikey.Key
					var tok apikey.Token
					k, tok, err = m.Clone(ctx, id)
					if err == nil {
						mine[k.ID] = &model{tok: tok.Reveal(), active: true}
						ids = append(ids, k.ID)
					}
				case op < 9:
					j := rng.IntN(len(ids))
					id := ids[j]
					err = m.Delete(ctx, id)
					delete(mine, id)
					ids = append(ids[:j], ids[j+1:]...)
				default:
					c := common[rng.IntN(len(common))]
					if rng.IntN(2) == 0 {
						_, err = m.Deactivate(ctx, c.id)
					} else {
						_, err = m.Activate(ctx, c.id)
					}
					if err == nil {
						_, verr := m.Verify(ctx, c.tok)
						if verr != nil && !errors.Is(verr, apikey.ErrInactive) {
							err = fmt.Errorf("Verify(shared %s): %v", c.id, verr)
						}
					}
				}
				if err != nil {
					errs <- fmt.Errorf("worker %d op %d: %w", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	want := len(common)
	for _, mine := range models {
		want += len(mine)
		for id, mk := range mine {
			k, err := s.Get(ctx, id)
			if err != nil {
				t.Fatalf("Get(%s) after stress: %v", id, err)
			}
			if k.Active != mk.active {
				t.Fatalf("key %s Active = %v, model says %v", id, k.Active, mk.active)
			}
			if _, err := m.Verify(ctx, mk.tok); (err == nil) != mk.active {
				t.Fatalf("Verify(%s) = %v, model active = %v", id, err, mk.active)
			}
		}
	}
	all, err := s.List(ctx, apikey.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != want {
		t.Fatalf("store holds %d keys after stress, model has %d", len(all), want)
	}
}
