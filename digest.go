package apikey

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"sync"

	"golang.org/x/crypto/argon2"
)

// HashAlgorithm names how a key's secret is digested for storage. Every
// [Digest] is tagged with its algorithm, so keys hashed one way keep
// verifying after an application switches to another.
type HashAlgorithm uint8

// The supported algorithms.
const (
	// SHA256 is a plain SHA-256 of the secret: the default. Secrets are 256
	// random bits, so a fast hash is not brute-forceable.
	SHA256 HashAlgorithm = 1
	// HMACSHA256 is HMAC-SHA256 keyed with the application's pepper, a
	// server-side secret kept out of the database: a stolen database alone
	// cannot check a guessed token.
	HMACSHA256 HashAlgorithm = 2
	// Argon2id is the memory-hard Argon2id with a random per-key salt, for
	// policies that demand a slow hash. Checking a secret against it costs
	// milliseconds and megabytes, so the Manager does it once per cached
	// record and then compares a fast keyed proof (see Options.CacheTTL),
	// and runs at most GOMAXPROCS such checks at a time, and one per key
	// ID, so that forged tokens for one key slow that key, not the others
	// (forged tokens for N key IDs still hold up to N of the GOMAXPROCS
	// slots).
	Argon2id HashAlgorithm = 3
)

// hashNames are the algorithms' names, indexed by HashAlgorithm.
var hashNames = [...]string{SHA256: "sha256", HMACSHA256: "hmac-sha256", Argon2id: "argon2id"}

// String returns "sha256", "hmac-sha256" or "argon2id".
func (a HashAlgorithm) String() string { return enumName(hashNames[:], a, "HashAlgorithm") }

// Argon2Params tunes Argon2id. Zero fields take the defaults noted, which
// follow the OWASP recommendation.
type Argon2Params struct {
	Time    uint32 // passes; default 2
	Memory  uint32 // KiB; default 19456 (19 MiB)
	Threads uint8  // lanes; default 1
}

func (p Argon2Params) withDefaults() Argon2Params {
	if p.Time == 0 {
		p.Time = 2
	}
	if p.Memory == 0 {
		p.Memory = 19 * 1024
	}
	if p.Threads == 0 {
		p.Threads = 1
	}
	return p
}

// Bounds on Argon2id parameters, so that a tampered digest cannot make a
// verification allocate without limit.
const (
	maxArgonTime   = 64
	maxArgonMemory = 1 << 20 // KiB: 1 GiB
)

func (p Argon2Params) check() error {
	switch {
	case p.Time < 1 || p.Time > maxArgonTime:
		return fmt.Errorf("time %d is outside 1 to %d", p.Time, maxArgonTime)
	case p.Threads < 1:
		return errors.New("threads must be at least 1")
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxArgonMemory:
		return fmt.Errorf("memory %d KiB is outside %d to %d", p.Memory, 8*uint32(p.Threads), maxArgonMemory)
	}
	return nil
}

// Digest layout, after the tag byte (the HashAlgorithm, with bindsPrefix
// set for digests that bind the token prefix):
//
//	sha256, hmac-sha256: 32-byte sum
//	argon2id:            time(4, big-endian) memory(4) threads(1) salt(16) sum(32)
//
// What is digested is the secret alone for a digest without bindsPrefix, the
// kind every key minted before prefixes were bound has; and secret||bind for
// one with it, bind being prefixBinding(prefix) of the minting Manager's
// prefix, so that the secret checks only under that prefix.
const (
	sumLen       = 32
	argonSaltLen = 16
	argonHdrLen  = 4 + 4 + 1
	bindLen      = 16                  // bytes of prefixBinding
	inputLen     = secretLen + bindLen // longest digest input: one SHA-256 block with its padding
	bindsPrefix  = 0x80                // flag of the tag byte
)

// prefixBinding returns what a digest binding prefix appends to the secret:
// the first bindLen bytes of a SHA-256 of the prefix, domain-separated, so
// that the input stays within one SHA-256 block whatever the prefix's
// length, and Verify costs no more than it did without binding.
func prefixBinding(prefix string) (b [bindLen]byte) {
	sum := sha256.Sum256([]byte("keyscope token prefix\x00" + prefix))
	copy(b[:], sum[:])
	return b
}

// Digest is the stored, algorithm-tagged digest of a key's secret. It is
// immutable and safe for concurrent use.
//
// A Digest never prints: String, fmt verbs, JSON, text marshaling and slog
// all give "[redacted]". Stores persist it with Bytes and read it back with
// [DecodeDigest].
type Digest struct {
	// raw returns the encoded digest, b[0] being the HashAlgorithm; the
	// slice is never mutated. It is a closure, not a slice, so that even a
	// reflective dump of a struct holding a Digest in an unexported field
	// (which bypasses Format) prints a function address, never the bytes.
	raw func() []byte
}

func newDigest(b []byte) Digest { return Digest{func() []byte { return b }} }

// DecodeDigest parses the output of [Digest.Bytes]. It copies b. An empty or
// malformed input is an error naming what is wrong.
func DecodeDigest(b []byte) (Digest, error) {
	if len(b) == 0 {
		return Digest{}, errors.New("apikey: digest is empty")
	}
	want := 0
	alg := HashAlgorithm(b[0] &^ bindsPrefix)
	switch alg {
	case SHA256, HMACSHA256:
		want = 1 + sumLen
	case Argon2id:
		want = 1 + argonHdrLen + argonSaltLen + sumLen
	default:
		return Digest{}, fmt.Errorf("apikey: digest has unknown algorithm tag %d", b[0])
	}
	if len(b) != want {
		return Digest{}, fmt.Errorf("apikey: %s digest is %d bytes, want %d", alg, len(b), want)
	}
	if alg == Argon2id {
		p := Argon2Params{Time: binary.BigEndian.Uint32(b[1:]), Memory: binary.BigEndian.Uint32(b[5:]), Threads: b[9]}
		if err := p.check(); err != nil {
			return Digest{}, fmt.Errorf("apikey: argon2id digest: %w", err)
		}
	}
	return newDigest(append([]byte(nil), b...)), nil
}

// Bytes returns a copy of the encoded digest for a Store to persist,
// exactly as given: its first byte carries the algorithm and whether the
// digest binds the token prefix. It is nil for the zero Digest.
func (d Digest) Bytes() []byte {
	if d.raw == nil {
		return nil
	}
	return append([]byte(nil), d.raw()...)
}

// Algorithm returns the algorithm d was made with, or 0 for the zero Digest.
func (d Digest) Algorithm() HashAlgorithm {
	if d.raw == nil {
		return 0
	}
	return HashAlgorithm(d.raw()[0] &^ bindsPrefix)
}

// BindsPrefix reports whether d binds the token prefix of the Manager that
// minted its key, as the digest of every key minted since keyscope bound
// prefixes does: the key's token then verifies under that prefix only. For
// a digest stored before (false), the Manager checks instead that the key's
// Hint names its prefix, as the hint of every key it minted does.
func (d Digest) BindsPrefix() bool {
	return d.raw != nil && d.raw()[0]&bindsPrefix != 0
}

// IsZero reports whether d holds no digest.
func (d Digest) IsZero() bool { return d.raw == nil }

// Equal reports whether d and other are the same digest, in constant time.
func (d Digest) Equal(other Digest) bool {
	if d.raw == nil || other.raw == nil {
		return d.raw == nil && other.raw == nil
	}
	return subtle.ConstantTimeCompare(d.raw(), other.raw()) == 1
}

// String returns "[redacted]".
func (d Digest) String() string { return redacted }

// GoString returns "apikey.Digest([redacted])".
func (d Digest) GoString() string { return "apikey.Digest(" + redacted + ")" }

// Format writes "[redacted]" for every verb.
func (d Digest) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }

// MarshalText returns "[redacted]".
func (d Digest) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalJSON returns "[redacted]" as a JSON string.
func (d Digest) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// LogValue returns "[redacted]" for slog.
func (d Digest) LogValue() slog.Value { return slog.StringValue(redacted) }

// hasher makes digests for new keys and checks secrets against stored
// digests of any supported algorithm. It is safe for concurrent use.
type hasher struct {
	alg    HashAlgorithm
	pepper []byte
	argon  Argon2Params
	bind   [bindLen]byte // prefixBinding of the Manager's prefix
	hmacs  sync.Pool     // of hash.Hash keyed with pepper
	proofs sync.Pool     // of hash.Hash keyed with a random per-process key
}

func newHasher(alg HashAlgorithm, pepper []byte, argon Argon2Params, prefix string) (*hasher, error) {
	switch alg {
	case 0:
		alg = SHA256
	case SHA256, Argon2id:
	case HMACSHA256:
		if len(pepper) < 32 {
			return nil, fmt.Errorf("apikey: hmac-sha256 needs a pepper of at least 32 bytes, got %d", len(pepper))
		}
	default:
		return nil, fmt.Errorf("apikey: unknown hash algorithm %d", alg)
	}
	if len(pepper) > 0 && len(pepper) < 32 {
		return nil, fmt.Errorf("apikey: pepper must be at least 32 bytes, got %d", len(pepper))
	}
	h := &hasher{alg: alg, pepper: append([]byte(nil), pepper...), argon: argon.withDefaults(), bind: prefixBinding(prefix)}
	if err := h.argon.check(); err != nil {
		return nil, fmt.Errorf("apikey: argon2 parameters: %w", err)
	}
	h.hmacs.New = func() any { return hmac.New(sha256.New, h.pepper) }
	proofKey := make([]byte, 32)
	if _, err := rand.Read(proofKey); err != nil {
		return nil, fmt.Errorf("apikey: reading random proof key: %w", err)
	}
	h.proofs.New = func() any { return hmac.New(sha256.New, proofKey) }
	return h, nil
}

// input writes to in what a digest digests for secret: the secret, followed
// by the prefix binding if bound; it returns the part of in written.
func (h *hasher) input(in *[inputLen]byte, secret *[secretLen]byte, bound bool) []byte {
	n := copy(in[:], secret[:])
	if bound {
		n += copy(in[n:], h.bind[:])
	}
	return in[:n]
}

// digest returns a new digest of secret with the configured algorithm,
// bound to the prefix.
func (h *hasher) digest(secret *[secretLen]byte) (Digest, error) {
	var in [inputLen]byte
	msg := h.input(&in, secret, true)
	b := []byte{byte(h.alg) | bindsPrefix}
	switch h.alg {
	case SHA256:
		sum := sha256.Sum256(msg)
		b = append(b, sum[:]...)
	case HMACSHA256:
		var sum [sumLen]byte
		b = append(b, h.hmac(msg, &sum)...)
	case Argon2id:
		p := h.argon
		b = binary.BigEndian.AppendUint32(b, p.Time)
		b = binary.BigEndian.AppendUint32(b, p.Memory)
		b = append(b, p.Threads)
		var salt [argonSaltLen]byte
		if _, err := rand.Read(salt[:]); err != nil {
			return Digest{}, fmt.Errorf("apikey: reading random salt: %w", err)
		}
		b = append(b, salt[:]...)
		b = append(b, argon2.IDKey(msg, salt[:], p.Time, p.Memory, p.Threads, sumLen)...)
	}
	return newDigest(b), nil
}

// prove writes a keyed hash of secret and the prefix binding under
// proofKey, a key made at random for this hasher and never stored: see
// Manager.checkSlow.
func (h *hasher) prove(secret *[secretLen]byte, sum *[sumLen]byte) {
	m := h.proofs.Get().(hash.Hash)
	m.Reset()
	var in [inputLen]byte
	m.Write(h.input(&in, secret, true))
	m.Sum(sum[:0])
	h.proofs.Put(m)
}

// hmac writes the HMAC-SHA256 of msg under the pepper to sum and returns it.
func (h *hasher) hmac(msg []byte, sum *[sumLen]byte) []byte {
	m := h.hmacs.Get().(hash.Hash)
	m.Reset()
	m.Write(msg)
	out := m.Sum(sum[:0])
	h.hmacs.Put(m)
	return out
}

// matches reports in constant time whether secret digests to d: with the
// prefix binding for a digest that binds the prefix, without for one made
// before prefixes were bound. A digest whose algorithm this hasher cannot
// compute (HMAC without a pepper) never matches. For SHA-256 and
// HMAC-SHA256 it does not allocate.
func (h *hasher) matches(d Digest, secret *[secretLen]byte) bool {
	if d.raw == nil {
		return false
	}
	b := d.raw()
	bound := b[0]&bindsPrefix != 0
	switch HashAlgorithm(b[0] &^ bindsPrefix) {
	case SHA256:
		var in [inputLen]byte
		sum := sha256.Sum256(h.input(&in, secret, bound))
		return subtle.ConstantTimeCompare(b[1:], sum[:]) == 1
	case HMACSHA256:
		if len(h.pepper) == 0 {
			return false
		}
		// Buffers declared here, so that only this branch pays for the
		// hash.Hash interface call making them escape.
		var in [inputLen]byte
		var sum [sumLen]byte
		return subtle.ConstantTimeCompare(b[1:], h.hmac(h.input(&in, secret, bound), &sum)) == 1
	case Argon2id:
		t := binary.BigEndian.Uint32(b[1:])
		m := binary.BigEndian.Uint32(b[5:])
		th := b[9]
		salt := b[1+argonHdrLen : 1+argonHdrLen+argonSaltLen]
		var in [inputLen]byte
		got := argon2.IDKey(h.input(&in, secret, bound), salt, t, m, th, sumLen)
		return subtle.ConstantTimeCompare(b[1+argonHdrLen+argonSaltLen:], got) == 1
	}
	return false
}
