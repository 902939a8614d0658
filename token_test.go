package apikey

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testPayload(fill byte) payload {
	p := payload{id: uuid.Must(uuid.NewV7())}
	for i := range p.secret {
		p.secret[i] = fill + byte(i)
	}
	return p
}

func TestTokenLayout(t *testing.T) {
	p := testPayload(7)
	tok := p.format("sk")
	assert.Equal(t, 75, TokenLen("sk"))
	require.Len(t, tok, 75, "token %q", tok)
	assert.True(t, strings.HasPrefix(tok, "sk_"), "token %q lacks its prefix", tok)
	for _, c := range tok[3:] {
		assert.True(t, strings.ContainsRune(base62, c), "token %q holds %q outside base62", tok, c)
	}
	var got payload
	assert.True(t, parseToken("sk", tok, &got), "parseToken(format(p)) failed")
	assert.Equal(t, p, got, "parseToken(format(p)) must give back the payload")
	assert.Equal(t, "sk_…"+tok[len(tok)-4:], hintOf("sk", tok), "hint")
}

func TestParseTokenRejectsMalformed(t *testing.T) {
	p := testPayload(1)
	tok := p.format("sk")
	body := tok[3:]
	maxWord := appendWord(nil, ^uint64(0), wordDigits)
	tests := map[string]string{
		"empty":               "",
		"prefix only":         "sk_",
		"wrong prefix":        "pk_" + body,
		"no separator":        "sk" + body + "x",
		"missing last char":   tok[:len(tok)-1],
		"extra char":          tok + "a",
		"non-base62 char":     tok[:10] + "-" + tok[11:],
		"word overflow":       "sk_" + "zzzzzzzzzzz" + body[11:],
		"word just past max":  "sk_" + string(maxWord[:10]) + string(maxWord[10]+1) + body[11:],
		"checksum overflow":   tok[:len(tok)-6] + "zzzzzz",
		"checksum mismatch":   tok[:len(tok)-1] + string(base62[(strings.IndexByte(base62, tok[len(tok)-1])+1)%62]),
		"swapped words":       "sk_" + body[11:22] + body[:11] + body[22:],
		"upper-cased prefix":  "SK_" + body,
		"whitespace wrapped":  " " + tok[:len(tok)-1],
		"digest as the token": "sk_" + strings.Repeat("0", bodyLen),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			var got payload
			assert.False(t, parseToken("sk", in, &got), "parseToken(%q) accepted a malformed token", in)
		})
	}
}

func TestCRCMatchesHashCRC32(t *testing.T) {
	for n := range 70 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*31 + n)
		}
		assert.Equal(t, crc32.ChecksumIEEE(b), crcUpdate(0, b), "crcUpdate of %d bytes", n)
		if n > 5 {
			assert.Equal(t, crc32.ChecksumIEEE(b), crcUpdate(crcUpdate(0, b[:5]), b[5:]), "chained crcUpdate of %d bytes", n)
		}
	}
}

func TestParseTokenDoesNotAllocate(t *testing.T) {
	p := testPayload(3)
	tok := p.format("sk")
	var got payload
	n := testing.AllocsPerRun(100, func() { parseToken("sk", tok, &got) })
	assert.Zero(t, n, "allocations per parseToken")
}

func TestCheckPrefix(t *testing.T) {
	for _, ok := range []string{"sk", "sk_live", "A1"} {
		assert.NoError(t, checkPrefix(ok), "checkPrefix(%q)", ok)
	}
	for _, bad := range []string{"", "sk_", "s-k", "sk live", strings.Repeat("a", 33), "ké"} {
		assert.ErrorContains(t, checkPrefix(bad), fmt.Sprintf("%q", bad), "checkPrefix(%q) must fail naming it", bad)
	}
}

// TestSecretsNeverPrint renders tokens, digests and keys every way an app
// might, and checks that neither the plaintext nor the digest bytes appear.
func TestSecretsNeverPrint(t *testing.T) {
	h, err := newHasher(SHA256, nil, Argon2Params{}, "sk")
	require.NoError(t, err)
	p := testPayload(9)
	text := p.format("sk")
	d, err := h.digest(&p.secret)
	require.NoError(t, err)
	tok := newToken(text, hintOf("sk", text))
	key := Key{ID: p.id, Label: "leak check", Scopes: FullAccess(), Active: true, Hint: tok.String(), Digest: d}
	sum := sha256.Sum256(p.secret[:]) // the digest of a key minted before prefixes were bound
	require.Len(t, d.raw()[1:], sha256.Size, "sha256 digest")
	stored := d.raw()[1:]
	forbidden := []string{
		text, text[3:], string(p.secret[:]), string(sum[:]),
		fmt.Sprintf("%x", sum[:]), fmt.Sprintf("%X", sum[:]), fmt.Sprintf("%x", p.secret[:]),
		fmt.Sprintf("%v", sum[:]), fmt.Sprintf("%v", p.secret[:]),
		string(stored), fmt.Sprintf("%x", stored), fmt.Sprintf("%X", stored), fmt.Sprintf("%v", stored),
	}
	b64, _ := json.Marshal(sum[:])
	forbidden = append(forbidden, strings.Trim(string(b64), `"`))

	type holder struct {
		tok    Token
		digest Digest
		Key    Key
	}
	var outputs = map[string]string{}
	for _, v := range []struct {
		name string
		val  any
	}{{"token", tok}, {"digest", d}, {"key", key}, {"holder", holder{tok, d, key}}, {"pointer", &key}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			outputs[v.name+" "+verb] = fmt.Sprintf(verb, v.val)
		}
		js, err := json.Marshal(v.val)
		require.NoError(t, err, "json.Marshal(%s)", v.name)
		outputs[v.name+" json"] = string(js)
		for name, handler := range map[string]func(*bytes.Buffer) slog.Handler{
			"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
			"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		} {
			var buf bytes.Buffer
			slog.New(handler(&buf)).Info("msg", "v", v.val)
			outputs[v.name+" slog "+name] = buf.String()
		}
	}
	outputs["token String"] = tok.String()
	outputs["token GoString"] = tok.GoString()
	outputs["digest String"] = d.String()
	for name, out := range outputs {
		for _, f := range forbidden {
			assert.NotContains(t, out, f, "%s output contains secret material", name)
		}
	}
	assert.Equal(t, text, tok.Reveal(), "Reveal must return the plaintext")
	assert.Contains(t, outputs["key json"], `"hint":"sk_…`, "key JSON must hold the hint")
	assert.NotContains(t, outputs["key json"], "igest", "key JSON must hold no digest field")
}

func FuzzParseToken(f *testing.F) {
	p := testPayload(5)
	valid := p.format("sk")
	f.Add(valid)
	f.Add(valid[:40])
	f.Add("sk_" + strings.Repeat("z", bodyLen))
	f.Add("sk_" + strings.Repeat("0", bodyLen))
	f.Add("")
	f.Add("Bearer " + valid)
	f.Fuzz(func(t *testing.T, in string) {
		var got payload
		if !parseToken("sk", in, &got) {
			return
		}
		// Every accepted token has exactly one encoding: re-formatting the
		// decoded payload must give back the input.
		out := got.format("sk")
		assert.Equal(t, in, out, "parseToken accepted %q, which formats back as %q", in, out)
	})
}
