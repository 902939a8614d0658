package apikey_test

import (
	"context"
	"errors"
	"fmt"
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
