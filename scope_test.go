package apikey

import (
	"errors"
	"strings"
	"testing"
)

func mustScopes(t testing.TB, list string) Scopes {
	t.Helper()
	s, err := ParseScopes(list)
	if err != nil {
		t.Fatalf("ParseScopes(%q): %v", list, err)
	}
	return s
}

func TestParseScopesCanonicalForm(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"single", "lists:read", "lists:read"},
		{"sorted", "lists:write,campaigns:read", "campaigns:read,lists:write"},
		{"spaces tolerated", "  campaigns:read ,  lists:write ", "campaigns:read,lists:write"},
		{"duplicates merged, highest wins", "campaigns:read,campaigns:write,campaigns:read", "campaigns:write"},
		{"full is write", "lists:full", "lists:write"},
		{"full access", "*:write", "*:write"},
		{"full access spelled full", "*:full", "*:write"},
		{"read-only", "*:read", "*:read"},
		{"wildcard absorbs lower grants", "*:write,lists:read,profiles:write", "*:write"},
		{"read wildcard keeps writes", "profiles:write,*:read,lists:read", "*:read,profiles:write"},
		{"none dropped", "lists:none,profiles:read", "profiles:read"},
		{"hyphen and dots", "data-privacy:write,a.b_c:read", "a.b_c:read,data-privacy:write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustScopes(t, tt.in)
			if got := s.String(); got != tt.want {
				t.Fatalf("ParseScopes(%q).String() = %q, want %q", tt.in, got, tt.want)
			}
			again := mustScopes(t, s.String())
			if !again.Equal(s) {
				t.Fatalf("parse(format(s)) = %q, want %q", again, s)
			}
		})
	}
}

func TestParseScopesErrorsNameTheToken(t *testing.T) {
	tests := []struct {
		name, in, wantInMsg string
	}{
		{"empty", "", "empty"},
		{"blank", "   ", "empty"},
		{"empty token", "lists:read,,profiles:read", "empty token"},
		{"trailing comma", "lists:read,", "empty token"},
		{"no colon", "lists", `"lists"`},
		{"bad access", "lists:admin", `"lists:admin"`},
		{"upper case", "Lists:read", `"Lists:read"`},
		{"empty resource", ":read", `":read"`},
		{"leading hyphen", "-x:read", `"-x:read"`},
		{"space inside", "li sts:read", `"li sts:read"`},
		{"two colons", "lists:read:write", `"lists:read:write"`},
		{"grants nothing", "lists:none", `"lists:none" grants no access`},
		{"wildcard cannot exclude", "*:read,data-privacy:none", `"data-privacy:none"`},
		{"too long resource", strings.Repeat("a", 65) + ":read", "longer than"},
		{"too many tokens", strings.Repeat("a:read,", 300) + "a:read", "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseScopes(tt.in)
			if !errors.Is(err, ErrInvalidScope) {
				t.Fatalf("ParseScopes(%q) err = %v, want ErrInvalidScope", tt.in, err)
			}
			if !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Fatalf("error %q does not mention %q", err, tt.wantInMsg)
			}
		})
	}
}

func TestCatalogSuggestsCloseMatch(t *testing.T) {
	c, err := NewCatalog("lists", "profiles", "campaigns", "data-privacy")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, token, suggestion string
	}{
		{"list:read", "list:read", "lists"},
		{"campaigns:read,profile:write", "profile:write", "profiles"},
		{"data_privacy:read", "data_privacy:read", "data-privacy"},
		{"orders:read", "orders:read", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := c.ParseScopes(tt.in)
			var se *ScopeError
			if !errors.As(err, &se) || !errors.Is(err, ErrInvalidScope) {
				t.Fatalf("err = %v, want a *ScopeError wrapping ErrInvalidScope", err)
			}
			if se.Token != tt.token || se.Suggestion != tt.suggestion {
				t.Fatalf("ScopeError{Token: %q, Suggestion: %q}, want %q, %q", se.Token, se.Suggestion, tt.token, tt.suggestion)
			}
			if tt.suggestion != "" && !strings.Contains(err.Error(), `did you mean "`+tt.suggestion+`"`) {
				t.Fatalf("error %q lacks the suggestion", err)
			}
		})
	}
	if s, err := c.ParseScopes("*:read,lists:write"); err != nil || s.String() != "*:read,lists:write" {
		t.Fatalf("catalog rejects valid list: %v", err)
	}
	if err := c.Validate(mustScopes(t, "orders:read")); err == nil {
		t.Fatal("Validate accepted a resource outside the catalog")
	}
}

func TestNewCatalogRejectsBadResources(t *testing.T) {
	for name, rs := range map[string][]string{
		"none":      nil,
		"wildcard":  {"lists", "*"},
		"duplicate": {"lists", "lists"},
		"invalid":   {"Lists"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewCatalog(rs...); err == nil {
				t.Fatalf("NewCatalog(%q) succeeded", rs)
			}
		})
	}
}

func TestScopesAllows(t *testing.T) {
	tests := []struct {
		grants, required string
		want             bool
	}{
		{"*:write", "lists:write", true},
		{"*:write", "anything-added-later:read", true},
		{"*:read", "lists:read", true},
		{"*:read", "lists:write", false},
		{"lists:write", "lists:read", true},
		{"lists:read", "lists:write", false},
		{"lists:read", "profiles:read", false},
		{"campaigns:read,lists:write", "campaigns:read", true},
		{"campaigns:read,lists:write", "campaigns:write", false},
		{"*:read,lists:write", "lists:write", true},
		{"*:read,lists:write", "profiles:write", false},
		{"lists:write", "*:read", false},
		{"*:read", "*:read", true},
		{"*:read", "*:write", false},
		{"lists:read", "lists:none", true},
	}
	for _, tt := range tests {
		t.Run(tt.grants+" allows "+tt.required, func(t *testing.T) {
			req, err := ParseScope(tt.required)
			if err != nil {
				t.Fatal(err)
			}
			if got := mustScopes(t, tt.grants).Allows(req); got != tt.want {
				t.Fatalf("Allows = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestScopesAllowsAllAndMissing(t *testing.T) {
	s := mustScopes(t, "profiles:read,lists:write")
	need := []Scope{{"profiles", Read}, {"lists", Read}, {"campaigns", Read}, {"profiles", Write}}
	if s.AllowsAll(need...) {
		t.Fatal("AllowsAll = true with campaigns missing")
	}
	if !s.AllowsAll(need[:2]...) {
		t.Fatal("AllowsAll = false for granted scopes")
	}
	missing := s.Missing(need...)
	if len(missing) != 2 || missing[0] != (Scope{"campaigns", Read}) || missing[1] != (Scope{"profiles", Write}) {
		t.Fatalf("Missing = %v", missing)
	}
	if s.Missing(need[:2]...) != nil {
		t.Fatal("Missing of granted scopes is not nil")
	}
}

func TestScopesCovers(t *testing.T) {
	tests := []struct {
		actor, requested string
		want             bool
	}{
		{"*:write", "*:write", true},
		{"*:write", "lists:read", true},
		{"keys:write,lists:read", "*:write", false},
		{"keys:write,lists:read", "*:read", false},
		{"keys:write,lists:read", "lists:read", true},
		{"keys:write,lists:read", "lists:write", false},
		{"*:read,keys:write", "*:read", true},
		{"*:read,keys:write", "*:read,lists:write", false},
		{"*:read", "lists:read,profiles:read", true},
	}
	for _, tt := range tests {
		t.Run(tt.actor+" covers "+tt.requested, func(t *testing.T) {
			if got := mustScopes(t, tt.actor).Covers(mustScopes(t, tt.requested)); got != tt.want {
				t.Fatalf("Covers = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestScopesPresetsAndZero(t *testing.T) {
	if !FullAccess().IsFullAccess() || FullAccess().String() != "*:write" {
		t.Fatalf("FullAccess = %q", FullAccess())
	}
	if !ReadOnly().IsReadOnly() || ReadOnly().String() != "*:read" {
		t.Fatalf("ReadOnly = %q", ReadOnly())
	}
	var zero Scopes
	if !zero.IsZero() || zero.String() != "" || zero.Allows(Scope{"lists", Read}) {
		t.Fatal("zero Scopes must grant nothing")
	}
	if mustScopes(t, "*:read,lists:write").IsReadOnly() {
		t.Fatal("IsReadOnly true for a set with a write grant")
	}
}

func TestScopesTextRoundTrip(t *testing.T) {
	s := mustScopes(t, "campaigns:read,lists:write")
	b, err := s.MarshalText()
	if err != nil || string(b) != "campaigns:read,lists:write" {
		t.Fatalf("MarshalText = %q, %v", b, err)
	}
	var back Scopes
	if err := back.UnmarshalText(b); err != nil || !back.Equal(s) {
		t.Fatalf("UnmarshalText = %q, %v", back, err)
	}
	if err := back.UnmarshalText([]byte("lists")); !errors.Is(err, ErrInvalidScope) {
		t.Fatalf("UnmarshalText(bad) = %v", err)
	}
}

func TestScopesGrantsIsACopy(t *testing.T) {
	s := mustScopes(t, "campaigns:read,lists:write")
	g := s.Grants()
	g[0].Access = Write
	if s.String() != "campaigns:read,lists:write" {
		t.Fatalf("mutating Grants changed the set: %q", s)
	}
}

func TestScopeCheckDoesNotAllocate(t *testing.T) {
	s := mustScopes(t, "campaigns:read,catalogs:read,data-privacy:write,lists:write,profiles:read")
	req := []Scope{{"lists", Read}, {"profiles", Read}}
	allocs := testing.AllocsPerRun(100, func() {
		if !s.AllowsAll(req...) || !s.Allows(Scope{"data-privacy", Write}) {
			t.Fatal("unexpected denial")
		}
	})
	if allocs != 0 {
		t.Fatalf("scope check allocates %v times", allocs)
	}
}

func FuzzParseScopes(f *testing.F) {
	for _, seed := range []string{
		"lists:read", "campaigns:read,lists:write", "*:write", "*:read,lists:write",
		" a:read , b:full ", "lists:none", "*:read,x:none", "", ",", "a:b:c", "Lists:read", "é:read",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseScopes(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidScope) {
				t.Fatalf("error %v does not wrap ErrInvalidScope", err)
			}
			return
		}
		if s.IsZero() {
			t.Fatalf("ParseScopes(%q) succeeded with an empty set", in)
		}
		out := s.String()
		again, err := ParseScopes(out)
		if err != nil || !again.Equal(s) || again.String() != out {
			t.Fatalf("round trip of %q: %q -> %q, %v", in, out, again, err)
		}
		if !s.Covers(again) || !again.Covers(s) {
			t.Fatalf("%q and its canonical form do not cover each other", in)
		}
	})
}
