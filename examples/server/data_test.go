package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDataAPI walks the data API's operations on one resource, without the
// route policy in front.
func TestDataAPI(t *testing.T) {
	api := newDataAPI()
	do := func(t *testing.T, method, path, body string) (int, map[string]any) {
		t.Helper()
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
		var out map[string]any
		if rec.Body.Len() > 0 {
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), "%s %s: body %q", method, path, rec.Body)
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"), "%s %s", method, path)
		}
		return rec.Code, out
	}

	status, created := do(t, "POST", "/api/tags", `{"name":"new","id":"ignored"}`)
	require.Equal(t, http.StatusCreated, status, "create: %v", created)
	data, ok := created["data"].(map[string]any)
	require.True(t, ok, "create: %v", created)
	id, _ := data["id"].(string)
	require.NotEmpty(t, id, "create: %v", created)
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
			status, body := do(t, s.method, s.path, s.body)
			assert.Equal(t, s.want, status, "%s %s: %v", s.method, s.path, body)
			if s.wantData != nil {
				assert.Equal(t, s.wantData, body["data"])
			}
		})
	}

	status, list := do(t, "GET", "/api/profiles?include=lists,segments&include=", "")
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, list["data"], 2, "profiles")
	included, ok := list["included"].(map[string]any)
	require.True(t, ok, "included: %v", list)
	assert.Len(t, included, 2, "included: %v", included)
	assert.Len(t, included["lists"], 2, "included lists")
	assert.Len(t, included["segments"], 2, "included segments")
}
