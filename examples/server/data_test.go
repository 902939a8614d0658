package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyscope/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dataClient sends requests straight to a data API, without the router's
// checks, as the key of one account would.
type dataClient struct {
	api   http.Handler
	owner string
	noKey bool // send no key at all
}

func (c dataClient) do(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if !c.noKey {
		req = req.WithContext(apikey.NewContext(req.Context(), apikey.Key{Owner: c.owner, Scopes: apikey.FullAccess()}))
	}
	rec := httptest.NewRecorder()
	c.api.ServeHTTP(rec, req)
	var out map[string]any
	if rec.Body.Len() > 0 {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), "%s %s: body %q", method, path, rec.Body)
		assert.Equal(t, "application/json", rec.Header().Get("Content-Type"), "%s %s", method, path)
	}
	return rec.Code, out
}

// unguarded serves d's routes on a plain ServeMux, without the router's
// checks, so that the data API's own behaviour can be tested alone.
func unguarded(d *dataAPI) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range d.routes() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	return mux
}

// dataID returns the "id" of the "data" object of an answer.
func dataID(t *testing.T, answer map[string]any) string {
	t.Helper()
	data, ok := answer["data"].(map[string]any)
	require.True(t, ok, "no data object in %v", answer)
	return text(t, data, "id")
}

// TestDataAPI walks the data API's operations on one resource of one
// account.
func TestDataAPI(t *testing.T) {
	c := dataClient{api: unguarded(newDataAPI()), owner: "demo"}

	status, created := c.do(t, "POST", "/api/tags", `{"name":"new","id":"ignored"}`)
	require.Equal(t, http.StatusCreated, status, "create: %v", created)
	id := dataID(t, created)
	assert.NotEqual(t, "ignored", id, "create took the client's ID")
	item := "/api/tags/" + id

	steps := []struct {
		name, method, path, body string
		want                     int
		wantData                 any // the "data" of the answer, if not nil
	}{
		{"get", "GET", item, "", 200, map[string]any{"id": id, "name": "new"}},
		{"patch", "PATCH", item, `{"name":"renamed","id":"x","colour":"red"}`, 200, map[string]any{"id": id, "name": "renamed", "colour": "red"}},
		{"put", "PUT", item, `{"name":"put"}`, 200, map[string]any{"id": id, "name": "put", "colour": "red"}},
		{"list", "GET", "/api/tags", "", 200, nil},
		{"bad body", "POST", "/api/tags", `["not an object"]`, 400, nil},
		{"null body", "POST", "/api/tags", `null`, 400, nil},
		{"null patch", "PATCH", item, `null`, 400, nil},
		{"bad body before unknown item", "PATCH", "/api/tags/nope", `nope`, 400, nil},
		{"unknown item", "GET", "/api/tags/nope", "", 404, nil},
		{"update unknown item", "PUT", "/api/tags/nope", `{}`, 404, nil},
		{"delete unknown item", "DELETE", "/api/tags/nope", "", 404, nil},
		{"delete", "DELETE", item, "", 204, nil},
		{"deleted", "GET", item, "", 404, nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			status, body := c.do(t, s.method, s.path, s.body)
			assert.Equal(t, s.want, status, "%s %s: %v", s.method, s.path, body)
			if s.wantData != nil {
				assert.Equal(t, s.wantData, body["data"])
			}
		})
	}

	status, found := c.do(t, "POST", "/api/profiles/search", `{"name":"profiles 2"}`)
	require.Equal(t, http.StatusOK, status, "search: %v", found)
	assert.Len(t, found["data"], 1, "search for one name: %v", found)
	status, found = c.do(t, "POST", "/api/profiles/search", `{"name":"nobody"}`)
	require.Equal(t, http.StatusOK, status, "search: %v", found)
	assert.Equal(t, []any{}, found["data"], "search for no name")
	status, _ = c.do(t, "POST", "/api/profiles/search", `{"name":7}`)
	assert.Equal(t, http.StatusBadRequest, status, "search for a number")

	status, spaced := c.do(t, "GET", "/api/profiles?include=%20lists%09", "")
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, spaced["included"], 1, "an include with spaces around it: %v", spaced)
	assert.Len(t, spaced["included"].(map[string]any)["lists"], 2, "the lists included, read as the router read them")

	status, list := c.do(t, "GET", "/api/profiles?include=lists,segments&include=", "")
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, list["data"], 2, "profiles")
	included, ok := list["included"].(map[string]any)
	require.True(t, ok, "included: %v", list)
	assert.Len(t, included, 2, "included: %v", included)
	assert.Len(t, included["lists"], 2, "included lists")
	assert.Len(t, included["segments"], 2, "included segments")
}

// ids returns the IDs of the items of a list answer.
func ids(t *testing.T, answer map[string]any) []string {
	t.Helper()
	items, ok := answer["data"].([]any)
	require.True(t, ok, "no data list in %v", answer)
	var out []string
	for _, it := range items {
		m, ok := it.(map[string]any)
		require.True(t, ok, "item %v", it)
		out = append(out, text(t, m, "id"))
	}
	return out
}

// TestDataAPIKeepsAccountsApart checks that each account has its own data,
// starting from its own copy of the demo data, and that no account can
// read or change an item of another.
func TestDataAPIKeepsAccountsApart(t *testing.T) {
	api := unguarded(newDataAPI())
	demo := dataClient{api: api, owner: "demo"}
	acme := dataClient{api: api, owner: "acme"}
	none := dataClient{api: api, owner: ""} // keys without an owner share one account

	status, created := demo.do(t, "POST", "/api/tags", `{"name":"demo only"}`)
	require.Equal(t, http.StatusCreated, status, "create: %v", created)
	item := "/api/tags/" + dataID(t, created)

	for _, c := range []dataClient{acme, none} {
		t.Run("account "+c.owner, func(t *testing.T) {
			for _, r := range []struct{ method, body string }{
				{"GET", ""}, {"PATCH", `{"name":"taken"}`}, {"PUT", `{"name":"taken"}`}, {"DELETE", ""},
			} {
				status, body := c.do(t, r.method, item, r.body)
				assert.Equal(t, http.StatusNotFound, status, "%s %s: %v", r.method, item, body)
			}
			status, list := c.do(t, "GET", "/api/tags", "")
			require.Equal(t, http.StatusOK, status)
			assert.Len(t, ids(t, list), 2, "a new account starts with the demo data: %v", list)
			assert.NotContains(t, ids(t, list), dataID(t, created), "tags")
			status, list = c.do(t, "GET", "/api/profiles?include=tags", "") // tags is not an include of profiles: the router would refuse it; the API just copies
			require.Equal(t, http.StatusOK, status)
			assert.NotContains(t, fmtJSON(t, list), "demo only", "included tags")
		})
	}

	status, got := demo.do(t, "GET", item, "")
	require.Equal(t, http.StatusOK, status, "demo's tag: %v", got)
	assert.Equal(t, map[string]any{"id": dataID(t, created), "name": "demo only"}, got["data"], "demo's tag after the others tried")

	_, demoTags := demo.do(t, "GET", "/api/tags", "")
	_, acmeTags := acme.do(t, "GET", "/api/tags", "")
	for _, id := range ids(t, acmeTags) {
		assert.NotContains(t, ids(t, demoTags), id, "an item ID in two accounts")
	}
}

func TestDataAPIRefusesRequestsWithoutKey(t *testing.T) {
	c := dataClient{api: unguarded(newDataAPI()), noKey: true}
	for _, method := range []string{"GET", "POST"} {
		status, body := c.do(t, method, "/api/tags", `{"name":"x"}`)
		assert.Equal(t, http.StatusUnauthorized, status, "%s: %v", method, body)
	}
}

// stuckWriter is a client that never reads its answer: Write says that it
// was reached, then blocks until release is closed.
type stuckWriter struct {
	header  http.Header
	reached chan struct{}
	release chan struct{}
}

func (s *stuckWriter) Header() http.Header { return s.header }
func (s *stuckWriter) WriteHeader(int)     {}
func (s *stuckWriter) Write(p []byte) (int, error) {
	select {
	case s.reached <- struct{}{}:
	default:
	}
	<-s.release
	return len(p), nil
}

// TestSlowReaderHoldsUpNoOtherAccount checks that an answer is sent after
// the data lock is released: while one account's client does not read its
// answer, another account's request is served.
func TestSlowReaderHoldsUpNoOtherAccount(t *testing.T) {
	api := unguarded(newDataAPI())
	keyOf := func(r *http.Request, owner string) *http.Request {
		return r.WithContext(apikey.NewContext(r.Context(), apikey.Key{Owner: owner, Scopes: apikey.FullAccess()}))
	}
	stuck := &stuckWriter{header: http.Header{}, reached: make(chan struct{}, 1), release: make(chan struct{})}
	defer close(stuck.release)
	go api.ServeHTTP(stuck, keyOf(httptest.NewRequest("GET", "/api/profiles", nil), "slow"))
	<-stuck.reached // the slow account's handler is writing its answer

	served := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, keyOf(httptest.NewRequest("GET", "/api/profiles", nil), "other"))
		served <- rec.Code
	}()
	select {
	case code := <-served:
		assert.Equal(t, http.StatusOK, code)
	case <-time.After(10 * time.Second): // a bound, not a wait: the request is served at once
		t.Fatal("another account's request waited for the slow client")
	}
}
