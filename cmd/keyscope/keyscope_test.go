package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// harness runs the command in-process against one temporary database.
type harness struct {
	t    *testing.T
	db   string
	env  map[string]string
	open opener
}

func newHarness(t *testing.T) *harness {
	return &harness{
		t:    t,
		db:   filepath.Join(t.TempDir(), "keys.db"),
		env:  map[string]string{},
		open: openDB,
	}
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs keyscope with args, appending --db unless the args or the
// environment name a database.
func (h *harness) run(stdin string, args ...string) result {
	h.t.Helper()
	return h.runReader(strings.NewReader(stdin), args...)
}

// runReader is run with stdin read from r.
func (h *harness) runReader(stdin io.Reader, args ...string) result {
	h.t.Helper()
	if h.env[envDB] == "" && !containsDB(args) {
		args = append([]string{"--db", h.db}, args...)
	}
	var out, errb bytes.Buffer
	c := &cli{
		stdin: stdin, stdout: &out, stderr: &errb,
		env:  func(k string) string { return h.env[k] },
		open: h.open,
	}
	code := c.run(args)
	return result{out.String(), errb.String(), code}
}

// withFaults makes h open its database through an apikeytest.FaultStore,
// which set primes each time the command opens the database.
func (h *harness) withFaults(set func(s *apikeytest.FaultStore)) {
	h.open = func(path string, create bool) (apikey.Store, func() error, error) {
		st, closeStore, err := openDB(path, create)
		if err != nil {
			return nil, nil, err
		}
		fs := apikeytest.NewFaultStore(st)
		set(fs)
		return fs, closeStore, nil
	}
}

func containsDB(args []string) bool {
	for _, a := range args {
		if a == "--db" || a == "-db" || strings.HasPrefix(a, "--db=") || strings.HasPrefix(a, "-db=") {
			return true
		}
	}
	return false
}

// must fails the test unless r exited with code.
func (r result) must(t *testing.T, code int) result {
	t.Helper()
	require.Equalf(t, code, r.code, "exit status\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	return r
}

var (
	tokenRE = regexp.MustCompile(`\b[A-Za-z0-9]+_[0-9A-Za-z]{72}\b`)
	idRE    = regexp.MustCompile(`ID:\s+(\S+)`)
)

// detailsID returns the ID in a key's details as the command prints them.
func detailsID(t *testing.T, out string) string {
	t.Helper()
	m := idRE.FindStringSubmatch(out)
	require.NotNil(t, m, "no ID in:\n%s", out)
	return m[1]
}

// newToken returns the token that create, clone or roll printed, checking
// that it is all their stdout and that stderr holds the reminder to store
// it but not the token.
func newToken(t *testing.T, r result) string {
	t.Helper()
	require.Regexp(t, `\A`+tokenRE.String()+`\n\z`, r.stdout, "stdout is not one token line")
	tok := strings.TrimSuffix(r.stdout, "\n")
	assert.NotContains(t, r.stderr, tok, "stderr holds the token")
	assert.Contains(t, r.stderr, "Store its token", "stderr has no reminder")
	return tok
}

// assertHasPrefix checks that s, what a command printed, starts with prefix.
func assertHasPrefix(t *testing.T, s, prefix, what string) bool {
	t.Helper()
	return assert.Truef(t, strings.HasPrefix(s, prefix), "%s: %q does not start with %q", what, s, prefix)
}

// idOnly decodes the ID of a key in JSON, as text for a readable failure.
type idOnly struct {
	ID string `json:"id"`
}

// createKey creates a key without an owner and returns its ID and token.
func (h *harness) createKey(label, scopes string) (uuid.UUID, string) {
	h.t.Helper()
	return h.createKeyFor("", label, scopes)
}

// createKeyFor creates a key that belongs to owner and returns its ID and
// token.
func (h *harness) createKeyFor(owner, label, scopes string) (uuid.UUID, string) {
	h.t.Helper()
	r := h.run("", "create", "--json", "--owner", owner, "--label", label, "--scopes", scopes).must(h.t, exitOK)
	var k struct {
		ID    uuid.UUID `json:"id"`
		Token string    `json:"token"`
	}
	require.NoError(h.t, json.Unmarshal([]byte(r.stdout), &k), "create --json output %q", r.stdout)
	require.NotEmpty(h.t, k.Token, "create --json output %q", r.stdout)
	return k.ID, k.Token
}

func TestHelp(t *testing.T) {
	h := newHarness(t)
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		r := h.run("", args...).must(t, exitOK)
		for _, want := range []string{"usage: keyscope", "create", "verify", "KEYSCOPE_DB", "Exit status"} {
			assert.Contains(t, r.stdout, want, "%v: help", args)
		}
	}
	for _, cmd := range commands {
		for _, args := range [][]string{{cmd.name, "--help"}, {cmd.name, "-h"}, {"help", cmd.name}} {
			r := h.run("", args...).must(t, exitOK)
			for _, want := range []string{"usage: keyscope " + cmd.name, "-json", "Exit status"} {
				assert.Contains(t, r.stdout, want, "%v: help", args)
			}
		}
	}
	assert.Contains(t, h.run("").must(t, exitUsage).stderr, "usage: keyscope", "no command: stderr")
	assert.False(t, fileExists(h.db), "help created the database")
}

func TestLifecycle(t *testing.T) {
	h := newHarness(t)

	r := h.run("", "create", "--label", "shop integration", "--scopes", "lists:write, campaigns:read").must(t, exitOK)
	tok := newToken(t, r)
	for _, want := range []string{"shop integration", "campaigns:read,lists:write", "Status:      active", "Owner:       -"} {
		assert.Contains(t, r.stderr, want, "create's stderr")
	}
	id := detailsID(t, r.stderr)

	r = h.run("", "list").must(t, exitOK)
	for _, want := range []string{id, "shop integration", tok[len(tok)-4:]} {
		assert.Contains(t, r.stdout, want, "list")
	}
	assert.NotContains(t, r.stdout, tok, "list shows the token")

	r = h.run("", "show", id).must(t, exitOK)
	assert.Contains(t, r.stdout, "campaigns:read,lists:write", "show")
	assert.NotContains(t, r.stdout, tok, "show shows the token")

	r = h.run(tok+"\n", "verify").must(t, exitOK)
	assertHasPrefix(t, r.stdout, "valid\n", "verify from stdin")
	assert.Contains(t, r.stdout, id, "verify from stdin")
	h.run(tok, "verify", "-").must(t, exitOK)

	assert.Contains(t, h.run("", "rename", id, "shop (old)").must(t, exitOK).stdout, "shop (old)", "rename")

	h.run("", "deactivate", id).must(t, exitOK)
	assertHasPrefix(t, h.run(tok, "verify").must(t, exitInvalid).stdout, "inactive", "verify deactivated")
	h.run("", "activate", id).must(t, exitOK)
	h.run(tok, "verify").must(t, exitOK)

	r = h.run("", "clone", id).must(t, exitOK)
	cloneTok := newToken(t, r)
	assert.NotEqual(t, tok, cloneTok, "clone's token")
	assert.Contains(t, r.stderr, "Cloned from: "+id, "clone's stderr")
	h.run(cloneTok, "verify").must(t, exitOK)
	h.run(tok, "verify").must(t, exitOK)

	r = h.run("", "roll", id, "--grace", "1h").must(t, exitOK)
	rollTok := newToken(t, r)
	assert.Contains(t, r.stderr, "stops verifying at", "roll's stderr")
	h.run(rollTok, "verify").must(t, exitOK)
	h.run(tok, "verify").must(t, exitOK) // within its grace
	assert.NotContains(t, h.run("", "show", id).must(t, exitOK).stdout, "Expires:     never", "rolled original does not expire")

	cloneID := detailsID(t, h.run(cloneTok, "verify").stdout)
	h.run("", "roll", cloneID).must(t, exitOK) // no grace
	assertHasPrefix(t, h.run(cloneTok, "verify").must(t, exitInvalid).stdout, "expired", "verify rolled without grace")

	assert.Contains(t, h.run("", "delete", id).must(t, exitOK).stdout, "Deleted key "+id, "delete")
	h.run("", "show", id).must(t, exitNotFound)
	h.run("", "delete", id).must(t, exitNotFound)
	assertHasPrefix(t, h.run(tok, "verify").must(t, exitInvalid).stdout, "invalid", "verify deleted")
}

func TestJSONOutput(t *testing.T) {
	h := newHarness(t)
	id, tok := h.createKey("reporting", "read-only")

	var created map[string]any
	decodeOne(t, h.run("", "create", "--label", "full one", "--json").must(t, exitOK).stdout, &created)
	assert.Equal(t, "*:write", created["scopes"], "create --json: %v", created)
	assert.NotEmpty(t, created["token"], "create --json: %v", created)
	assert.NotContains(t, created, "digest", "create --json")

	var list []map[string]any
	decodeOne(t, h.run("", "list", "--json").must(t, exitOK).stdout, &list)
	require.Len(t, list, 2, "list --json")
	assert.Equal(t, id.String(), list[1]["id"], "list --json: %v", list)
	assert.Equal(t, "*:read", list[1]["scopes"], "list --json: %v", list)
	assert.NotContains(t, list[1], "token", "list --json")

	var shown map[string]any
	decodeOne(t, h.run("", "show", id.String(), "--json").must(t, exitOK).stdout, &shown)
	assert.Equal(t, "reporting", shown["label"], "show --json: %v", shown)
	assert.Equal(t, true, shown["active"], "show --json: %v", shown)
	assert.Equal(t, tok[:3]+"…"+tok[len(tok)-4:], shown["hint"], "show --json: %v", shown)

	var v struct {
		Valid  bool   `json:"valid"`
		Reason string `json:"reason"`
		Key    *struct {
			ID uuid.UUID `json:"id"`
		} `json:"key"`
	}
	decodeOne(t, h.run(tok, "--json", "verify").must(t, exitOK).stdout, &v)
	assert.True(t, v.Valid, "verify --json: %+v", v)
	require.NotNil(t, v.Key, "verify --json: %+v", v)
	assert.Equal(t, id, v.Key.ID, "verify --json")
	v.Key = nil
	decodeOne(t, h.run("sk_nope", "verify", "--json").must(t, exitInvalid).stdout, &v)
	assert.False(t, v.Valid, "verify --json of a bad token: %+v", v)
	assert.Equal(t, "invalid", v.Reason, "verify --json of a bad token")
	assert.Nil(t, v.Key, "verify --json of a bad token")

	var del map[string]any
	decodeOne(t, h.run("", "delete", id.String(), "--json").must(t, exitOK).stdout, &del)
	assert.Equal(t, id.String(), del["deleted"], "delete --json: %v", del)
	decodeOne(t, h.run("", "list", "--json").must(t, exitOK).stdout, &list)
	assert.Len(t, list, 1, "after delete, list --json")
}

// decodeOne decodes s, which must be exactly one JSON value, into v.
func decodeOne(t *testing.T, s string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	require.NoError(t, dec.Decode(v), "decoding %q", s)
	require.False(t, dec.More(), "more than one JSON value in %q", s)
}

func TestExitCodes(t *testing.T) {
	h := newHarness(t)
	id, _ := h.createKey("k", "lists:read")
	unknown := uuid.Must(uuid.NewV7()).String()
	tests := []struct {
		name      string
		stdin     string
		args      []string
		code      int
		stderrHas string
	}{
		{"UnknownCommand", "", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"UnknownFlag", "", []string{"list", "--colour"}, exitUsage, "-colour"},
		{"UnknownGlobalFlag", "", []string{"--colour", "list"}, exitUsage, "-colour"},
		{"CreateWithoutLabel", "", []string{"create"}, exitUsage, "--label is required"},
		{"CreateBlankLabel", "", []string{"create", "--label", " "}, exitUsage, "--label"},
		{"CreateBadScope", "", []string{"create", "--label", "x", "--scopes", "lists:read,lists:admin"}, exitUsage, `"lists:admin"`},
		{"CreateStrayArgument", "", []string{"create", "--label", "x", "extra"}, exitUsage, "no arguments"},
		{"ShowWithoutID", "", []string{"show"}, exitUsage, "1 argument"},
		{"ShowBadID", "", []string{"show", "nope"}, exitUsage, `"nope" is not a key ID`},
		{"ShowUnknownID", "", []string{"show", unknown}, exitNotFound, "no key with ID " + unknown},
		{"RenameUnknownID", "", []string{"rename", unknown, "x"}, exitNotFound, "no key"},
		{"RenameMissingLabel", "", []string{"rename", id.String()}, exitUsage, "2 arguments"},
		{"RenameBlankLabel", "", []string{"rename", id.String(), ""}, exitUsage, "label"},
		{"ActivateUnknownID", "", []string{"activate", unknown}, exitNotFound, "no key"},
		{"DeactivateUnknownID", "", []string{"deactivate", unknown}, exitNotFound, "no key"},
		{"CloneUnknownID", "", []string{"clone", unknown}, exitNotFound, "no key"},
		{"RollUnknownID", "", []string{"roll", unknown}, exitNotFound, "no key"},
		{"RollNegativeGrace", "", []string{"roll", id.String(), "--grace", "-1h"}, exitUsage, `"-1h"`},
		{"RollBadGrace", "", []string{"roll", id.String(), "--grace", "soon"}, exitUsage, `"soon"`},
		{"DeleteUnknownID", "", []string{"delete", unknown}, exitNotFound, "no key"},
		{"ListNegativeLimit", "", []string{"list", "--limit", "-1"}, exitUsage, "--limit"},
		{"ListBadBefore", "", []string{"list", "--before", "x"}, exitUsage, "--before"},
		{"VerifyGarbage", "sk_garbage", []string{"verify"}, exitInvalid, ""},
		{"VerifyEmptyStdin", "", []string{"verify"}, exitUsage, "no token on standard input"},
		{"BadPrefix", "", []string{"--prefix", "bad-prefix", "list"}, exitUsage, "prefix"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.run(tc.stdin, tc.args...).must(t, tc.code)
			assert.Contains(t, r.stderr, tc.stderrHas)
		})
	}
	r := h.run("", "list").must(t, exitOK)
	assert.Equal(t, 2, strings.Count(r.stdout, "\n"), "failed commands changed the keys:\n%s", r.stdout)
}

func TestMissingDatabase(t *testing.T) {
	h := newHarness(t)
	for _, args := range [][]string{{"list"}, {"show", uuid.Must(uuid.NewV7()).String()}, {"verify", "sk_x"}} {
		assert.Contains(t, h.run("", args...).must(t, exitFailure).stderr, "does not exist", "%v: stderr", args)
	}
	h.run("", "create").must(t, exitUsage)
	h.run("", "create", "--label", "x", "--scopes", "nope").must(t, exitUsage)
	h.run("", "--prefix", "bad-prefix", "create", "--label", "x").must(t, exitUsage)
	assert.False(t, fileExists(h.db), "a read command or a usage error created the database")
	h.createKey("first", "full")
	assert.True(t, fileExists(h.db), "create did not make the database")
}

func TestBadDatabaseFile(t *testing.T) {
	h := newHarness(t)
	require.NoError(t, os.WriteFile(h.db, []byte("these are not the keys you are looking for, but a text file long enough"), 0o600))
	for _, args := range [][]string{{"list"}, {"create", "--label", "x"}} {
		assert.Contains(t, h.run("", args...).must(t, exitFailure).stderr, h.db, "%v: stderr does not name the file", args)
	}
	dir := t.TempDir()
	r := h.run("", "--db", dir, "create", "--label", "x").must(t, exitFailure)
	assert.Contains(t, r.stderr, "directory", "a directory as the database: stderr")
}

func TestDatabaseOutlivesTheProcess(t *testing.T) {
	h := newHarness(t)
	id, tok := h.createKey("durable", "lists:read")
	// Each run opens and closes the database, as separate processes would.
	h.run("", "deactivate", id.String()).must(t, exitOK)
	h.run(tok, "verify").must(t, exitInvalid)
	h.run("", "activate", id.String()).must(t, exitOK)
	h.run(tok, "verify").must(t, exitOK)
}

var errIO = errors.New("disk I/O error")

func TestStoreFailureExitsOne(t *testing.T) {
	h := newHarness(t)
	id, _ := h.createKey("k", "full")
	h.withFaults(func(s *apikeytest.FaultStore) {
		for _, m := range []apikeytest.Method{apikeytest.MethodCreate, apikeytest.MethodGet, apikeytest.MethodList, apikeytest.MethodDelete} {
			s.Fail(m, errIO)
		}
	})
	for _, args := range [][]string{{"list"}, {"show", id.String()}, {"create", "--label", "x"}, {"delete", id.String()}} {
		r := h.run("", args...).must(t, exitFailure)
		assert.Contains(t, r.stderr, errIO.Error(), "%v: stderr does not say what failed", args)
	}
	h.open = func(string, bool) (apikey.Store, func() error, error) {
		return nil, nil, errors.New("unable to open database file: permission denied")
	}
	assert.Contains(t, h.run("", "list").must(t, exitFailure).stderr, "permission denied", "open failure: stderr")
}

// TestRollFailureLeavesNoNewKey checks that a roll whose store write fails
// reports the error and leaves the database as it was: no new key, and the
// original with its expiry unchanged.
func TestRollFailureLeavesNoNewKey(t *testing.T) {
	tests := []struct {
		name string
		fail func(s *apikeytest.FaultStore)
	}{
		{"UpdateFails", func(s *apikeytest.FaultStore) { s.Fail(apikeytest.MethodUpdate, errIO) }},
		{"UpdateAppliedButFails", func(s *apikeytest.FaultStore) {
			// The roll's write reaches the database and its reply is
			// lost; the writes that undo the roll go through.
			s.FailWhen(apikeytest.MethodUpdate, func(c apikeytest.Call) error {
				if s.Calls(apikeytest.MethodUpdate) > 1 {
					return nil
				}
				if _, err := s.Unwrap().Update(context.Background(), c.ID, c.Update); err != nil {
					return err
				}
				return errIO
			})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			id, _ := h.createKey("k", "full")
			before := h.run("", "show", "--json", id.String()).must(t, exitOK).stdout

			h.withFaults(tc.fail)
			r := h.run("", "roll", id.String(), "--grace", "1h").must(t, exitFailure)
			assertHasPrefix(t, r.stderr, "keyscope roll: ", "roll's stderr")
			assert.Contains(t, r.stderr, errIO.Error(), "roll's stderr")
			assert.Empty(t, r.stdout, "a failed roll printed to stdout")
			assert.False(t, tokenRE.MatchString(r.stderr), "a failed roll printed a token: %q", r.stderr)

			h.open = openDB
			var keys []idOnly
			decodeOne(t, h.run("", "list", "--json").must(t, exitOK).stdout, &keys)
			assert.Equal(t, []idOnly{{id.String()}}, keys, "the keys after a failed roll")
			assert.Equal(t, before, h.run("", "show", "--json", id.String()).must(t, exitOK).stdout, "the original after a failed roll")
		})
	}
}

func TestDatabaseAndFlagPlacement(t *testing.T) {
	h := newHarness(t)
	other := filepath.Join(t.TempDir(), "other.db")
	h.env[envDB] = other
	id, _ := h.createKey("from env", "full") // no --db: the environment's
	assert.True(t, fileExists(other), "KEYSCOPE_DB was not used")
	for _, args := range [][]string{
		{"show", id.String()},
		{"--db", other, "show", id.String()},
		{"show", "--db", other, id.String()},
		{"show", id.String(), "--db=" + other},
	} {
		h.run("", args...).must(t, exitOK)
	}
	// --db overrides the environment.
	h.run("", "--db", h.db, "show", id.String()).must(t, exitFailure)
	// Flags after arguments, and "--" before an argument that looks like
	// a flag.
	var k map[string]any
	decodeOne(t, h.run("", "show", id.String(), "--json").must(t, exitOK).stdout, &k)
	h.run("", "rename", id.String(), "--", "-dashing-").must(t, exitOK)
	decodeOne(t, h.run("", "show", "--json", "--", id.String()).must(t, exitOK).stdout, &k)
	assert.Equal(t, "-dashing-", k["label"])
}

func TestPrefix(t *testing.T) {
	h := newHarness(t)
	h.env[envPrefix] = "shop"
	_, tok := h.createKey("k", "full")
	assertHasPrefix(t, tok, "shop_", "the token")
	h.run(tok, "verify").must(t, exitOK)
	h.run(tok, "--prefix", "sk", "verify").must(t, exitInvalid)
}

func TestListPagingAndLabels(t *testing.T) {
	h := newHarness(t)
	var ids []uuid.UUID
	for _, label := range []string{"one", "two", "evil \x1b[31mred\x1b[0m", strings.Repeat("long ", 20)} {
		id, _ := h.createKey(label, "full")
		ids = append(ids, id)
	}
	r := h.run("", "list").must(t, exitOK)
	assert.NotContains(t, r.stdout, "\x1b", "list prints a raw escape sequence")
	assert.Contains(t, r.stdout, `"evil \x1b[31mred\x1b[0m"`, "list does not quote a label with an escape sequence")
	assert.Contains(t, r.stdout, "…", "list does not shorten a long label")
	assert.NotContains(t, r.stdout, strings.Repeat("long ", 20), "list does not shorten a long label")
	assert.NotContains(t, h.run("", "show", ids[2].String()).must(t, exitOK).stdout, "\x1b", "show prints a raw escape sequence")

	var page []idOnly
	decodeOne(t, h.run("", "list", "--json", "--limit", "2").must(t, exitOK).stdout, &page)
	require.Equal(t, []idOnly{{ids[3].String()}, {ids[2].String()}}, page, "first page")
	decodeOne(t, h.run("", "list", "--json", "--limit", "2", "--before", page[1].ID).must(t, exitOK).stdout, &page)
	assert.Equal(t, []idOnly{{ids[1].String()}, {ids[0].String()}}, page, "second page")
	assert.Equal(t, "No keys.\n", h.run("", "list", "--before", ids[0].String()).must(t, exitOK).stdout, "empty page")
}
