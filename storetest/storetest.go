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
//
// A store that implements [apikey.Notifier] is checked as one too: every
// Create, Update and Delete made through it must be reported to every
// running Watch once Get shows it, Watch must keep its rules on the calls
// it makes and return when its context ends, and two Managers on the store
// must each refuse a key revoked through the other, though it was cached.
// (The suite waits up to 2 seconds for each report, twice the second the
// contract asks for, so as not to fail on a loaded machine; measure a
// store's actual delay with a benchmark.) For other stores these cases
// are skipped.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		{"OwnersRoundTripExactly", testOwnersRoundTrip},
		{"ListNeverShowsAnotherOwnersKeys", testOwnerIsolation},
		{"ListOwnerWithNoKeys", testOwnerWithNoKeys},
		{"ListAllOwnersNewestFirst", testListAllOwners},
		{"UpdateNeverChangesOwner", testUpdateKeepsOwner},
		{"UpdateFields", testUpdate},
		{"UpdateMissingIsNotFound", testUpdateMissing},
		{"UpdateNothingReturnsCurrent", testUpdateNothing},
		{"DeleteRemoves", testDelete},
		{"DeleteMissingIsNotFound", testDeleteMissing},
		{"MarkUsedMovesForwardOnly", testMarkUsed},
		{"CanceledContextFails", testCanceled},
		{"ManagerLifecycle", testManagerLifecycle},
		{"ConcurrentStress", testStress},
		{"NotifierReportsEveryChange", testNotifications},
		{"NotifierWatchHonoursCanceledContext", testWatchCanceled},
		{"NotifierRevocationReachesEveryManager", testRevocationReachesEveryManager},
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
	require.NoError(t, err, "DecodeDigest")
	return d
}

// recordOwner is the owner of the records newRecord makes.
const recordOwner = "acct_42"

// newRecord returns a complete record with a fresh UUIDv7, owned by recordOwner.
func newRecord(t *testing.T, label string) apikey.Key {
	t.Helper()
	id, err := uuid.NewV7()
	require.NoError(t, err, "uuid.NewV7")
	sc, err := apikey.ParseScopes("campaigns:read,lists:write")
	require.NoError(t, err, "ParseScopes")
	return apikey.Key{
		ID:         id,
		Owner:      recordOwner,
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

// mustCreate stores k, and stops the test if the store fails to.
func mustCreate(t *testing.T, s apikey.Store, k apikey.Key) {
	t.Helper()
	require.NoError(t, s.Create(context.Background(), k), "Create(%s)", k.ID)
}

// mustGet reads the key id, and stops the test if the store fails to.
func mustGet(t *testing.T, s apikey.Store, id uuid.UUID) apikey.Key {
	t.Helper()
	k, err := s.Get(context.Background(), id)
	require.NoError(t, err, "Get(%s)", id)
	return k
}

// assertSame checks that got equals want as [Diff] compares them, and
// names the fields that differ.
func assertSame(t *testing.T, want, got apikey.Key, msgAndArgs ...any) bool {
	t.Helper()
	if d := Diff(got, want); d != "" {
		return assert.Fail(t, "records differ: "+d, msgAndArgs...)
	}
	return true
}

// assertUTC checks that tm, read back from the store, is in UTC (or zero).
func assertUTC(t *testing.T, tm time.Time, what string) bool {
	t.Helper()
	return assert.True(t, tm.IsZero() || tm.Location() == time.UTC, "%s %v read back in %v, want UTC", what, tm, tm.Location())
}

// assertLabel checks that the label got is want, quoting at most 60 bytes
// of each when it is not: the labels under test run to kilobytes.
func assertLabel(t *testing.T, want, got string, msgAndArgs ...any) bool {
	t.Helper()
	if got != want {
		return assert.Fail(t, fmt.Sprintf("label read back as %.60q, want %.60q", got, want), msgAndArgs...)
	}
	return true
}

// keyIDs returns the IDs of ks, as strings so that a failed comparison
// shows them readably.
func keyIDs(ks []apikey.Key) []string {
	ids := make([]string, len(ks))
	for i, k := range ks {
		ids[i] = k.ID.String()
	}
	return ids
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
	check("Owner", got.Owner == want.Owner, fmt.Sprintf("%.40q", got.Owner), fmt.Sprintf("%.40q", want.Owner))
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
		"no owner": func(k *apikey.Key) { k.Owner = "" },
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
			assertSame(t, k, got, "Get after Create")
			assertUTC(t, got.CreatedAt, "CreatedAt")
			assertUTC(t, got.LastUsedAt, "LastUsedAt")
			assertUTC(t, got.ExpiresAt, "ExpiresAt")
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
	assert.ErrorIs(t, err, apikey.ErrDuplicateID, "Create of a duplicate ID")
	assertSame(t, k, mustGet(t, s, k.ID), "duplicate Create changed the stored record")
	dup.Owner = "another_owner"
	assert.ErrorIs(t, s.Create(context.Background(), dup), apikey.ErrDuplicateID, "Create of a duplicate ID under another owner")
	assertSame(t, k, mustGet(t, s, k.ID), "duplicate Create under another owner changed the stored record")
	ks, err := s.List(context.Background(), apikey.ListOptions{Owner: dup.Owner})
	require.NoError(t, err, "List")
	assert.Empty(t, ks, "a duplicate ID was stored under another owner")
}

func testGetMissing(t *testing.T, s apikey.Store) {
	for name, id := range map[string]uuid.UUID{"random": uuid.Must(uuid.NewV7()), "nil": uuid.Nil} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Get(context.Background(), id)
			assert.ErrorIs(t, err, apikey.ErrNotFound, "Get(missing)")
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
	got.Owner, got.Label, got.Active = "changed after Get", "changed after Get", false
	for _, opts := range []apikey.ListOptions{{Owner: recordOwner}, {AllOwners: true}} {
		list, err := s.List(context.Background(), opts)
		require.NoError(t, err, "List(%+v)", opts)
		require.Len(t, list, 1, "List(%+v)", opts)
		list[0].Owner, list[0].Label = "changed after List", "changed after List"
	}
	assertSame(t, want, mustGet(t, s, want.ID), "mutating a passed or returned record changed the store")
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
			assertLabel(t, label, mustGet(t, s, k.ID).Label, "Get after Create")
			renamed := label + " (renamed)"
			got, err := s.Update(context.Background(), k.ID, apikey.Update{Label: &renamed})
			require.NoError(t, err, "Update of the label")
			assertLabel(t, renamed, got.Label, "Update of the label")
		})
	}
}

func testScopes(t *testing.T, s apikey.Store) {
	lists := []string{"*:write", "*:read", "*:read,lists:write", "campaigns:read,data-privacy:write,lists:write", "a.b_c-d:read"}
	for _, list := range lists {
		t.Run(list, func(t *testing.T) {
			sc, err := apikey.ParseScopes(list)
			require.NoError(t, err, "ParseScopes")
			k := newRecord(t, "scopes")
			k.Scopes = sc
			mustCreate(t, s, k)
			got := mustGet(t, s, k.ID).Scopes
			assert.True(t, got.Equal(sc), "scopes read back as %q, want %q", got, sc)
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
			// No cache: Verify reads the record back from the store.
			opts.Store, opts.UsageInterval, opts.CacheTTL = s, -1, -1
			m, err := apikey.NewManager(opts)
			require.NoError(t, err, "NewManager")
			defer m.Close()
			k, tok, err := m.Create(context.Background(), apikey.CreateParams{Label: name})
			require.NoError(t, err, "Manager.Create")
			stored := mustGet(t, s, k.ID)
			assert.Equal(t, name, stored.Digest.Algorithm().String(), "algorithm of the stored digest")
			// The digest's first byte also says that it binds the token
			// prefix; a store must keep it, not rebuild it from Algorithm.
			assert.True(t, stored.Digest.BindsPrefix(), "the stored digest lost its prefix binding")
			again, err := apikey.DecodeDigest(stored.Digest.Bytes())
			if assert.NoError(t, err, "DecodeDigest of the stored digest's Bytes") {
				assert.True(t, again.Equal(stored.Digest), "digest does not survive Bytes/DecodeDigest")
			}
			_, err = m.Verify(context.Background(), tok.Reveal())
			assert.NoError(t, err, "Verify with the stored %s digest", name)
		})
	}
}

func testListEmpty(t *testing.T, s apikey.Store) {
	cursor := uuid.Must(uuid.NewV7())
	for name, opts := range map[string]apikey.ListOptions{
		"no owner":              {},
		"an owner":              {Owner: recordOwner},
		"every owner":           {AllOwners: true},
		"an owner, one page":    {Owner: recordOwner, Before: cursor, Limit: 10},
		"every owner, one page": {AllOwners: true, Before: cursor, Limit: 1},
	} {
		t.Run(name, func(t *testing.T) {
			ks, err := s.List(context.Background(), opts)
			require.NoError(t, err, "List(%+v) on an empty store", opts)
			assert.Empty(t, ks, "List(%+v) on an empty store", opts)
		})
	}
}

func testListPaging(t *testing.T, s apikey.Store) {
	const n = 25
	newestFirst := make([]string, n)
	for i := range n {
		k := newRecord(t, fmt.Sprintf("key %d", i))
		mustCreate(t, s, k)
		newestFirst[n-1-i] = k.ID.String()
	}
	all, err := s.List(context.Background(), apikey.ListOptions{Owner: recordOwner})
	require.NoError(t, err, "List")
	assert.Equal(t, newestFirst, keyIDs(all), "List: want every key, newest first")
	for _, limit := range []int{1, 7, 25, 100} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			got := pageThrough(t, s, apikey.ListOptions{Owner: recordOwner, Limit: limit}, n)
			assert.Equal(t, newestFirst, got, "keys paged with limit %d: want every key, newest first", limit)
		})
	}
}

func testUpdate(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	k := newRecord(t, "before")
	mustCreate(t, s, k)
	label, inactive, exp := "after", false, baseTime.Add(time.Minute).In(time.FixedZone("UTC-7", -7*3600))
	got, err := s.Update(ctx, k.ID, apikey.Update{Label: &label, Active: &inactive, ExpiresAt: &exp})
	require.NoError(t, err, "Update")
	want := k
	want.Label, want.Active, want.ExpiresAt = label, false, exp
	assertSame(t, want, got, "record Update returned")
	got = mustGet(t, s, k.ID)
	assertSame(t, want, got, "Get after Update")
	assertUTC(t, got.ExpiresAt, "ExpiresAt")
	active, noExpiry := true, time.Time{}
	got, err = s.Update(ctx, k.ID, apikey.Update{Active: &active, ExpiresAt: &noExpiry})
	require.NoError(t, err, "Update that reactivates and clears the expiry")
	want.Active, want.ExpiresAt = true, time.Time{}
	assertSame(t, want, got, "Update that reactivates and clears the expiry")
}

func testUpdateMissing(t *testing.T, s apikey.Store) {
	label := "x"
	_, err := s.Update(context.Background(), uuid.Must(uuid.NewV7()), apikey.Update{Label: &label})
	assert.ErrorIs(t, err, apikey.ErrNotFound, "Update(missing)")
	ks, err := s.List(context.Background(), apikey.ListOptions{AllOwners: true})
	require.NoError(t, err, "List")
	assert.Empty(t, ks, "Update(missing) created records")
}

func testUpdateNothing(t *testing.T, s apikey.Store) {
	k := newRecord(t, "same")
	mustCreate(t, s, k)
	got, err := s.Update(context.Background(), k.ID, apikey.Update{})
	require.NoError(t, err, "empty Update")
	assertSame(t, k, got, "record an empty Update returned")
	_, err = s.Update(context.Background(), uuid.Must(uuid.NewV7()), apikey.Update{})
	assert.ErrorIs(t, err, apikey.ErrNotFound, "empty Update of a missing key")
}

func testDelete(t *testing.T, s apikey.Store) {
	keep, gone := newRecord(t, "keep"), newRecord(t, "gone")
	mustCreate(t, s, keep)
	mustCreate(t, s, gone)
	require.NoError(t, s.Delete(context.Background(), gone.ID), "Delete")
	_, err := s.Get(context.Background(), gone.ID)
	assert.ErrorIs(t, err, apikey.ErrNotFound, "Get after Delete")
	assertSame(t, keep, mustGet(t, s, keep.ID), "Delete of another key changed this one")
	for _, opts := range []apikey.ListOptions{{Owner: recordOwner}, {AllOwners: true}} {
		ks, err := s.List(context.Background(), opts)
		require.NoError(t, err, "List(%+v) after Delete", opts)
		assert.Equal(t, []string{keep.ID.String()}, keyIDs(ks), "List(%+v) after Delete", opts)
	}
}

func testDeleteMissing(t *testing.T, s apikey.Store) {
	k := newRecord(t, "twice")
	mustCreate(t, s, k)
	require.NoError(t, s.Delete(context.Background(), k.ID), "first Delete")
	assert.ErrorIs(t, s.Delete(context.Background(), k.ID), apikey.ErrNotFound, "second Delete")
	assert.ErrorIs(t, s.Delete(context.Background(), uuid.Must(uuid.NewV7())), apikey.ErrNotFound, "Delete(never stored)")
}

func testMarkUsed(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	k := newRecord(t, "used")
	k.LastUsedAt = time.Time{}
	other := newRecord(t, "untouched")
	mustCreate(t, s, k)
	mustCreate(t, s, other)
	t1 := baseTime.Add(2 * time.Hour)
	err := s.MarkUsed(ctx, []apikey.Use{{ID: k.ID, At: t1}, {ID: uuid.Must(uuid.NewV7()), At: t1}})
	require.NoError(t, err, "MarkUsed with a missing ID")
	assert.WithinDuration(t, t1, mustGet(t, s, k.ID).LastUsedAt, 0, "LastUsedAt after MarkUsed")
	require.NoError(t, s.MarkUsed(ctx, []apikey.Use{{ID: k.ID, At: t1.Add(-time.Minute)}}), "MarkUsed with an earlier time")
	assert.WithinDuration(t, t1, mustGet(t, s, k.ID).LastUsedAt, 0, "LastUsedAt moved backwards")
	assertSame(t, other, mustGet(t, s, other.ID), "MarkUsed changed another key")
	assert.NoError(t, s.MarkUsed(ctx, nil), "MarkUsed(nil)")
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
		"List":     func() error { _, err := s.List(ctx, apikey.ListOptions{Owner: recordOwner}); return err },
		"ListAll":  func() error { _, err := s.List(ctx, apikey.ListOptions{AllOwners: true}); return err },
		"Update":   func() error { _, err := s.Update(ctx, k.ID, apikey.Update{Label: &label}); return err },
		"Delete":   func() error { return s.Delete(ctx, k.ID) },
		"MarkUsed": func() error { return s.MarkUsed(ctx, []apikey.Use{{ID: k.ID, At: time.Now()}}) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, call(), context.Canceled, "%s with a canceled context", name)
		})
	}
	assertSame(t, k, mustGet(t, s, k.ID), "calls with a canceled context changed the store")
}

// testManagerLifecycle runs the Manager's operations over the store, as an
// application would, for a key with an owner.
func testManagerLifecycle(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	m, err := apikey.NewManager(apikey.Options{Store: s, UsageInterval: -1})
	require.NoError(t, err, "NewManager")
	t.Cleanup(func() { assert.NoError(t, m.Close(), "Manager.Close") })
	const acct = "bücher-köln"
	k, tok, err := m.Create(ctx, apikey.CreateParams{Owner: acct, Label: "lifecycle", Scopes: apikey.ReadOnly()})
	require.NoError(t, err, "Manager.Create")
	assert.Equal(t, acct, k.Owner, "owner of the created key")
	assert.Equal(t, acct, mustGet(t, s, k.ID).Owner, "owner of the stored key")
	verify := func(token, what string, want error) {
		t.Helper()
		got, err := m.Verify(ctx, token)
		if want == nil {
			assert.NoError(t, err, "Verify of %s", what)
			assert.Equal(t, acct, got.Owner, "owner Verify of %s returns", what)
		} else {
			assert.ErrorIs(t, err, want, "Verify of %s", what)
		}
	}
	verify(tok.Reveal(), "a new key", nil)
	_, err = m.Deactivate(ctx, k.ID)
	require.NoError(t, err, "Manager.Deactivate")
	verify(tok.Reveal(), "a deactivated key", apikey.ErrInactive)
	_, err = m.Activate(ctx, k.ID)
	require.NoError(t, err, "Manager.Activate")
	verify(tok.Reveal(), "a reactivated key", nil)
	c, ctok, err := m.Clone(ctx, k.ID)
	require.NoError(t, err, "Manager.Clone")
	assert.Equal(t, k.ID.String(), c.ClonedFrom.String(), "clone's ClonedFrom")
	assert.True(t, c.Scopes.Equal(k.Scopes), "clone's scopes %q, want the original's %q", c.Scopes, k.Scopes)
	assert.Equal(t, k.Label, c.Label, "clone's label")
	assert.Equal(t, acct, c.Owner, "clone's owner")
	assert.Equal(t, acct, mustGet(t, s, c.ID).Owner, "stored clone's owner")
	verify(ctok.Reveal(), "a clone", nil)
	verify(tok.Reveal(), "a cloned key", nil)
	r, rtok, err := m.Roll(ctx, c.ID, time.Hour)
	require.NoError(t, err, "Manager.Roll")
	assert.Equal(t, acct, r.Owner, "rolled key's owner")
	assert.Equal(t, acct, mustGet(t, s, r.ID).Owner, "stored rolled key's owner")
	assert.Equal(t, acct, mustGet(t, s, c.ID).Owner, "owner of the key rolled, after the roll")
	verify(rtok.Reveal(), "a rolled key", nil)
	ks, err := m.List(ctx, apikey.ListOptions{Owner: acct})
	require.NoError(t, err, "Manager.List of the owner")
	assert.Equal(t, []string{r.ID.String(), c.ID.String(), k.ID.String()}, keyIDs(ks), "Manager.List of the owner")
	for _, other := range []string{"", "bücher", "Bücher-Köln"} {
		ks, err := m.List(ctx, apikey.ListOptions{Owner: other})
		require.NoError(t, err, "Manager.List(%q)", other)
		assert.Empty(t, ks, "Manager.List(%q) of another owner", other)
	}
	require.NoError(t, m.Delete(ctx, k.ID), "Manager.Delete")
	verify(tok.Reveal(), "a deleted key", apikey.ErrInvalidKey)
	verify(ctok.Reveal(), "the clone of a deleted key", nil)
}

// stressOwners are the owners of the keys of the stress test.
var stressOwners = []string{"", "acct_1", "acct_10", "東京"}

// stressKey is what the stress test's model knows of a key.
type stressKey struct {
	tok    string
	owner  string
	active bool
}

// testStress runs workers that create, verify, toggle, clone, list and
// delete keys of several owners concurrently through a Manager, then checks
// the store against the model each worker kept of its own keys. Run it
// under -race.
func testStress(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	m, err := apikey.NewManager(apikey.Options{Store: s, UsageInterval: time.Hour})
	require.NoError(t, err, "NewManager")
	defer m.Close()
	const workers, ops = 8, 150
	// A few keys every worker toggles and verifies at once.
	type shared struct {
		id uuid.UUID
		stressKey
	}
	var common []shared
	for i := range 4 {
		o := stressOwners[i%len(stressOwners)]
		k, tok, err := m.Create(ctx, apikey.CreateParams{Owner: o, Label: fmt.Sprintf("shared %d", i)})
		require.NoError(t, err, "Manager.Create")
		common = append(common, shared{k.ID, stressKey{tok: tok.Reveal(), owner: o}})
	}
	models := make([]map[uuid.UUID]*stressKey, workers)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			mine := map[uuid.UUID]*stressKey{}
			models[w] = mine
			var ids []uuid.UUID
			pick := func() (uuid.UUID, *stressKey) {
				id := ids[rng.IntN(len(ids))]
				return id, mine[id]
			}
			for i := range ops {
				var err error
				switch op := rng.IntN(11); {
				case op < 3 || len(ids) == 0:
					o := stressOwners[rng.IntN(len(stressOwners))]
					var k apikey.Key
					var tok apikey.Token
					k, tok, err = m.Create(ctx, apikey.CreateParams{Owner: o, Label: fmt.Sprintf("w%d op%d", w, i)})
					if err == nil {
						mine[k.ID] = &stressKey{tok: tok.Reveal(), owner: o, active: true}
						ids = append(ids, k.ID)
					}
				case op < 5:
					id, mk := pick()
					k, verr := m.Verify(ctx, mk.tok)
					switch {
					case mk.active && verr != nil || !mk.active && !errors.Is(verr, apikey.ErrInactive):
						err = fmt.Errorf("Verify(%s) active=%v: %v", id, mk.active, verr)
					case verr == nil && k.Owner != mk.owner:
						err = fmt.Errorf("Verify(%s) gave owner %q, want %q", id, k.Owner, mk.owner)
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
					id, mk := pick()
					var k apikey.Key
					var tok apikey.Token
					k, tok, err = m.Clone(ctx, id)
					if err == nil {
						mine[k.ID] = &stressKey{tok: tok.Reveal(), owner: mk.owner, active: true}
						ids = append(ids, k.ID)
					}
				case op < 9:
					j := rng.IntN(len(ids))
					id := ids[j]
					err = m.Delete(ctx, id)
					delete(mine, id)
					ids = append(ids[:j], ids[j+1:]...)
				case op < 10:
					opts := apikey.ListOptions{Owner: stressOwners[rng.IntN(len(stressOwners))], Limit: 5 * rng.IntN(3)}
					if rng.IntN(2) == 0 {
						opts.Before, _ = pick()
					}
					err = checkStressList(ctx, s, opts, mine)
				default:
					c := common[rng.IntN(len(common))]
					if rng.IntN(2) == 0 {
						_, err = m.Deactivate(ctx, c.id)
					} else {
						_, err = m.Activate(ctx, c.id)
					}
					if err == nil {
						k, verr := m.Verify(ctx, c.tok)
						switch {
						case verr != nil && !errors.Is(verr, apikey.ErrInactive):
							err = fmt.Errorf("Verify(shared %s): %v", c.id, verr)
						case verr == nil && k.Owner != c.owner:
							err = fmt.Errorf("Verify(shared %s) gave owner %q, want %q", c.id, k.Owner, c.owner)
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
		assert.NoError(t, err, "an operation of the stress test")
	}
	if t.Failed() {
		return
	}
	byOwner := map[string][]string{}
	for _, c := range common {
		byOwner[c.owner] = append(byOwner[c.owner], c.id.String())
	}
	total := len(common)
	for _, mine := range models {
		total += len(mine)
		for id, mk := range mine {
			byOwner[mk.owner] = append(byOwner[mk.owner], id.String())
			k, err := s.Get(ctx, id)
			require.NoError(t, err, "Get(%s) after stress", id)
			assert.Equal(t, mk.active, k.Active, "key %s Active after stress, against the model", id)
			assert.Equal(t, mk.owner, k.Owner, "key %s Owner after stress, against the model", id)
			_, err = m.Verify(ctx, mk.tok)
			assert.Equal(t, mk.active, err == nil, "Verify(%s) succeeded, against the model's Active; Verify error: %v", id, err)
		}
	}
	for _, o := range stressOwners {
		want := byOwner[o]
		slices.Sort(want)
		slices.Reverse(want)
		ks, err := s.List(ctx, apikey.ListOptions{Owner: o})
		require.NoError(t, err, "List(%q) after stress", o)
		assert.Equal(t, want, keyIDs(ks), "keys of owner %q after stress, against the model, newest first", o)
	}
	all, err := s.List(ctx, apikey.ListOptions{AllOwners: true})
	require.NoError(t, err, "List of every owner after stress")
	assert.Equal(t, total, len(all), "keys in the store after stress, against the model")
}

// checkStressList lists opts in the middle of the stress test and checks
// what it can while other workers change the store: every record is
// opts.Owner's, newest first, before the cursor and within the limit; and
// a full listing holds every key of the worker's model mine with that
// owner, since only this worker deletes them.
func checkStressList(ctx context.Context, s apikey.Store, opts apikey.ListOptions, mine map[uuid.UUID]*stressKey) error {
	ks, err := s.List(ctx, opts)
	if err != nil {
		return fmt.Errorf("List(%+v): %w", opts, err)
	}
	if opts.Limit > 0 && len(ks) > opts.Limit {
		return fmt.Errorf("List(%+v) gave %d keys", opts, len(ks))
	}
	seen := make(map[uuid.UUID]bool, len(ks))
	for i, k := range ks {
		switch {
		case k.Owner != opts.Owner:
			return fmt.Errorf("List(%+v) gave key %s of owner %q", opts, k.ID, k.Owner)
		case opts.Before != uuid.Nil && bytes.Compare(k.ID[:], opts.Before[:]) >= 0:
			return fmt.Errorf("List(%+v) gave key %s, not before the cursor", opts, k.ID)
		case i > 0 && bytes.Compare(k.ID[:], ks[i-1].ID[:]) >= 0:
			return fmt.Errorf("List(%+v) gave key %s after %s: not newest first", opts, k.ID, ks[i-1].ID)
		}
		seen[k.ID] = true
	}
	if opts.Limit > 0 || opts.Before != uuid.Nil {
		return nil
	}
	for id, mk := range mine {
		if mk.owner == opts.Owner && !seen[id] {
			return fmt.Errorf("List(%+v) misses key %s", opts, id)
		}
	}
	return nil
}
