package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/sqlitestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe for concurrent use: the server writes
// its log while a test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is an example server a test started.
type server struct {
	base   string          // its URL
	stdout *syncBuffer     // what it printed on stdout: the first key, if it minted one
	stderr *syncBuffer     // its messages and log
	m      *apikey.Manager // its Manager, to mint keys as the keyscope command would
	addr   string          // its listening address
	srv    *http.Server    // its http.Server
	signIn string          // the settings page's one-time sign-in link it printed
}

// startServer runs the example server on a free port over the database
// db (without -db if db is empty), with the changes adjust makes to its
// http.Server, and returns it once it accepts connections. The server is
// stopped, and must stop cleanly, when the test ends.
func startServer(t *testing.T, db string, adjust ...func(*http.Server)) server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := server{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	args := []string{"-addr", "127.0.0.1:0"}
	if db != "" {
		args = append(args, "-db", db)
	}
	ready := make(chan started, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, func(string) string { return "" }, s.stdout, s.stderr, ready, adjust...)
	}()
	select {
	case st := <-ready:
		s.base, s.m, s.addr, s.srv, s.signIn = "http://"+st.addr, st.m, st.addr, st.srv, st.signIn
	case err := <-done:
		cancel()
		require.FailNowf(t, "server did not start", "%v\n%s", err, s.stderr)
	}
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done, "server shutdown")
	})
	return s
}

// firstKey returns the token the server printed on first start.
func (s server) firstKey(t *testing.T) string {
	t.Helper()
	tok := strings.TrimSpace(s.stdout.String())
	require.True(t, strings.HasPrefix(tok, "sk_"), "first start printed %q, want a token", tok)
	return tok
}

// mint creates a key of owner with scopes through the server's Manager, as
// keyscope create --owner would on the same database, and returns its token
// and ID.
func (s server) mint(t *testing.T, owner, label, scopes string) (string, string) {
	t.Helper()
	sc, err := apikey.ParseScopes(scopes)
	require.NoError(t, err)
	k, tok, err := s.m.Create(context.Background(), apikey.CreateParams{Owner: owner, Label: label, Scopes: sc})
	require.NoError(t, err)
	return tok.Reveal(), k.ID.String()
}

type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path, token, body string) (int, http.Header, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	require.NoError(c.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err, "%s %s", method, path)
	defer resp.Body.Close()
	var out map[string]any
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err, "%s %s", method, path)
	if len(b) > 0 {
		require.NoError(c.t, json.Unmarshal(b, &out), "%s %s: body %q", method, path, b)
	}
	return resp.StatusCode, resp.Header, out
}

// text returns the string field name of a JSON answer, which must be there.
func text(t *testing.T, answer map[string]any, name string) string {
	t.Helper()
	s, ok := answer[name].(string)
	require.True(t, ok, "no string %q in %v", name, answer)
	return s
}

// listKeys returns the IDs and owners of the keys GET /keys answers token
// with.
func (c client) listKeys(token string) (ids, owners []string) {
	c.t.Helper()
	status, _, body := c.do("GET", "/keys", token, "")
	require.Equal(c.t, 200, status, "list keys: %v", body)
	ks, ok := body["keys"].([]any)
	require.True(c.t, ok, "list keys: %v", body)
	for _, k := range ks {
		rec, ok := k.(map[string]any)
		require.True(c.t, ok, "list keys: %v", body)
		owner, _ := rec["owner"].(string)
		ids, owners = append(ids, text(c.t, rec, "id")), append(owners, owner)
	}
	return ids, owners
}

// TestFirstStartMintsTheDemoAccountsKey checks the key the first start
// prints: it belongs to the account "demo", has full access to the data
// and an explicit keys:write, and the server says so on stderr.
func TestFirstStartMintsTheDemoAccountsKey(t *testing.T) {
	s := startServer(t, filepath.Join(t.TempDir(), "keys.db"))
	first := s.firstKey(t)
	assert.Equal(t, 1, strings.Count(s.stdout.String(), "\n"), "stdout holds more than the token: %q", s.stdout)
	assert.Contains(t, s.stderr.String(), `account "demo" (*:write,keys:write)`, "stderr")
	assert.Contains(t, s.stderr.String(), "shown once", "stderr")
	assert.NotContains(t, s.stderr.String(), first, "stderr shows the token")

	k, err := s.m.Verify(context.Background(), first)
	require.NoError(t, err)
	assert.Equal(t, "demo", k.Owner)
	assert.Equal(t, "*:write,keys:write", k.Scopes.String())
	assert.True(t, k.ExpiresAt.IsZero(), "first key expires at %v", k.ExpiresAt)

	c := client{t, s.base}
	status, _, _ := c.do("GET", "/api/profiles", first, "")
	assert.Equal(t, 200, status, "first key reads data")
	status, _, _ = c.do("POST", "/api/profiles", first, `{"name":"new"}`)
	assert.Equal(t, 201, status, "first key writes data")
	ids, owners := c.listKeys(first)
	assert.Equal(t, []string{k.ID.String()}, ids, "first key lists keys")
	assert.Equal(t, []string{"demo"}, owners, "first key lists keys")
}

// TestREADMESession walks the curl session README.md shows.
func TestREADMESession(t *testing.T) {
	s := startServer(t, filepath.Join(t.TempDir(), "keys.db"))
	demo := s.firstKey(t)
	c := client{t, s.base}
	mistyped := demo[:len(demo)-1] + "x"
	if strings.HasSuffix(demo, "x") {
		mistyped = demo[:len(demo)-1] + "y"
	}

	status, _, ro := c.do("POST", "/keys/", demo, `{"label":"reporting","scopes":"read-only"}`)
	require.Equal(t, 201, status, "create read-only key: %v", ro)
	assert.Equal(t, "*:read", ro["scopes"], "create read-only key: %v", ro)
	assert.Equal(t, "demo", ro["owner"], "create read-only key: %v", ro)
	readOnly, readOnlyID := text(t, ro, "token"), text(t, ro, "id")
	status, _, cu := c.do("POST", "/keys/", demo, `{"label":"shop integration","scopes":"profiles:read,campaigns:write"}`)
	require.Equal(t, 201, status, "create custom key: %v", cu)
	custom, customID := text(t, cu, "token"), text(t, cu, "id")
	status, _, fu := c.do("POST", "/keys/", demo, `{"label":"backend","scopes":"full"}`)
	require.Equal(t, 201, status, "create full-access key: %v", fu)
	assert.Equal(t, "*:write", fu["scopes"], "create full-access key: %v", fu)
	full := text(t, fu, "token")
	status, _, cl := c.do("POST", "/keys/"+customID+"/clone", demo, "")
	require.Equal(t, 201, status, "clone: %v", cl)
	assert.Equal(t, customID, cl["cloned_from"], "clone: %v", cl)
	assert.Equal(t, "demo", cl["owner"], "clone: %v", cl)
	cloneTok := text(t, cl, "token")

	steps := []struct {
		name, method, path, token, body string
		want                            int
		wantAuth                        string // substring of WWW-Authenticate
	}{
		{"read-only key reads profiles", "GET", "/api/profiles", readOnly, "", 200, ""},
		{"read-only key refused a write", "POST", "/api/profiles", readOnly, `{"name":"new"}`, 403, `scope="profiles:write"`},
		{"read-only key may include lists", "GET", "/api/profiles?include=lists", readOnly, "", 200, ""},
		{"include needs an extra scope", "GET", "/api/profiles?include=lists", custom, "", 403, `scope="lists:read"`},
		{"undeclared include is a 400", "GET", "/api/profiles?include=flows", custom, "", 400, ""},
		{"custom key writes campaigns", "POST", "/api/campaigns", custom, `{"name":"spring sale"}`, 201, ""},
		{"full-access key writes data", "POST", "/api/lists", full, `{"name":"vip"}`, 201, ""},
		{"no key", "GET", "/api/profiles", "", "", 401, `realm="keyscope-example"`},
		{"mistyped key", "GET", "/api/profiles", mistyped, "", 401, `error="invalid_token"`},
		{"unknown route", "GET", "/api/orders", demo, "", 404, ""},
		{"read-only key cannot list keys", "GET", "/keys/", readOnly, "", 403, ""},
		{"read-only key cannot mint keys", "POST", "/keys/", readOnly, `{"label":"x","scopes":"profiles:read"}`, 403, ""},
		{"full-access key cannot list keys", "GET", "/keys/", full, "", 403, ""},
		{"full-access key cannot deactivate keys", "PATCH", "/keys/" + customID, full, `{"active":false}`, 403, ""},
		{"deactivate the custom key", "PATCH", "/keys/" + customID, demo, `{"active":false}`, 200, ""},
		{"deactivated key refused", "GET", "/api/profiles", custom, "", 401, `error="invalid_token"`},
		{"scopes are fixed", "PATCH", "/keys/" + customID, demo, `{"scopes":"*:write"}`, 400, ""},
		{"delete the custom key", "DELETE", "/keys/" + customID, demo, "", 204, ""},
		{"deleted key is gone", "GET", "/keys/" + customID, demo, "", 404, ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			c := client{t, s.base}
			status, h, body := c.do(st.method, st.path, st.token, st.body)
			assert.Equal(t, st.want, status, "%s %s: %v", st.method, st.path, body)
			assert.Contains(t, h.Get("WWW-Authenticate"), st.wantAuth, "WWW-Authenticate")
		})
	}

	status, _, _ = c.do("GET", "/api/profiles", cloneTok, "")
	assert.Equal(t, 200, status, "the clone works after its original is gone")

	// A second account, as keyscope create --owner acme makes it.
	acme, acmeID := s.mint(t, "acme", "acme integration", "*:write,keys:write")
	ids, owners := c.listKeys(acme)
	assert.Equal(t, []string{acmeID}, ids, "acme lists its keys")
	assert.Equal(t, []string{"acme"}, owners, "acme lists its keys")
	_, owners = c.listKeys(demo)
	assert.Len(t, owners, 4, "demo lists its keys: first, reporting, backend and the clone")
	assert.NotContains(t, owners, "acme", "demo lists acme's keys")
	status, _, _ = c.do("GET", "/keys/"+readOnlyID, acme, "")
	assert.Equal(t, 404, status, "acme reads demo's key")
	status, _, _ = c.do("PATCH", "/keys/"+readOnlyID, acme, `{"active":false}`)
	assert.Equal(t, 404, status, "acme deactivates demo's key")
	status, _, _ = c.do("DELETE", "/keys/"+readOnlyID, acme, "")
	assert.Equal(t, 404, status, "acme deletes demo's key")
	status, _, _ = c.do("GET", "/api/lists", readOnly, "")
	assert.Equal(t, 200, status, "demo's key still works")
	status, _, _ = c.do("GET", "/keys/"+acmeID, demo, "")
	assert.Equal(t, 404, status, "demo reads acme's key")

	status, _, created := c.do("POST", "/api/tags", demo, `{"name":"demo only"}`)
	require.Equal(t, 201, status, "demo creates a tag: %v", created)
	tag := "/api/tags/" + dataID(t, created)
	status, _, _ = c.do("GET", tag, acme, "")
	assert.Equal(t, 404, status, "acme reads demo's tag")
	status, _, acmeTags := c.do("GET", "/api/tags", acme, "")
	require.Equal(t, 200, status, "acme lists its tags")
	assert.NotContains(t, fmtJSON(t, acmeTags), "demo only", "acme's tags")
	assert.Len(t, acmeTags["data"], 2, "acme starts with its own copy of the demo data: %v", acmeTags)
	status, _, _ = c.do("GET", tag, demo, "")
	assert.Equal(t, 200, status, "demo reads its tag")
}

// TestAccountsAreIsolated checks that a key of one account can neither see
// nor change the keys or the data of another, through every route, in both
// directions, and that what it tried to change is unchanged.
func TestAccountsAreIsolated(t *testing.T) {
	s := startServer(t, filepath.Join(t.TempDir(), "keys.db"))
	c := client{t, s.base}
	type account struct {
		name, admin string // the account and its key that manages keys
		keyID       string // another key of the account
		tagPath     string // an item of its data
	}
	newAccount := func(name, admin string) account {
		a := account{name: name, admin: admin}
		status, _, k := c.do("POST", "/keys", admin, `{"label":"`+name+` reporting","scopes":"read-only"}`)
		require.Equal(t, 201, status, "%s creates a key: %v", name, k)
		a.keyID = text(t, k, "id")
		status, _, it := c.do("POST", "/api/tags", admin, `{"name":"`+name+` tag"}`)
		require.Equal(t, 201, status, "%s creates a tag: %v", name, it)
		a.tagPath = "/api/tags/" + dataID(t, it)
		return a
	}
	acmeAdmin, _ := s.mint(t, "acme", "acme integration", "*:write,keys:write")
	accounts := []account{newAccount("demo", s.firstKey(t)), newAccount("acme", acmeAdmin)}

	for _, pair := range [][2]account{{accounts[0], accounts[1]}, {accounts[1], accounts[0]}} {
		caller, other := pair[0], pair[1]
		t.Run(caller.name+" on "+other.name, func(t *testing.T) {
			c := client{t, s.base}
			_, owners := c.listKeys(caller.admin)
			assert.NotContains(t, owners, other.name, "list keys")
			status, _, list := c.do("GET", "/api/tags", caller.admin, "")
			require.Equal(t, 200, status, "list tags: %v", list)
			assert.NotContains(t, fmtJSON(t, list), other.name+" tag", "list tags")

			for _, r := range []struct{ method, path, body string }{
				{"GET", "/keys/" + other.keyID, ""},
				{"PATCH", "/keys/" + other.keyID, `{"label":"taken"}`},
				{"PATCH", "/keys/" + other.keyID, `{"active":false}`},
				{"POST", "/keys/" + other.keyID + "/clone", ""},
				{"POST", "/keys/" + other.keyID + "/roll", `{"grace":"0s"}`},
				{"DELETE", "/keys/" + other.keyID, ""},
				{"GET", other.tagPath, ""},
				{"PATCH", other.tagPath, `{"name":"taken"}`},
				{"PUT", other.tagPath, `{"name":"taken"}`},
				{"DELETE", other.tagPath, ""},
			} {
				status, _, body := c.do(r.method, r.path, caller.admin, r.body)
				assert.Equal(t, 404, status, "%s %s %s: %v", r.method, r.path, r.body, body)
			}

			status, _, k := c.do("GET", "/keys/"+other.keyID, other.admin, "")
			require.Equal(t, 200, status, "%s reads its key: %v", other.name, k)
			assert.Equal(t, other.name+" reporting", k["label"], "%s's key", other.name)
			assert.Equal(t, true, k["active"], "%s's key", other.name)
			assert.Equal(t, other.name, k["owner"], "%s's key", other.name)
			_, owners = c.listKeys(other.admin)
			assert.Len(t, owners, 2, "%s's keys: none cloned, rolled or deleted", other.name)
			status, _, it := c.do("GET", other.tagPath, other.admin, "")
			require.Equal(t, 200, status, "%s reads its tag: %v", other.name, it)
			assert.Equal(t, map[string]any{"id": strings.TrimPrefix(other.tagPath, "/api/tags/"), "name": other.name + " tag"}, it["data"])
		})
	}
}

func fmtJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestRestartKeepsKeysAndMintsNoSecondFirstKey(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	var first string
	t.Run("first start", func(t *testing.T) {
		first = startServer(t, db).firstKey(t)
	})
	s := startServer(t, db)
	assert.Empty(t, s.stdout.String(), "second start printed to stdout")
	status, _, _ := client{t, s.base}.do("GET", "/api/tags", first, "")
	assert.Equal(t, 200, status, "first key after restart")
}

// TestKeysOfAnyAccountPreventTheFirstKey starts the server on a database
// that holds only a key of an account other than "demo": it is not a first
// start, so no key is minted.
func TestKeysOfAnyAccountPreventTheFirstKey(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	store, err := sqlitestore.Open(db)
	require.NoError(t, err)
	m, err := apikey.NewManager(apikey.Options{Store: store})
	require.NoError(t, err)
	_, _, err = m.Create(context.Background(), apikey.CreateParams{Owner: "acme", Label: "made by the CLI"})
	require.NoError(t, err)
	require.NoError(t, m.Close())
	require.NoError(t, store.Close())

	s := startServer(t, db)
	assert.Empty(t, s.stdout.String(), "start printed to stdout")
	assert.NotContains(t, s.stderr.String(), "minted", "stderr")
}

func TestRunRejectsBadArguments(t *testing.T) {
	dir := t.TempDir()
	for name, args := range map[string][]string{
		"unknown flag":   {"-nope"},
		"extra argument": {"-db", filepath.Join(dir, "a.db"), "extra"},
		"db is a dir":    {"-db", dir, "-addr", "127.0.0.1:0"},
		"bad address":    {"-db", filepath.Join(dir, "b.db"), "-addr", "not-an-address"},
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			assert.Error(t, run(context.Background(), args, func(string) string { return "" }, &out, &out, nil), "run succeeded")
		})
	}
}

// TestScopesAreServedAndEnforced reads the route table the server publishes
// at /api/scopes and checks it against the server itself: a key granting
// exactly a route's scope reaches it, a POST search needs only read access,
// and a read-only key cannot create.
func TestScopesAreServedAndEnforced(t *testing.T) {
	s := startServer(t, filepath.Join(t.TempDir(), "keys.db"))
	c := client{t: t, base: s.base}
	status, hdr, body := c.do("GET", "/api/scopes", "", "")
	require.Equal(t, http.StatusOK, status, "GET /api/scopes needs no key: %v", body)
	assert.Equal(t, "application/json", hdr.Get("Content-Type"))
	routes, ok := body["routes"].([]any)
	require.True(t, ok, "no routes in %v", body)
	byRoute := map[string]map[string]any{}
	for _, r := range routes {
		rt, ok := r.(map[string]any)
		require.True(t, ok, "route %v", r)
		byRoute[text(t, rt, "method")+" "+text(t, rt, "pattern")] = rt
	}
	assert.Len(t, byRoute, len(routes), "routes listed twice")
	for pattern, scope := range map[string]string{
		"GET /api/profiles":          "profiles:read",
		"POST /api/profiles":         "profiles:write",
		"DELETE /api/lists/{id}":     "lists:write",
		"POST /api/profiles/search":  "profiles:read",
		"POST /api/campaigns/search": "campaigns:read",
	} {
		require.Contains(t, byRoute, pattern)
		assert.Equal(t, scope, byRoute[pattern]["scope"], pattern)
	}
	assert.Equal(t, []any{"lists", "segments", "subscriptions"}, byRoute["GET /api/profiles/{id}"]["includes"])

	reader, _ := s.mint(t, "demo", "reader", "profiles:read")
	status, _, found := c.do("POST", "/api/profiles/search", reader, `{"name":"profiles"}`)
	assert.Equal(t, http.StatusOK, status, "search with profiles:read: %v", found)
	assert.Len(t, found["data"], 2, "search: %v", found)
	status, _, _ = c.do("POST", "/api/profiles", reader, `{"name":"new"}`)
	assert.Equal(t, http.StatusForbidden, status, "create with profiles:read")
	status, hdr, _ = c.do("DELETE", "/api/profiles/search", reader, "")
	assert.Equal(t, http.StatusForbidden, status, "DELETE /api/profiles/search is the item route, which needs profiles:write")
	assert.Contains(t, hdr.Get("WWW-Authenticate"), `scope="profiles:write"`)
	status, hdr, _ = c.do("POST", "/api/profiles/1", reader, `{}`)
	assert.Equal(t, http.StatusMethodNotAllowed, status, "POST on an item")
	assert.Equal(t, "GET, HEAD, PUT, PATCH, DELETE", hdr.Get("Allow"))
}
