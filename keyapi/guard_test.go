package keyapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/keyapi"
	"github.com/keyscope/apikey/memstore"
)

// TestBehindGuard mounts the handler as the package doc says, behind
// keyscope's own middleware on a real server, and drives it with real bearer
// tokens: the keys it mints work as credentials, and a narrow or expiring key
// can mint nothing beyond its own scopes and lifetime.
func TestBehindGuard(t *testing.T) {
	m, err := apikey.NewManager(apikey.Options{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	h, err := keyapi.NewHandler(m, keyapi.Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	g, err := apikey.NewGuard(m, apikey.GuardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := g.Require()
	if err != nil {
		t.Fatal(err)
	}
	api := mw(http.StripPrefix("/keys", h))
	mux := http.NewServeMux()
	mux.Handle("/keys/", api)
	mux.Handle("/keys", api)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	type reply struct {
		status int
		ctype  string
		body   []byte
	}
	send := func(method, path, token, body string) reply {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return reply{resp.StatusCode, resp.Header.Get("Content-Type"), b}
	}
	created := func(rp reply) keyJSON {
		t.Helper()
		var k keyJSON
		if rp.status != 201 || json.Unmarshal(rp.body, &k) != nil || k.Token == "" {
			t.Fatalf("create: %d %s", rp.status, rp.body)
		}
		return k
	}
	refused := func(rp reply, status int, code string) problemBody {
		t.Helper()
		var p problemBody
		if rp.status != status || rp.ctype != "application/problem+json" || json.Unmarshal(rp.body, &p) != nil || p.Code != code {
			t.Fatalf("got %d %s %s, want a %d problem with code %q", rp.status, rp.ctype, rp.body, status, code)
		}
		return p
	}

	// The guard turns away requests without a valid key before the handler
	// sees them.
	if rp := send("GET", "/keys", "", ""); rp.status != 401 {
		t.Fatalf("no token: %d %s", rp.status, rp.body)
	}
	if rp := send("GET", "/keys", "sk_not-a-token", ""); rp.status != 401 {
		t.Fatalf("bad token: %d %s", rp.status, rp.body)
	}

	_, rootTok, err := m.Create(t.Context(), apikey.CreateParams{Label: "root"})
	if err != nil {
		t.Fatal(err)
	}
	root := rootTok.Reveal()
	narrow := created(send("POST", "/keys", root, `{"label":"narrow","scopes":"keys:write,lists:read"}`))
	if narrow.Scopes != "keys:write,lists:read" || narrow.ExpiresAt != "" {
		t.Fatalf("narrow key %+v", narrow)
	}

	// The new token is a working credential: it lists the keys.
	rp := send("GET", "/keys/", narrow.Token, "")
	var list struct {
		Keys []keyJSON `json:"keys"`
	}
	if rp.status != 200 || json.Unmarshal(rp.body, &list) != nil || len(list.Keys) != 2 || list.Keys[0].ID != narrow.ID {
		t.Fatalf("list with the new token: %d %s", rp.status, rp.body)
	}

	// It may mint within its scopes, not beyond them.
	if k := created(send("POST", "/keys", narrow.Token, `{"label":"reader","scopes":"lists:read"}`)); k.Scopes != "lists:read" {
		t.Fatalf("narrow key minted %+v", k)
	}
	for _, body := range []string{`{"label":"grab"}`, `{"label":"grab","scopes":"lists:write"}`} {
		p := refused(send("POST", "/keys", narrow.Token, body), 403, "escalation")
		if !strings.Contains(p.Detail, "keys:write,lists:read") {
			t.Errorf("create %s: detail %q does not name the caller's scopes", body, p.Detail)
		}
	}
	rootID := list.Keys[1].ID.String()
	refused(send("POST", "/keys/"+rootID+"/clone", narrow.Token, ""), 403, "escalation")
	refused(send("POST", "/keys/"+rootID+"/roll", narrow.Token, ""), 403, "escalation")

	// A key that expires mints keys that expire with it, and cannot clone
	// one that never expires.
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	temp := created(send("POST", "/keys", root,
		`{"label":"temp","scopes":"keys:write,lists:read","expires_at":"`+exp.Format(time.RFC3339)+`"}`))
	child := created(send("POST", "/keys", temp.Token, `{"label":"child","scopes":"lists:read"}`))
	if got, err := time.Parse(time.RFC3339Nano, child.ExpiresAt); err != nil || !got.Equal(exp) {
		t.Fatalf("key minted by an expiring key expires %q, want %v", child.ExpiresAt, exp)
	}
	p := refused(send("POST", "/keys/"+narrow.ID.String()+"/clone", temp.Token, ""), 403, "escalation")
	if !strings.Contains(p.Detail, "outlive") {
		t.Errorf("clone of a key that never expires: %+v", p)
	}
	if rolled := created(send("POST", "/keys/"+temp.ID.String()+"/roll", temp.Token, `{"grace":"1m"}`)); rolled.ExpiresAt != temp.ExpiresAt {
		t.Fatalf("self-roll: new key expires %q, want %q", rolled.ExpiresAt, temp.ExpiresAt)
	}

	// Refusals stored nothing: root, narrow, reader, temp, child and the
	// rolled key.
	if n := m.Store().(*memstore.Store).Len(); n != 6 {
		t.Fatalf("store holds %d keys, want 6", n)
	}
}
