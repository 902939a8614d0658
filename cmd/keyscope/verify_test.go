package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestVerifyReadsStandardInput gives verify its token on standard input,
// in the shapes a file, a pipe or a paste give it: it verifies, and
// nothing is said on standard error.
func TestVerifyReadsStandardInput(t *testing.T) {
	h := newHarness(t)
	id, tok := h.createKey("piped", "lists:read")
	for _, tc := range []struct {
		name, stdin string
		args        []string
	}{
		{"Bare", tok, nil},
		{"Line", tok + "\n", nil},
		{"WhiteSpaceAround", "  " + tok + " \r\n\n", nil},
		{"Dash", tok + "\n", []string{"-"}},
		{"JSON", tok, []string{"--json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.run(tc.stdin, append([]string{"verify"}, tc.args...)...).must(t, exitOK)
			assert.Contains(t, r.stdout, id.String(), "stdout")
			assert.Empty(t, r.stderr, "stderr")
		})
	}
}

// TestVerifyTokenArgumentWarns gives verify its token as an argument, as
// earlier versions took it: it still verifies, and standard error says why
// that is unsafe and how to pipe the token instead, without quoting it.
func TestVerifyTokenArgumentWarns(t *testing.T) {
	h := newHarness(t)
	id, tok := h.createKey("argument", "lists:read")
	for _, tc := range []struct {
		name, token string
		code        int
	}{
		{"Valid", tok, exitOK},
		{"Invalid", tok[:len(tok)-1] + flip(tok[len(tok)-1]), exitInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.run("", "verify", tc.token).must(t, tc.code)
			assert.Equal(t, "keyscope verify: warning: a token on the command line is saved in the shell history and visible to other users of the machine (ps) while keyscope runs; give it on standard input instead, as in: keyscope verify < token.txt\n", r.stderr, "stderr")
			assert.NotContains(t, r.stderr, tc.token[len(tc.token)-20:], "the warning quotes the token")
			if tc.code == exitOK {
				assert.Contains(t, r.stdout, id.String(), "stdout")
			}
		})
	}
}

// TestVerifyRefusesBadInput gives verify standard input that is not one
// token: it says so, without quoting the input, exits 2, and does not
// create the database.
func TestVerifyRefusesBadInput(t *testing.T) {
	h := newHarness(t)
	_, tok := h.createKey("one", "full")
	_, tok2 := h.createKey("two", "full")
	for _, tc := range []struct{ name, stdin, stderr string }{
		{"Empty", "", "keyscope verify: no token on standard input; give it there, as in: keyscope verify < token.txt\n"},
		{"Blank", " \n\t\n", "keyscope verify: no token on standard input"},
		{"TwoTokensOnALine", tok + " " + tok2 + "\n", "keyscope verify: standard input holds 2 words; give exactly one token\n"},
		{"TwoLines", tok + "\n" + tok2 + "\n", "standard input holds 2 words"},
		{"TooLong", strings.Repeat("x", maxTokenInput+1), "more than 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.run(tc.stdin, "verify").must(t, exitUsage)
			assert.Contains(t, r.stderr, tc.stderr, "stderr")
			assert.Empty(t, r.stdout, "stdout")
			for _, secret := range []string{tok, tok2} {
				assert.NotContains(t, r.stderr, secret[len(secret)-20:], "stderr quotes a token")
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "missing.db")
	h.run("", "--db", missing, "verify").must(t, exitUsage)
	assert.False(t, fileExists(missing), "verify created the database")
}

// TestVerifyUsageShowsStandardInput checks that verify's help shows the
// token on standard input, and says that an argument is unsafe.
func TestVerifyUsageShowsStandardInput(t *testing.T) {
	h := newHarness(t)
	assert.Regexp(t, `verify\s+Check a token, read from standard input, and show its key`, h.run("", "help").must(t, exitOK).stdout, "help")
	r := h.run("", "verify", "--help").must(t, exitOK)
	for _, want := range []string{"usage: keyscope verify [flags] < TOKEN-FILE", "keyscope verify < token.txt", "Ctrl-D", "with a warning", "shell history"} {
		assert.Contains(t, r.stdout, want, "verify --help")
	}
}
