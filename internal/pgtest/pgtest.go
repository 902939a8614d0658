// Package pgtest gives tests a real PostgreSQL server.
//
// A test asks for a place of its own on the server shared by its test
// binary, and gets a fresh schema and a URL that selects it:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		db := pgtest.NewSchema(t) // db.Schema, db.URL; dropped when t ends
//		...
//	}
//
// The server is found the first time a test asks for it, in this order:
//
//   - KEYSCOPE_TEST_POSTGRES, if set, is the postgres:// URL (or key=value
//     DSN) of a server where the tests may create and drop schemas. Tests
//     use it as it is, and leave it running.
//   - Otherwise the package starts a throwaway cluster from the PostgreSQL
//     binaries (initdb, pg_ctl, postgres) found on PATH or under
//     /usr/lib/postgresql/*/bin, the newest version first, in a fresh
//     directory under os.TempDir. It listens on a unix socket in that
//     directory only (listen_addresses is empty, so no port is opened),
//     trusts every local connection, runs with fsync off (commits still
//     reach the operating system, so a stopped server loses none), and has the
//     superuser "keyscope". initdb and pg_ctl refuse to run as root: as
//     root the cluster runs as the user postgres (or nobody, where there is
//     no postgres user), which owns the directory. [Main] stops the cluster
//     with pg_ctl stop -m immediate and removes the directory when the test
//     binary ends.
//   - Where neither is available, the test is skipped with a message saying
//     how to install PostgreSQL (on Debian: apt-get install postgresql) or
//     set KEYSCOPE_TEST_POSTGRES. With KEYSCOPE_CI=1 in the environment it
//     fails instead, so that CI never passes without having run them.
//
// One cluster serves the whole test binary, since initdb takes seconds.
// Tests that stop or restart their server use [NewCluster] for a cluster of
// their own instead, which needs the binaries even when
// KEYSCOPE_TEST_POSTGRES is set.
//
// Everything in this package is safe for concurrent use by multiple
// goroutines.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Environment variables read by the package.
const (
	// EnvURL names the server to use instead of a throwaway cluster.
	EnvURL = "KEYSCOPE_TEST_POSTGRES"
	// EnvCI, set to 1, turns the skip for a missing PostgreSQL into a
	// failure.
	EnvCI = "KEYSCOPE_CI"
)

// Superuser is the name of the superuser of the clusters the package starts.
const Superuser = "keyscope"

// shared is the server of the test binary, found or started once.
var shared struct {
	once    sync.Once
	url     string   // superuser URL of the server
	cluster *Cluster // the cluster started, nil for EnvURL's server
	skip    string   // why there is no server, if there is none
	err     error    // why starting it failed

	mu      sync.Mutex
	schemas map[string]DB // SharedSchema's, by name
}

// Main runs the tests of m and then stops the shared cluster, if one was
// started, and exits with the tests' exit code. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	shared.mu.Lock()
	if shared.cluster == nil && len(shared.schemas) > 0 {
		ctx := context.Background()
		if conn, err := pgx.Connect(ctx, shared.url); err == nil {
			for _, db := range shared.schemas {
				conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{db.Schema}.Sanitize()+" CASCADE")
			}
			conn.Close(ctx)
		}
	}
	shared.mu.Unlock()
	if c := shared.cluster; c != nil {
		if err := c.shutdown(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stopping the shared cluster: %v\n", err)
		}
	}
	os.Exit(code)
}

// serverURL returns the superuser URL of the shared server, starting it if
// need be, or ends t: with Skip where there is no PostgreSQL, with Fatal
// where starting it failed or EnvCI is set.
func serverURL(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			shared.url = u
			return
		}
		bin, why := findBinaries()
		if bin == "" {
			shared.skip = why
			return
		}
		c, err := startCluster(bin)
		if err != nil {
			shared.err = err
			return
		}
		shared.cluster, shared.url = c, c.URL("postgres")
	})
	switch {
	case shared.err != nil:
		t.Fatalf("pgtest: starting a throwaway PostgreSQL cluster: %v", shared.err)
	case shared.skip != "":
		skipOrFail(t, shared.skip)
	}
	return shared.url
}

// skipOrFail skips t for the reason given, or fails it under CI.
func skipOrFail(t testing.TB, why string) {
	t.Helper()
	msg := fmt.Sprintf("pgtest: no PostgreSQL server: %s; install PostgreSQL (Debian: apt-get install postgresql) or set %s to the postgres:// URL of a server where tests may create schemas", why, EnvURL)
	if os.Getenv(EnvCI) == "1" {
		t.Fatal(msg + " (failing, not skipping, since " + EnvCI + "=1)")
	}
	t.Skip(msg)
}

// DB is a place of a test's own on a server: a fresh schema.
type DB struct {
	// Schema is the name of the schema, unquoted.
	Schema string
	// URL connects to the server as a user that may use the schema, with
	// search_path set to Schema. It is a postgres:// URL or a key=value
	// DSN, whichever EnvURL gave (always a URL for a throwaway cluster).
	URL string
}

// NewSchema creates a fresh, empty schema on the shared server, and drops
// it, with everything in it, when t ends.
func NewSchema(t testing.TB) DB {
	t.Helper()
	return newSchema(t, serverURL(t))
}

// SharedSchema returns the schema named key of the shared server, the same
// for every call with that key in the test binary: it is created, fresh,
// on the first call, and dropped by [Main] at the end. It is for fixtures
// that are costly to build, such as the tables of benchmarks, whose
// functions run several times.
func SharedSchema(tb testing.TB, key string) DB {
	tb.Helper()
	base := serverURL(tb)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if db, ok := shared.schemas[key]; ok {
		return db
	}
	db := DB{Schema: randomSchemaName()}
	execSQL(tb, base, "CREATE SCHEMA "+pgx.Identifier{db.Schema}.Sanitize())
	db.URL = WithParam(base, "search_path", db.Schema)
	if shared.schemas == nil {
		shared.schemas = map[string]DB{}
	}
	shared.schemas[key] = db
	return db
}

// randomSchemaName returns a fresh name for a schema of a test.
func randomSchemaName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "keyscope_test_" + hex.EncodeToString(b)
}

// newSchema creates a fresh schema on the server at base, dropped when t
// ends.
func newSchema(t testing.TB, base string) DB {
	t.Helper()
	name := randomSchemaName()
	execSQL(t, base, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize())
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("pgtest: dropping schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Logf("pgtest: dropping schema %s: %v", name, err)
		}
	})
	return DB{Schema: name, URL: WithParam(base, "search_path", name)}
}

// Exec runs sql with args on the shared server as its superuser (or as
// EnvURL's user), on a connection of its own, and fails t if it fails. Use
// it for what tests do to the server itself, such as pg_terminate_backend.
func Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	execSQL(t, serverURL(t), sql, args...)
}

// execSQL runs sql with args on the server at u, failing t on error.
func execSQL(t testing.TB, u, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("pgtest: connecting to run %.60q: %v", sql, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("pgtest: running %.60q: %v", sql, err)
	}
}

// WithParam returns the connection string conn, a postgres:// URL or a
// key=value DSN, with the run-time parameter key set to value, which pgx
// sends to the server when it connects.
func WithParam(conn, key, value string) string {
	if strings.HasPrefix(conn, "postgres://") || strings.HasPrefix(conn, "postgresql://") {
		u, err := url.Parse(conn)
		if err == nil {
			q := u.Query()
			q.Set(key, value)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	quoted := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(value)
	return strings.TrimSpace(conn + " " + key + "='" + quoted + "'")
}
