package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRevoke(t *testing.T) {
	h := newHarness(t)
	id, tok := h.createKeyFor("acme", "leaky", "lists:read")
	_, otherTok := h.createKeyFor("acme", "other", "lists:read")
	hint := tok[:3] + "…" + tok[len(tok)-4:]

	r := h.run(tok+"\n", "revoke").must(t, exitOK)
	assertHasPrefix(t, r.stdout, "Deactivated key "+id.String()+": its token no longer verifies.\n", "revoke")
	for _, want := range []string{"Owner:       acme", "Label:       leaky", "Hint:        " + hint, "Status:      inactive"} {
		assert.Contains(t, r.stdout, want, "revoke")
	}
	assert.NotContains(t, r.stdout+r.stderr, tok, "revoke printed the token")
	assertHasPrefix(t, h.run(tok, "verify").must(t, exitInvalid).stdout, "inactive", "verify of a revoked token")
	h.run(otherTok, "verify").must(t, exitOK) // the owner's other key works on

	// Revoking it again changes nothing and succeeds; so does revoking a
	// token given with white space around it, or an expired key's.
	h.run("  "+tok+"  \r\n\n", "revoke").must(t, exitOK)
	h.run(tok, "revoke", "-").must(t, exitOK) // "-" names standard input, as for verify
	expID, expTok := h.createKeyFor("", "expired", "lists:read")
	h.run("", "roll", expID.String()).must(t, exitOK) // no grace: expired at once
	h.run(expTok, "revoke").must(t, exitOK)
	assert.Contains(t, h.run("", "show", expID.String()).must(t, exitOK).stdout, "Status:      inactive", "revoked expired key")

	var k struct {
		ID     string `json:"id"`
		Owner  string `json:"owner"`
		Active bool   `json:"active"`
	}
	decodeOne(t, h.run(otherTok, "revoke", "--json").must(t, exitOK).stdout, &k)
	assert.Equal(t, "acme", k.Owner, "revoke --json: owner")
	assert.False(t, k.Active, "revoke --json: active")
	assertHasPrefix(t, h.run(otherTok, "verify").must(t, exitInvalid).stdout, "inactive", "verify of a token revoked with --json")
	assert.Contains(t, h.run("", "show", k.ID).must(t, exitOK).stdout, "Label:       other", "revoke --json: the key")

	// Revoking is deactivating: activate undoes it.
	h.run("", "activate", id.String()).must(t, exitOK)
	h.run(tok, "verify").must(t, exitOK)
}

func TestRevokeRefuses(t *testing.T) {
	h := newHarness(t)
	_, tok := h.createKey("leaky", "full")
	_, tok2 := h.createKey("second", "full")
	delID, delTok := h.createKey("deleted", "full")
	h.run("", "delete", delID.String()).must(t, exitOK)
	elsewhere := newHarness(t)
	_, foreignTok := elsewhere.createKey("elsewhere", "full")
	tampered := tok[:10] + flip(tok[10]) + tok[11:]

	const unknown = "keyscope revoke: the token matches no key in this database"
	tests := []struct {
		name, stdin string
		args        []string
		code        int
		stderr      string
	}{
		{"EmptyInput", "", nil, exitUsage, "no token on standard input"},
		{"BlankInput", " \n\t\n", nil, exitUsage, "no token on standard input"},
		{"TwoTokensOnALine", tok + " " + tok2 + "\n", nil, exitUsage, "standard input holds 2 words; give exactly one token"},
		{"TwoLines", tok + "\n" + tok2 + "\n", nil, exitUsage, "standard input holds 2 words"},
		{"TooLong", strings.Repeat("x", maxTokenInput+1), nil, exitUsage, "more than 4096 bytes"},
		{"TokenAsArgument", "", []string{tok}, exitUsage, "give the token on standard input, as in: keyscope revoke < leaked.txt, not as an argument: a token on the command line is saved in the shell history"},
		{"TokenAsArgumentAndOnInput", tok, []string{tok}, exitUsage, "not as an argument"},
		{"TwoArguments", "", []string{tok, tok2}, exitUsage, "0 to 1 arguments"},
		{"Garbage", "sk_garbage", nil, exitNotFound, unknown},
		{"Tampered", tampered, nil, exitNotFound, unknown},
		{"OtherPrefix", "shop" + tok[2:], nil, exitNotFound, unknown},
		{"DeletedKey", delTok, nil, exitNotFound, unknown},
		{"AnotherDatabasesKey", foreignTok, nil, exitNotFound, unknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.run(tc.stdin, append([]string{"revoke"}, tc.args...)...).must(t, tc.code)
			assert.Contains(t, r.stderr, tc.stderr, "stderr")
			assert.Empty(t, r.stdout, "stdout")
			for _, secret := range []string{tok, tok2, delTok, foreignTok} {
				assert.NotContains(t, r.stderr, secret[len(secret)-20:], "stderr quotes a token")
			}
		})
	}
	h.run(tok, "verify").must(t, exitOK)
	h.run(tok2, "verify").must(t, exitOK)
	elsewhere.run(foreignTok, "verify").must(t, exitOK)

	// No database: revoke does not make one.
	missing := filepath.Join(t.TempDir(), "missing.db")
	assert.Contains(t, h.run(tok, "--db", missing, "revoke").must(t, exitFailure).stderr, "does not exist", "revoke without a database")
	assert.False(t, fileExists(missing), "revoke created the database")
}

// flip returns a base62 digit other than c.
func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestUsageMentionsRevoke(t *testing.T) {
	r := newHarness(t).run("", "help").must(t, exitOK)
	require.Contains(t, r.stdout, "revoke", "help")
	assert.Regexp(t, `revoke\s+Deactivate the key of a leaked token, read from standard input`, r.stdout, "help")
	r = newHarness(t).run("", "revoke", "--help").must(t, exitOK)
	assert.Contains(t, r.stdout, "keyscope revoke < leaked.txt", "revoke --help")
}
