package apikey

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Access is the level of access a key has to one resource. Write covers
// read: a key that may write a resource may also read it.
type Access uint8

// The access levels, in increasing order.
const (
	None  Access = iota // no access
	Read                // read access
	Write               // read and write access
)

// accessNames are the access levels' names, indexed by Access.
var accessNames = [...]string{None: "none", Read: "read", Write: "write"}

// String returns "none", "read" or "write".
func (a Access) String() string { return enumName(accessNames[:], a, "Access") }

// enumName returns the name of v in names, or "typ(v)" for a value without
// one.
func enumName[T ~uint8](names []string, v T, typ string) string {
	if int(v) < len(names) && names[v] != "" {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, uint8(v))
}

// ParseAccess parses "none", "read", "write" or "full" (a synonym for
// write). Any other input is a [*ScopeError].
func ParseAccess(s string) (Access, error) {
	switch s {
	case "none":
		return None, nil
	case "read":
		return Read, nil
	case "write", "full":
		return Write, nil
	}
	return None, &ScopeError{Reason: fmt.Sprintf("access %q is not none, read, write or full", s)}
}

// AllResources is the resource name that stands for every resource, including
// resources an application adds later: "*:write" is full access and "*:read"
// is read-only access.
const AllResources = "*"

// Scope is one grant or requirement: a resource and an access level, written
// "resource:access" (for example "lists:read").
type Scope struct {
	Resource string
	Access   Access
}

// String returns the scope as "resource:access".
func (s Scope) String() string { return s.Resource + ":" + s.Access.String() }

// ParseScope parses a single "resource:access" token. Resource names are
// lowercase ASCII letters, digits, '-', '_' and '.', starting with a letter or
// digit, or "*" for every resource. The access part is read by [ParseAccess].
// Errors wrap [ErrInvalidScope] and are of type [*ScopeError].
func ParseScope(token string) (Scope, error) {
	res, acc, ok := strings.Cut(token, ":")
	if !ok {
		return Scope{}, &ScopeError{Token: token, Reason: `want "resource:access"`}
	}
	if err := checkResource(res); err != nil {
		return Scope{}, &ScopeError{Token: token, Reason: err.Error()}
	}
	a, err := ParseAccess(acc)
	if err != nil {
		se := *err.(*ScopeError) // ParseAccess's reason, naming the whole token
		se.Token = token
		return Scope{}, &se
	}
	return Scope{Resource: res, Access: a}, nil
}

// maxResourceLen bounds a resource name so that scope lists stay small.
const maxResourceLen = 64

func checkResource(res string) error {
	if res == AllResources {
		return nil
	}
	if res == "" {
		return errors.New("resource name is empty")
	}
	if len(res) > maxResourceLen {
		return fmt.Errorf("resource name is longer than %d bytes", maxResourceLen)
	}
	for i := 0; i < len(res); i++ {
		c := res[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return fmt.Errorf("resource name %q may hold only lowercase letters, digits, '-', '_' and '.', starting with a letter or digit", res)
		}
	}
	return nil
}

// Scopes is an immutable, canonical set of grants. The zero value grants
// nothing and reports IsZero; [Manager.Create] reads a zero Scopes as "not
// given" and grants full access.
//
// Scopes are values: copying one is cheap and safe, and no method changes
// the receiver. A Scopes is safe for concurrent use.
type Scopes struct {
	all  Access  // access granted on every resource ("*")
	list []Scope // named grants, sorted by resource, Access > None; never mutated
}

// FullAccess returns the scope set "*:write": read and write access to every
// resource, including resources added later.
func FullAccess() Scopes { return Scopes{all: Write} }

// ReadOnly returns the scope set "*:read": read access to every resource,
// including resources added later.
func ReadOnly() Scopes { return Scopes{all: Read} }

// The names of the preset scope sets, as [ParseScopesOrPreset] reads them
// and as a settings form or a command line offers them.
const (
	PresetFull     = "full"      // FullAccess: "*:write"
	PresetReadOnly = "read-only" // ReadOnly: "*:read"
)

// ParseScopesOrPreset parses the way people choose a key's access: the
// preset [PresetFull] or [PresetReadOnly], or a comma-separated scope list
// read by [ParseScopes]. Spaces around s are ignored. Every error is a
// [*ScopeError]; for empty input its reason lists the accepted forms. Like
// ParseScopes it checks syntax only: [Manager.Create] checks the resources
// against the Manager's [Catalog].
func ParseScopesOrPreset(s string) (Scopes, error) {
	switch strings.TrimSpace(s) {
	case PresetFull:
		return FullAccess(), nil
	case PresetReadOnly:
		return ReadOnly(), nil
	case "":
		return Scopes{}, &ScopeError{Reason: `no scopes given: want "` + PresetFull + `", "` + PresetReadOnly +
			`" or a comma-separated list such as "campaigns:read,lists:write"`}
	}
	return ParseScopes(s)
}

// NewScopes builds a canonical set from individual grants. Duplicates are
// merged (the highest access wins) and grants of access None are dropped. A
// grant that names a resource is kept even when a "*" grant already gives
// as much: it grants nothing more on that resource's data, but it is a grant
// by name, which is what [Scopes.Named] reports and what some rights, such
// as managing keys, require ("*:write,keys:write"). A grant with access None
// is an error when a "*" grant covers the same resource, because a wildcard
// cannot exclude resources. The result must grant something.
func NewScopes(grants ...Scope) (Scopes, error) {
	var s Scopes
	for _, g := range grants {
		if err := checkResource(g.Resource); err != nil {
			return Scopes{}, &ScopeError{Token: g.String(), Reason: err.Error()}
		}
		if g.Access > Write {
			return Scopes{}, &ScopeError{Token: g.String(), Reason: "access is not none, read or write"}
		}
		if g.Resource == AllResources {
			s.all = max(s.all, g.Access)
		}
	}
	var conflict *Scope
	for _, g := range grants {
		if g.Resource == AllResources {
			continue
		}
		if g.Access == None {
			if s.all > None && conflict == nil {
				conflict = &g
			}
			continue
		}
		i, found := slices.BinarySearchFunc(s.list, g.Resource, func(e Scope, r string) int {
			return strings.Compare(e.Resource, r)
		})
		if found {
			s.list[i].Access = max(s.list[i].Access, g.Access)
		} else {
			s.list = slices.Insert(s.list, i, g)
		}
	}
	if conflict != nil {
		return Scopes{}, &ScopeError{Token: conflict.String(),
			Reason: fmt.Sprintf("conflicts with %q: a wildcard grant cannot exclude a resource", Scope{AllResources, s.all}.String())}
	}
	if s.IsZero() {
		return Scopes{}, &ScopeError{Reason: fmt.Sprintf("scope list %q grants no access", joinScopes(grants, ","))}
	}
	return s, nil
}

// joinScopes writes scopes separated by sep, for error messages and
// challenges.
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

// ParseScopes parses a comma-separated scope list such as
// "campaigns:read,lists:write" into a canonical set. Spaces around tokens are
// ignored; duplicates are merged and the highest access wins. An empty list,
// an empty token or a list that grants nothing is an error, as is a bad
// token. Every error is a [*ScopeError] wrapping [ErrInvalidScope], naming
// the bad token if there is one.
//
// ParseScopes checks syntax only; use [Catalog.ParseScopes] to also check
// resource names against the application's resources.
func ParseScopes(list string) (Scopes, error) {
	return parseScopes(list, nil)
}

// maxScopeTokens bounds how many tokens one list may hold.
const maxScopeTokens = 256

func parseScopes(list string, c *Catalog) (Scopes, error) {
	if strings.TrimSpace(list) == "" {
		return Scopes{}, &ScopeError{Reason: "scope list is empty"}
	}
	n := strings.Count(list, ",") + 1
	if n > maxScopeTokens {
		return Scopes{}, &ScopeError{Reason: fmt.Sprintf("scope list has %d tokens, more than %d", n, maxScopeTokens)}
	}
	grants := make([]Scope, 0, n)
	for tok := range strings.SplitSeq(list, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			return Scopes{}, &ScopeError{Reason: fmt.Sprintf("scope list %q has an empty token", list)}
		}
		g, err := ParseScope(tok)
		if err != nil {
			return Scopes{}, err
		}
		if c != nil {
			if err := c.check(tok, g.Resource); err != nil {
				return Scopes{}, err
			}
		}
		grants = append(grants, g)
	}
	return NewScopes(grants...)
}

// IsZero reports whether s grants nothing (the zero value).
func (s Scopes) IsZero() bool { return s.all == None && len(s.list) == 0 }

// IsFullAccess reports whether s grants write access to every resource: it
// holds "*:write", perhaps with grants by name too.
func (s Scopes) IsFullAccess() bool { return s.all == Write }

// IsReadOnly reports whether s is exactly "*:read".
func (s Scopes) IsReadOnly() bool { return s.all == Read && len(s.list) == 0 }

// Access returns the access s grants on resource. The resource "*" asks
// what s grants on every resource.
func (s Scopes) Access(resource string) Access {
	if resource == AllResources {
		return s.all
	}
	return max(s.all, s.Named(resource))
}

// Named returns the access that a grant naming resource gives, ignoring any
// "*" grant: for "*:write,keys:read", Named("keys") is Read and
// Named("lists") is None. Rights that must never come through a wildcard
// check it instead of [Scopes.Access]; keyscope's management API does, so
// that a full-access key for the application's data cannot manage keys
// unless it also names "keys". Named("*") is None.
func (s Scopes) Named(resource string) Access {
	for _, g := range s.list {
		if g.Resource == resource {
			return g.Access
		}
	}
	return None
}

// Allows reports whether s grants the required scope. A requirement with
// access None is always allowed. A requirement on "*" is allowed only by a
// "*" grant at that level. Allows does not allocate.
func (s Scopes) Allows(required Scope) bool {
	return s.Access(required.Resource) >= required.Access
}

// AllowsAll reports whether s grants every required scope. It does not
// allocate.
func (s Scopes) AllowsAll(required ...Scope) bool {
	for _, r := range required {
		if !s.Allows(r) {
			return false
		}
	}
	return true
}

// Missing returns the required scopes that s does not grant, in the order
// given, or nil when s grants them all.
func (s Scopes) Missing(required ...Scope) []Scope {
	var out []Scope
	for _, r := range required {
		if !s.Allows(r) {
			out = append(out, r)
		}
	}
	return out
}

// Covers reports whether s grants everything that other grants: a key with
// scopes s may hand out a key with scopes other without escalating. A "*"
// grant in other is covered only by a "*" grant in s at least as high,
// because it also covers resources added later.
func (s Scopes) Covers(other Scopes) bool {
	if other.all > s.all {
		return false
	}
	for _, g := range other.list {
		if !s.Allows(g) {
			return false
		}
	}
	return true
}

// Grants returns the grants of s in canonical order: the "*" grant first if
// there is one, then resources in lexical order. The slice is a copy.
func (s Scopes) Grants() []Scope {
	out := make([]Scope, 0, len(s.list)+1)
	if s.all > None {
		out = append(out, Scope{AllResources, s.all})
	}
	return append(out, s.list...)
}

// Equal reports whether s and other hold the same grants: the same "*"
// grant and the same grants by name, so that they have the same canonical
// form. "*:write" and "*:write,keys:write" give the same access to data but
// are not Equal, since only the second names "keys".
func (s Scopes) Equal(other Scopes) bool {
	return s.all == other.all && slices.Equal(s.list, other.list)
}

// String returns the canonical comma-separated form, for example
// "campaigns:read,lists:write" or "*:read,lists:write". ParseScopes of the
// result returns a set Equal to s. The zero value formats as "".
func (s Scopes) String() string {
	var b strings.Builder
	for i, g := range s.Grants() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(g.String())
	}
	return b.String()
}

// MarshalText returns the canonical form, so that Scopes reads as a string in
// JSON and other text encodings.
func (s Scopes) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a scope list with [ParseScopes].
func (s *Scopes) UnmarshalText(text []byte) error {
	v, err := ParseScopes(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Catalog is the set of resources an application defines. It validates scope
// lists so that a typo ("list" for "lists") is an error with a suggestion
// rather than a grant on a resource that does not exist. A Catalog is
// immutable and safe for concurrent use.
type Catalog struct {
	resources []string // sorted
}

// NewCatalog returns a catalog of the given resource names. Each must be a
// valid resource name and not "*"; duplicates are an error.
func NewCatalog(resources ...string) (*Catalog, error) {
	if len(resources) == 0 {
		return nil, errors.New("apikey: catalog has no resources")
	}
	rs := slices.Clone(resources)
	slices.Sort(rs)
	for i, r := range rs {
		if r == AllResources {
			return nil, errors.New(`apikey: catalog resource "*" is reserved for every resource`)
		}
		if err := checkResource(r); err != nil {
			return nil, fmt.Errorf("apikey: catalog: %w", err)
		}
		if i > 0 && rs[i-1] == r {
			return nil, fmt.Errorf("apikey: catalog lists resource %q twice", r)
		}
	}
	return &Catalog{resources: rs}, nil
}

// Resources returns the catalog's resource names in lexical order.
func (c *Catalog) Resources() []string { return slices.Clone(c.resources) }

// Has reports whether resource is in the catalog. "*" is always accepted.
func (c *Catalog) Has(resource string) bool {
	if resource == AllResources {
		return true
	}
	_, ok := slices.BinarySearch(c.resources, resource)
	return ok
}

// ParseScopes parses list like [ParseScopes] and also requires every resource
// to be in the catalog. The error for an unknown resource names the token and
// suggests the closest catalog resource when one is near.
func (c *Catalog) ParseScopes(list string) (Scopes, error) {
	return parseScopes(list, c)
}

// Validate reports an error naming the first grant of s whose resource is
// not in the catalog.
func (c *Catalog) Validate(s Scopes) error {
	for _, g := range s.list {
		if err := c.check(g.String(), g.Resource); err != nil {
			return err
		}
	}
	return nil
}

func (c *Catalog) check(token, resource string) error {
	if c.Has(resource) {
		return nil
	}
	return c.unknown("", token, resource)
}

// unknown returns the error for resource, which is not in the catalog: the
// reason, after context, names it and the suggestion is its closest
// neighbour in the catalog.
func (c *Catalog) unknown(context, token, resource string) *ScopeError {
	return &ScopeError{Token: token, Reason: fmt.Sprintf("%sunknown resource %q", context, resource), Suggestion: c.closest(resource)}
}

// closest returns the catalog resource nearest to r by edit distance, if it
// is near enough to be a plausible typo.
func (c *Catalog) closest(r string) string {
	best, bestD := "", len(r)/3+2 // allow about one edit in three characters
	for _, cand := range c.resources {
		if d := editDistance(r, cand); d < bestD {
			best, bestD = cand, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
