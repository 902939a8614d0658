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
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/keyapi"
	"github.com/keyscope/apikey/memstore"
)

// env is one test's manager, store, handler and log.
type env struct {
	t     *testing.T
	store *failStore
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
	st := &failStore{Store: memstore.New()}
	m, err := apikey.NewManager(apikey.Options{Store: st, UsageInterval: -1, Catalog: o.catalog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	buf := &syncBuffer{}
	if o.api.Logger == nil {
		o.api.Logger = slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h, err := keyapi.NewHandler(m, o.api)
	if err != nil {
		t.Fatal(err)
	}
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

// mint creates a key with the given scopes ("" for full access) directly
// through the Manager.
func (e *env) mint(label, scopes string) (apikey.Key, string) {
	e.t.Helper()
	return e.mintUntil(label, scopes, time.Time{})
}

// mintUntil is mint for a key that expires at exp (zero: never).
func (e *env) mintUntil(label, scopes string, exp time.Time) (apikey.Key, string) {
	e.t.Helper()
	var s apikey.Scopes
	if scopes != "" {
		var err error
		if s, err = apikey.ParseScopes(scopes); err != nil {
			e.t.Fatal(err)
		}
	}
	k, tok, err := e.m.Create(context.Background(), apikey.CreateParams{Label: label, Scopes: s, ExpiresAt: exp})
	if err != nil {
		e.t.Fatal(err)
	}
	return k, tok.Reveal()
}

// do sends a request with an optional bearer token and JSON body.
func (e *env) do(method, path, token, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// count returns how many keys the store holds.
func (e *env) count() int { return e.store.Store.(*memstore.Store).Len() }

// problemBody is a decoded problem+json response.
type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Field  string `json:"field"`
	Code   string `json:"code"`
}

// problemOf checks that w is a problem+json response with the given status
// and returns it.
func problemOf(t *testing.T, w *httptest.ResponseRecorder, status int) problemBody {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %s", ct, w.Body)
	}
	var p problemBody
	dec := json.NewDecoder(w.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body: %v", err)
	}
	if p.Status != status || p.Type != "about:blank" || p.Title != http.StatusText(status) || p.Detail == "" || p.Code == "" {
		t.Fatalf("incomplete problem: %+v", p)
	}
	return p
}

// keyJSON is a key as the API sends it, token included when there is one.
type keyJSON struct {
	ID         uuid.UUID `json:"id"`
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

// decodeStrict decodes w's JSON body into v, refusing members v lacks, so
// that an unexpected member (a digest, say) fails the test.
func decodeStrict(t *testing.T, w *httptest.ResponseRecorder, status int, v any) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decoding %s: %v", w.Body, err)
	}
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
		if err := dec.Decode(&rec); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
	s.b.Reset()
	return out
}

// errStoreDown is the failure failStore injects.
var errStoreDown = errors.New("disk on fire at /var/db/keys.db")

// failStore is a Store whose writes and reads can be made to fail.
type failStore struct {
	apikey.Store
	failGet    atomic.Bool
	failList   atomic.Bool
	failCreate atomic.Bool
	failUpdate atomic.Bool
	// failStatus fails updates that change a key's status.
	failStatus atomic.Bool
	updates    atomic.Int64 // Update calls
}

func (s *failStore) Get(ctx context.Context, id uuid.UUID) (apikey.Key, error) {
	if s.failGet.Load() {
		return apikey.Key{}, errStoreDown
	}
	return s.Store.Get(ctx, id)
}

func (s *failStore) List(ctx context.Context, o apikey.ListOptions) ([]apikey.Key, error) {
	if s.failList.Load() {
		return nil, errStoreDown
	}
	return s.Store.List(ctx, o)
}

func (s *failStore) Create(ctx context.Context, k apikey.Key) error {
	if s.failCreate.Load() {
		return errStoreDown
	}
	return s.Store.Create(ctx, k)
}

func (s *failStore) Update(ctx context.Context, id uuid.UUID, u apikey.Update) (apikey.Key, error) {
	s.updates.Add(1)
	if s.failUpdate.Load() || (s.failStatus.Load() && u.Active != nil) {
		return apikey.Key{}, errStoreDown
	}
	return s.Store.Update(ctx, id, u)
}

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

func strconvQuote(s string) string { return strconv.Quote(s) }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
