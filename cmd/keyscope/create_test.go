package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNewTokenAloneOnStdout checks that create, clone and roll write the new
// token and nothing else to stdout, so that "keyscope create ... >
// token.txt" then "keyscope verify < token.txt" works, and the key's
// details to stderr; with --json, stdout is one JSON object.
func TestNewTokenAloneOnStdout(t *testing.T) {
	tests := []struct {
		name string
		args func(src uuid.UUID) []string
	}{
		{"Create", func(uuid.UUID) []string {
			return []string{"create", "--owner", "acme", "--label", "shop", "--scopes", "lists:read"}
		}},
		{"Clone", func(src uuid.UUID) []string { return []string{"clone", src.String()} }},
		{"Roll", func(src uuid.UUID) []string { return []string{"roll", src.String(), "--grace", "1h"} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			src, _ := h.createKeyFor("acme", "shop", "lists:read")
			r := h.run("", tc.args(src)...).must(t, exitOK)
			tok := newToken(t, r)
			id := detailsID(t, r.stderr)
			assert.NotEqual(t, src.String(), id, "the new key's ID")
			for _, want := range []string{"Owner:       acme", "Label:       shop", "Scopes:      lists:read", "Store its token"} {
				assert.Contains(t, r.stderr, want, "stderr")
			}

			file := filepath.Join(t.TempDir(), "token.txt")
			require.NoError(t, os.WriteFile(file, []byte(r.stdout), 0o600))
			f, err := os.Open(file)
			require.NoError(t, err)
			defer f.Close()
			v := h.runReader(f, "verify").must(t, exitOK)
			assertHasPrefix(t, v.stdout, "valid\n", "verify < token.txt")
			assert.Equal(t, id, detailsID(t, v.stdout), "the key verify < token.txt found")
			assert.NotContains(t, v.stdout, tok, "verify printed the token")
		})
		t.Run(tc.name+"JSON", func(t *testing.T) {
			h := newHarness(t)
			src, _ := h.createKeyFor("acme", "shop", "lists:read")
			r := h.run("", append(tc.args(src), "--json")...).must(t, exitOK)
			var k struct {
				ID, Owner, Label, Scopes, Token string
			}
			decodeOne(t, r.stdout, &k)
			assert.Equal(t, "acme", k.Owner, "owner")
			assert.Equal(t, "shop", k.Label, "label")
			assert.Equal(t, "lists:read", k.Scopes, "scopes")
			require.Regexp(t, `\A`+tokenRE.String()+`\z`, k.Token, "token")
			assert.NotContains(t, r.stderr, k.Token, "stderr holds the token")
			assert.Contains(t, r.stderr, "Store its token", "stderr")
			v := h.run(k.Token+"\n", "verify").must(t, exitOK)
			assert.Equal(t, k.ID, detailsID(t, v.stdout), "the key the token verifies as")
		})
	}
}

func TestCreateExpires(t *testing.T) {
	tests := []struct {
		name, value string
		in          time.Duration // from now, for a duration
		at          time.Time     // otherwise
	}{
		{"Duration", "720h", 720 * time.Hour, time.Time{}},
		{"ShortDuration", "90m", 90 * time.Minute, time.Time{}},
		{"Date", "2030-01-02", 0, time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)},
		{"RFC3339", "2030-01-02T15:04:05Z", 0, time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)},
		{"RFC3339WithOffset", "2030-01-02T15:04:05+02:00", 0, time.Date(2030, 1, 2, 13, 4, 5, 0, time.UTC)},
		{"RFC3339Fraction", "2030-01-02T15:04:05.25Z", 0, time.Date(2030, 1, 2, 15, 4, 5, 250e6, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			before := time.Now()
			r := h.run("", "create", "--label", "temp", "--expires", tc.value, "--json").must(t, exitOK)
			after := time.Now()
			var k struct {
				Token     string    `json:"token"`
				ExpiresAt time.Time `json:"expires_at"`
			}
			decodeOne(t, r.stdout, &k)
			if tc.in != 0 {
				assert.WithinRange(t, k.ExpiresAt, before.Add(tc.in).Add(-time.Microsecond), after.Add(tc.in), "expires_at")
			} else {
				assert.True(t, tc.at.Equal(k.ExpiresAt), "expires_at %s, want %s", k.ExpiresAt, tc.at)
			}
			v := h.run(k.Token, "verify").must(t, exitOK)
			assert.Contains(t, v.stdout, "Status:      active (expiring)", "verify")
			assert.Contains(t, v.stdout, "Expires:     "+formatTime(k.ExpiresAt), "verify")
		})
	}
}

func TestCreateRefusesBadExpiry(t *testing.T) {
	const forms = "is not a duration such as 720h, a date such as 2030-01-02 or an RFC 3339 time such as 2030-01-02T15:04:05Z"
	const past = "is not in the future"
	tests := []struct {
		name, value string
		stderr      []string
	}{
		{"Word", "soon", []string{`--expires: "soon" ` + forms}},
		{"Days", "30d", []string{`--expires: "30d" ` + forms}},
		{"NoSuchDate", "2030-02-30", []string{`--expires: "2030-02-30" ` + forms}},
		{"TimeWithoutZone", "2030-01-02T15:04:05", []string{`--expires: "2030-01-02T15:04:05" ` + forms}},
		{"NegativeDuration", "-1h", []string{`--expires: "-1h" (`, past}},
		{"ZeroDuration", "0s", []string{`--expires: "0s" (`, past}},
		{"PastDate", "2020-01-02", []string{`--expires: "2020-01-02" (2020-01-02T00:00:00Z) ` + past}},
		{"PastTime", "2020-01-02T15:04:05+01:00", []string{`--expires: "2020-01-02T15:04:05+01:00" (2020-01-02T14:04:05Z) ` + past}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			r := h.run("", "create", "--label", "x", "--expires", tc.value).must(t, exitUsage)
			for _, want := range tc.stderr {
				assert.Contains(t, r.stderr, want, "stderr")
			}
			assert.Empty(t, r.stdout, "stdout")
			assert.False(t, fileExists(h.db), "a refused --expires created the database")
		})
	}
}

func TestCreateWithoutExpiryNeverExpires(t *testing.T) {
	h := newHarness(t)
	for _, args := range [][]string{{}, {"--expires", ""}} {
		r := h.run("", append([]string{"create", "--label", "x", "--json"}, args...)...).must(t, exitOK)
		assert.NotContains(t, r.stdout, "expires_at", "create %q", args)
	}
}

// TestCreateMakesAnOwnerOnlyDatabase runs create on a path where no
// database is: the file it makes, and any -wal or -shm file left beside
// it, are readable and writable by their owner only.
func TestCreateMakesAnOwnerOnlyDatabase(t *testing.T) {
	h := newHarness(t)
	h.createKey("first", "full")
	entries, err := os.ReadDir(filepath.Dir(h.db))
	require.NoError(t, err, "the database's directory")
	require.NotEmpty(t, entries, "create made no file")
	for _, e := range entries {
		fi, err := e.Info()
		require.NoError(t, err, e.Name())
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), e.Name())
	}
	_, err = os.Stat(h.db)
	assert.NoError(t, err, "the database")
}
