package storetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// long128 is an owner of apikey.MaxOwnerLen bytes; long128b differs from it
// only in its last byte.
var (
	long128  = strings.Repeat("東", 42) + "ab"
	long128b = strings.Repeat("東", 42) + "ac"
)

// owners are the owners the owner cases give keys to: each valid for
// apikey.CheckOwner, all distinct byte for byte, and many of them equal to
// another by some looser comparison (case, Unicode normalisation, a prefix,
// a SQL LIKE pattern), which a store must not use.
var owners = []struct{ name, owner string }{
	{"none", ""},
	{"ascii", recordOwner},
	{"prefix of another", "acct_4"},
	{"another with a trailing char", "acct_420"},
	{"differing only in case", "ACCT_42"},
	{"SQL LIKE pattern matching another", "acct_%"},
	{"SQL LIKE single-char pattern", "acct__2"},
	{"latin with diacritics", "bücher-köln"},
	{"the same decomposed (NFD)", "bu\u0308cher-ko\u0308ln"},
	{"CJK", "東京"},
	{"CJK extended", "東京都"},
	{"emoji", "🔑🏢👍🏽"},
	{"128 bytes", long128},
	{"128 bytes, differing in the last byte", long128b},
	{"quotes and spaces inside", `O'Brien "Co" Ltd`},
	{"email", "ops@example.com"},
}

// newOwned returns a complete record of the owner o with a fresh UUIDv7.
func newOwned(t *testing.T, o, label string) apikey.Key {
	t.Helper()
	k := newRecord(t, label)
	k.Owner = o
	return k
}

// wantList returns the IDs that List(opts) must give, according to the
// Store contract, over a store holding exactly the records of model.
func wantList(model []apikey.Key, opts apikey.ListOptions) []string {
	sorted := slices.Clone(model)
	slices.SortFunc(sorted, func(a, b apikey.Key) int { return bytes.Compare(b.ID[:], a.ID[:]) })
	ids := []string{}
	for _, k := range sorted {
		switch {
		case opts.Limit > 0 && len(ids) == opts.Limit:
			return ids
		case !opts.AllOwners && k.Owner != opts.Owner:
		case opts.Before != uuid.Nil && bytes.Compare(k.ID[:], opts.Before[:]) >= 0:
		default:
			ids = append(ids, k.ID.String())
		}
	}
	return ids
}

// checkList checks that List(opts) gives exactly what the contract says
// over model, which is what the store holds, and that every record it
// returns is whole.
func checkList(t *testing.T, s apikey.Store, model []apikey.Key, opts apikey.ListOptions) bool {
	t.Helper()
	ks, err := s.List(context.Background(), opts)
	if !assert.NoError(t, err, "List(%+v)", opts) {
		return false
	}
	if !assert.Equal(t, wantList(model, opts), keyIDs(ks), "List(Owner %.40q, AllOwners %v, Before %s, Limit %d)", opts.Owner, opts.AllOwners, opts.Before, opts.Limit) {
		return false
	}
	for _, k := range ks {
		i := slices.IndexFunc(model, func(m apikey.Key) bool { return m.ID == k.ID })
		if !assertSame(t, model[i], k, "record List(%+v) returned", opts) {
			return false
		}
	}
	return true
}

// pageThrough lists opts page by page, each page's last ID the cursor of
// the next, and returns the IDs of every page. It fails the test if a page
// is longer than opts.Limit or the pages do not end.
func pageThrough(t *testing.T, s apikey.Store, opts apikey.ListOptions, maxPages int) []string {
	t.Helper()
	got := []string{}
	for range maxPages + 1 {
		page, err := s.List(context.Background(), opts)
		require.NoError(t, err, "List(%+v)", opts)
		require.LessOrEqual(t, len(page), opts.Limit, "keys in a page of List(%+v)", opts)
		if len(page) == 0 {
			return got
		}
		got = append(got, keyIDs(page)...)
		opts.Before = page[len(page)-1].ID
	}
	require.Fail(t, "paging does not end", "List(%+v) still gives keys after %d pages", opts, maxPages)
	return nil
}

func testOwnersRoundTrip(t *testing.T, s apikey.Store) {
	seen := map[string]bool{}
	for _, tc := range owners {
		require.NoError(t, apikey.CheckOwner(tc.owner), "owner %q of the suite", tc.name)
		require.False(t, seen[tc.owner], "owner %q of the suite is not distinct", tc.name)
		seen[tc.owner] = true
	}
	require.Len(t, long128, apikey.MaxOwnerLen, "bytes in the longest owner")
	keys := map[string]apikey.Key{}
	for _, tc := range owners {
		t.Run(tc.name, func(t *testing.T) {
			k := newOwned(t, tc.owner, tc.name)
			mustCreate(t, s, k)
			keys[tc.owner] = k
			got := mustGet(t, s, k.ID)
			assert.Equal(t, []byte(tc.owner), []byte(got.Owner), "owner read back, byte for byte")
			assertSame(t, k, got, "Get after Create")
		})
	}
	// Each owner has one key: listing it gives that key, and no key of the
	// owners that resemble it.
	for _, tc := range owners {
		t.Run("list "+tc.name, func(t *testing.T) {
			ks, err := s.List(context.Background(), apikey.ListOptions{Owner: tc.owner})
			require.NoError(t, err, "List")
			if assert.Len(t, ks, 1, "keys of the owner") {
				assertSame(t, keys[tc.owner], ks[0], "the owner's key")
			}
		})
	}
}

// testOwnerIsolation gives the owners different numbers of keys, created
// interleaved and some deleted again, then checks that List gives each
// owner exactly its own keys, whatever the limit, through paging and from
// every cursor: IDs of its own keys, of other owners' keys, of deleted keys,
// and IDs that sort before or after every key.
func testOwnerIsolation(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	// Owner i gets i%4 keys, the first owner 9, some owners none.
	counts := make([]int, len(owners))
	for i := range owners {
		counts[i] = i % 4
	}
	counts[1] = 9
	var model []apikey.Key
	// The cursors are no cursor, an ID that sorts before every key, and
	// then each ID as it is minted.
	cursors := []uuid.UUID{uuid.Nil, {6: 0x70, 8: 0x80, 15: 1}}
	for round := range slices.Max(counts) {
		for i, tc := range owners {
			if round >= counts[i] {
				continue
			}
			k := newOwned(t, tc.owner, fmt.Sprintf("%s %d", tc.name, round))
			mustCreate(t, s, k)
			model = append(model, k)
			cursors = append(cursors, k.ID)
			if round == 1 {
				// A key created and deleted among the others: its ID is a
				// cursor that belongs to no key.
				gone := newOwned(t, tc.owner, "deleted")
				mustCreate(t, s, gone)
				require.NoError(t, s.Delete(ctx, gone.ID), "Delete")
				cursors = append(cursors, gone.ID)
			}
		}
	}
	cursors = append(cursors, uuid.Must(uuid.NewV7()), uuid.Max)
	absent := []string{"nobody", "acct", "acct_42 x", "Bücher-Köln"}
	for _, tc := range owners {
		t.Run(tc.name, func(t *testing.T) {
			all := wantList(model, apikey.ListOptions{Owner: tc.owner})
			if !checkList(t, s, model, apikey.ListOptions{Owner: tc.owner}) {
				return
			}
			for limit := 1; limit <= len(all)+1; limit++ {
				got := pageThrough(t, s, apikey.ListOptions{Owner: tc.owner, Limit: limit}, len(all)+1)
				assert.Equal(t, all, got, "keys of the owner paged with limit %d: want every key, newest first", limit)
			}
			for _, before := range cursors {
				for _, limit := range []int{0, 1, 2, 5} {
					if !checkList(t, s, model, apikey.ListOptions{Owner: tc.owner, Before: before, Limit: limit}) {
						return
					}
				}
			}
		})
	}
	t.Run("owners without keys", func(t *testing.T) {
		for _, o := range absent {
			for _, before := range cursors {
				checkList(t, s, model, apikey.ListOptions{Owner: o, Before: before, Limit: 3})
			}
		}
	})
}

// testOwnerWithNoKeys checks that an owner without keys lists as an empty
// slice without error, whether it never had keys, resembles an owner that
// has, or had keys that were all deleted; and that such an owner can have
// keys again.
func testOwnerWithNoKeys(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	const gone = "acct_7"
	mustCreate(t, s, newRecord(t, "one"))
	mustCreate(t, s, newOwned(t, "東京", "two"))
	var deleted []apikey.Key
	for i := range 3 {
		k := newOwned(t, gone, fmt.Sprintf("deleted %d", i))
		mustCreate(t, s, k)
		deleted = append(deleted, k)
	}
	for _, k := range deleted {
		require.NoError(t, s.Delete(ctx, k.ID), "Delete")
	}
	cursor := uuid.Must(uuid.NewV7())
	for _, tc := range []struct{ name, owner string }{
		{"never had keys", "nobody"},
		{"none, while every key has an owner", ""},
		{"prefix of an owner", "acct_4"},
		{"an owner with a trailing char", "acct_42_"},
		{"differing in case", "Acct_42"},
		{"prefix of a CJK owner", "東"},
		{"whose keys were all deleted", gone},
	} {
		for _, opts := range []apikey.ListOptions{
			{Owner: tc.owner},
			{Owner: tc.owner, Limit: 10},
			{Owner: tc.owner, Before: cursor, Limit: 1},
			{Owner: tc.owner, Before: deleted[1].ID},
		} {
			t.Run(fmt.Sprintf("%s, limit %d, cursor %v", tc.name, opts.Limit, opts.Before != uuid.Nil), func(t *testing.T) {
				ks, err := s.List(ctx, opts)
				require.NoError(t, err, "List of an owner without keys")
				assert.Empty(t, keyIDs(ks), "List of an owner without keys")
			})
		}
	}
	t.Run("keys again after all were deleted", func(t *testing.T) {
		k := newOwned(t, gone, "new")
		mustCreate(t, s, k)
		ks, err := s.List(ctx, apikey.ListOptions{Owner: gone})
		require.NoError(t, err, "List")
		assert.Equal(t, []string{k.ID.String()}, keyIDs(ks), "keys of an owner whose keys were deleted, after a new one")
	})
}

// testListAllOwners checks that AllOwners lists every key of every owner,
// newest first, whatever Owner says, with paging across owners.
func testListAllOwners(t *testing.T, s apikey.Store) {
	var model []apikey.Key
	for round := range 3 {
		for _, tc := range owners {
			k := newOwned(t, tc.owner, fmt.Sprintf("%s %d", tc.name, round))
			mustCreate(t, s, k)
			model = append(model, k)
		}
	}
	all := wantList(model, apikey.ListOptions{AllOwners: true})
	require.Len(t, all, len(model), "keys the model lists")
	for _, o := range []string{"", recordOwner, "nobody"} {
		t.Run(fmt.Sprintf("Owner %q is ignored", o), func(t *testing.T) {
			checkList(t, s, model, apikey.ListOptions{AllOwners: true, Owner: o})
		})
	}
	for _, limit := range []int{1, 7, len(model), len(model) + 1} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			got := pageThrough(t, s, apikey.ListOptions{AllOwners: true, Limit: limit}, len(model)+1)
			assert.Equal(t, all, got, "every key paged with limit %d: want every key, newest first", limit)
		})
	}
	t.Run("cursors that are no key", func(t *testing.T) {
		gone := newOwned(t, "acct_gone", "deleted")
		mustCreate(t, s, gone)
		require.NoError(t, s.Delete(context.Background(), gone.ID), "Delete")
		mid := model[len(model)/2].ID
		mid[15] ^= 1
		for _, before := range []uuid.UUID{gone.ID, mid, uuid.Must(uuid.NewV7()), uuid.Max, {6: 0x70, 8: 0x80, 15: 1}} {
			for _, limit := range []int{0, 3} {
				checkList(t, s, model, apikey.ListOptions{AllOwners: true, Before: before, Limit: limit})
			}
		}
	})
	t.Run("every cursor", func(t *testing.T) {
		for _, k := range model {
			for _, limit := range []int{0, 3} {
				if !checkList(t, s, model, apikey.ListOptions{AllOwners: true, Before: k.ID, Limit: limit}) {
					return
				}
			}
		}
	})
}

// testUpdateKeepsOwner checks that no Update, nor MarkUsed, changes a key's
// owner, nor moves the key out of its owner's listing.
func testUpdateKeepsOwner(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	label, inactive, exp, never := "relabelled", false, baseTime.Add(time.Minute), time.Time{}
	updates := map[string]apikey.Update{
		"nothing":          {},
		"label":            {Label: &label},
		"active":           {Active: &inactive},
		"expiry":           {ExpiresAt: &exp},
		"expiry removed":   {ExpiresAt: &never},
		"every field":      {Label: &label, Active: &inactive, ExpiresAt: &exp},
		"label to another": {Label: ptr("東京")},
	}
	for name, u := range updates {
		for _, o := range []string{"", "東京", long128} {
			t.Run(fmt.Sprintf("%s, owner %.12q", name, o), func(t *testing.T) {
				k := newOwned(t, o, "before")
				mustCreate(t, s, k)
				got, err := s.Update(ctx, k.ID, u)
				require.NoError(t, err, "Update")
				assert.Equal(t, o, got.Owner, "owner Update returned")
				require.NoError(t, s.MarkUsed(ctx, []apikey.Use{{ID: k.ID, At: baseTime.Add(2 * time.Hour)}}), "MarkUsed")
				assert.Equal(t, o, mustGet(t, s, k.ID).Owner, "owner after Update and MarkUsed")
				ks, err := s.List(ctx, apikey.ListOptions{Owner: o, Limit: 1})
				require.NoError(t, err, "List")
				if assert.Equal(t, []string{k.ID.String()}, keyIDs(ks), "the owner's newest key after Update") {
					assertSame(t, mustGet(t, s, k.ID), ks[0], "record List gives after Update and MarkUsed")
				}
				all, err := s.List(ctx, apikey.ListOptions{AllOwners: true, Limit: 1})
				require.NoError(t, err, "List")
				if assert.Len(t, all, 1) {
					assertSame(t, mustGet(t, s, k.ID), all[0], "record List(AllOwners) gives after Update and MarkUsed")
				}
			})
		}
	}
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }
