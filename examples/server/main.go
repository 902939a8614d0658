// Command server is keyscope's example: a small JSON API on localhost whose
// routes are guarded by API keys with scopes, keys kept in an SQLite file
// or a PostgreSQL database, and keyscope's key management API mounted
// under /keys.
//
//	go run ./examples/server [-addr 127.0.0.1:8080] [-db keyscope.db]
//	go run ./examples/server -db postgres://localhost/app
//
// Several instances may share one PostgreSQL database (or one SQLite file on
// one machine), as instances behind a load balancer do: a key deactivated or
// deleted through one is refused by the others as soon as the store reports
// the change, within a second. (The demo data each serves is its own, kept
// in memory.)
//
// It serves accounts: every key belongs to one ([apikey.Key.Owner]), the
// data API answers with the data of the calling key's account, and the
// management API lists and changes only that account's keys. Keys of
// another account are made with the keyscope command on the same database
// (keyscope create --owner acme ...).
//
// The flags default to the environment variables KEYSCOPE_ADDR and
// KEYSCOPE_DB. On first start, with no key of any account in the database,
// it mints a key of the account "demo" with scopes "*:write,keys:write" (full
// access to the account's data, and the right to manage its keys), prints
// its token once on standard output and says what it is on standard error.
// It shuts down cleanly on SIGINT or SIGTERM. Its http.Server bounds how
// long a client may take to send a request, read the answer or keep an idle
// connection (at most 30 s each), and the size of a request's headers
// (16 KiB): see newServer. The database file it creates is readable and
// writable by its owner only.
package main

import (
	"context"
	"encoding/json"
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
	"github.com/keyscope/apikey/internal/dbopen"
	"github.com/keyscope/apikey/keyapi"
	"github.com/keyscope/apikey/keypage"
)

// resourceLabels name the data API's resources on the settings page.
var resourceLabels = map[string]string{
	"data-privacy": "Data privacy",
	"keys":         "API keys (manage keys)",
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// started describes a running server, for tests.
type started struct {
	addr string          // the listening address
	m    *apikey.Manager // the Manager the server verifies and manages keys with
	srv  *http.Server    // the server, with the limits it serves with
	// signIn is the settings page's one-time sign-in link.
	signIn string
}

// run starts the server and serves until ctx is done. If ready is not nil,
// it receives the listening address, the server's Manager and its
// http.Server once the server accepts connections. Each of adjust, for
// tests, may change the http.Server's settings before it serves.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready chan<- started, adjust ...func(*http.Server)) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr(getenv, "KEYSCOPE_ADDR", "127.0.0.1:8080"), "listen address (env KEYSCOPE_ADDR)")
	dbPath := fs.String("db", envOr(getenv, "KEYSCOPE_DB", "keyscope.db"), "SQLite database file, or postgres:// URL of a PostgreSQL database (env KEYSCOPE_DB)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	store, err := dbopen.Open(openCtx, *dbPath)
	cancel()
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
	signIn := newDemoSignIn()
	h, err := newHandler(m, catalog, logger, signIn)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := newServer(h)
	for _, f := range adjust {
		f(srv)
	}
	fmt.Fprintf(stderr, "keyscope example server on http://%s (keys in %s); Ctrl-C stops it\n", ln.Addr(), dbopen.Describe(*dbPath))
	fmt.Fprintf(stderr, "Settings page: sign in as the owner of account %q with this one-time link (a new one is printed at every start):\n  %s\n", firstOwner, signIn.link(ln.Addr().String()))
	if ready != nil {
		ready <- started{addr: ln.Addr().String(), m: m, srv: srv, signIn: signIn.link(ln.Addr().String())}
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

// maxHeaderBytes is the most the server reads of a request's line and
// headers (net/http allows 4 KiB more); a larger request gets 431 Request
// Header Fields Too Large.
const maxHeaderBytes = 16 << 10

// newServer returns the http.Server that serves h, with limits on how long
// and how much a client may hold of it. Without them a client holds a
// connection, and a file descriptor, for as long as it likes: by declaring
// a body and never sending it, or by keeping an idle connection open, a few
// hundred sockets starve the server of descriptors, and its operators of
// access. Every application serving keyscope needs these settings.
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler: h,
		// Time to send the request line and headers: a slow client (slowloris)
		// cannot hold a connection before any handler, and the Guard, runs.
		ReadHeaderTimeout: 5 * time.Second,
		// Time to send the whole request, body included: a request that
		// declares a body and never sends it is cut off.
		ReadTimeout: 15 * time.Second,
		// Time from the end of the headers to the end of the response: a
		// client that never reads the answer frees the handler.
		WriteTimeout: 30 * time.Second,
		// Time a keep-alive connection may wait for its next request.
		IdleTimeout: 30 * time.Second,
		// A request carries one credential and a few headers, not the 1 MiB
		// net/http allows by default, which every connection could make the
		// server read and buffer before any handler runs.
		MaxHeaderBytes: maxHeaderBytes,
	}
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// The first key, minted when the database holds no key of any account.
const (
	firstOwner  = "demo"
	firstScopes = "*:write,keys:write"
)

// mintFirstKey creates the first key, for the account firstOwner with
// firstScopes, when the store holds no key of any account, and prints its
// token once on stdout and what it is on stderr.
func mintFirstKey(ctx context.Context, m *apikey.Manager, stdout, stderr io.Writer) error {
	ks, err := m.List(ctx, apikey.ListOptions{AllOwners: true, Limit: 1})
	if err != nil {
		return err
	}
	if len(ks) > 0 {
		return nil
	}
	scopes, err := apikey.ParseScopes(firstScopes)
	if err != nil {
		return err
	}
	_, tok, err := m.Create(ctx, apikey.CreateParams{Owner: firstOwner, Label: "first key (examples/server)", Scopes: scopes})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "No keys yet: minted the first key of account %q (%s): full access to the account's data, and it may manage the account's keys. It is shown once, on stdout; store it safely.\n", firstOwner, firstScopes)
	fmt.Fprintln(stdout, tok.Reveal())
	return nil
}

// newHandler builds the whole server: the data API under /api/, served by an
// [apikey.Router] (each route behind its requirement), the list of the
// scopes each route needs at /api/scopes, and the key management API under
// /keys. Both act for
// the calling key's account: the data API answers with that account's data,
// and keyapi's default authorizer, [keyapi.AuthorizeKey], confines every
// operation to the keys of that account and asks for a grant that names
// "keys" (catalog must list it): "keys:read" to list and read, "keys:write"
// for the rest. A "*:write" key alone may not manage keys.
func newHandler(m *apikey.Manager, catalog *apikey.Catalog, logger *slog.Logger, signIn *demoSignIn) (http.Handler, error) {
	guard, err := apikey.NewGuard(m, apikey.GuardOptions{Realm: "keyscope-example"})
	if err != nil {
		return nil, err
	}
	api, err := apikey.NewRouter(guard, catalog, newDataAPI().routes())
	if err != nil {
		return nil, err
	}
	scopes, err := json.MarshalIndent(map[string]any{"routes": api.Routes()}, "", "  ")
	if err != nil {
		return nil, err
	}
	scopes = append(scopes, '\n') // once, so that requests only read it
	keys, err := keyapi.NewHandler(m, keyapi.Options{Logger: logger})
	if err != nil {
		return nil, err
	}
	authenticated, err := guard.Require() // any valid key; keyapi checks a named keys:read / keys:write
	if err != nil {
		return nil, err
	}
	keysAPI := authenticated(http.StripPrefix("/keys", keys))

	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	// The scopes each endpoint needs, for developers writing clients: the
	// route table describes itself. Public, like any API reference.
	mux.HandleFunc("GET /api/scopes", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(scopes)
	})
	mux.Handle("/keys/", keysAPI)
	mux.Handle("/keys", keysAPI)

	// The settings page, for people: the demo's sign-in stands in for the
	// application's own login.
	page, err := keypage.New(m, keypage.Options{
		Authorize:      keyapi.AuthorizeRoles(signIn.signedIn),
		ResourceLabels: resourceLabels,
		Logger:         logger,
		SignInURL:      settingsPath + "/signin",
	})
	if err != nil {
		return nil, err
	}
	mux.Handle(settingsPath+"/", http.StripPrefix(settingsPath, page))
	mux.Handle(settingsPath+"/signin", http.NewCrossOriginProtection().Handler(http.HandlerFunc(signIn.handleSignIn)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "keyscope example server: try GET /api/profiles with Authorization: Bearer <key>")
	})
	return mux, nil
}
