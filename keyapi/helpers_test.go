package keyapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/keyscope/apikey/keyapi"
	"github.com/keyscope/apikey/memstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// env is one test's manager, store, handler and log.
type env struct {
	t     *testing.T
	store *apikeytest.FaultStore
	m     *apikey.Manager
	h     http.Handler
	log   *syncBuffer
}

type envOptions struct {
	api     keyapi.Options
	catalog *apikey.Catalog
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	st := apikeytest.NewFaultStore(memstore.New())
	m := apikeytest.NewManager(t, apikey.Options{Store: st, UsageInterval: -1, Catalog: o.catalog})
	buf := &syncBuffer{}
	if o.api.Logger == nil {
		o.api.Logger = slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h, err := keyapi.NewHandler(m, o.api)
	require.NoError(t, err)
	return &env{t: t, store: st, m: m, h: withBearer(m, h), log: buf}
}

// withBearer stands in for keyscope's middleware: it verifies a bearer
// token and puts its key in the context. A request without one passes
// through without a key; a bad one is refused.
func withBearer(m *apikey.Manager, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		k, err := m.Verify(r.Context(), tok)
		if err != nil {
			http.Error(w, "bad key", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(apikey.NewContext(r.Context(), k)))
	})
}

// testOwner is the account the tests' callers act for, unless a test says
// otherwise.
const testOwner = "acct_42"

// adminScopes are the scopes of a key that may do anything: full access to
// the data, and key management by name.
const adminScopes = "*:write,keys:write"

// allowAll is an Authorizer for a trusted operator of testOwner.
func allowAll(r *http.Request, op keyapi.Operation) (keyapi.Actor, error) {
	return keyapi.Actor{Owner: testOwner, Name: "operator", Scopes: keyapi.AdminScopes()}, nil
}

// ownerFromHeader is an Authorizer for a trusted operator of the owner in
// the X-Owner header, with full access.
func ownerFromHeader(r *http.Request, op keyapi.Operation) (keyapi.Actor, error) {
	return keyapi.Actor{Owner: r.Header.Get("X-Owner"), Name: "operator", Scopes: keyapi.AdminScopes()}, nil
}

// doAs sends a request with an optional JSON body as an operator of owner,
// for ownerFromHeader.
func (e *env) doAs(owner, method, path, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := newRequest(method, path, body)
	r.Header.Set("X-Owner", owner)
	return serve(e.h, r)
}

// mint creates a key of testOwner with the given scopes ("" for full
// access) directly through the Manager.
func (e *env) mint(label, scopes string) (apikey.Key, string) {
	e.t.Helper()
	return e.mintKey(testOwner, label, scopes, time.Time{})
}

// mintUntil is mint for a key that expires at exp (zero: never).
func (e *env) mintUntil(label, scopes string, exp time.Time) (apikey.Key, string) {
	e.t.Helper()
	return e.mintKey(testOwner, label, scopes, exp)
}

// mintKey creates a key of owner with the given scopes ("" for full access)
// and expiry (zero: never) directly through the Manager.
func (e *env) mintKey(owner, label, scopes string, exp time.Time) (apikey.Key, string) {
	e.t.Helper()
	var s apikey.Scopes
	if scopes != "" {
		var err error
		s, err = apikey.ParseScopes(scopes)
		require.NoError(e.t, err)
	}
	k, tok, err := e.m.Create(context.Background(), apikey.CreateParams{Owner: owner, Label: label, Scopes: s, ExpiresAt: exp})
	require.NoError(e.t, err)
	return k, tok.Reveal()
}

// do sends a request with an optional bearer token and JSON body.
func (e *env) do(method, path, token, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := newRequest(method, path, body)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return serve(e.h, r)
}

// count returns how many keys the store holds.
func (e *env) count() int { return e.store.Unwrap().(*memstore.Store).Len() }

// get returns the stored key id, which must exist.
func (e *env) get(t *testing.T, id uuid.UUID) apikey.Key {
	t.Helper()
	k, err := e.m.Get(context.Background(), id)
	require.NoError(t, err)
	return k
}

// problemBody is a decoded problem+json response.
type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Field  string `json:"field"`
	Code   string `json:"code"`
}

// problemOf checks that w is a complete problem+json response with the given
// status and returns it.
func problemOf(t *testing.T, w *httptest.ResponseRecorder, status int) problemBody {
	t.Helper()
	require.Equal(t, status, w.Code, "status; body %s", w.Body)
	require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"), "Content-Type; body %s", w.Body)
	var p problemBody
	dec := json.NewDecoder(w.Body)
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&p), "problem body")
	assert.Equal(t, status, p.Status, "problem status")
	assert.Equal(t, "about:blank", p.Type, "problem type")
	assert.Equal(t, http.StatusText(status), p.Title, "problem title")
	assert.NotEmpty(t, p.Detail, "problem detail")
	assert.NotEmpty(t, p.Code, "problem code")
	return p
}

// assertProblem checks that w is a problem with the given status, field and
// code whose detail contains detailHas, and returns it.
func assertProblem(t *testing.T, w *httptest.ResponseRecorder, status int, field, code, detailHas string) problemBody {
	t.Helper()
	p := problemOf(t, w, status)
	assert.Equal(t, field, p.Field, "problem field")
	assert.Equal(t, code, p.Code, "problem code")
	assert.Contains(t, p.Detail, detailHas, "problem detail")
	return p
}

// keyJSON is a key as the API sends it, token included when there is one.
type keyJSON struct {
	ID         uuid.UUID `json:"id"`
	Owner      string    `json:"owner"`
	Label      string    `json:"label"`
	Scopes     string    `json:"scopes"`
	Active     bool      `json:"active"`
	CreatedAt  string    `json:"created_at"`
	LastUsedAt string    `json:"last_used_at"`
	ExpiresAt  string    `json:"expires_at"`
	ClonedFrom uuid.UUID `json:"cloned_from"`
	Hint       string    `json:"hint"`
	Token      string    `json:"token"`
}

// listJSON is the body of a list response.
type listJSON struct {
	Keys []keyJSON `json:"keys"`
	Next string    `json:"next"`
}

// decodeStrict decodes w's JSON body into v, refusing members v lacks, so
// that an unexpected member (a digest, say) fails the test.
func decodeStrict(t *testing.T, w *httptest.ResponseRecorder, status int, v any) {
	t.Helper()
	require.Equal(t, status, w.Code, "status; body %s", w.Body)
	require.Equal(t, "application/json", w.Header().Get("Content-Type"))
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(v), "decoding %s", w.Body)
}

func decodeKey(t *testing.T, w *httptest.ResponseRecorder, status int) keyJSON {
	t.Helper()
	var k keyJSON
	decodeStrict(t, w, status, &k)
	return k
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	hist strings.Builder // everything ever written
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hist.Write(p)
	return s.b.Write(p)
}

// history returns everything written, including records already taken.
func (s *syncBuffer) history() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hist.String()
}

// records returns the JSON log records written so far and empties the buffer.
func (s *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	dec := json.NewDecoder(&s.b)
	for {
		var rec map[string]any
		err := dec.Decode(&rec)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		out = append(out, rec)
	}
	s.b.Reset()
	return out
}

// onlyRecord returns the one log record written since the last call of
// records, failing unless there is exactly one.
func (s *syncBuffer) onlyRecord(t *testing.T) map[string]any {
	t.Helper()
	recs := s.records(t)
	require.Len(t, recs, 1, "log records %v", recs)
	return recs[0]
}

// errStoreDown is the failure the tests make the store return.
var errStoreDown = errors.New("disk on fire at /var/db/keys.db")

// newRequest returns a request with a JSON body, if body is not empty.
func newRequest(method, path, body string) *http.Request {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// fetch sends srv a request with an optional bearer token and JSON body, and
// records the reply as httptest.ResponseRecorder does, for problemOf and
// decodeKey.
func fetch(t *testing.T, srv *httptest.Server, method, path, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	w := httptest.NewRecorder()
	maps.Copy(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	_, err = io.Copy(w.Body, resp.Body)
	require.NoError(t, err)
	return w
}

// serveMounted serves api under /keys, as the package doc mounts it, on a
// test server.
func serveMounted(t *testing.T, api http.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/keys/", api)
	mux.Handle("/keys", api)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// storedDigest returns the encodings in which a key's digest might leak.
func storedDigest(t *testing.T, e *env, id uuid.UUID) []string {
	t.Helper()
	k, err := e.store.Unwrap().Get(context.Background(), id)
	require.NoError(t, err)
	require.False(t, k.Digest.IsZero(), "stored record %+v has no digest", k)
	return digestForms(k.Digest.Bytes())
}

// digestForms returns the encodings under which digest bytes could leak:
// the whole digest and its hash part, raw, hex and base64.
func digestForms(b []byte) []string {
	var out []string
	for _, part := range [][]byte{b, b[1:]} {
		out = append(out, string(part), hex.EncodeToString(part),
			base64.StdEncoding.EncodeToString(part), base64.RawURLEncoding.EncodeToString(part))
	}
	return out
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
