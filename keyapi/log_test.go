package keyapi_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryOperationLogsOnce runs each operation, allowed and refused, and
// checks that it writes exactly one record naming the operation, key and
// actor, and that no token or digest reaches the log.
func TestEveryOperationLogsOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	adm, admTok := e.mint("admin key", "")
	_, readTok := e.mint("reader", "keys:read")
	target, targetTok := e.mint("shop", "lists:read")
	id := target.ID.String()
	tokens := []string{admTok, readTok, targetTok}
	digests := [][]string{storedDigest(t, e, adm.ID), storedDigest(t, e, target.ID)}
	e.log.records(t)

	tests := []struct {
		name, method, path, token, body string
		op, level                       string
		keyID, label                    string // "" means absent; "new" means the new key's
	}{
		{"List", "GET", "/", admTok, "", "list", "INFO", "", ""},
		{"Get", "GET", "/" + id, admTok, "", "get", "INFO", id, "shop"},
		{"Create", "POST", "/", admTok, `{"label":"fresh","scopes":"lists:read"}`, "create", "INFO", "new", "fresh"},
		{"Rename", "PATCH", "/" + id, admTok, `{"label":"shop2"}`, "update", "INFO", id, "shop2"},
		{"Deactivate", "PATCH", "/" + id, admTok, `{"active":false}`, "update", "INFO", id, "shop2"},
		{"Clone", "POST", "/" + id + "/clone", admTok, "", "clone", "INFO", "new", "shop2"},
		{"Roll", "POST", "/" + id + "/roll", admTok, `{"grace":"1h"}`, "roll", "INFO", "new", "shop2"},
		{"Delete", "DELETE", "/" + id, admTok, "", "delete", "INFO", id, "shop2"},
		{"Forbidden", "POST", "/", readTok, `{"label":"x"}`, "create", "WARN", "", ""},
		{"Unauthenticated", "GET", "/", "", "", "list", "WARN", "", ""},
		{"BadBody", "POST", "/", admTok, `{"label":"x","scopes":"nope"}`, "create", "WARN", "", ""},
		{"NotFound", "DELETE", "/" + id, admTok, "", "delete", "WARN", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do(tc.method, tc.path, tc.token, tc.body)
			var newKey keyJSON
			if w.Code == 201 {
				newKey = decodeKey(t, w, 201)
				require.NotEmpty(t, newKey.Token, "the new key's token")
				tokens = append(tokens, newKey.Token)
			}
			rec := e.log.onlyRecord(t)
			assert.Equal(t, tc.op, rec["op"])
			assert.Equal(t, tc.level, rec["level"])
			assert.Equal(t, float64(w.Code), rec["status"])
			wantID := tc.keyID
			if wantID == "new" {
				wantID = newKey.ID.String()
			}
			gotID, _ := rec["key_id"].(string)
			assert.Equal(t, wantID, gotID, "key_id")
			gotLabel, _ := rec["label"].(string)
			assert.Equal(t, tc.label, gotLabel, "label")
			if tc.token == admTok {
				assert.Equal(t, "admin key", rec["actor"])
				assert.Equal(t, adm.ID.String(), rec["actor_key_id"])
			}
			if tc.op == "clone" || tc.op == "roll" {
				assert.Equal(t, id, rec["source_id"])
			}
		})
	}

	// Nothing secret reached the log in any of the runs above.
	all := e.log.history()
	for i, tok := range tokens {
		require.NotEmpty(t, tok, "token %d was not captured", i)
		assert.NotContains(t, all, tok, "the log holds token %d", i)
		assert.NotContains(t, all, tok[len(tok)-24:], "the log holds the end of token %d", i)
	}
	for i, forms := range digests {
		for _, f := range forms {
			assert.NotContains(t, all, f, "the log holds digest %d", i)
		}
	}
}
