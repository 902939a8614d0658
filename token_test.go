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
	if len(tok) != TokenLen("sk") || len(tok) != 75 {
		t.Fatalf("token %q has length %d, want 75", tok, len(tok))
	}
	if !strings.HasPrefix(tok, "sk_") {
		t.Fatalf("token %q lacks its prefix", tok)
	}
	for _, c := range tok[3:] {
		if !strings.ContainsRune(base62, c) {
			t.Fatalf("token %q holds %q outside base62", tok, c)
		}
	}
	var got payload
	if !parseToken("sk", tok, &got) || got != p {
		t.Fatalf("parseToken(format(p)) = %v, want the same payload", got)
	}
	if h := hintOf("sk", tok); h != "sk_…"+tok[len(tok)-4:] {
		t.Fatalf("hint = %q", h)
	}
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
			if parseToken("sk", in, &got) {
				t.Fatalf("parseToken(%q) accepted a malformed token", in)
			}
		})
	}
}

func TestCRCMatchesHashCRC32(t *testing.T) {
	for n := range 70 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*31 + n)
		}
		if got, want := crcUpdate(0, b), crc32.ChecksumIEEE(b); got != want {
			t.Fatalf("crcUpdate of %d bytes = %08x, want %08x", n, got, want)
		}
		if n > 5 {
			if got, want := crcUpdate(crcUpdate(0, b[:5]), b[5:]), crc32.ChecksumIEEE(b); got != want {
				t.Fatalf("chained crcUpdate of %d bytes = %08x, want %08x", n, got, want)
			}
		}
	}
}

func TestParseTokenDoesNotAllocate(t *testing.T) {
	p := testPayload(3)
	tok := p.format("sk")
	var got payload
	if n := testing.AllocsPerRun(100, func() { parseToken("sk", tok, &got) }); n != 0 {
		t.Fatalf("parseToken allocates %v times", n)
	}
}

func TestCheckPrefix(t *testing.T) {
	for _, ok := range []string{"sk", "sk_live", "A1"} {
		if err := checkPrefix(ok); err != nil {
			t.Errorf("checkPrefix(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "sk_", "s-k", "sk live", strings.Repeat("a", 33), "ké"} {
		if err := checkPrefix(bad); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("checkPrefix(%q) = %v, want an error naming it", bad, err)
		}
	}
}

// TestSecretsNeverPrint renders tokens, digests and keys every way an app
// might, and checks that neither the plaintext nor the digest bytes appear.
func TestSecretsNeverPrint(t *testing.T) {
	h, err := newHasher(SHA256, nil, Argon2Params{})
	if err != nil {
		t.Fatal(err)
	}
	p := testPayload(9)
	text := p.format("sk")
	d, err := h.digest(&p.secret)
	if err != nil {
		t.Fatal(err)
	}
	tok := newToken(text, hintOf("sk", text))
	key := Key{ID: p.id, Label: "leak check", Scopes: FullAccess(), Active: true, Hint: tok.String(), Digest: d}
	sum := sha256.Sum256(p.secret[:])
	forbidden := []string{
		text, text[3:], string(p.secret[:]), string(sum[:]),
		fmt.Sprintf("%x", sum[:]), fmt.Sprintf("%X", sum[:]), fmt.Sprintf("%x", p.secret[:]),
		fmt.Sprintf("%v", sum[:]), fmt.Sprintf("%v", p.secret[:]),
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
		if err != nil {
			t.Fatalf("json.Marshal(%s): %v", v.name, err)
		}
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
			if strings.Contains(out, f) {
				t.Errorf("%s output %q contains secret material", name, out)
			}
		}
	}
	if tok.Reveal() != text {
		t.Fatal("Reveal does not return the plaintext")
	}
	if !strings.Contains(outputs["key json"], `"hint":"sk_…`) || strings.Contains(outputs["key json"], "igest") {
		t.Fatalf("key JSON = %s, want the hint and no digest field", outputs["key json"])
	}
}

func TestDecodeDigest(t *testing.T) {
	h, _ := newHasher(SHA256, nil, Argon2Params{})
	p := testPayload(2)
	d, _ := h.digest(&p.secret)
	back, err := DecodeDigest(d.Bytes())
	if err != nil || !back.Equal(d) || back.Algorithm() != SHA256 {
		t.Fatalf("DecodeDigest(Bytes()) = %v, %v", back.Algorithm(), err)
	}
	argon := append([]byte{byte(Argon2id), 0, 0, 0, 0, 0, 0, 0, 64, 1}, make([]byte, 48)...)
	tests := map[string][]byte{
		"empty":             nil,
		"unknown algorithm": {9, 1, 2},
		"short sha256":      append([]byte{byte(SHA256)}, make([]byte, 31)...),
		"long hmac":         append([]byte{byte(HMACSHA256)}, make([]byte, 33)...),
		"argon2 time zero":  argon,
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeDigest(b); err == nil {
				t.Fatalf("DecodeDigest(%s) succeeded", name)
			}
		})
	}
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
		if out := got.format("sk"); out != in {
			t.Fatalf("parseToken accepted %q, which formats back as %q", in, out)
		}
	})
}
