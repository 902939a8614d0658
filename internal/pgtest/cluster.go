package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Cluster is a throwaway PostgreSQL cluster in a temporary directory,
// listening on a unix socket there. Make one with [NewCluster].
type Cluster struct {
	bin  string // directory of initdb, pg_ctl and postgres
	dir  string // the cluster's directory: socket, data/, log
	cred *syscall.Credential

	mu      sync.Mutex // serialises Start, Stop and shutdown
	stopped bool       // shut down for good
}

// NewCluster starts a cluster of the test's own, which it may stop and
// restart, and shuts it down when t ends. Where there are no PostgreSQL
// binaries it skips t (or fails it, with KEYSCOPE_CI=1), whether or not
// KEYSCOPE_TEST_POSTGRES is set.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bin, why := findBinaries()
	if bin == "" {
		skipOrFail(t, why)
	}
	c, err := startCluster(bin)
	if err != nil {
		t.Fatalf("pgtest: starting a PostgreSQL cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.shutdown(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return c
}

// URL returns the URL that connects to database db of the cluster as its
// superuser, through the cluster's socket.
func (c *Cluster) URL(db string) string {
	return "postgres://" + Superuser + "@/" + url.PathEscape(db) + "?host=" + url.QueryEscape(c.dir)
}

// NewSchema creates a fresh schema in the database postgres of the
// cluster, and drops it when t ends (if the cluster is running then).
func (c *Cluster) NewSchema(t testing.TB) DB {
	t.Helper()
	return newSchema(t, c.URL("postgres"))
}

// Exec runs sql with args in the database postgres of the cluster, as its
// superuser, and fails t if it fails.
func (c *Cluster) Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	execSQL(t, c.URL("postgres"), sql, args...)
}

// Stop stops the server at once (pg_ctl stop -m immediate), as a crash
// would: connections drop, and nothing is written on the way down. Every
// committed change survives, since commits reach the operating system
// before they are acknowledged (only fsync is off).
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.pgctl("stop", "-m", "immediate"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// Start starts the server again after Stop, and returns once it accepts
// connections.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.pgctl("start", "-l", filepath.Join(c.dir, "log")); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// Restart stops the server at once and starts it again.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	c.Stop(t)
	c.Start(t)
}

// findBinaries returns the directory holding initdb, pg_ctl and postgres:
// that of initdb on PATH if its siblings are there, else the newest of
// /usr/lib/postgresql/*/bin. It returns "" and the reason when there is
// none.
func findBinaries() (dir, why string) {
	complete := func(d string) bool {
		for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
			if fi, err := os.Stat(filepath.Join(d, name)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && complete(filepath.Dir(real)) {
			return filepath.Dir(real), ""
		}
		if complete(filepath.Dir(p)) {
			return filepath.Dir(p), ""
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int {
		va, vb := version(a), version(b)
		switch {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return 0
	})
	for _, d := range dirs {
		if complete(d) {
			return d, ""
		}
	}
	return "", "initdb, pg_ctl and postgres are neither on PATH nor under /usr/lib/postgresql/*/bin"
}

// startCluster makes a cluster with the binaries in bin and starts it.
func startCluster(bin string) (*Cluster, error) {
	dir, err := os.MkdirTemp(os.TempDir(), "keyscope-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, dir: dir}
	fail := func(err error) (*Cluster, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if os.Geteuid() == 0 {
		// initdb and pg_ctl refuse root: run them as an ordinary user, who
		// must own the directory. MkdirTemp's parent, os.TempDir, is
		// world-traversable, unlike t.TempDir's parents.
		cred, err := serverUser()
		if err != nil {
			return fail(err)
		}
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(err)
		}
		c.cred = cred
	}
	data := filepath.Join(dir, "data")
	if err := c.run("initdb", "-D", data, "-U", Superuser, "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		return fail(err)
	}
	conf := fmt.Sprintf(`
# pgtest: a throwaway cluster for tests, reachable through its socket only.
listen_addresses = ''
unix_socket_directories = '%s'
fsync = off
full_page_writes = off
max_connections = 200
`, strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(dir))
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fail(err)
	}
	_, err = f.WriteString(conf)
	if err = errors.Join(err, f.Close()); err != nil {
		return fail(err)
	}
	if err := c.pgctl("start", "-l", filepath.Join(dir, "log")); err != nil {
		return fail(err)
	}
	return c, nil
}

// serverUser returns the credentials to run the server with as root: the
// user postgres, or nobody.
func serverUser() (*syscall.Credential, error) {
	var errs []error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, err)
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, fmt.Errorf("running as root, and no user to run PostgreSQL as: %w", errors.Join(errs...))
}

// pgctl runs pg_ctl with the cluster's data directory, waiting for the
// action to complete. A failure's error ends with the server log's tail.
func (c *Cluster) pgctl(action string, args ...string) error {
	if c.stopped {
		return errors.New("the cluster is shut down")
	}
	args = append([]string{action, "-D", filepath.Join(c.dir, "data"), "-w", "-t", "60"}, args...)
	err := c.run("pg_ctl", args...)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		if len(log) > 2000 {
			log = log[len(log)-2000:]
		}
		err = fmt.Errorf("%w\nserver log ends:\n%s", err, log)
	}
	return err
}

// run runs the PostgreSQL program name with args, as the server's user.
func (c *Cluster) run(name string, args ...string) error {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s (after %v): %w: %s", name, strings.Join(args, " "), time.Since(start).Round(time.Millisecond), err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// shutdown stops the server, if it runs, and removes the cluster's
// directory. Later calls do nothing.
func (c *Cluster) shutdown() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	var err error
	if _, statErr := os.Stat(filepath.Join(c.dir, "data", "postmaster.pid")); statErr == nil {
		err = c.pgctl("stop", "-m", "immediate")
	}
	c.stopped = true
	if rmErr := os.RemoveAll(c.dir); rmErr != nil {
		err = errors.Join(err, rmErr)
	}
	if err != nil {
		return fmt.Errorf("shutting down the cluster in %s: %w", c.dir, err)
	}
	return nil
}
