package keyapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkProblem fails unless err is a client error problem with a detail.
func checkProblem(t *testing.T, input any, err error) {
	t.Helper()
	var p *problem
	require.ErrorAs(t, err, &p, "input %q: error %v is not a 4xx problem", input, err)
	assert.True(t, p.Status >= 400 && p.Status <= 499, "input %q: error %v is not a 4xx problem", input, err)
	assert.NotEmpty(t, p.Detail, "input %q: error %v is not a 4xx problem", input, err)
	assert.NotEmpty(t, p.Code, "input %q: error %v is not a 4xx problem", input, err)
	assert.True(t, utf8.ValidString(p.Detail), "input %q: detail %q is not UTF-8", input, p.Detail)
}

// checkObject fails unless the accepted input data is a JSON object, and
// returns its members.
func checkObject(t *testing.T, data []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &m), "accepted %q, which is not a JSON object", data)
	require.NotNil(t, m, "accepted %q, which is not a JSON object", data) // null unmarshals into a nil map
	return m
}

func FuzzDecodeCreate(f *testing.F) {
	for _, s := range []string{
		`{"label":"shop"}`, `null`, `{"label":"shop","scopes":"read-only"}`, `{"label":"a","scopes":"lists:read,x:write"}`,
		`{"label":"a","scopes":null}`, `{"label":"a"} {}`, `[]`, ``, `{"label":1}`, `{"x":1}`, `{"label":"a","scopes":"full"}`,
		`{"label":"a","expires_at":"2030-01-02T15:04:05Z"}`, `{"label":"a","expires_at":"2030-01-02T15:04:05.123456789+02:00"}`,
		`{"label":"a","expires_at":"9999-12-31T23:59:59-23:59"}`, `{"label":"a","expires_at":"2001-01-01T00:00:00Z"}`,
		`{"label":"a","expires_at":null}`, `{"label":"a","expires_at":1893456000}`, `{"label":"a","expires_at":"tomorrow"}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		nk, err := decodeCreate(data, now)
		if err != nil {
			checkProblem(t, data, err)
			return
		}
		checkObject(t, data)
		assert.False(t, nk.scopes.IsZero(), "accepted %q with no scopes", data)
		var again createRequest
		require.NoError(t, json.Unmarshal(data, &again), "label %q does not match %q", nk.label, data)
		assert.Equal(t, again.Label, nk.label, "label %q does not match %q", nk.label, data)
		assert.Equal(t, again.ExpiresAt == nil, nk.expiresAt.IsZero(), "input %q: expiry %v", data, nk.expiresAt)
		if !nk.expiresAt.IsZero() {
			assert.True(t, nk.expiresAt.After(now), "input %q: accepted expiry %v, not a UTC time after %v", data, nk.expiresAt, now)
			assert.Same(t, time.UTC, nk.expiresAt.Location(), "input %q: accepted expiry %v, not a UTC time after %v", data, nk.expiresAt, now)
			_, err := json.Marshal(nk.expiresAt)
			assert.NoError(t, err, "input %q: accepted expiry %v that cannot be sent back", data, nk.expiresAt)
		}
	})
}

func FuzzDecodeUpdate(f *testing.F) {
	for _, s := range []string{
		`{"label":"x"}`, `null`, `{"active":false}`, `{"label":"x","active":true}`, `{}`, `{"scopes":"full"}`,
		`{"SCOPES":1}`, `{"label":"x"}]`, `{"active":"no"}`, ``, `{"owner":"acct_1"}`, `{"Owner":null}`,
		`{"expires_at":"2030-01-02T15:04:05Z"}`, `{"expires_at":null}`, `{"expires_at":"2001-01-01T00:00:00Z"}`,
		`{"expires_at":1893456000}`, `{"expires_at":["2030-01-02T15:04:05Z"]}`, `{"label":"x","active":true,"expires_at":null}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := decodeUpdate(data, now)
		if err != nil {
			checkProblem(t, data, err)
			return
		}
		members := checkObject(t, data)
		for k := range members {
			assert.False(t, strings.EqualFold(k, "scopes"), "accepted %q, which names scopes", data)
			assert.False(t, strings.EqualFold(k, "owner"), "accepted %q, which names owner", data)
		}
		ops := u.operations()
		require.NotEmpty(t, ops, "input %q: no operation", data)
		assert.Equal(t, u.isEmpty(), len(ops) == 1 && ops[0] == OpGet, "input %q: operations %v", data, ops)
		for _, op := range ops {
			assert.Equal(t, !u.isEmpty(), op.Writes(), "input %q: operation %v", data, op)
		}
		if u.expiresAt != nil && !u.expiresAt.IsZero() {
			assert.True(t, u.expiresAt.After(now), "input %q: accepted expiry %v, not after %v", data, *u.expiresAt, now)
			assert.Same(t, time.UTC, u.expiresAt.Location(), "input %q: accepted expiry %v, not in UTC", data, *u.expiresAt)
		}
	})
}

func FuzzDecodeRoll(f *testing.F) {
	for _, s := range []string{`{"grace":"24h"}`, `{"grace":""}`, ``, `{}`, `{"grace":"-1s"}`, `{"grace":5}`, `{"grace":"1h"}x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decodeRoll(data)
		if err != nil {
			checkProblem(t, data, err)
			return
		}
		assert.GreaterOrEqual(t, d, time.Duration(0), "accepted %q with a negative grace %v", data, d)
	})
}

func FuzzParseListQuery(f *testing.F) {
	for _, s := range []string{"", "limit=10", "limit=0", "before=0190c8e4-0000-7000-8000-000000000000", "limit=1&limit=2", "limit=%zz", "before=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.RawQuery = q
		opts, err := parseListQuery(r)
		if err != nil {
			checkProblem(t, q, err)
			return
		}
		assert.True(t, opts.Limit >= 1 && opts.Limit <= MaxPageSize, "query %q: limit %d out of range", q, opts.Limit)
	})
}

// TestBodiesMustBeObjects feeds every decoder JSON that is not an object;
// null in particular would read into a struct as "no change".
func TestBodiesMustBeObjects(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	decoders := map[string]func([]byte) error{
		"create": func(b []byte) error { _, err := decodeCreate(b, now); return err },
		"update": func(b []byte) error { _, err := decodeUpdate(b, now); return err },
		"roll":   func(b []byte) error { _, err := decodeRoll(b); return err },
		"clone":  decodeEmpty,
	}
	for name, decode := range decoders {
		for _, body := range []string{`null`, ` null `, `[]`, `"x"`, `1`, `true`} {
			t.Run(name+"/"+body, func(t *testing.T) {
				err := decode([]byte(body))
				var p *problem
				if assert.ErrorAs(t, err, &p) {
					assert.Equal(t, http.StatusBadRequest, p.Status)
					assert.Equal(t, CodeMalformed, p.Code)
				}
			})
		}
	}
}

func TestClip(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"short", "short"},
		{strings.Repeat("a", 48), strings.Repeat("a", 48)},
		{strings.Repeat("a", 60), strings.Repeat("a", 48) + "…"},
		{strings.Repeat("a", 47) + "é" + "zzzz", strings.Repeat("a", 47) + "…"},
	} {
		assert.Equal(t, tc.want, clip(tc.in), "clip(%q)", tc.in)
	}
}
