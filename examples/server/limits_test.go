package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shortLimit is what a test shortens the timeout under test to, so that
// the server acts on it at once.
const shortLimit = 100 * time.Millisecond

// shorten returns an adjustment for startServer that shortens the timeout
// that field picks from the http.Server to shortLimit. A timeout the server
// does not set stays unset, so that the test sees the connection held.
func shorten(field func(*http.Server) *time.Duration) func(*http.Server) {
	return func(srv *http.Server) {
		if d := field(srv); *d > shortLimit {
			*d = shortLimit
		}
	}
}

// safetyBound is how long a test waits for the server to close a
// connection before it fails: far longer than shortLimit, and shorter than
// every timeout the server runs with, so that only the limit under test
// can close the connection in time.
const safetyBound = 4 * time.Second

// TestServerLimits checks the limits the server runs with, so that none is
// dropped: every timeout is set and at most 30 s, the longest a client may
// hold a connection without sending or reading, and the header limit is
// set and small.
func TestServerLimits(t *testing.T) {
	srv := startServer(t, filepath.Join(t.TempDir(), "keys.db")).srv
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout,
		"ReadTimeout":       srv.ReadTimeout,
		"WriteTimeout":      srv.WriteTimeout,
		"IdleTimeout":       srv.IdleTimeout,
	} {
		assert.Positive(t, d, name)
		assert.LessOrEqual(t, d, 30*time.Second, name)
		assert.Greater(t, d, safetyBound, "%s: the tests' safety bound must be shorter", name)
	}
	assert.LessOrEqual(t, srv.ReadHeaderTimeout, srv.ReadTimeout, "ReadHeaderTimeout is part of ReadTimeout")
	assert.Equal(t, maxHeaderBytes, srv.MaxHeaderBytes, "MaxHeaderBytes")
	assert.Positive(t, srv.MaxHeaderBytes, "MaxHeaderBytes")
	assert.LessOrEqual(t, srv.MaxHeaderBytes, 64<<10, "MaxHeaderBytes")
}

// dial connects to s; the connection is closed when the test ends.
func dial(t *testing.T, s server) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	require.NoError(t, err, "dial")
	t.Cleanup(func() { conn.Close() })
	return conn
}

// readUntilClosed reads r, which reads conn, until the server closes conn,
// and returns what it read. It fails the test if the server holds conn
// open for safetyBound.
func readUntilClosed(t *testing.T, conn net.Conn, r io.Reader) []byte {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(safetyBound)))
	b, err := io.ReadAll(r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		require.FailNowf(t, "the server held the connection", "still open after %v; it sent %q", safetyBound, b)
	}
	require.True(t, err == nil || errors.Is(err, syscall.ECONNRESET), "reading until the server closes the connection: %v", err)
	return b
}

// TestServerCutsOffABodyThatNeverComes sends requests that declare a body
// and never send it: the server closes each connection, whether a handler
// waits for the body or the server itself does, after refusing the request
// without reading it.
func TestServerCutsOffABodyThatNeverComes(t *testing.T) {
	s := startServer(t, filepath.Join(t.TempDir(), "keys.db"), shorten(func(srv *http.Server) *time.Duration { return &srv.ReadTimeout }))
	key := s.firstKey(t)
	for _, tc := range []struct{ name, path, token string }{
		{"refused without reading the body", "/api/profiles", ""},
		{"the data API reads the body", "/api/profiles", key},
		{"the management API reads the body", "/keys", key},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := dial(t, s)
			req := "POST " + tc.path + " HTTP/1.1\r\nHost: " + s.addr + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
			if tc.token != "" {
				req += "Authorization: Bearer " + tc.token + "\r\n"
			}
			_, err := io.WriteString(conn, req+"\r\n{")
			require.NoError(t, err, "sending the request")
			answer := readUntilClosed(t, conn, conn)
			if len(answer) > 0 {
				resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(answer)), nil)
				require.NoError(t, err, "the server's answer %q", answer)
				assert.GreaterOrEqual(t, resp.StatusCode, 400, "the server's answer %q", answer)
			}
		})
	}
	ids, _ := client{t, s.base}.listKeys(key)
	assert.Len(t, ids, 1, "keys after the cut-off requests")
}

// TestServerClosesIdleConnections makes one request on a keep-alive
// connection and then sends nothing: the server closes the connection.
func TestServerClosesIdleConnections(t *testing.T) {
	s := startServer(t, filepath.Join(t.TempDir(), "keys.db"), shorten(func(srv *http.Server) *time.Duration { return &srv.IdleTimeout }))
	conn := dial(t, s)
	_, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: "+s.addr+"\r\n\r\n")
	require.NoError(t, err, "sending the request")
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(safetyBound)))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err, "reading the answer")
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err, "reading the answer's body")
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET /")
	require.False(t, resp.Close, "the server closes the connection after the answer: nothing left to test")

	assert.Empty(t, readUntilClosed(t, conn, br), "the server sent more")
}

// TestServerRefusesOversizedHeaders sends requests with headers below and
// above the limit: the first is served, the second refused with 431.
// net/http reads up to 4 KiB past MaxHeaderBytes before it refuses.
func TestServerRefusesOversizedHeaders(t *testing.T) {
	s := startServer(t, filepath.Join(t.TempDir(), "keys.db"))
	for _, tc := range []struct {
		name string
		size int // of the header's value
		want int
	}{
		{"within the limit", maxHeaderBytes / 2, http.StatusOK},
		{"over the limit", 2 * maxHeaderBytes, http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := dial(t, s)
			_, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: "+s.addr+"\r\nX-Padding: "+strings.Repeat("a", tc.size)+"\r\nConnection: close\r\n\r\n")
			require.NoError(t, err, "sending the request")
			answer := readUntilClosed(t, conn, conn)
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(answer)), nil)
			require.NoError(t, err, "the server's answer %q", answer)
			assert.Equal(t, tc.want, resp.StatusCode, "a %d-byte header", tc.size)
		})
	}
}

// TestDefaultDatabaseIsOwnerOnly starts the server without -db in an empty
// working directory: the keyscope.db it creates and writes the first key
// to, and the -wal and -shm files beside it, are readable and writable by
// their owner only.
func TestDefaultDatabaseIsOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	startServer(t, "").firstKey(t)
	for _, name := range []string{"keyscope.db", "keyscope.db-wal", "keyscope.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err, "the server's database files")
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), name)
	}
}
