package apikey

import (
	"fmt"
	"net/http"
)

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
