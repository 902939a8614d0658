package apikey

import "context"

// contextKey is the type of the context key under which a verified Key is
// stored. It is a pointer so that it cannot collide with other packages' keys.
type contextKey struct{ name string }

func (k *contextKey) String() string { return "apikey context value " + k.name }

var keyCtxKey = &contextKey{"key"}

// keyContext carries a verified Key. It is context.WithValue in one
// allocation instead of two (the value context and the boxed Key), since
// the middleware makes one per request: Value hands out a pointer to the
// embedded key, which FromContext copies.
type keyContext struct {
	context.Context
	key Key
}

func (c *keyContext) Value(k any) any {
	if k == any(keyCtxKey) {
		return &c.key
	}
	return c.Context.Value(k)
}

func (c *keyContext) String() string {
	return contextName(c.Context) + ".WithValue(" + keyCtxKey.String() + ")"
}

func contextName(c context.Context) string {
	if s, ok := c.(interface{ String() string }); ok {
		return s.String()
	}
	return "context"
}

// NewContext returns a copy of ctx carrying the verified key k. Middleware
// calls it; handlers read the key back with [FromContext].
func NewContext(ctx context.Context, k Key) context.Context {
	return &keyContext{Context: ctx, key: k}
}

// FromContext returns the verified key carried by ctx, and ok=false when
// there is none (the request did not pass through keyscope's middleware).
func FromContext(ctx context.Context) (k Key, ok bool) {
	p, ok := ctx.Value(keyCtxKey).(*Key)
	if !ok {
		return Key{}, false
	}
	return *p, true
}
