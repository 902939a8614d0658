package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/keyscope/apikey/internal/pgtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// query returns the single text value sql gives on the server at u.
func query(t *testing.T, u, sql string) (string, error) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var s string
	err = conn.QueryRow(ctx, sql).Scan(&s)
	return s, err
}

func TestNewSchemaIsFreshAndSelected(t *testing.T) {
	a, b := pgtest.NewSchema(t), pgtest.NewSchema(t)
	assert.NotEqual(t, a.Schema, b.Schema, "two schemas of the same name")
	for _, db := range []pgtest.DB{a, b} {
		got, err := query(t, db.URL, "SELECT current_schema()")
		require.NoError(t, err, "querying through %s", db.URL)
		assert.Equal(t, db.Schema, got, "current_schema through the URL")
		n, err := query(t, db.URL, "SELECT count(*)::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()")
		require.NoError(t, err, "counting relations")
		assert.Equal(t, "0", n, "relations in a fresh schema")
	}
}

func TestWithParam(t *testing.T) {
	tests := []struct{ name, conn, want string }{
		{"URL without query", "postgres://u@h/db", "postgres://u@h/db?search_path=s"},
		{"URL with query", "postgres://u@h/db?sslmode=disable", "postgres://u@h/db?search_path=s&sslmode=disable"},
		{"postgresql URL", "postgresql://h/db", "postgresql://h/db?search_path=s"},
		{"DSN", "host=h dbname=db", "host=h dbname=db search_path='s'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, pgtest.WithParam(tc.conn, "search_path", "s"))
		})
	}
	t.Run("DSN quoting", func(t *testing.T) {
		_, err := pgx.ParseConfig(pgtest.WithParam("host=/tmp", "search_path", `a'b\c`))
		require.NoError(t, err, "ParseConfig")
		cfg, _ := pgx.ParseConfig(pgtest.WithParam("host=/tmp", "search_path", `a'b\c`))
		assert.Equal(t, `a'b\c`, cfg.RuntimeParams["search_path"])
	})
}

func TestClusterRestarts(t *testing.T) {
	c := pgtest.NewCluster(t)
	db := c.NewSchema(t)
	c.Exec(t, "CREATE TABLE "+pgx.Identifier{db.Schema, "t"}.Sanitize()+" (v text)")
	c.Exec(t, "INSERT INTO "+pgx.Identifier{db.Schema, "t"}.Sanitize()+" VALUES ('kept')")
	c.Stop(t)
	_, err := query(t, db.URL, "SELECT v FROM t")
	assert.Error(t, err, "query while the cluster is stopped")
	c.Start(t)
	got, err := query(t, db.URL, "SELECT v FROM t")
	require.NoError(t, err, "query after Start")
	assert.Equal(t, "kept", got, "row written before the stop")
	c.Restart(t)
	got, err = query(t, db.URL, "SELECT v FROM t")
	require.NoError(t, err, "query after Restart")
	assert.Equal(t, "kept", got, "row written before the restart")
}
