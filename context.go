package apikey

import "context"

// contextKey is the type of the context key under which a verified Key is
// stored. It is a pointer so that it cannot collide with other packages' keys.
type contextKey struct{ name string }

func (k *contextKey) String() string { return "apikey context value " + k.name }

var keyCtxKey = &contextKey{"key"}

// keyContext carries a verified Key. It stands in for context.WithValue,
// which would cost two allocations (the value context and the boxed Key):
// the middleware makes one per request. key points either at a record the
// Manager shares and never changes (a verification cache entry), so that the
// context costs one small allocation, or at owned.key. FromContext copies
// the record and clears its digest.
type keyContext struct {
	context.Context
	key *Key
}

func (c *keyContext) Value(k any) any {
	if k == any(keyCtxKey) {
		return c.key
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

// ownedKeyContext is a keyContext and its own copy of the key, in one
// allocation.
type ownedKeyContext struct {
	keyContext
	key Key
}

// NewContext returns a copy of ctx carrying the verified key k. Middleware
// calls it; handlers read the key back with [FromContext].
func NewContext(ctx context.Context, k Key) context.Context {
	c := &ownedKeyContext{key: k}
	c.keyContext = keyContext{Context: ctx, key: &c.key}
	return &c.keyContext
}

// newRefContext returns a copy of ctx carrying k, which must never change.
func newRefContext(ctx context.Context, k *Key) context.Context {
	return &keyContext{Context: ctx, key: k}
}

// FromContext returns the verified key carried by ctx, and ok=false when
// there is none (the request did not pass through keyscope's middleware).
func FromContext(ctx context.Context) (k Key, ok bool) {
	p, ok := ctx.Value(keyCtxKey).(*Key)
	if !ok || p == nil {
		return Key{}, false
	}
	k = *p
	k.Digest = Digest{}
	return k, true
}
