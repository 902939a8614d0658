package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzParseCommand parses arbitrary command lines with list's flags, which
// include --owner, whose being given at all, even as "", matters.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"show\x00ID\x00--json", "--limit\x002\x00--before\x00x", "--\x00-x", "a\x00--\x00--json", "--json=false\x00a", "-limit",
		"--owner\x00", "--owner=", "--owner\x00acme\x00x", "--before\x00--owner", "--\x00--owner=acme", "-owner=a\x00-owner=",
	} {
		f.Add(s)
	}
	list := findCommand("list")
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		fs, o := (&cli{stderr: io.Discard}).commandFlags(list, cmdOpts{})
		fs.SetOutput(io.Discard)
		pos, err := parseCommand(fs, o, args)
		if err != nil {
			return
		}
		// Every positional argument is one of the arguments, in order.
		rest := args
		for _, p := range pos {
			require.Contains(t, rest, p, "positional %q is not among the remaining arguments %q", p, rest)
			rest = rest[slices.Index(rest, p)+1:]
		}
		// --owner counts as given only if an argument gives it, and an
		// owner not given is "".
		if o.ownerSet {
			assert.True(t, slices.ContainsFunc(args, isOwnerFlag), "owner set by %q", args)
		} else {
			assert.Empty(t, o.owner, "owner not given, by %q", args)
		}
	})
}

// isOwnerFlag reports whether arg is an --owner flag, with or without its
// value.
func isOwnerFlag(arg string) bool {
	name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-"), "=")
	return name == "owner"
}

// FuzzDisplayLabel checks that labels and owners print as visible text
// only, and that an owner never prints as no owner does.
func FuzzDisplayLabel(f *testing.F) {
	for _, s := range []string{"shop", "evil \x1b[31m", "tab\there", strings.Repeat("é", 50), "\u202eevil", "", "-"} {
		f.Add(s, 32)
	}
	f.Fuzz(func(t *testing.T, label string, max int) {
		max = max % 100
		for _, got := range []string{displayLabel(label, max), displayOwner(label, max)} {
			for _, r := range got {
				assert.True(t, unicode.IsPrint(r) || r == ' ', "%q displays as %q, holding %U", label, got, r)
			}
		}
		if label != "" {
			assert.NotEqual(t, "-", displayOwner(label, max), "owner %q displays as no owner", label)
		}
	})
}
