package sqlitestore_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/sqlitestore"
	"github.com/keyscope/apikey/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReopenReadsBackEverything writes keys of every kind, with and without
// owners, closes the store, opens the file again and compares every field.
func TestReopenReadsBackEverything(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	now := time.Date(2026, 11, 23, 10, 30, 0, 123456789, time.FixedZone("CET", 3600))
	clock := func() time.Time { return now }
	managers := map[string]apikey.Options{
		"sha256":      {Hash: apikey.SHA256},
		"hmac-sha256": {Hash: apikey.HMACSHA256, Pepper: bytes.Repeat([]byte("p"), 32)},
		"argon2id":    {Hash: apikey.Argon2id, Argon2: apikey.Argon2Params{Time: 1, Memory: 64}},
	}
	owners := map[string]string{"sha256": "acct_42", "hmac-sha256": "organización 商店 🔑", "argon2id": ""}
	tokens := map[uuid.UUID]string{}
	mgrs := map[uuid.UUID]string{}
	for name, opts := range managers {
		opts.Store, opts.Now = s, clock
		m := newManager(t, opts)
		scopes, err := apikey.ParseScopes("campaigns:read,lists:write,*:read")
		require.NoError(t, err, "ParseScopes")
		k, tok, err := m.Create(ctx, apikey.CreateParams{Owner: owners[name], Label: name + " key", Scopes: scopes, ExpiresAt: now.Add(90 * 24 * time.Hour)})
		require.NoError(t, err, "%s: Create", name)
		tokens[k.ID], mgrs[k.ID] = tok.Reveal(), name
		c, ctok, err := m.Clone(ctx, k.ID)
		require.NoError(t, err, "%s: Clone", name)
		tokens[c.ID], mgrs[c.ID] = ctok.Reveal(), name
		r, rtok, err := m.Roll(ctx, c.ID, time.Hour)
		require.NoError(t, err, "%s: Roll", name)
		tokens[r.ID], mgrs[r.ID] = rtok.Reveal(), name
		_, err = m.Deactivate(ctx, r.ID)
		require.NoError(t, err, "%s: Deactivate", name)
	}
	// A record with every optional field set, written directly.
	full := apikey.Key{
		ID: uuid.Must(uuid.NewV7()), Label: "direct", Scopes: apikey.ReadOnly(), Active: true,
		CreatedAt:  time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		LastUsedAt: time.Date(2030, 1, 2, 3, 4, 5, 1000, time.UTC),
		ExpiresAt:  time.Date(2100, 6, 7, 8, 9, 10, 11000, time.UTC),
		ClonedFrom: uuid.Must(uuid.NewV7()), Hint: "sk_…zzzz",
		Owner: "acct_" + strings.Repeat("é", (apikey.MaxOwnerLen-5)/2),
	}
	var err error
	full.Digest, err = apikey.DecodeDigest(append([]byte{byte(apikey.SHA256)}, bytes.Repeat([]byte{9}, 32)...))
	require.NoError(t, err, "DecodeDigest")
	require.NoError(t, s.Create(ctx, full), "Create of the record with every field set")
	used := now.Add(time.Minute).UTC().Truncate(time.Microsecond)
	var uses []apikey.Use
	for id := range tokens {
		uses = append(uses, apikey.Use{ID: id, At: used})
	}
	require.NoError(t, s.MarkUsed(ctx, uses[:2]), "MarkUsed")

	before, err := s.List(ctx, apikey.ListOptions{AllOwners: true})
	require.NoError(t, err, "List")
	require.Len(t, before, 10, "keys stored")
	s = reopen(t, s, path)
	after, err := s.List(ctx, apikey.ListOptions{AllOwners: true})
	require.NoError(t, err, "List after reopening")
	require.Len(t, after, len(before), "keys after reopening")
	var clones, inactive, usedN, expiring, owned int
	for i := range before {
		assert.Empty(t, storetest.Diff(after[i], before[i]), "key %s after reopening", before[i].ID)
		k := after[i]
		assert.True(t, k.CreatedAt.IsZero() || k.CreatedAt.Location() == time.UTC, "key %s: CreatedAt in %v, want UTC", k.ID, k.CreatedAt.Location())
		if k.ClonedFrom != uuid.Nil {
			clones++
		}
		if !k.Active {
			inactive++
		}
		if k.LastUsedAt.Equal(used) {
			usedN++
		}
		if !k.ExpiresAt.IsZero() {
			expiring++
		}
		if k.Owner != "" {
			owned++
		}
	}
	assert.Equal(t, 7, clones, "clones after reopening")
	assert.Equal(t, 3, inactive, "inactive keys after reopening")
	assert.Equal(t, 2, usedN, "used keys after reopening")
	// Every key expires: clones and rolled keys inherit their source's expiry.
	assert.Equal(t, 10, expiring, "expiring keys after reopening")
	// Clones and rolled keys inherit their source's owner too.
	assert.Equal(t, 7, owned, "keys with an owner after reopening")
	got, err := s.Get(ctx, full.ID)
	require.NoError(t, err, "Get of the record with every field set")
	assert.Empty(t, storetest.Diff(got, full), "record with every field set, after reopening")
	// The tokens still verify, with digests of each algorithm read back.
	for id, tok := range tokens {
		opts := managers[mgrs[id]]
		opts.Store, opts.Now = s, clock
		k, err := newManager(t, opts).Verify(ctx, tok)
		if errors.Is(err, apikey.ErrInactive) {
			continue // a rolled key, deactivated above
		}
		if assert.NoError(t, err, "%s token of %s after reopening", mgrs[id], id) {
			assert.Equal(t, id.String(), k.ID.String(), "key the token of %s verifies as", id)
		}
	}
}

// TestLabelsStoredExactly stores hostile and unusual labels through the
// Manager and reads them back, before and after reopening.
func TestLabelsStoredExactly(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	m := newManager(t, apikey.Options{Store: s})
	labels := map[string]string{
		"single quotes":  `it's O'Brien's key`,
		"double quotes":  `say "hello"`,
		"backslashes":    `C:\keys\new\table`,
		"NUL bytes":      "a\x00b\x00\x00c",
		"only a NUL":     "\x00",
		"10 kB":          strings.Repeat("0123456789", 1024),
		"16 kB maximum":  strings.Repeat("x", apikey.MaxLabelLen),
		"SQL injection":  `'); DROP TABLE keyscope_keys; --`,
		"SQL comment":    "/* */ -- ; SELECT * FROM sqlite_schema",
		"LIKE wildcards": "100% _match_ [a-z]",
		"unicode":        "clé für 商店 🔑 \u202e",
		"control chars":  "tab\tnewline\nreturn\r\x01\x7f",
	}
	ids := map[string]uuid.UUID{}
	for name, label := range labels {
		k, _, err := m.Create(ctx, apikey.CreateParams{Label: label})
		require.NoError(t, err, "%s: Create", name)
		ids[name] = k.ID
	}
	renamed := map[string]string{}
	for name, label := range labels {
		if len(label) < apikey.MaxLabelLen {
			renamed[name] = label + "'\x00--"
			_, err := m.Rename(ctx, ids[name], renamed[name])
			require.NoError(t, err, "%s: Rename", name)
		} else {
			renamed[name] = label
		}
	}
	check := func(s *sqlitestore.Store, when string) {
		for name, want := range renamed {
			k, err := s.Get(ctx, ids[name])
			require.NoError(t, err, "%s %s", name, when)
			// Quoted in part: the labels run to kilobytes.
			assert.True(t, k.Label == want, "%s %s: label %.60q, want %.60q", name, when, k.Label, want)
		}
		all, err := s.List(ctx, apikey.ListOptions{})
		require.NoError(t, err, "List %s (is the table still there?)", when)
		assert.Equal(t, len(labels), len(all), "keys listed %s", when)
	}
	check(s, "before reopening")
	check(reopen(t, s, path), "after reopening")
}

// TestOwnersComparedByteForByte stores keys of owners that a case-folding,
// Unicode-normalising or pattern-matching comparison would confuse, and
// checks that each owner lists exactly its own key, before and after
// reopening, and that changes to a key leave its owner as it was.
func TestOwnersComparedByteForByte(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	m := newManager(t, apikey.Options{Store: s})
	owners := map[string]string{
		"no owner":           "",
		"lower case":         "acct",
		"title case":         "Acct",
		"upper case":         "ACCT",
		"prefix of another":  "acct_1",
		"extends another":    "acct_10",
		"inner space":        "acct 1",
		"NFC é":              "caf\u00e9",
		"NFD é":              "cafe\u0301",
		"sharp s":            "straße",
		"ss":                 "strasse",
		"fullwidth":          "ａｃｃｔ",
		"LIKE wildcards":     "%_",
		"GLOB wildcards":     "*?[a]",
		"SQL injection":      `' OR owner <> '`,
		"128 bytes, maximum": strings.Repeat("o", apikey.MaxOwnerLen),
	}
	keys := map[string]uuid.UUID{}
	for name, owner := range owners {
		k, _, err := m.Create(ctx, apikey.CreateParams{Owner: owner, Label: name})
		require.NoError(t, err, "%s: Create", name)
		keys[name] = k.ID
		_, err = m.Rename(ctx, k.ID, name+", renamed")
		require.NoError(t, err, "%s: Rename", name)
		_, err = m.Deactivate(ctx, k.ID)
		require.NoError(t, err, "%s: Deactivate", name)
	}
	check := func(s *sqlitestore.Store, when string) {
		for name, owner := range owners {
			listed, err := s.List(ctx, apikey.ListOptions{Owner: owner})
			require.NoError(t, err, "%s: List %s", name, when)
			if assert.Len(t, listed, 1, "%s: keys of owner %q %s", name, owner, when) {
				assert.Equal(t, keys[name], listed[0].ID, "%s: key of owner %q %s", name, owner, when)
				assert.Equal(t, owner, listed[0].Owner, "%s: owner %s", name, when)
			}
		}
		all, err := s.List(ctx, apikey.ListOptions{AllOwners: true})
		require.NoError(t, err, "List of every owner %s", when)
		assert.Len(t, all, len(owners), "keys of every owner %s", when)
	}
	check(s, "before reopening")
	check(reopen(t, s, path), "after reopening")
}
