package apikey

import (
	"errors"
	"fmt"
	"net/http"
)

// DefaultRealm is the realm of a Guard's challenges when
// GuardOptions.Realm is empty.
const DefaultRealm = "api"

// GuardOptions configures a [Guard]. Every field is optional and has the
// default its comment gives. NewGuard copies what it needs, so changing the
// options afterwards has no effect on the Guard.
type GuardOptions struct {
	// Realm names the protection space in WWW-Authenticate challenges,
	// as in `Bearer realm="api"`. Printable ASCII without '"' or '\'.
	// Default DefaultRealm ("api").
	Realm string

	// Extractors find the API key in a request. All of them are consulted,
	// so that a request carrying two different credentials is refused with
	// ErrConflictingCredentials. Default (nil or empty): BearerToken and
	// HeaderToken("X-API-Key"). The query string and cookies are read only
	// when QueryToken or CookieToken is listed here.
	Extractors []Extractor

	// ErrorHandler writes the response for a refused request. err is the
	// error the Guard's Check or a Router's Check returned; never write
	// err.Error() to the client. Default: WriteError with Realm.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// Guard authenticates HTTP requests by API key and checks their scopes. Its
// Check method decides without writing a response, for tests, gRPC gateways
// and custom middleware; MustRequire and Require wrap handlers with it, and
// a [Router] serves a route table behind it. A Guard is immutable and safe for concurrent use.
type Guard struct {
	m          *Manager
	realm      string
	extractors []Extractor
	onError    func(w http.ResponseWriter, r *http.Request, err error)
}

// NewGuard returns a Guard that verifies keys with m. It reports an error
// naming the bad option when opts is invalid.
func NewGuard(m *Manager, opts GuardOptions) (*Guard, error) {
	if m == nil {
		return nil, errors.New("apikey: NewGuard needs a Manager")
	}
	g := &Guard{m: m, realm: opts.Realm, onError: opts.ErrorHandler}
	if g.realm == "" {
		g.realm = DefaultRealm
	}
	if err := checkRealm(g.realm); err != nil {
		return nil, err
	}
	if len(opts.Extractors) == 0 {
		g.extractors = []Extractor{BearerToken, HeaderToken("X-API-Key")}
	} else {
		for i, ex := range opts.Extractors {
			if ex == nil {
				return nil, fmt.Errorf("apikey: GuardOptions.Extractors[%d] is nil", i)
			}
		}
		g.extractors = append([]Extractor(nil), opts.Extractors...)
	}
	if g.onError == nil {
		realm := g.realm
		g.onError = func(w http.ResponseWriter, _ *http.Request, err error) { WriteError(w, realm, err) }
	}
	return g, nil
}

func checkRealm(realm string) error {
	for i := 0; i < len(realm); i++ {
		if c := realm[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return fmt.Errorf("apikey: realm %q must be printable ASCII without '\"' or '\\'", realm)
		}
	}
	return nil
}

// Authenticate finds the request's API key with the Guard's extractors and
// verifies it, without checking scopes. It returns the key, or
// ErrNoCredential, ErrConflictingCredentials, Verify's ErrInvalidKey,
// ErrInactive or ErrExpired, or a store failure (any other error), which
// must be treated as "not verified".
func (g *Guard) Authenticate(r *http.Request) (Key, error) {
	return public(g.authenticate(r))
}

// authenticate is Authenticate returning the Manager's shared, immutable
// record (see Manager.verify), so that the middleware can hand it to the
// request context without copying it.
func (g *Guard) authenticate(r *http.Request) (*Key, error) {
	tok, err := g.credential(r)
	if err != nil {
		return nil, err
	}
	return g.m.verify(r.Context(), tok, nil)
}

// credential returns the one token the request carries.
func (g *Guard) credential(r *http.Request) (string, error) {
	var tok string
	for _, ex := range g.extractors {
		t, err := ex(r)
		if err != nil {
			if errors.Is(err, ErrConflictingCredentials) || errors.Is(err, ErrInvalidKey) {
				return "", err
			}
			return "", fmt.Errorf("%w: %w", ErrInvalidKey, err)
		}
		if t == "" {
			continue
		}
		if tok != "" && t != tok {
			return "", ErrConflictingCredentials
		}
		tok = t
	}
	if tok == "" {
		return "", ErrNoCredential
	}
	return tok, nil
}

// Check authenticates r like Authenticate and requires its key to grant
// every scope in required. It returns the key, or the error of
// Authenticate, or an [*InsufficientScopeError] naming the scopes the key
// lacks. It never writes a response. With no required scopes, any valid
// key passes.
func (g *Guard) Check(r *http.Request, required ...Scope) (Key, error) {
	return public(g.check(r, required))
}

func (g *Guard) check(r *http.Request, required []Scope) (*Key, error) {
	k, err := g.authenticate(r)
	if err != nil {
		return nil, err
	}
	if !k.Scopes.AllowsAll(required...) {
		return nil, insufficient(k, required)
	}
	return k, nil
}

func insufficient(k *Key, required []Scope) error {
	return &InsufficientScopeError{KeyID: k.ID, Missing: k.Scopes.Missing(required...)}
}

// Require returns middleware that lets a request through to its handler only
// when it carries a valid key granting every scope listed, each a single
// "resource:access" token such as "lists:read". The handler reads the key
// with [FromContext]. A refused request is answered by the Guard's
// ErrorHandler. Require reports an error naming a scope that does not parse,
// requires no access, or names a resource outside the Manager's Catalog.
// With no scopes, any valid key passes.
func (g *Guard) Require(scopes ...string) (func(http.Handler) http.Handler, error) {
	required := make([]Scope, 0, len(scopes))
	for _, s := range scopes {
		sc, err := ParseScope(s)
		if err != nil {
			return nil, err
		}
		if sc.Access == None {
			return nil, &ScopeError{Token: s, Reason: "a requirement of no access is always met"}
		}
		if g.m.catalog != nil {
			if err := g.m.catalog.check(s, sc.Resource); err != nil {
				return nil, err
			}
		}
		required = append(required, sc)
	}
	return func(next http.Handler) http.Handler {
		return g.wrap(next, func(r *http.Request) (*Key, error) { return g.check(r, required) })
	}, nil
}

// MustRequire is like Require but panics, with Require's error (a
// [*ScopeError]), if a scope is invalid. It is for scope literals in route
// setup, where an invalid scope is a programming error:
//
//	mux.Handle("GET /api/lists", guard.MustRequire("lists:read")(listsHandler))
func (g *Guard) MustRequire(scopes ...string) func(http.Handler) http.Handler {
	mw, err := g.Require(scopes...)
	if err != nil {
		panic(err)
	}
	return mw
}

func (g *Guard) wrap(next http.Handler, check func(*http.Request) (*Key, error)) http.Handler {
	if next == nil {
		panic("apikey: middleware wraps a nil handler")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, err := check(r)
		if err != nil {
			g.onError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(newRefContext(r.Context(), k)))
	})
}
