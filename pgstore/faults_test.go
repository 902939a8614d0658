package pgstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/internal/pgtest"
	"github.com/keyscope/apikey/pgstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockTable takes an ACCESS EXCLUSIVE lock on the keys table of db, which
// blocks every statement of the Store, reads included, and returns the
// function that releases it.
func lockTable(t *testing.T, db pgtest.DB) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.URL)
	require.NoError(t, err, "connecting to lock")
	tx, err := conn.Begin(ctx)
	require.NoError(t, err, "Begin")
	_, err = tx.Exec(ctx, "LOCK TABLE "+pgx.Identifier{db.Schema, "keyscope_keys"}.Sanitize()+" IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err, "LOCK TABLE")
	return func() {
		tx.Rollback(ctx)
		conn.Close(ctx)
	}
}

// waitIdle waits until no statement on db other than this one is running
// or waiting, so that a statement abandoned by its client cannot still
// change the table after the test looks at it. It polls the server, an
// external process, with a deadline.
func waitIdle(t *testing.T, db pgtest.DB) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.URL)
	require.NoError(t, err, "connecting")
	defer conn.Close(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE pid <> pg_backend_pid() AND state = 'active' AND query LIKE '%keyscope_keys%'`).Scan(&n)
		require.NoError(t, err, "reading pg_stat_activity")
		if n == 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "%d statements still run 10 s after their callers gave up", n)
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEveryMethodHonoursDeadlines(t *testing.T) {
	const limit = 300 * time.Millisecond
	tests := []struct {
		name string
		open func(t *testing.T, db pgtest.DB) *pgstore.Store
		ctx  func() (context.Context, context.CancelFunc)
		want func(t *testing.T, err error)
	}{{
		name: "context deadline",
		open: func(t *testing.T, db pgtest.DB) *pgstore.Store {
			s, err := pgstore.Open(context.Background(), db.URL, pgstore.Options{Schema: db.Schema})
			require.NoError(t, err, "Open")
			return s
		},
		ctx: func() (context.Context, context.CancelFunc) { return context.WithTimeout(context.Background(), limit) },
		want: func(t *testing.T, err error) {
			assert.ErrorIs(t, err, context.DeadlineExceeded, "error of a call past its deadline")
		},
	}, {
		// pgx's default closes a connection whose context ends, after
		// sending the server a cancel request.
		name: "context deadline, New over a pool with pgx's defaults",
		open: func(t *testing.T, db pgtest.DB) *pgstore.Store {
			s, err := pgstore.New(context.Background(), newPool(t, db.URL), pgstore.Options{Schema: db.Schema})
			require.NoError(t, err, "New")
			return s
		},
		ctx: func() (context.Context, context.CancelFunc) { return context.WithTimeout(context.Background(), limit) },
		want: func(t *testing.T, err error) {
			assert.ErrorIs(t, err, context.DeadlineExceeded, "error of a call past its deadline")
		},
	}, {
		name: "statement_timeout",
		open: func(t *testing.T, db pgtest.DB) *pgstore.Store {
			u := pgtest.WithParam(db.URL, "statement_timeout", "300")
			s, err := pgstore.Open(context.Background(), u, pgstore.Options{Schema: db.Schema})
			require.NoError(t, err, "Open")
			return s
		},
		ctx: func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
		want: func(t *testing.T, err error) {
			var pe *pgconn.PgError
			if assert.True(t, errors.As(err, &pe), "error %v is the server's", err) {
				assert.Equal(t, "57014", pe.Code, "SQLSTATE of a statement timeout (query_canceled)")
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := pgtest.NewSchema(t)
			s := tc.open(t, db)
			defer s.Close()
			bg := context.Background()
			k := record(t, "acct", "present")
			require.NoError(t, s.Create(bg, k), "Create")
			fresh := record(t, "acct", "never stored")
			label := "changed"
			calls := map[string]func(ctx context.Context) error{
				"Create": func(ctx context.Context) error { return s.Create(ctx, fresh) },
				"Get":    func(ctx context.Context) error { _, err := s.Get(ctx, k.ID); return err },
				"List":   func(ctx context.Context) error { _, err := s.List(ctx, apikey.ListOptions{Owner: "acct"}); return err },
				"ListAll": func(ctx context.Context) error {
					_, err := s.List(ctx, apikey.ListOptions{AllOwners: true})
					return err
				},
				"Update": func(ctx context.Context) error {
					_, err := s.Update(ctx, k.ID, apikey.Update{Label: &label})
					return err
				},
				"Delete":   func(ctx context.Context) error { return s.Delete(ctx, k.ID) },
				"MarkUsed": func(ctx context.Context) error { return s.MarkUsed(ctx, []apikey.Use{{ID: k.ID, At: time.Now()}}) },
			}
			release := lockTable(t, db)
			for name, call := range calls {
				t.Run(name, func(t *testing.T) {
					ctx, cancel := tc.ctx()
					defer cancel()
					start := time.Now()
					err := call(ctx)
					elapsed := time.Since(start)
					require.Error(t, err, "%s while the table is locked", name)
					tc.want(t, err)
					assert.Less(t, elapsed, limit+3*time.Second, "%s returned after %v", name, elapsed)
					assert.True(t, strings.HasPrefix(err.Error(), "pgstore: "), "error %q names the package", err)
				})
			}
			release()
			waitIdle(t, db)
			got, err := s.Get(bg, k.ID)
			require.NoError(t, err, "Get once the lock is released")
			assertKey(t, k, got, "a call that failed changed the key")
			_, err = s.Get(bg, fresh.ID)
			assert.ErrorIs(t, err, apikey.ErrNotFound, "a Create that failed stored the key")
		})
	}
}

func TestLabelsAndText(t *testing.T) {
	ctx := context.Background()
	s, db := openStore(t)
	labels := map[string]string{
		"quotes":           `it's a "quoted" label`,
		"script":           `<script>alert("x")</script>`,
		"unicode":          "clé für 商店 🔑 \u202e",
		"10 kB":            strings.Repeat("0123456789", 1024),
		"NUL bytes":        "\x00before\x00after\x00",
		"backslashes":      `C:\keys\ \x00 \\`,
		"16 kB of unicode": strings.Repeat("🔑", 4<<10),
	}
	for name, label := range labels {
		t.Run(name, func(t *testing.T) {
			k := record(t, "acct", label)
			require.NoError(t, s.Create(ctx, k), "Create")
			got, err := s.Get(ctx, k.ID)
			require.NoError(t, err, "Get")
			assert.Equal(t, []byte(label), []byte(got.Label), "label read back, byte for byte")
			// The stored bytes are the label's, as psql would show them.
			var stored []byte
			conn, err := pgx.Connect(ctx, db.URL)
			require.NoError(t, err, "connecting")
			defer conn.Close(ctx)
			require.NoError(t, conn.QueryRow(ctx, "SELECT label FROM keyscope_keys WHERE id = $1", k.ID).Scan(&stored), "reading the column")
			assert.Equal(t, []byte(label), stored, "bytes in the label column")
		})
	}
	t.Run("an owner with a NUL byte is refused", func(t *testing.T) {
		k := record(t, "acct\x00evil", "x")
		err := s.Create(ctx, k)
		require.ErrorIs(t, err, apikey.ErrInvalidOwner, "Create")
		assert.Contains(t, err.Error(), "NUL", "error says why")
		ks, err := s.List(ctx, apikey.ListOptions{Owner: "acct\x00evil"})
		require.NoError(t, err, "List of that owner")
		assert.Empty(t, ks, "List of that owner")
		_, err = s.Get(ctx, k.ID)
		assert.ErrorIs(t, err, apikey.ErrNotFound, "the refused key was stored")
	})
	t.Run("an owner of invalid UTF-8 is refused", func(t *testing.T) {
		err := s.Create(ctx, record(t, "acct\xff", "x"))
		assert.ErrorIs(t, err, apikey.ErrInvalidOwner, "Create")
	})
	t.Run("a hint with a NUL byte is refused", func(t *testing.T) {
		k := record(t, "acct", "x")
		k.Hint = "sk_\x00"
		err := s.Create(ctx, k)
		require.Error(t, err, "Create")
		assert.Contains(t, err.Error(), "hint", "error names the field")
	})
}
