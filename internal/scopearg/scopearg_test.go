package scopearg

import (
	"errors"
	"testing"

	"github.com/keyscope/apikey"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in     string
		want   string // canonical form; "" means an error
		badTok string // the token a ScopeError must name, if any
	}{
		{in: "full", want: "*:write"},
		{in: " full ", want: "*:write"},
		{in: "read-only", want: "*:read"},
		{in: "campaigns:read,lists:write", want: "campaigns:read,lists:write"},
		{in: "lists:write, campaigns:read", want: "campaigns:read,lists:write"},
		{in: "*:write", want: "*:write"},
		{in: "Full"},
		{in: "readonly", badTok: "readonly"},
		{in: ""},
		{in: "lists:admin", badTok: "lists:admin"},
		{in: "lists:read,,x:read"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.want == "" {
				if !errors.Is(err, apikey.ErrInvalidScope) {
					t.Fatalf("Parse(%q) = %v, %v; want an error wrapping ErrInvalidScope", tc.in, got, err)
				}
				var se *apikey.ScopeError
				if tc.badTok != "" && (!errors.As(err, &se) || se.Token != tc.badTok) {
					t.Fatalf("Parse(%q) error %v does not name token %q", tc.in, err, tc.badTok)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("Parse(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"full", "read-only", "a:read,b:write", "*:read,x:write", "", ",", "x:none"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if err != nil {
			if !errors.Is(err, apikey.ErrInvalidScope) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrInvalidScope", s, err)
			}
			return
		}
		if got.IsZero() {
			t.Fatalf("Parse(%q) accepted a set granting nothing", s)
		}
		again, err := Parse(got.String())
		if err != nil || !again.Equal(got) {
			t.Fatalf("Parse(%q) = %q does not round-trip: %v, %v", s, got, again, err)
		}
	})
}
