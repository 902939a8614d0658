package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
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
		open: openSQLite,
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
	if h.env[envDB] == "" && !containsDB(args) {
		args = append([]string{"--db", h.db}, args...)
	}
	var out, errb bytes.Buffer
	c := &cli{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		env:  func(k string) string { return h.env[k] },
		open: h.open,
	}
	code := c.run(args)
	return result{out.String(), errb.String(), code}
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
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

var tokenRE = regexp.MustCompile(`\b[A-Za-z0-9]+_[0-9A-Za-z]{72}\b`)

// createKey creates a key and returns its ID and token.
func (h *harness) createKey(label, scopes string) (uuid.UUID, string) {
	h.t.Helper()
	r := h.run("", "create", "--json", "--label", label, "--scopes", scopes).must(h.t, exitOK)
	var k struct {
		ID    uuid.UUID `json:"id"`
		Token string    `json:"token"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &k); err != nil || k.Token == "" {
		h.t.Fatalf("create --json output %q: %v", r.stdout, err)
	}
	return k.ID, k.Token
}

func TestHelp(t *testing.T) {
	h := newHarness(t)
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		r := h.run("", args...).must(t, exitOK)
		for _, want := range []string{"usage: keyscope", "create", "verify", "KEYSCOPE_DB", "Exit status"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%v: help lacks %q:\n%s", args, want, r.stdout)
			}
		}
	}
	for _, cmd := range commands {
		for _, args := range [][]string{{cmd.name, "--help"}, {cmd.name, "-h"}, {"help", cmd.name}} {
			r := h.run("", args...).must(t, exitOK)
			if !strings.Contains(r.stdout, "usage: keyscope "+cmd.name) || !strings.Contains(r.stdout, "-json") ||
				!strings.Contains(r.stdout, "Exit status") {
				t.Errorf("%v: help is\n%s", args, r.stdout)
			}
		}
	}
	if r := h.run("").must(t, exitUsage); !strings.Contains(r.stderr, "usage: keyscope") {
		t.Errorf("no command: stderr %q", r.stderr)
	}
	if fileExists(h.db) {
		t.Error("help created the database")
	}
}

func TestLifecycle(t *testing.T) {
	h := newHarness(t)

	r := h.run("", "create", "--label", "shop integration", "--scopes", "lists:write, campaigns:read").must(t, exitOK)
	toks := tokenRE.FindAllString(r.stdout, -1)
	if len(toks) != 1 || strings.Count(r.stdout, toks[0]) != 1 {
		t.Fatalf("create printed tokens %q, want one, once:\n%s", toks, r.stdout)
	}
	tok := toks[0]
	if tokenRE.MatchString(r.stderr) || !strings.Contains(r.stderr, "Store its token safely") {
		t.Fatalf("create's stderr %q: want the reminder and no token", r.stderr)
	}
	for _, want := range []string{"shop integration", "campaigns:read,lists:write", "Status:      active"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("create output lacks %q:\n%s", want, r.stdout)
		}
	}
	m := regexp.MustCompile(`ID:\s+(\S+)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no ID in %s", r.stdout)
	}
	id := m[1]

	r = h.run("", "list").must(t, exitOK)
	if !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "shop integration") || !strings.Contains(r.stdout, tok[len(tok)-4:]) {
		t.Errorf("list:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, tok) {
		t.Fatal("list shows the token")
	}

	r = h.run("", "show", id).must(t, exitOK)
	if !strings.Contains(r.stdout, "campaigns:read,lists:write") || strings.Contains(r.stdout, tok) {
		t.Errorf("show:\n%s", r.stdout)
	}

	h.run("", "verify", tok).must(t, exitOK)
	if r := h.run(tok+"\n", "verify").must(t, exitOK); !strings.HasPrefix(r.stdout, "valid\n") || !strings.Contains(r.stdout, id) {
		t.Errorf("verify from stdin:\n%s", r.stdout)
	}
	h.run(tok, "verify", "-").must(t, exitOK)

	if r := h.run("", "rename", id, "shop (old)").must(t, exitOK); !strings.Contains(r.stdout, "shop (old)") {
		t.Errorf("rename:\n%s", r.stdout)
	}

	h.run("", "deactivate", id).must(t, exitOK)
	if r := h.run("", "verify", tok).must(t, exitInvalid); !strings.HasPrefix(r.stdout, "inactive") {
		t.Errorf("verify deactivated: %q", r.stdout)
	}
	h.run("", "activate", id).must(t, exitOK)
	h.run("", "verify", tok).must(t, exitOK)

	r = h.run("", "clone", id).must(t, exitOK)
	cloneTok := tokenRE.FindString(r.stdout)
	if cloneTok == "" || cloneTok == tok || !strings.Contains(r.stdout, "Cloned from: "+id) || !strings.Contains(r.stderr, "Store its token safely") {
		t.Fatalf("clone:\n%s\n%s", r.stdout, r.stderr)
	}
	h.run("", "verify", cloneTok).must(t, exitOK)
	h.run("", "verify", tok).must(t, exitOK)

	r = h.run("", "roll", id, "--grace", "1h").must(t, exitOK)
	rollTok := tokenRE.FindString(r.stdout)
	if rollTok == "" || !strings.Contains(r.stderr, "stops verifying at") {
		t.Fatalf("roll:\n%s\n%s", r.stdout, r.stderr)
	}
	h.run("", "verify", rollTok).must(t, exitOK)
	h.run("", "verify", tok).must(t, exitOK) // within its grace
	if r := h.run("", "show", id).must(t, exitOK); strings.Contains(r.stdout, "Expires:     never") {
		t.Errorf("rolled original does not expire:\n%s", r.stdout)
	}

	cloneID := regexp.MustCompile(`ID:\s+(\S+)`).FindStringSubmatch(h.run("", "verify", cloneTok).stdout)[1]
	h.run("", "roll", cloneID).must(t, exitOK) // no grace
	if r := h.run("", "verify", cloneTok).must(t, exitInvalid); !strings.HasPrefix(r.stdout, "expired") {
		t.Errorf("verify rolled without grace: %q", r.stdout)
	}

	if r := h.run("", "delete", id).must(t, exitOK); !strings.Contains(r.stdout, "Deleted key "+id) {
		t.Errorf("delete: %q", r.stdout)
	}
	h.run("", "show", id).must(t, exitNotFound)
	h.run("", "delete", id).must(t, exitNotFound)
	if r := h.run("", "verify", tok).must(t, exitInvalid); !strings.HasPrefix(r.stdout, "invalid") {
		t.Errorf("verify deleted: %q", r.stdout)
	}
}

func TestJSONOutput(t *testing.T) {
	h := newHarness(t)
	id, tok := h.createKey("reporting", "read-only")

	var created map[string]any
	r := h.run("", "create", "--label", "full one", "--json").must(t, exitOK)
	decodeOne(t, r.stdout, &created)
	if created["scopes"] != "*:write" || created["token"] == "" || created["digest"] != nil {
		t.Errorf("create --json: %v", created)
	}

	var list []map[string]any
	decodeOne(t, h.run("", "list", "--json").must(t, exitOK).stdout, &list)
	if len(list) != 2 || list[1]["id"] != id.String() || list[1]["scopes"] != "*:read" || list[1]["token"] != nil {
		t.Errorf("list --json: %v", list)
	}

	var shown map[string]any
	decodeOne(t, h.run("", "show", id.String(), "--json").must(t, exitOK).stdout, &shown)
	if shown["label"] != "reporting" || shown["active"] != true || shown["hint"] != tok[:3]+"…"+tok[len(tok)-4:] {
		t.Errorf("show --json: %v", shown)
	}

	var v struct {
		Valid  bool   `json:"valid"`
		Reason string `json:"reason"`
		Key    *struct {
			ID uuid.UUID `json:"id"`
		} `json:"key"`
	}
	decodeOne(t, h.run("", "--json", "verify", tok).must(t, exitOK).stdout, &v)
	if !v.Valid || v.Key == nil || v.Key.ID != id {
		t.Errorf("verify --json: %+v", v)
	}
	v.Key = nil
	decodeOne(t, h.run("", "verify", "--json", "sk_nope").must(t, exitInvalid).stdout, &v)
	if v.Valid || v.Reason != "invalid" || v.Key != nil {
		t.Errorf("verify --json of a bad token: %+v", v)
	}

	var del map[string]any
	decodeOne(t, h.run("", "delete", id.String(), "--json").must(t, exitOK).stdout, &del)
	if del["deleted"] != id.String() {
		t.Errorf("delete --json: %v", del)
	}
	decodeOne(t, h.run("", "list", "--json").must(t, exitOK).stdout, &list)
	if len(list) != 1 {
		t.Errorf("after delete, list --json has %d keys", len(list))
	}
}

// decodeOne decodes s, which must be exactly one JSON value, into v.
func decodeOne(t *testing.T, s string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
	if dec.More() {
		t.Fatalf("more than one JSON value in %q", s)
	}
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
		{"VerifyGarbage", "", []string{"verify", "sk_garbage"}, exitInvalid, ""},
		{"VerifyEmptyStdin", "", []string{"verify"}, exitUsage, "no token"},
		{"BadPrefix", "", []string{"--prefix", "bad-prefix", "list"}, exitUsage, "prefix"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.run(tc.stdin, tc.args...).must(t, tc.code)
			if !strings.Contains(r.stderr, tc.stderrHas) {
				t.Errorf("stderr %q lacks %q", r.stderr, tc.stderrHas)
			}
		})
	}
	if r := h.run("", "list").must(t, exitOK); strings.Count(r.stdout, "\n") != 2 {
		t.Errorf("failed commands changed the keys:\n%s", r.stdout)
	}
}

func TestMissingDatabase(t *testing.T) {
	h := newHarness(t)
	for _, args := range [][]string{{"list"}, {"show", uuid.Must(uuid.NewV7()).String()}, {"verify", "sk_x"}} {
		r := h.run("", args...).must(t, exitFailure)
		if !strings.Contains(r.stderr, "does not exist") {
			t.Errorf("%v: stderr %q", args, r.stderr)
		}
	}
	h.run("", "create").must(t, exitUsage)
	h.run("", "create", "--label", "x", "--scopes", "nope").must(t, exitUsage)
	h.run("", "--prefix", "bad-prefix", "create", "--label", "x").must(t, exitUsage)
	if fileExists(h.db) {
		t.Fatal("a read command or a usage error created the database")
	}
	h.createKey("first", "full")
	if !fileExists(h.db) {
		t.Fatal("create did not make the database")
	}
}

func TestBadDatabaseFile(t *testing.T) {
	h := newHarness(t)
	if err := os.WriteFile(h.db, []byte("these are not the keys you are looking for, but a text file long enough"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"list"}, {"create", "--label", "x"}} {
		r := h.run("", args...).must(t, exitFailure)
		if !strings.Contains(r.stderr, h.db) {
			t.Errorf("%v: stderr %q does not name the file", args, r.stderr)
		}
	}
	dir := t.TempDir()
	if r := h.run("", "--db", dir, "create", "--label", "x").must(t, exitFailure); !strings.Contains(r.stderr, "directory") {
		t.Errorf("a directory as the database: stderr %q", r.stderr)
	}
}

func TestDatabaseOutlivesTheProcess(t *testing.T) {
	h := newHarness(t)
	id, tok := h.createKey("durable", "lists:read")
	// Each run opens and closes the database, as separate processes would.
	h.run("", "deactivate", id.String()).must(t, exitOK)
	h.run("", "verify", tok).must(t, exitInvalid)
	h.run("", "activate", id.String()).must(t, exitOK)
	h.run("", "verify", tok).must(t, exitOK)
}

func TestStoreFailureExitsOne(t *testing.T) {
	h := newHarness(t)
	id, _ := h.createKey("k", "full")
	inner := h.open
	h.open = func(path string, create bool) (apikey.Store, func() error, error) {
		st, closeFn, err := inner(path, create)
		return brokenStore{st}, closeFn, err
	}
	for _, args := range [][]string{{"list"}, {"show", id.String()}, {"create", "--label", "x"}, {"delete", id.String()}} {
		r := h.run("", args...).must(t, exitFailure)
		if !strings.Contains(r.stderr, "disk I/O error") {
			t.Errorf("%v: stderr %q does not say what failed", args, r.stderr)
		}
	}
	h.open = func(string, bool) (apikey.Store, func() error, error) {
		return nil, nil, errors.New("unable to open database file: permission denied")
	}
	if r := h.run("", "list").must(t, exitFailure); !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("open failure: stderr %q", r.stderr)
	}
}

// brokenStore fails every operation.
type brokenStore struct{ apikey.Store }

var errIO = errors.New("disk I/O error")

func (brokenStore) Create(context.Context, apikey.Key) error { return errIO }
func (brokenStore) Get(context.Context, uuid.UUID) (apikey.Key, error) {
	return apikey.Key{}, errIO
}
func (brokenStore) List(context.Context, apikey.ListOptions) ([]apikey.Key, error) {
	return nil, errIO
}
func (brokenStore) Delete(context.Context, uuid.UUID) error { return errIO }

func TestDatabaseAndFlagPlacement(t *testing.T) {
	h := newHarness(t)
	other := filepath.Join(t.TempDir(), "other.db")
	h.env[envDB] = other
	id, _ := h.createKey("from env", "full") // no --db: the environment's
	if !fileExists(other) {
		t.Fatal("KEYSCOPE_DB was not used")
	}
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
	if k["label"] != "-dashing-" {
		t.Errorf("label %v", k["label"])
	}
}

func TestPrefix(t *testing.T) {
	h := newHarness(t)
	h.env[envPrefix] = "shop"
	_, tok := h.createKey("k", "full")
	if !strings.HasPrefix(tok, "shop_") {
		t.Fatalf("token %q lacks the prefix", tok)
	}
	h.run("", "verify", tok).must(t, exitOK)
	h.run("", "--prefix", "sk", "verify", tok).must(t, exitInvalid)
}

func TestListPagingAndLabels(t *testing.T) {
	h := newHarness(t)
	var ids []uuid.UUID
	for _, label := range []string{"one", "two", "evil \x1b[31mred\x1b[0m", strings.Repeat("long ", 20)} {
		id, _ := h.createKey(label, "full")
		ids = append(ids, id)
	}
	r := h.run("", "list").must(t, exitOK)
	if strings.Contains(r.stdout, "\x1b") || !strings.Contains(r.stdout, `"evil \x1b[31mred\x1b[0m"`) {
		t.Errorf("list prints a raw escape sequence:\n%q", r.stdout)
	}
	if !strings.Contains(r.stdout, "…") || strings.Contains(r.stdout, strings.Repeat("long ", 20)) {
		t.Errorf("list does not shorten a long label:\n%s", r.stdout)
	}
	if r := h.run("", "show", ids[2].String()).must(t, exitOK); strings.Contains(r.stdout, "\x1b") {
		t.Errorf("show prints a raw escape sequence")
	}

	var page []struct {
		ID uuid.UUID `json:"id"`
	}
	decodeOne(t, h.run("", "list", "--json", "--limit", "2").must(t, exitOK).stdout, &page)
	if len(page) != 2 || page[0].ID != ids[3] || page[1].ID != ids[2] {
		t.Fatalf("first page %v", page)
	}
	decodeOne(t, h.run("", "list", "--json", "--limit", "2", "--before", page[1].ID.String()).must(t, exitOK).stdout, &page)
	if len(page) != 2 || page[0].ID != ids[1] || page[1].ID != ids[0] {
		t.Fatalf("second page %v", page)
	}
	if r := h.run("", "list", "--before", ids[0].String()).must(t, exitOK); r.stdout != "No keys.\n" {
		t.Errorf("empty page: %q", r.stdout)
	}
}
