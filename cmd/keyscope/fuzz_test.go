package main

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func FuzzParseInterspersed(f *testing.F) {
	for _, s := range []string{"show\x00ID\x00--json", "--limit\x002\x00--before\x00x", "--\x00-x", "a\x00--\x00--json", "--json=false\x00a", "-limit"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		fs := flag.NewFlagSet("fuzz", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var o cmdOpts
		commonFlags(fs, &o, cmdOpts{})
		fs.IntVar(&o.limit, "limit", 0, "")
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return
		}
		// Every positional argument is one of the arguments, in order.
		rest := args
		for _, p := range pos {
			require.Contains(t, rest, p, "positional %q is not among the remaining arguments %q", p, rest)
			rest = rest[slices.Index(rest, p)+1:]
		}
	})
}

func FuzzDisplayLabel(f *testing.F) {
	for _, s := range []string{"shop", "evil \x1b[31m", "tab\there", strings.Repeat("é", 50), "\u202eevil"} {
		f.Add(s, 32)
	}
	f.Fuzz(func(t *testing.T, label string, max int) {
		max = max % 100
		got := displayLabel(label, max)
		for _, r := range got {
			assert.True(t, unicode.IsPrint(r) || r == ' ', "displayLabel(%q) = %q holds %U", label, got, r)
		}
	})
}
