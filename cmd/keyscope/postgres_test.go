package main

import (
	"context"
	"testing"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/internal/pgtest"
	"github.com/keyscope/apikey/pgstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestPostgresURL runs the tool on a PostgreSQL database named by a URL
// whose search_path names the schema of the application's tables: what it
// does, the application's own store sees, and the other way round.
func TestPostgresURL(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewSchema(t)
	h := newHarness(t)
	h.db = db.URL

	id, tok := h.createKeyFor("acme", "made by the tool", "lists:read")
	h.run(tok, "verify").must(t, exitOK)
	out := h.run("", "list", "--owner", "acme").must(t, exitOK).stdout
	assert.Contains(t, out, id.String(), "list")

	// The application, on its own store over the same schema.
	app, err := pgstore.Open(ctx, db.URL, pgstore.Options{Schema: db.Schema})
	require.NoError(t, err)
	t.Cleanup(func() { app.Close() })
	k, err := app.Get(ctx, id)
	require.NoError(t, err, "the application's store does not hold the key the tool made")
	assert.Equal(t, "acme", k.Owner)
	m, err := apikey.NewManager(apikey.Options{Store: app, UsageInterval: -1})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	_, err = m.Verify(ctx, tok)
	require.NoError(t, err, "the application verifies the tool's key")

	h.run("", "deactivate", id.String()).must(t, exitOK)
	h.run(tok, "verify").must(t, exitInvalid)
	_, err = app.Get(ctx, id)
	require.NoError(t, err)
	require.NoError(t, m.Delete(ctx, id))
	h.run("", "show", id.String()).must(t, exitNotFound)
}

// TestPostgresURLErrors checks the refusals of a bad URL: each names what
// is wrong, and none shows the password.
func TestPostgresURLErrors(t *testing.T) {
	db := pgtest.NewSchema(t)
	tests := map[string]struct {
		url, want string
	}{
		"two schemas":     {pgtest.WithParam(db.URL, "search_path", db.Schema+",public"), "search_path"},
		"no server":       {"postgres://keyscope:s3cret@127.0.0.1:1/app?connect_timeout=5", "pgstore"},
		"bad schema name": {pgtest.WithParam(db.URL, "search_path", "pg_mine"), "pg_"},
		"unparseable":     {"postgres://keyscope:s3cret@[::1/app", "pgstore"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			r := h.run("", "--db", tc.url, "list").must(t, exitFailure)
			assert.Contains(t, r.stderr, tc.want)
			assert.NotContains(t, r.stderr+r.stdout, "s3cret", "the password is shown")
		})
	}
}
