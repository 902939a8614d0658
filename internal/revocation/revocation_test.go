package revocation

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/internal/pgtest"
	"github.com/keyscope/apikey/pgstore"
	"github.com/keyscope/apikey/sqlitestore"
	"github.com/stretchr/testify/require"
)

// pollEvery is how often the watching instance tries the key: the
// resolution of the measurement.
const pollEvery = 100 * time.Microsecond

// childEnv names the SQLite file a re-executed test binary serves as the
// second instance.
const childEnv = "KEYSCOPE_REVOCATION_CHILD_DB"

func TestMain(m *testing.M) {
	if db := os.Getenv(childEnv); db != "" {
		if err := serveChild(db, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "revocation child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	pgtest.Main(m)
}

// serveChild is the second instance, in a process of its own: a Manager on
// the SQLite file db that, for each token read from in, verifies it until
// it verifies, writes "cached", then tries it every pollEvery until it is
// refused, and writes "refused".
func serveChild(db string, in io.Reader, out io.Writer) error {
	store, err := sqlitestore.Open(db)
	if err != nil {
		return err
	}
	defer store.Close()
	m, err := apikey.NewManager(apikey.Options{Store: store, UsageInterval: -1})
	if err != nil {
		return err
	}
	defer m.Close()
	ctx := context.Background()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := m.WaitWatching(wctx); err != nil {
		return err
	}
	fmt.Fprintln(out, "watching")
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		tok := sc.Text()
		if err := awaitVerdict(ctx, m, tok, true); err != nil {
			return err
		}
		fmt.Fprintln(out, "cached")
		if err := awaitVerdict(ctx, m, tok, false); err != nil {
			return err
		}
		fmt.Fprintln(out, "refused")
	}
	return sc.Err()
}

// awaitVerdict tries tok every pollEvery until m accepts it (accept) or
// refuses it as inactive (!accept), for at most ten seconds.
func awaitVerdict(ctx context.Context, m *apikey.Manager, tok string, accept bool) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := m.Verify(ctx, tok)
		if accept && err == nil || !accept && err != nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("verdict not reached in 10s (accept %v): last error %v", accept, err)
		}
		time.Sleep(pollEvery)
	}
}

// latencies collects the trials' times and reports their percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	at := func(p float64) float64 {
		return float64(s[min(len(s)-1, int(p*float64(len(s))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(float64(s[len(s)-1])/float64(time.Millisecond), "max-ms")
	b.ReportMetric(0, "ns/op") // the loop's time includes each trial's setup
}

// BenchmarkRevocationSQLiteTwoProcesses times, per trial, a Deactivate
// through a Manager in this process until a Manager in another process on
// the same SQLite file, which holds the key in its cache, refuses it.
func BenchmarkRevocationSQLiteTwoProcesses(b *testing.B) {
	ctx := context.Background()
	db := filepath.Join(b.TempDir(), "keys.db")
	store, err := sqlitestore.Open(db)
	require.NoError(b, err)
	b.Cleanup(func() { store.Close() })
	a, err := apikey.NewManager(apikey.Options{Store: store, UsageInterval: -1})
	require.NoError(b, err)
	b.Cleanup(func() { a.Close() })

	exe, err := os.Executable()
	require.NoError(b, err)
	child := exec.Command(exe, "-test.run=^$")
	child.Env = append(os.Environ(), childEnv+"="+db)
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	require.NoError(b, err)
	stdout, err := child.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, child.Start())
	b.Cleanup(func() {
		stdin.Close()
		child.Wait()
	})
	lines := bufio.NewScanner(stdout)
	expect := func(want string) {
		b.Helper()
		if !lines.Scan() {
			b.Fatalf("the other process ended (%v) before saying %q", lines.Err(), want)
		}
		require.Equal(b, want, strings.TrimSpace(lines.Text()))
	}
	expect("watching")

	var l latencies
	b.ResetTimer()
	for range b.N {
		k, tok, err := a.Create(ctx, apikey.CreateParams{Label: "revoked " + uuid.NewString()[:8]})
		require.NoError(b, err)
		fmt.Fprintln(stdin, tok.Reveal())
		expect("cached")
		// Revoke at a random moment, not in step with the other
		// process's polls of the file, so that the trials sample the
		// whole poll interval.
		time.Sleep(rand.N(2 * sqlitestore.PollInterval))
		_, err = a.Deactivate(ctx, k.ID)
		start := time.Now()
		require.NoError(b, err)
		expect("refused")
		l = append(l, time.Since(start))
	}
	b.StopTimer()
	l.report(b)
}

// BenchmarkRevocationPostgres times, per trial, a Deactivate through one
// Manager until another Manager, on a connection pool of its own to the
// same PostgreSQL database (a second instance), which holds the key in its
// cache, refuses it.
func BenchmarkRevocationPostgres(b *testing.B) {
	ctx := context.Background()
	db := pgtest.NewSchema(b)
	instance := func() *apikey.Manager {
		store, err := pgstore.Open(ctx, db.URL, pgstore.Options{Schema: db.Schema})
		require.NoError(b, err)
		b.Cleanup(func() { store.Close() })
		m, err := apikey.NewManager(apikey.Options{Store: store, UsageInterval: -1})
		require.NoError(b, err)
		b.Cleanup(func() { m.Close() })
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		require.NoError(b, m.WaitWatching(wctx))
		return m
	}
	a, other := instance(), instance()

	var l latencies
	b.ResetTimer()
	for range b.N {
		k, tok, err := a.Create(ctx, apikey.CreateParams{Label: "revoked " + uuid.NewString()[:8]})
		require.NoError(b, err)
		require.NoError(b, awaitVerdict(ctx, other, tok.Reveal(), true))
		refused := make(chan error, 1)
		deactivated := make(chan struct{})
		go func() {
			<-deactivated
			refused <- awaitVerdict(ctx, other, tok.Reveal(), false)
		}()
		time.Sleep(rand.N(2 * time.Millisecond)) // a random moment
		_, err = a.Deactivate(ctx, k.ID)
		start := time.Now()
		close(deactivated)
		require.NoError(b, err)
		require.NoError(b, <-refused)
		l = append(l, time.Since(start))
	}
	b.StopTimer()
	l.report(b)
}
