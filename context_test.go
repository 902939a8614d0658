package apikey_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type otherKey struct{}

// TestContextCarriesKey checks that a key context behaves as a context:
// values, cancellation and deadlines pass through it in both directions.
func TestContextCarriesKey(t *testing.T) {
	k := apikey.Key{ID: uuid.New(), Label: "ctx"}
	parent, cancel := context.WithCancelCause(context.WithValue(context.Background(), otherKey{}, "v"))
	ctx := apikey.NewContext(parent, k)

	got, ok := apikey.FromContext(ctx)
	require.True(t, ok, "FromContext found no key")
	assert.Equal(t, k.ID, got.ID)
	assert.Equal(t, k.Label, got.Label)
	assert.Equal(t, "v", ctx.Value(otherKey{}), "a parent's value")
	child, stop := context.WithTimeout(ctx, time.Hour)
	defer stop()
	got, ok = apikey.FromContext(child)
	assert.True(t, ok, "a derived context lost the key")
	assert.Equal(t, k.ID, got.ID, "key of a derived context")
	_, ok = child.Deadline()
	assert.True(t, ok, "the derived context has no deadline")
	// A second key replaces the first for code below it.
	k2 := apikey.Key{ID: uuid.New()}
	got, _ = apikey.FromContext(apikey.NewContext(child, k2))
	assert.Equal(t, k2.ID, got.ID, "an inner key must shadow an outer one")
	// Changing the returned copy changes nothing stored.
	got, _ = apikey.FromContext(ctx)
	got.Label = "changed"
	again, _ := apikey.FromContext(ctx)
	assert.Equal(t, "ctx", again.Label, "FromContext returned a key sharing storage with the context")

	cause := errors.New("client went away")
	cancel(cause)
	<-child.Done()
	assert.ErrorIs(t, child.Err(), context.Canceled, "cancellation did not reach the derived context")
	assert.Same(t, cause, context.Cause(child), "cause of the derived context's cancellation")
	require.Implements(t, (*fmt.Stringer)(nil), ctx)
	assert.Contains(t, ctx.(fmt.Stringer).String(), "WithValue(apikey context value key)", "String")
}

// TestKeyFromContextIsACopyWithoutDigest checks that handlers get their own
// copy of the key, never its digest, including through the middleware,
// which shares the verification cache's record with the request context.
func TestKeyFromContextIsACopyWithoutDigest(t *testing.T) {
	m, _ := newManager(t, apikey.Options{})
	_, tok := create(t, m, apikey.CreateParams{Label: "shared"})
	g, err := apikey.NewGuard(m, apikey.GuardOptions{})
	require.NoError(t, err)
	var seen []apikey.Key
	h := g.MustRequire()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, ok := apikey.FromContext(r.Context())
		require.True(t, ok, "no key in the context") // the handler runs on the test's goroutine
		seen = append(seen, k)
		k.Label = "changed by a handler" // must not reach the next request
	}))
	for range 3 {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	require.Len(t, seen, 3, "keys the handler saw")
	for _, k := range seen {
		assert.Equal(t, "shared", k.Label, "label FromContext returned")
		assert.True(t, k.Digest.IsZero(), "FromContext returned the digest")
	}
	assert.Equal(t, "shared", verify(t, m, tok, nil).Label, "label Verify returned after handlers ran")
}
