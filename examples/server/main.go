// Command server is keyscope's example: a small JSON API on localhost whose
// routes are guarded by API keys with scopes, keys kept in an SQLite file,
// and keyscope's key management API mounted under /keys.
//
//	go run ./examples/server [-addr 127.0.0.1:8080] [-db keyscope.db]
//
// The flags default to the environment variables KEYSCOPE_ADDR and
// KEYSCOPE_DB. On first start, with no keys in the database, it mints a
// full-access key and prints its token once on standard output. It shuts
// down cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/keyapi"
	"github.com/keyscope/apikey/sqlitestore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// run starts the server and serves until ctx is done. If ready is not nil,
// it receives the listening address once the server accepts connections.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr(getenv, "KEYSCOPE_ADDR", "127.0.0.1:8080"), "listen address (env KEYSCOPE_ADDR)")
	dbPath := fs.String("db", envOr(getenv, "KEYSCOPE_DB", "keyscope.db"), "SQLite database file (env KEYSCOPE_DB)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	store, err := sqlitestore.Open(*dbPath)
	if err != nil {
		return err
	}
	defer store.Close()
	catalog, err := apikey.NewCatalog(append(resources(), "keys")...)
	if err != nil {
		return err
	}
	m, err := apikey.NewManager(apikey.Options{Store: store, Catalog: catalog, Logger: logger})
	if err != nil {
		return err
	}
	defer m.Close()

	if err := mintFirstKey(ctx, m, stdout, stderr); err != nil {
		return err
	}
	h, err := newHandler(m, catalog, logger)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stderr, "keyscope example server on http://%s (keys in %s); Ctrl-C stops it\n", ln.Addr(), *dbPath)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(stderr, "keyscope example server stopped")
	return nil
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// mintFirstKey creates a full-access key when the store holds none, and
// prints its token once.
func mintFirstKey(ctx context.Context, m *apikey.Manager, stdout, stderr io.Writer) error {
	ks, err := m.List(ctx, apikey.ListOptions{Limit: 1})
	if err != nil {
		return err
	}
	if len(ks) > 0 {
		return nil
	}
	_, tok, err := m.Create(ctx, apikey.CreateParams{Label: "first key (examples/server)"})
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, "No keys yet: minted a full-access key. It is shown once; store it safely.")
	fmt.Fprintln(stdout, tok.Reveal())
	return nil
}

// newHandler builds the whole server: the data API under /api/, guarded by
// the route policy, and the key management API under /keys.
func newHandler(m *apikey.Manager, catalog *apikey.Catalog, logger *slog.Logger) (http.Handler, error) {
	guard, err := apikey.NewGuard(m, apikey.GuardOptions{Realm: "keyscope-example"})
	if err != nil {
		return nil, err
	}
	policy, err := apikey.NewPolicy(catalog, routes())
	if err != nil {
		return nil, err
	}
	api := newDataAPI()
	keys, err := keyapi.NewHandler(m, keyapi.Options{Logger: logger})
	if err != nil {
		return nil, err
	}
	authenticated, err := guard.Require() // any valid key; keyapi checks keys:read / keys:write
	if err != nil {
		return nil, err
	}
	keysAPI := authenticated(http.StripPrefix("/keys", keys))

	mux := http.NewServeMux()
	mux.Handle("/api/", guard.Enforce(policy)(api))
	mux.Handle("/keys/", keysAPI)
	mux.Handle("/keys", keysAPI)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "keyscope example server: try GET /api/profiles with Authorization: Bearer <key>")
	})
	return mux, nil
}
