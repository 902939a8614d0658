package apikey_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
)

type otherKey struct{}

// TestContextCarriesKey checks that a key context behaves as a context:
// values, cancellation and deadlines pass through it in both directions.
func TestContextCarriesKey(t *testing.T) {
	k := apikey.Key{ID: uuid.New(), Label: "ctx"}
	parent, cancel := context.WithCancelCause(context.WithValue(context.Background(), otherKey{}, "v"))
	ctx := apikey.NewContext(parent, k)

	if got, ok := apikey.FromContext(ctx); !ok || got.ID != k.ID || got.Label != k.Label {
		t.Fatalf("FromContext = %v, %v", got.ID, ok)
	}
	if ctx.Value(otherKey{}) != "v" {
		t.Error("a parent's value is lost")
	}
	child, stop := context.WithTimeout(ctx, time.Hour)
	defer stop()
	if got, ok := apikey.FromContext(child); !ok || got.ID != k.ID {
		t.Error("a derived context lost the key")
	}
	if _, ok := child.Deadline(); !ok {
		t.Error("the derived context has no deadline")
	}
	// A second key replaces the first for code below it.
	k2 := apikey.Key{ID: uuid.New()}
	if got, _ := apikey.FromContext(apikey.NewContext(child, k2)); got.ID != k2.ID {
		t.Error("an inner key does not shadow an outer one")
	}
	// Changing the returned copy changes nothing stored.
	got, _ := apikey.FromContext(ctx)
	got.Label = "changed"
	if again, _ := apikey.FromContext(ctx); again.Label != "ctx" {
		t.Error("FromContext returned a key sharing storage with the context")
	}

	cause := errors.New("client went away")
	cancel(cause)
	<-child.Done()
	if !errors.Is(child.Err(), context.Canceled) || context.Cause(child) != cause {
		t.Errorf("cancellation did not reach the derived context: %v, %v", child.Err(), context.Cause(child))
	}
	if got := ctx.(fmt.Stringer).String(); !strings.Contains(got, "WithValue(apikey context value key)") {
		t.Errorf("String = %q", got)
	}
}

// TestKeyFromContextIsACopyWithoutDigest checks that handlers get their own
// copy of the key, never its digest, including through the middleware,
// which shares the verification cache's record with the request context.
func TestKeyFromContextIsACopyWithoutDigest(t *testing.T) {
	m, _ := newManager(t, apikey.Options{})
	_, tok := create(t, m, apikey.CreateParams{Label: "shared"})
	g, err := apikey.NewGuard(m, apikey.GuardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var seen []apikey.Key
	h := g.MustRequire()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, ok := apikey.FromContext(r.Context())
		if !ok {
			t.Fatal("no key in the context")
		}
		seen = append(seen, k)
		k.Label = "changed by a handler" // must not reach the next request
	}))
	for range 3 {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if len(seen) != 3 {
		t.Fatalf("handler ran %d times", len(seen))
	}
	for _, k := range seen {
		if k.Label != "shared" || !k.Digest.IsZero() {
			t.Fatalf("FromContext = label %q, digest zero %v", k.Label, k.Digest.IsZero())
		}
	}
	if k, err := m.Verify(context.Background(), tok); err != nil || k.Label != "shared" {
		t.Fatalf("Verify after handlers ran = %q, %v", k.Label, err)
	}
}
