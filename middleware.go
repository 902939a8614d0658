package apikey

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// Errors returned by [Guard.Check], [Guard.CheckPolicy] and
// [Policy.Required], besides Verify's ErrInvalidKey, ErrInactive and
// ErrExpired. They may be tested against with errors.Is.
var (
	// ErrNoCredential means the request carries no API key that any of the
	// Guard's extractors looks for.
	ErrNoCredential = errors.New("apikey: request carries no api key")
	// ErrConflictingCredentials means the request carries two different
	// credentials: say, an Authorization header and an X-API-Key header
	// with different tokens, or a header repeated with different values.
	ErrConflictingCredentials = errors.New("apikey: request carries more than one api key")
	// ErrInsufficientScope is wrapped by [*InsufficientScopeError].
	ErrInsufficientScope = errors.New("apikey: key lacks a required scope")
	// ErrNoRoute means no route of the [Policy] serves the request's path,
	// or the path is not in the canonical form the router serves.
	ErrNoRoute = errors.New("apikey: no policy route matches the request")
	// ErrMethodNotAllowed means the request method is not one the
	// [Policy] maps to an access level.
	ErrMethodNotAllowed = errors.New("apikey: request method is not allowed")
	// ErrInvalidInclude is wrapped by [*IncludeError].
	ErrInvalidInclude = errors.New("apikey: invalid include parameter")
)

// InsufficientScopeError is returned for a valid key that lacks some of the
// scopes a request needs. It wraps [ErrInsufficientScope]. It is not
// modified once returned, so it is safe for concurrent use.
type InsufficientScopeError struct {
	KeyID   uuid.UUID // the key that was refused
	Missing []Scope   // the required scopes the key does not grant
}

func (e *InsufficientScopeError) Error() string {
	return fmt.Sprintf("apikey: key %s lacks scope %s", e.KeyID, joinScopes(e.Missing, ", "))
}

// Unwrap returns [ErrInsufficientScope].
func (e *InsufficientScopeError) Unwrap() error { return ErrInsufficientScope }

func joinScopes(s []Scope, sep string) string {
	var b strings.Builder
	for i, sc := range s {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(sc.String())
	}
	return b.String()
}

// Extractor finds the API key in a request. It returns "" and a nil error
// when the request carries no credential of its kind, and an error when what
// it carries cannot be used: one wrapping [ErrConflictingCredentials] when it
// finds two different values, one wrapping [ErrInvalidKey] when the
// credential is malformed. A Guard treats any other error as ErrInvalidKey.
// An Extractor must be safe for concurrent use.
type Extractor func(r *http.Request) (token string, err error)

// BearerToken extracts the token of an "Authorization: Bearer <token>"
// header (RFC 6750). The scheme is matched without regard to case. An
// Authorization header with another scheme is not a credential of this kind
// and gives "". The Bearer scheme with no token gives ErrInvalidKey, and two
// Authorization headers with different values give
// ErrConflictingCredentials.
func BearerToken(r *http.Request) (string, error) {
	v, err := onlyValue(r.Header["Authorization"], "Authorization header")
	if err != nil || v == "" {
		return "", err
	}
	tok, ok := parseBearer(v)
	if !ok {
		return "", nil
	}
	if tok == "" {
		return "", fmt.Errorf("%w: bearer authorization without a token", ErrInvalidKey)
	}
	return tok, nil
}

// parseBearer returns the token of an Authorization header value, and
// whether its scheme is Bearer. It does not allocate.
func parseBearer(v string) (token string, bearer bool) {
	const scheme = "bearer"
	v = trimSP(v)
	if len(v) < len(scheme) || !asciiEqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	rest := v[len(scheme):]
	if rest == "" {
		return "", true
	}
	if rest[0] != ' ' && rest[0] != '\t' {
		return "", false // another scheme, such as "Bearerx"
	}
	return trimSP(rest), true
}

// trimSP trims spaces and tabs, the whitespace of HTTP header syntax.
func trimSP(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// asciiEqualFold reports whether s equals the lowercase ASCII word lower,
// ignoring ASCII case only (strings.EqualFold would also fold some
// non-ASCII letters onto ASCII ones).
func asciiEqualFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// onlyValue returns the value of a credential that may appear several times,
// failing with ErrConflictingCredentials when the occurrences differ.
func onlyValue(vals []string, what string) (string, error) {
	if len(vals) == 0 {
		return "", nil
	}
	for _, v := range vals[1:] {
		if v != vals[0] {
			return "", fmt.Errorf("%w: %d differing values of %s", ErrConflictingCredentials, len(vals), what)
		}
	}
	return vals[0], nil
}

// HeaderToken returns an Extractor that takes the whole value of the named
// header as the token, for example "X-API-Key". An empty header gives "";
// the header repeated with different values gives ErrConflictingCredentials.
func HeaderToken(name string) Extractor {
	key := http.CanonicalHeaderKey(name)
	what := key + " header"
	return func(r *http.Request) (string, error) {
		v, err := onlyValue(r.Header[key], what)
		return trimSP(v), err
	}
}

// QueryToken returns an Extractor that reads the token from the named query
// parameter. Guards never read the query string unless given this
// extractor: URLs end up in server, proxy and browser logs, so use it only
// for clients that cannot send headers.
func QueryToken(param string) Extractor {
	what := fmt.Sprintf("query parameter %q", param)
	return func(r *http.Request) (string, error) {
		return onlyValue(r.URL.Query()[param], what)
	}
}

// CookieToken returns an Extractor that reads the token from the named
// cookie. Guards never read cookies unless given this extractor: browsers
// send cookies on cross-site requests, so an API authenticated by cookie
// needs protection against cross-site request forgery.
func CookieToken(name string) Extractor {
	what := fmt.Sprintf("cookie %q", name)
	return func(r *http.Request) (string, error) {
		cs := r.CookiesNamed(name)
		vals := make([]string, len(cs))
		for i, c := range cs {
			vals[i] = c.Value
		}
		return onlyValue(vals, what)
	}
}

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
	// error the Guard's Check or CheckPolicy returned; never write
	// err.Error() to the client. Default: WriteError with Realm.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// Guard authenticates HTTP requests by API key and checks their scopes. Its
// Check and CheckPolicy methods decide without writing a response, for tests,
// gRPC gateways and custom middleware; RequireScope, Require and Enforce
// wrap handlers with them. A Guard is immutable and safe for concurrent use.
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

// RequireScope is like Require but panics if a scope is invalid. It is for
// scope literals in route setup, where an invalid scope is a programming
// error:
//
//	mux.Handle("GET /api/lists", guard.RequireScope("lists:read")(listsHandler))
func (g *Guard) RequireScope(scopes ...string) func(http.Handler) http.Handler {
	mw, err := g.Require(scopes...)
	if err != nil {
		panic("apikey: RequireScope: " + strings.TrimPrefix(err.Error(), "apikey: "))
	}
	return mw
}

// Enforce returns middleware that lets a request through only when it
// carries a valid key granting what the policy p requires for it (see
// [Guard.CheckPolicy]). Put it directly in front of the router that serves
// p's routes, so that both see the same path. A refused request is answered
// by the Guard's ErrorHandler; the handler reads the key with [FromContext].
func (g *Guard) Enforce(p *Policy) func(http.Handler) http.Handler {
	if p == nil {
		panic("apikey: Enforce: nil Policy")
	}
	return func(next http.Handler) http.Handler {
		return g.wrap(next, func(r *http.Request) (*Key, error) { return g.checkPolicy(r, p) })
	}
}

// CheckPolicy authenticates r and requires its key to grant what the policy
// p requires for it. Authentication comes first, so a request without a
// valid key learns nothing about the routes. It returns the key, or the
// error of Authenticate, of [Policy.Required] (ErrMethodNotAllowed,
// ErrNoRoute, an [*IncludeError]), or an [*InsufficientScopeError]. It never
// writes a response.
func (g *Guard) CheckPolicy(r *http.Request, p *Policy) (Key, error) {
	return public(g.checkPolicy(r, p))
}

func (g *Guard) checkPolicy(r *http.Request, p *Policy) (*Key, error) {
	k, err := g.authenticate(r)
	if err != nil {
		return nil, err
	}
	var buf [1 + maxIncludeValues]Scope
	required, err := p.required(r, buf[:0])
	if err != nil {
		return nil, err
	}
	if !k.Scopes.AllowsAll(required...) {
		return nil, insufficient(k, required)
	}
	return k, nil
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

// errorBody is the JSON body of an error response.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Scope       string `json:"scope,omitempty"`
}

func (b errorBody) marshal() []byte {
	out, err := json.Marshal(b)
	if err != nil {
		panic(err) // a struct of strings always marshals
	}
	return append(out, '\n')
}

// The fixed bodies. bodyInvalidKey is the one body for every key that does
// not verify, whatever the reason.
var (
	bodyNoCredential = errorBody{Error: "unauthorized", Description: "an API key is required"}.marshal()
	bodyInvalidKey   = errorBody{Error: "invalid_token", Description: "the API key is not valid"}.marshal()
	bodyConflicting  = errorBody{Error: "invalid_request", Description: "the request carries more than one API key"}.marshal()
	bodyNoRoute      = errorBody{Error: "not_found", Description: "no route matches the request"}.marshal()
	bodyMethod       = errorBody{Error: "method_not_allowed", Description: "the request method is not allowed"}.marshal()
	bodyUnavailable  = errorBody{Error: "temporarily_unavailable", Description: "the API key could not be checked; try again later"}.marshal()
)

// allowedMethods is the Allow header of a 405 answer: the methods a
// [Policy] maps to an access level.
const allowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE"

// maxEchoLen bounds how much of an offending include value an error body
// repeats.
const maxEchoLen = 64

// ErrorStatus returns the HTTP status code WriteError answers err with:
//
//   - 401 for ErrNoCredential, ErrInvalidKey, ErrInactive and ErrExpired;
//   - 403 for ErrInsufficientScope;
//   - 400 for ErrConflictingCredentials and ErrInvalidInclude;
//   - 404 for ErrNoRoute and 405 for ErrMethodNotAllowed;
//   - 503 for any other error, a failure of the store: never a pass.
func ErrorStatus(err error) int {
	switch {
	case errors.Is(err, ErrNoCredential),
		errors.Is(err, ErrInvalidKey), errors.Is(err, ErrInactive), errors.Is(err, ErrExpired):
		return http.StatusUnauthorized
	case errors.Is(err, ErrInsufficientScope):
		return http.StatusForbidden
	case errors.Is(err, ErrConflictingCredentials), errors.Is(err, ErrInvalidInclude):
		return http.StatusBadRequest
	case errors.Is(err, ErrNoRoute):
		return http.StatusNotFound
	case errors.Is(err, ErrMethodNotAllowed):
		return http.StatusMethodNotAllowed
	}
	return http.StatusServiceUnavailable
}

// WriteError answers a refused request with the status [ErrorStatus] gives
// for err, a small JSON object {"error": ..., "error_description": ...} and
// Cache-Control: no-store. It is the default ErrorHandler of a Guard, and a
// custom one may call it after logging. It never writes err.Error().
//
// Following RFC 6750, a 401 carries the challenge
// `WWW-Authenticate: Bearer realm="<realm>"`, with `error="invalid_token"`
// added when a key was given; the answer is byte-identical for malformed,
// unknown, wrong-secret, inactive and expired keys. A 403 carries
// `error="insufficient_scope"` and `scope="..."` naming the missing scopes,
// which the body's "scope" member repeats. Two credentials in one request
// get 400 with `error="invalid_request"`. A 405 carries an Allow header.
// realm should be printable ASCII without '"' or '\'; other bytes are
// escaped or dropped.
func WriteError(w http.ResponseWriter, realm string, err error) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	status := ErrorStatus(err)
	var body []byte
	switch status {
	case http.StatusUnauthorized:
		if errors.Is(err, ErrNoCredential) {
			h.Set("WWW-Authenticate", challenge(realm, ""))
			body = bodyNoCredential
		} else {
			h.Set("WWW-Authenticate", challenge(realm, `error="invalid_token"`))
			body = bodyInvalidKey
		}
	case http.StatusForbidden:
		var missing string
		if se := (*InsufficientScopeError)(nil); errors.As(err, &se) {
			missing = joinScopes(se.Missing, " ")
		}
		h.Set("WWW-Authenticate", challenge(realm, `error="insufficient_scope", scope="`+missing+`"`))
		body = errorBody{Error: "insufficient_scope", Description: "the API key lacks a required scope", Scope: missing}.marshal()
	case http.StatusBadRequest:
		if ie := (*IncludeError)(nil); errors.As(err, &ie) {
			body = errorBody{Error: "invalid_request", Description: ie.clientDescription()}.marshal()
		} else {
			h.Set("WWW-Authenticate", challenge(realm, `error="invalid_request"`))
			body = bodyConflicting
		}
	case http.StatusNotFound:
		body = bodyNoRoute
	case http.StatusMethodNotAllowed:
		h.Set("Allow", allowedMethods)
		body = bodyMethod
	default:
		body = bodyUnavailable
	}
	w.WriteHeader(status)
	w.Write(body)
}

// challenge returns a Bearer challenge for realm with optional extra
// parameters, escaping the realm as an HTTP quoted-string.
func challenge(realm, params string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="`)
	for i := 0; i < len(realm); i++ {
		switch c := realm[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20 && c <= 0x7e:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	if params != "" {
		b.WriteString(", ")
		b.WriteString(params)
	}
	return b.String()
}
