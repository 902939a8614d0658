package main

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ownerKeys creates, in order, keys for acme, globex, no owner, acme again
// and a unicode owner, and returns their IDs by name.
func ownerKeys(h *harness) map[string]uuid.UUID {
	h.t.Helper()
	ids := map[string]uuid.UUID{}
	for _, k := range []struct{ name, owner string }{
		{"acme1", "acme"}, {"globex", "globex"}, {"none", ""}, {"acme2", "acme"}, {"unicode", "bücher-köln"},
	} {
		ids[k.name], _ = h.createKeyFor(k.owner, k.name, "lists:read")
	}
	return ids
}

// ownedKey decodes a key's ID and owner from JSON.
type ownedKey struct {
	ID    string `json:"id"`
	Owner string `json:"owner"`
}

func TestListByOwner(t *testing.T) {
	h := newHarness(t)
	ids := ownerKeys(h)
	key := func(name, owner string) ownedKey { return ownedKey{ids[name].String(), owner} }
	tests := []struct {
		name string
		args []string
		want []ownedKey
	}{
		{"EveryOwner", nil, []ownedKey{
			key("unicode", "bücher-köln"), key("acme2", "acme"), key("none", ""), key("globex", "globex"), key("acme1", "acme")}},
		{"OneOwner", []string{"--owner", "acme"}, []ownedKey{key("acme2", "acme"), key("acme1", "acme")}},
		{"OneOwnerWithEquals", []string{"--owner=globex"}, []ownedKey{key("globex", "globex")}},
		{"UnicodeOwner", []string{"--owner", "bücher-köln"}, []ownedKey{key("unicode", "bücher-köln")}},
		{"NoOwner", []string{"--owner", ""}, []ownedKey{key("none", "")}},
		{"NoOwnerWithEquals", []string{"--owner="}, []ownedKey{key("none", "")}},
		{"UnknownOwner", []string{"--owner", "initech"}, []ownedKey{}},
		{"OwnersAreCaseSensitive", []string{"--owner", "ACME"}, []ownedKey{}},
		{"OwnerFirstPage", []string{"--owner", "acme", "--limit", "1"}, []ownedKey{key("acme2", "acme")}},
		{"OwnerNextPage", []string{"--owner", "acme", "--before", ids["acme2"].String()}, []ownedKey{key("acme1", "acme")}},
		{"OwnerBeforeAnotherOwnersKey", []string{"--owner", "acme", "--before", ids["globex"].String()}, []ownedKey{key("acme1", "acme")}},
		{"EveryOwnerPage", []string{"--limit", "2", "--before", ids["acme2"].String()}, []ownedKey{key("none", ""), key("globex", "globex")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []ownedKey
			decodeOne(t, h.run("", append([]string{"list", "--json"}, tc.args...)...).must(t, exitOK).stdout, &got)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestOwnerShown(t *testing.T) {
	h := newHarness(t)
	ids := ownerKeys(h)
	r := h.run("", "list").must(t, exitOK)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	require.Len(t, lines, 6, "list:\n%s", r.stdout)
	assert.Regexp(t, `^ID\s+OWNER\s+LABEL\s`, lines[0], "list's header")
	for i, want := range []struct{ name, owner string }{
		{"unicode", "bücher-köln"}, {"acme2", "acme"}, {"none", "-"}, {"globex", "globex"}, {"acme1", "acme"},
	} {
		assert.Regexp(t, `^`+ids[want.name].String()+`\s+`+want.owner+`\s+`+want.name+`\s`, lines[i+1], "list's row for %s", want.name)
	}
	for name, want := range map[string]string{"acme1": "acme", "none": "-", "unicode": "bücher-köln"} {
		assert.Contains(t, h.run("", "show", ids[name].String()).must(t, exitOK).stdout, "\nOwner:       "+want+"\n", "show %s", name)
	}
	// An owner that could be mistaken for no owner, or that a terminal
	// would render misleadingly, is quoted.
	dash, _ := h.createKeyFor("-", "dash", "lists:read")
	// (Bidirectional controls never get this far: CheckOwner refuses them.)
	sep, _ := h.createKeyFor("acme\u2028corp", "separator", "lists:read")
	assert.Contains(t, h.run("", "show", dash.String()).must(t, exitOK).stdout, "\nOwner:       \"-\"\n", "show of owner \"-\"")
	assert.Contains(t, h.run("", "show", sep.String()).must(t, exitOK).stdout, `Owner:       "acme\u2028corp"`, "show of an owner with a line separator")
}

func TestCloneAndRollKeepTheOwner(t *testing.T) {
	h := newHarness(t)
	ids := ownerKeys(h)
	for _, args := range [][]string{{"clone", ids["acme1"].String()}, {"roll", ids["acme1"].String(), "--grace", "1h"}} {
		var k ownedKey
		decodeOne(t, h.run("", append(args, "--json")...).must(t, exitOK).stdout, &k)
		assert.Equal(t, "acme", k.Owner, "%v: owner", args)
		var shown ownedKey
		decodeOne(t, h.run("", "show", "--json", k.ID).must(t, exitOK).stdout, &shown)
		assert.Equal(t, "acme", shown.Owner, "%v: the stored key's owner", args)
	}
	var acme []ownedKey
	decodeOne(t, h.run("", "list", "--json", "--owner", "acme").must(t, exitOK).stdout, &acme)
	assert.Len(t, acme, 4, "acme's keys after a clone and a roll")
	var none []ownedKey
	decodeOne(t, h.run("", "list", "--json", "--owner", "").must(t, exitOK).stdout, &none)
	assert.Equal(t, []ownedKey{{ids["none"].String(), ""}}, none, "the keys without an owner")
}

func TestBadOwnerIsAUsageError(t *testing.T) {
	long := strings.Repeat("o", 129)
	tests := []struct {
		name, owner, stderr string
	}{
		{"LeadingSpace", " acme", `--owner: owner " acme" starts or ends with white space`},
		{"TrailingNewline", "acme\n", `--owner: owner "acme\n" holds a control character`},
		{"Tab", "ac\tme", `--owner: owner "ac\tme" holds a control character`},
		{"InvalidUTF8", "acme\xff", `--owner: owner "acme\xff" is not valid UTF-8`},
		{"TooLong", long, `--owner: owner "` + long[:64] + `"… is 129 bytes, more than 128`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			r := h.run("", "create", "--label", "x", "--owner", tc.owner).must(t, exitUsage)
			assert.Contains(t, r.stderr, "keyscope create: "+tc.stderr, "create's stderr")
			assert.False(t, fileExists(h.db), "create with a bad owner made the database")
			h.createKey("k", "full")
			r = h.run("", "list", "--owner", tc.owner).must(t, exitUsage)
			assert.Contains(t, r.stderr, "keyscope list: "+tc.stderr, "list's stderr")
			assert.Empty(t, r.stdout, "list's stdout")
		})
	}
}
