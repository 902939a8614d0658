package pgstore

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
)

func TestParsePayload(t *testing.T) {
	id := uuid.MustParse("0193a5f2-7c1e-7d3a-9f00-1234567890ab")
	tests := []struct {
		name    string
		payload string
		id      uuid.UUID
		all, ok bool
	}{
		{"an ID", id.String(), id, false, true},
		{"an ID in capitals", strings.ToUpper(id.String()), id, false, true},
		{"every key", "*", uuid.Nil, true, true},
		{"empty", "", uuid.Nil, false, false},
		{"an ID without hyphens", strings.ReplaceAll(id.String(), "-", ""), uuid.Nil, false, false},
		{"an ID in braces", "{" + id.String() + "}", uuid.Nil, false, false},
		{"a URN", "urn:uuid:" + id.String(), uuid.Nil, false, false},
		{"an ID with a space", " " + id.String()[1:], uuid.Nil, false, false},
		{"36 bytes of junk", strings.Repeat("x", 36), uuid.Nil, false, false},
		{"two stars", "**", uuid.Nil, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, all, ok := parsePayload(tc.payload)
			assert.Equal(t, tc.ok, ok, "ok")
			assert.Equal(t, tc.all, all, "all")
			assert.Equal(t, tc.id, id, "id")
		})
	}
}

// FuzzParsePayload checks that no payload makes the parser panic, and
// that what it accepts is "*" or an ID whose text form is the payload.
func FuzzParsePayload(f *testing.F) {
	for _, s := range []string{"", "*", "0193a5f2-7c1e-7d3a-9f00-1234567890ab", "0193A5F2-7C1E-7D3A-9F00-1234567890AB",
		"0193a5f27c1e7d3a9f001234567890ab", "{0193a5f2-7c1e-7d3a-9f00-1234567890ab}", "\x00", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		id, all, ok := parsePayload(p)
		switch {
		case !ok:
			if all || id != uuid.Nil {
				t.Fatalf("parsePayload(%q) refused the payload but returned all=%v id=%v", p, all, id)
			}
		case all:
			if p != "*" || id != uuid.Nil {
				t.Fatalf("parsePayload(%q) gave every key", p)
			}
		default:
			if !strings.EqualFold(id.String(), p) {
				t.Fatalf("parsePayload(%q) gave ID %v", p, id)
			}
		}
	})
}

func TestChannel(t *testing.T) {
	assert.Equal(t, "public.keyscope_keys", Channel(""), "channel of the default schema")
	assert.Equal(t, "app.keyscope_keys", Channel("app"))
	fits := strings.Repeat("s", maxNameLen-len(".keyscope_keys"))
	assert.Equal(t, fits+".keyscope_keys", Channel(fits), "the longest schema whose channel is readable")
	long := fits + "s"
	assert.Regexp(t, `^keyscope_keys_[0-9a-f]{32}$`, Channel(long), "channel of a long schema")
	assert.NotEqual(t, Channel(long), Channel(long+"t"), "two long schemas share a channel")
}

func TestLockKeyDiffersBySchema(t *testing.T) {
	assert.Equal(t, lockKey("a"), lockKey("a"))
	assert.NotEqual(t, lockKey("a"), lockKey("b"))
}

func TestEmbeddedMigrationsLoad(t *testing.T) {
	ms, err := loadMigrations(migrationFiles, "migrations")
	if assert.NoError(t, err) {
		for i, m := range ms {
			assert.Equal(t, i+1, m.Version, "version of %s", m.Name)
			assert.NotEmpty(t, strings.TrimSpace(m.SQL), "SQL of %s", m.Name)
		}
	}
}
