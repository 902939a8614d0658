package keyapi_test

import (
	"strings"
	"testing"
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
				tokens = append(tokens, newKey.Token)
			}
			recs := e.log.records(t)
			if len(recs) != 1 {
				t.Fatalf("%d log records, want 1: %v", len(recs), recs)
			}
			rec := recs[0]
			if rec["op"] != tc.op || rec["level"] != tc.level || rec["status"] != float64(w.Code) {
				t.Fatalf("record %v, want op %s at %s with status %d", rec, tc.op, tc.level, w.Code)
			}
			wantID := tc.keyID
			if wantID == "new" {
				wantID = newKey.ID.String()
			}
			if got, _ := rec["key_id"].(string); got != wantID {
				t.Errorf("key_id %q, want %q", got, wantID)
			}
			if got, _ := rec["label"].(string); got != tc.label {
				t.Errorf("label %q, want %q", got, tc.label)
			}
			if tc.token == admTok && (rec["actor"] != "admin key" || rec["actor_key_id"] != adm.ID.String()) {
				t.Errorf("actor %v (%v), want the admin key", rec["actor"], rec["actor_key_id"])
			}
			if tc.op == "clone" || tc.op == "roll" {
				if rec["source_id"] != id {
					t.Errorf("source_id %v, want %s", rec["source_id"], id)
				}
			}
		})
	}

	// Nothing secret reached the log in any of the runs above.
	all := e.log.history()
	for _, tok := range tokens {
		if tok == "" {
			t.Fatal("a token was not captured")
		}
		if strings.Contains(all, tok) || strings.Contains(all, tok[len(tok)-24:]) {
			t.Errorf("the log holds a token")
		}
	}
	for _, forms := range digests {
		for _, f := range forms {
			if strings.Contains(all, f) {
				t.Errorf("the log holds a digest")
			}
		}
	}
}
