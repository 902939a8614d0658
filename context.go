package apikey

import "context"

// contextKey is the type of the context key under which a verified Key is
// stored. It is a pointer so that it cannot collide with other packages' keys.
type contextKey struct{ name string }

func (k *contextKey) String() string { return "apikey context value " + k.name }

var keyCtxKey = &contextKey{"key"}

// NewContext returns a copy of ctx carrying the verified key k. Middleware
// calls it; handlers read the key back with [FromContext].
func NewContext(ctx context.Context, k Key) context.Context {
	return context.WithValue(ctx, keyCtxKey, k)
}

// FromContext returns the verified key carried by ctx, and ok=false when
// there is none (the request did not pass through keyscope's middleware).
func FromContext(ctx context.Context) (k Key, ok bool) {
	k, ok = ctx.Value(keyCtxKey).(Key)
	return k, ok
}
