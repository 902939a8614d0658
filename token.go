package apikey

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math/bits"

	"github.com/google/uuid"
)

// Token layout (see the package documentation):
//
//	prefix "_" id(22) secret(44) checksum(6)
//
// Each of the 16-byte ID and the 32-byte secret is encoded as big-endian
// 64-bit words, each word as exactly 11 base62 digits; the CRC-32 (IEEE) of
// the 48 raw bytes id||secret is encoded as exactly 6 base62 digits. Every
// field has one encoding only, so any change to a character either changes
// the decoded bytes or makes the token malformed.
const (
	secretLen   = 32                                 // bytes of secret
	wordDigits  = 11                                 // base62 digits per uint64
	crcDigits   = 6                                  // base62 digits per uint32
	idDigits    = 2 * wordDigits                     // 22
	secretChars = secretLen / 8 * wordDigits         // 44
	bodyLen     = idDigits + secretChars + crcDigits // 72
	hintChars   = 4                                  // trailing characters shown in a hint
	maxPrefix   = 32                                 // longest configurable prefix
	base62      = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	redacted    = "[redacted]"
)

// TokenLen returns the length in bytes of every token minted with prefix.
func TokenLen(prefix string) int { return len(prefix) + 1 + bodyLen }

// base62Value maps a byte to its digit value, or 0xff.
var base62Value = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(base62); i++ {
		t[base62[i]] = byte(i)
	}
	return t
}()

// checkPrefix validates a configurable token prefix.
func checkPrefix(p string) error {
	if p == "" || len(p) > maxPrefix {
		return fmt.Errorf("apikey: token prefix %q must be 1 to %d characters", p, maxPrefix)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if base62Value[c] == 0xff && c != '_' {
			return fmt.Errorf("apikey: token prefix %q may hold only ASCII letters, digits and '_'", p)
		}
	}
	if p[len(p)-1] == '_' {
		return fmt.Errorf("apikey: token prefix %q must not end in '_' (the separator is added)", p)
	}
	return nil
}

// appendWord appends v as exactly n base62 digits, most significant first.
func appendWord(dst []byte, v uint64, n int) []byte {
	start := len(dst)
	for range n {
		dst = append(dst, 0)
	}
	for i := len(dst) - 1; i >= start; i-- {
		dst[i] = base62[v%62]
		v /= 62
	}
	return dst
}

// parseWord decodes exactly len(s) base62 digits into a uint64, rejecting
// bad digits and values that do not fit in max.
func parseWord(s string, max uint64) (uint64, bool) {
	// Two independent chains, so the multiplications overlap: the first
	// half of the digits and the rest, joined with one overflow check.
	// 62^6 < 2^36, so neither chain can overflow on its own.
	mid := len(s) / 2
	var hi, lo uint64
	var bad byte
	for i := 0; i < mid; i++ {
		d := base62Value[s[i]]
		bad |= d
		hi = hi*62 + uint64(d&0x3f)
	}
	scale := uint64(1)
	for i := mid; i < len(s); i++ {
		d := base62Value[s[i]]
		bad |= d
		lo = lo*62 + uint64(d&0x3f)
		scale *= 62
	}
	h, l := bits.Mul64(hi, scale)
	v, carry := bits.Add64(l, lo, 0)
	return v, bad&0x80 == 0 && h == 0 && carry == 0 && v <= max
}

// payload is the decoded content of a token.
type payload struct {
	id     uuid.UUID
	secret [secretLen]byte
}

// checksum is the CRC-32 (IEEE) of id||secret.
func (p *payload) checksum() uint32 {
	return crcUpdate(crcUpdate(0, p.id[:]), p.secret[:])
}

// crcTables drive a slicing-by-8 CRC-32 (IEEE). hash/crc32 would give the
// same sums, but its assembly dispatch makes every input escape to the heap,
// which would cost Verify an allocation.
var crcTables = func() (t [8][256]uint32) {
	t[0] = *crc32.IEEETable
	for i := range 256 {
		c := t[0][i]
		for j := 1; j < 8; j++ {
			c = t[0][c&0xff] ^ c>>8
			t[j][i] = c
		}
	}
	return t
}()

// crcUpdate returns the CRC-32 (IEEE) of the data whose CRC is crc followed
// by b, like crc32.Update(crc, crc32.IEEETable, b).
func crcUpdate(crc uint32, b []byte) uint32 {
	t := &crcTables
	crc = ^crc
	for len(b) >= 8 {
		crc ^= binary.LittleEndian.Uint32(b)
		crc = t[0][b[7]] ^ t[1][b[6]] ^ t[2][b[5]] ^ t[3][b[4]] ^
			t[4][crc>>24] ^ t[5][crc>>16&0xff] ^ t[6][crc>>8&0xff] ^ t[7][crc&0xff]
		b = b[8:]
	}
	for _, v := range b {
		crc = t[0][byte(crc)^v] ^ crc>>8
	}
	return ^crc
}

// format returns the token text for p under prefix.
func (p *payload) format(prefix string) string {
	b := make([]byte, 0, TokenLen(prefix))
	b = append(b, prefix...)
	b = append(b, '_')
	for i := 0; i < len(p.id); i += 8 {
		b = appendWord(b, binary.BigEndian.Uint64(p.id[i:]), wordDigits)
	}
	for i := 0; i < len(p.secret); i += 8 {
		b = appendWord(b, binary.BigEndian.Uint64(p.secret[i:]), wordDigits)
	}
	b = appendWord(b, uint64(p.checksum()), crcDigits)
	return string(b)
}

// parseToken decodes tok minted under prefix. It reports false for anything
// malformed: wrong prefix or length, a character outside base62, a field out
// of range, or a checksum mismatch. It does not allocate.
func parseToken(prefix, tok string, p *payload) bool {
	if len(tok) != TokenLen(prefix) || tok[:len(prefix)] != prefix || tok[len(prefix)] != '_' {
		return false
	}
	body := tok[len(prefix)+1:]
	for i := 0; i < 2; i++ {
		w, ok := parseWord(body[i*wordDigits:(i+1)*wordDigits], ^uint64(0))
		if !ok {
			return false
		}
		binary.BigEndian.PutUint64(p.id[i*8:], w)
	}
	body = body[idDigits:]
	for i := 0; i < secretLen/8; i++ {
		w, ok := parseWord(body[i*wordDigits:(i+1)*wordDigits], ^uint64(0))
		if !ok {
			return false
		}
		binary.BigEndian.PutUint64(p.secret[i*8:], w)
	}
	sum, ok := parseWord(body[secretChars:], 1<<32-1)
	return ok && uint32(sum) == p.checksum()
}

// hintSep separates a hint's prefix from the token's last characters.
const hintSep = "_…"

// hintOf returns the display hint of a token: its prefix and last four
// characters, for example "sk_…a1b2".
func hintOf(prefix, tok string) string {
	return prefix + hintSep + tok[len(tok)-hintChars:]
}

// hintUnder reports whether hint is the hint of a token minted under
// prefix. It does not allocate.
func hintUnder(hint, prefix string) bool {
	return len(hint) > len(prefix)+len(hintSep) && hint[:len(prefix)] == prefix &&
		hint[len(prefix):len(prefix)+len(hintSep)] == hintSep
}

// Token is the plaintext of a newly minted key. It is returned exactly once,
// by Create, Clone and Roll; keyscope stores only its digest and cannot show
// it again.
//
// A Token never prints its secret: String, fmt verbs, JSON, text marshaling
// and slog all give the masked hint ("sk_…a1b2" or "[redacted]"). Call
// Reveal, deliberately, to hand the plaintext to the user. A Token is
// immutable and safe for concurrent use.
type Token struct {
	// text is a closure, not a string, so that even a reflective dump of a
	// struct holding a Token in an unexported field (which bypasses Format)
	// prints a function address, never the secret.
	text func() string
	hint string
}

func newToken(text, hint string) Token {
	return Token{text: func() string { return text }, hint: hint}
}

// Reveal returns the plaintext token, to be shown to its owner once. Treat it
// like a password: never log it, never store it.
func (t Token) Reveal() string {
	if t.text == nil {
		return ""
	}
	return t.text()
}

// IsZero reports whether t holds no token.
func (t Token) IsZero() bool { return t.text == nil }

// String returns the masked hint, never the secret.
func (t Token) String() string { return t.hint }

// GoString returns the masked hint, so %#v does not reveal the secret.
func (t Token) GoString() string { return "apikey.Token(" + t.String() + ")" }

// Format writes the masked hint for every verb, so no fmt verb reveals the
// secret.
func (t Token) Format(f fmt.State, verb rune) { io.WriteString(f, t.String()) }

// MarshalText returns "[redacted]": a Token is never serialised by accident.
// Use Reveal to send the plaintext on purpose.
func (t Token) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalJSON returns "[redacted]" as a JSON string.
func (t Token) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// LogValue returns the masked hint for slog.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }
