package keyapi_test

import (
	"testing"
	"time"

	"github.com/keyscope/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryOperationLogsOnce runs each operation, allowed and refused, and
// checks that it writes exactly one record naming the operation, key,
// owner and actor, and that no token or digest reaches the log.
func TestEveryOperationLogsOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	adm, admTok := e.mint("admin key", adminScopes)
	reader, readTok := e.mint("reader", "keys:read")
	data, dataTok := e.mint("data", "*:write")
	narrow, narrowTok := e.mint("narrow", "keys:write,lists:read")
	target, targetTok := e.mint("shop", "lists:read")
	other, otherTok := e.mintKey("acct_other", "theirs", "lists:read", time.Time{})
	id := target.ID.String()
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	tokens := []string{admTok, readTok, dataTok, narrowTok, targetTok, otherTok}
	actors := map[string]apikey.Key{admTok: adm, narrowTok: narrow, readTok: reader, dataTok: data}
	digests := [][]string{storedDigest(t, e, adm.ID), storedDigest(t, e, target.ID), storedDigest(t, e, other.ID)}
	e.log.records(t)

	tests := []struct {
		name, method, path, token, body string
		op, level                       string
		keyID, label                    string // "" means absent; "new" means the new key's
		actor                           bool   // the record names the caller's key as the actor, refused or not
		extra                           map[string]any
	}{
		{"List", "GET", "/", admTok, "", "list", "INFO", "", "", true, map[string]any{"count": float64(5)}},
		{"Get", "GET", "/" + id, admTok, "", "get", "INFO", id, "shop", true, nil},
		{"Create", "POST", "/", admTok, `{"label":"fresh","scopes":"lists:read"}`, "create", "INFO", "new", "fresh", true, nil},
		{"Rename", "PATCH", "/" + id, admTok, `{"label":"shop2"}`, "rename", "INFO", id, "shop2", true, nil},
		{"Deactivate", "PATCH", "/" + id, admTok, `{"active":false}`, "deactivate", "INFO", id, "shop2", true, map[string]any{"active": false}},
		{"ReactivateUntil", "PATCH", "/" + id, admTok, `{"active":true,"expires_at":"` + exp.Format(time.RFC3339) + `"}`, "reactivate+set_expiry", "INFO", id, "shop2", true,
			map[string]any{"active": true, "set_expires_at": exp.Format(time.RFC3339Nano), "expires_at": exp.Format(time.RFC3339)}},
		{"RemoveExpiry", "PATCH", "/" + id, admTok, `{"expires_at":null}`, "set_expiry", "INFO", id, "shop2", true, map[string]any{"set_expires_at": "never"}},
		{"Clone", "POST", "/" + id + "/clone", admTok, "", "clone", "INFO", "new", "shop2", true, map[string]any{"source_id": id}},
		{"Roll", "POST", "/" + id + "/roll", admTok, `{"grace":"1h"}`, "roll", "INFO", "new", "shop2", true, map[string]any{"source_id": id, "grace": float64(time.Hour)}},
		{"Delete", "DELETE", "/" + id, admTok, "", "delete", "INFO", id, "shop2", true, nil},
		{"Forbidden", "POST", "/", readTok, `{"label":"x"}`, "create", "WARN", "", "", true, map[string]any{"code": "forbidden"}},
		{"WildcardForbidden", "GET", "/", dataTok, "", "list", "WARN", "", "", true, map[string]any{"code": "forbidden"}},
		{"Unauthenticated", "GET", "/", "", "", "list", "WARN", "", "", false, map[string]any{"code": "unauthenticated"}},
		{"BadBody", "POST", "/", admTok, `{"label":"x","scopes":"nope"}`, "create", "WARN", "", "", true, map[string]any{"code": "invalid"}},
		{"BadPatchBody", "PATCH", "/" + id, admTok, `{"active":1}`, "patch", "WARN", "", "", true, map[string]any{"code": "invalid"}},
		{"NotFound", "DELETE", "/" + id, admTok, "", "delete", "WARN", id, "", true, map[string]any{"code": "not_found"}},
		{"OtherOwnersKey", "PATCH", "/" + other.ID.String(), admTok, `{"active":false}`, "deactivate", "WARN", other.ID.String(), "", true, map[string]any{"code": "not_found"}},
		{"Escalation", "POST", "/", narrowTok, `{"label":"x","scopes":"lists:write"}`, "create", "WARN", "", "x", true, map[string]any{"code": "escalation"}},
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
			if tc.actor {
				assert.Equal(t, testOwner, rec["owner"])
				assert.Equal(t, actors[tc.token].Label, rec["actor"])
				assert.Equal(t, actors[tc.token].ID.String(), rec["actor_key_id"])
			} else {
				assert.NotContains(t, rec, "owner", "a record without an actor")
				assert.NotContains(t, rec, "actor", "a record without an actor")
			}
			for k, v := range tc.extra {
				assert.Equal(t, v, rec[k], k)
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
