package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/keyscope/apikey/internal/pgtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestTwoInstancesShareRevocations runs two servers on one database, as two
// instances behind a load balancer: a key made through one works on the
// other, and deactivating it through one, or deleting it, makes the other
// refuse it at once, though the other verified it a moment before and
// keeps keys cached for a minute.
func TestTwoInstancesShareRevocations(t *testing.T) {
	databases := map[string]func(t *testing.T) string{
		"PostgreSQL":          func(t *testing.T) string { return pgtest.NewSchema(t).URL },
		"SQLite, one machine": func(t *testing.T) string { return filepath.Join(t.TempDir(), "keys.db") },
	}
	for name, newDB := range databases {
		t.Run(name, func(t *testing.T) {
			db := newDB(t)
			one := startServer(t, db)
			demo := one.firstKey(t)
			two := startServer(t, db)
			assert.Empty(t, two.stdout.String(), "the second instance minted a first key")
			c1, c2 := client{t, one.base}, client{t, two.base}

			status, _, shop := c1.do("POST", "/keys", demo, `{"label":"shop","scopes":"profiles:read"}`)
			require.Equal(t, 201, status, "create through one: %v", shop)
			tok, id := text(t, shop, "token"), text(t, shop, "id")

			// refusedBy polls the other instance, as a client would,
			// until it answers want.
			answers := func(c client, want int, what string) {
				t.Helper()
				deadline := time.Now().Add(5 * time.Second)
				status := 0
				for time.Now().Before(deadline) {
					if status, _, _ = c.do("GET", "/api/profiles", tok, ""); status == want {
						return
					}
					time.Sleep(time.Millisecond)
				}
				t.Errorf("%s: GET /api/profiles answered %d, want %d within 5s", what, status, want)
			}
			for range 2 {
				answers(c2, 200, "the other instance, an active key")
				status, _, body := c1.do("PATCH", "/keys/"+id, demo, `{"active":false}`)
				require.Equal(t, 200, status, "deactivate through one: %v", body)
				answers(c2, 401, "the other instance, after the key was deactivated")
				status, _, body = c1.do("PATCH", "/keys/"+id, demo, `{"active":true}`)
				require.Equal(t, 200, status, "reactivate through one: %v", body)
			}
			answers(c2, 200, "the other instance, the key reactivated")
			status, _, body := c2.do("DELETE", "/keys/"+id, demo, "")
			require.Equal(t, 204, status, "delete through two: %v", body)
			answers(c1, 401, "the first instance, after the other deleted the key")
		})
	}
}
