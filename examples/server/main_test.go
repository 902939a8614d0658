package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startServer runs the example server on a free port over a database in a
// temporary directory, and returns its base URL and its standard output.
// The server is stopped, and must stop cleanly, when the test ends.
func startServer(t *testing.T, db string) (string, *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr bytes.Buffer
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-db", db}, func(string) string { return "" }, &stdout, &stderr, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		require.FailNowf(t, "server did not start", "%v\n%s", err, stderr.String())
	}
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done, "server shutdown")
	})
	return "http://" + addr, &stdout
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
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		json.Unmarshal(b, &out)
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

// TestREADMESession walks the curl session README.md shows.
func TestREADMESession(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	base, stdout := startServer(t, db)
	first := strings.TrimSpace(stdout.String())
	require.True(t, strings.HasPrefix(first, "sk_"), "first start printed %q, want a token", first)
	c := client{t, base}
	mistyped := first[:len(first)-1] + "x"
	if strings.HasSuffix(first, "x") {
		mistyped = first[:len(first)-1] + "y"
	}

	status, _, ro := c.do("POST", "/keys/", first, `{"label":"reporting","scopes":"read-only"}`)
	require.Equal(t, 201, status, "create read-only key: %v", ro)
	assert.Equal(t, "*:read", ro["scopes"], "create read-only key: %v", ro)
	readOnly, readOnlyID := text(t, ro, "token"), text(t, ro, "id")
	status, _, cu := c.do("POST", "/keys/", first, `{"label":"shop integration","scopes":"profiles:read,campaigns:write"}`)
	require.Equal(t, 201, status, "create custom key: %v", cu)
	custom, customID := text(t, cu, "token"), text(t, cu, "id")

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
		{"no key", "GET", "/api/profiles", "", "", 401, `realm="keyscope-example"`},
		{"mistyped key", "GET", "/api/profiles", mistyped, "", 401, `error="invalid_token"`},
		{"unknown route", "GET", "/api/orders", first, "", 404, ""},
		{"deactivate the custom key", "PATCH", "/keys/" + customID, first, `{"active":false}`, 200, ""},
		{"deactivated key refused", "GET", "/api/profiles", custom, "", 401, `error="invalid_token"`},
		{"scopes are fixed", "PATCH", "/keys/" + customID, first, `{"scopes":"*:write"}`, 400, ""},
		{"read-only key cannot mint keys", "POST", "/keys/", readOnly, `{"label":"x","scopes":"profiles:read"}`, 403, ""},
		{"delete the custom key", "DELETE", "/keys/" + customID, first, "", 204, ""},
		{"deleted key is gone", "GET", "/keys/" + customID, first, "", 404, ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			c := client{t, base}
			status, h, body := c.do(s.method, s.path, s.token, s.body)
			assert.Equal(t, s.want, status, "%s %s: %v", s.method, s.path, body)
			assert.Contains(t, h.Get("WWW-Authenticate"), s.wantAuth, "WWW-Authenticate")
		})
	}

	status, _, cl := c.do("POST", "/keys/"+readOnlyID+"/clone", first, "")
	require.Equal(t, 201, status, "clone: %v", cl)
	assert.Equal(t, readOnlyID, cl["cloned_from"], "clone: %v", cl)
	cloneTok := text(t, cl, "token")
	require.NotEmpty(t, cloneTok, "clone: %v", cl)
	status, _, _ = c.do("GET", "/api/lists", cloneTok, "")
	assert.Equal(t, 200, status, "clone's token")
}

func TestRestartKeepsKeysAndMintsNoSecondFirstKey(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	var first string
	t.Run("first start", func(t *testing.T) {
		_, stdout := startServer(t, db)
		first = strings.TrimSpace(stdout.String())
	})
	base, stdout := startServer(t, db)
	assert.Empty(t, stdout.String(), "second start printed to stdout")
	status, _, _ := client{t, base}.do("GET", "/api/tags", first, "")
	assert.Equal(t, 200, status, "first key after restart")
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
