package apikey_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/keyscope/apikey/memstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"
)

// cheapArgon2 makes Argon2id digests fast enough for tests.
var cheapArgon2 = apikey.Argon2Params{Time: 1, Memory: 64, Threads: 1}

func TestHashAlgorithms(t *testing.T) {
	ctx := context.Background()
	pepper := bytes.Repeat([]byte{7}, 32)
	store := memstore.New()
	mk := func(opts apikey.Options) *apikey.Manager {
		opts.Store, opts.UsageInterval = store, -1
		return apikeytest.NewManager(t, opts)
	}
	mint := func(m *apikey.Manager, label string) apikey.Token {
		_, tok, err := m.Create(ctx, apikey.CreateParams{Label: label})
		require.NoError(t, err, "Create %s", label)
		return tok
	}
	plain := mk(apikey.Options{})
	peppered := mk(apikey.Options{Hash: apikey.HMACSHA256, Pepper: pepper})
	otherPepper := mk(apikey.Options{Hash: apikey.HMACSHA256, Pepper: bytes.Repeat([]byte{8}, 32)})
	argon := mk(apikey.Options{Hash: apikey.Argon2id, Argon2: cheapArgon2})

	shaTok := mint(plain, "sha")
	hmacTok := mint(peppered, "hmac")
	argonTok := mint(argon, "argon")
	tests := []struct {
		name string
		m    *apikey.Manager
		tok  apikey.Token
		ok   bool
	}{
		{"sha256 by default manager", plain, shaTok, true},
		{"sha256 key after switching to hmac", peppered, shaTok, true},
		{"hmac with its pepper", peppered, hmacTok, true},
		{"hmac without a pepper fails closed", plain, hmacTok, false},
		{"hmac with another pepper", otherPepper, hmacTok, false},
		{"argon2id", argon, argonTok, true},
		{"argon2id from another manager", plain, argonTok, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want error
			if !tt.ok {
				want = apikey.ErrInvalidKey
			}
			verify(t, tt.m, tt.tok.Reveal(), want)
		})
	}
}

func TestHashAlgorithmString(t *testing.T) {
	for a, want := range map[apikey.HashAlgorithm]string{
		apikey.SHA256:     "sha256",
		apikey.HMACSHA256: "hmac-sha256",
		apikey.Argon2id:   "argon2id",
		0:                 "HashAlgorithm(0)",
		42:                "HashAlgorithm(42)",
	} {
		assert.Equal(t, want, a.String(), "String of algorithm %d", uint8(a))
	}
}

func TestDecodeDigest(t *testing.T) {
	for _, opts := range []apikey.Options{
		{Hash: apikey.SHA256},
		{Hash: apikey.HMACSHA256, Pepper: bytes.Repeat([]byte{7}, 32)},
		{Hash: apikey.Argon2id, Argon2: cheapArgon2},
	} {
		t.Run(opts.Hash.String(), func(t *testing.T) {
			m, store := newManager(t, opts)
			k, _ := create(t, m, apikey.CreateParams{})
			stored, err := store.Unwrap().Get(context.Background(), k.ID)
			require.NoError(t, err)
			d := stored.Digest
			back, err := apikey.DecodeDigest(d.Bytes())
			require.NoError(t, err, "DecodeDigest(Bytes())")
			assert.True(t, back.Equal(d), "DecodeDigest(Bytes()) differs from the digest")
			assert.Equal(t, opts.Hash, back.Algorithm())
			assert.True(t, back.BindsPrefix(), "a new key's digest binds the prefix")
		})
	}
	argon := append([]byte{byte(apikey.Argon2id), 0, 0, 0, 0, 0, 0, 0, 64, 1}, make([]byte, 48)...)
	tests := map[string][]byte{
		"empty":                    nil,
		"unknown algorithm":        {9, 1, 2},
		"short sha256":             append([]byte{byte(apikey.SHA256)}, make([]byte, 31)...),
		"long hmac":                append([]byte{byte(apikey.HMACSHA256)}, make([]byte, 33)...),
		"argon2 time zero":         argon,
		"bound, no algorithm":      append([]byte{0x80}, make([]byte, 32)...),
		"bound, unknown algorithm": append([]byte{0x84}, make([]byte, 32)...),
		"bound, short sha256":      append([]byte{0x80 | byte(apikey.SHA256)}, make([]byte, 31)...),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := apikey.DecodeDigest(b)
			assert.Error(t, err, "DecodeDigest(%s) succeeded", name)
		})
	}
}

// everyHash is one Options setting per digest algorithm, cheap to compute.
var everyHash = []apikey.Options{
	{Hash: apikey.SHA256},
	{Hash: apikey.HMACSHA256, Pepper: bytes.Repeat([]byte{7}, 32)},
	{Hash: apikey.Argon2id, Argon2: cheapArgon2},
}

// reprefix returns tok, minted under prefix from, with prefix to instead.
func reprefix(t *testing.T, tok, from, to string) string {
	t.Helper()
	require.True(t, strings.HasPrefix(tok, from+"_"), "token %q lacks prefix %q", tok, from)
	return to + strings.TrimPrefix(tok, from)
}

// TestTokenVerifiesOnlyUnderItsPrefix is the reproduction of issue 10, item
// 3: two Managers with prefixes sk_test and sk_live on one store. A test
// token re-prefixed to sk_live must not verify as a live key, nor revoke
// one, whatever the digest and whether or not the cache holds the record
// (filled by the real token, or by the forged one).
func TestTokenVerifiesOnlyUnderItsPrefix(t *testing.T) {
	ctx := context.Background()
	for _, base := range everyHash {
		for _, cache := range []struct {
			name string
			ttl  time.Duration
		}{{"cache off", -1}, {"cache on", time.Hour}} {
			t.Run(base.Hash.String()+"/"+cache.name, func(t *testing.T) {
				store := memstore.New()
				mk := func(prefix string) *apikey.Manager {
					opts := base
					opts.Store, opts.Prefix, opts.CacheTTL, opts.UsageInterval = store, prefix, cache.ttl, -1
					return apikeytest.NewManager(t, opts)
				}
				managers := map[string]*apikey.Manager{"sk_test": mk("sk_test"), "sk_live": mk("sk_live"), "sk": mk("")}
				for _, pair := range [][2]string{{"sk_test", "sk_live"}, {"sk_live", "sk_test"}, {"sk", "sk_live"}, {"sk_live", "sk"}} {
					minter, other := managers[pair[0]], managers[pair[1]]
					_, tok := create(t, minter, apikey.CreateParams{Label: pair[0] + " key"})
					forged := reprefix(t, tok, pair[0], pair[1])
					verify(t, minter, tok, nil) // the real token fills its Manager's cache
					for i := range 2 {          // the second time, from the cache if on
						_, err := other.Verify(ctx, forged)
						assert.ErrorIs(t, err, apikey.ErrInvalidKey, "%s token re-prefixed to %s, verification %d", pair[0], pair[1], i+1)
					}
					_, err := other.Revoke(ctx, forged)
					assert.ErrorIs(t, err, apikey.ErrInvalidKey, "Revoke of a %s token re-prefixed to %s", pair[0], pair[1])
					verify(t, minter, tok, nil) // still active, and still verifying
				}
			})
		}
	}
}

// legacyDigest returns the digest that keyscope made of secret under opts
// before digests bound the token prefix: of the secret alone.
func legacyDigest(t *testing.T, opts apikey.Options, secret [32]byte) apikey.Digest {
	t.Helper()
	b := []byte{byte(opts.Hash)}
	switch opts.Hash {
	case apikey.SHA256:
		sum := sha256.Sum256(secret[:])
		b = append(b, sum[:]...)
	case apikey.HMACSHA256:
		h := hmac.New(sha256.New, opts.Pepper)
		h.Write(secret[:])
		b = h.Sum(b)
	case apikey.Argon2id:
		p := opts.Argon2
		b = binary.BigEndian.AppendUint32(b, p.Time)
		b = binary.BigEndian.AppendUint32(b, p.Memory)
		salt := bytes.Repeat([]byte{5}, 16)
		b = append(append(b, p.Threads), salt...)
		b = append(b, argon2.IDKey(secret[:], salt, p.Time, p.Memory, p.Threads, 32)...)
	}
	d, err := apikey.DecodeDigest(b)
	require.NoError(t, err, "DecodeDigest of a legacy %s digest", opts.Hash)
	return d
}

// TestKeysStoredBeforePrefixBindingKeepVerifying checks that a key whose
// digest predates prefix binding verifies as it always did, under any
// prefix, by Verify and Revoke, and that cloning it binds the clone.
func TestKeysStoredBeforePrefixBindingKeepVerifying(t *testing.T) {
	ctx := context.Background()
	for _, base := range everyHash {
		t.Run(base.Hash.String(), func(t *testing.T) {
			store := memstore.New()
			mk := func(prefix string) *apikey.Manager {
				opts := base
				opts.Store, opts.Prefix, opts.UsageInterval = store, prefix, -1
				return apikeytest.NewManager(t, opts)
			}
			test, live := mk("sk_test"), mk("sk_live")
			secret := [32]byte{1, 2, 3}
			rec, err := test.CacheTestRecord(uuid.Must(uuid.NewV7()), secret, "legacy")
			require.NoError(t, err)
			rec.Digest = legacyDigest(t, base, secret)
			require.False(t, rec.Digest.BindsPrefix(), "a legacy digest binds no prefix")
			require.NoError(t, store.Create(ctx, rec))
			tok := apikey.FormatToken("sk_test", rec.ID, secret)

			// The hint, written when the key was minted, names its prefix.
			verify(t, test, tok, nil)
			verify(t, live, reprefix(t, tok, "sk_test", "sk_live"), apikey.ErrInvalidKey)
			_, err = live.Revoke(ctx, reprefix(t, tok, "sk_test", "sk_live"))
			assert.ErrorIs(t, err, apikey.ErrInvalidKey, "Revoke of a legacy key under another prefix")

			clone, cloneTok, err := live.Clone(ctx, rec.ID)
			require.NoError(t, err, "Clone")
			verify(t, live, cloneTok.Reveal(), nil)
			verify(t, test, reprefix(t, cloneTok.Reveal(), "sk_live", "sk_test"), apikey.ErrInvalidKey)
			stored, err := store.Get(ctx, clone.ID)
			require.NoError(t, err)
			assert.True(t, stored.Digest.BindsPrefix(), "the clone's digest binds the prefix")
			assert.Equal(t, base.Hash, stored.Digest.Algorithm(), "the clone's digest algorithm")

			revoked, err := test.Revoke(ctx, tok)
			require.NoError(t, err, "Revoke of a legacy key under its prefix")
			assert.False(t, revoked.Active, "revoked key is active")

			// A legacy record whose hint names no prefix (not one keyscope
			// wrote) verifies under none.
			odd, err := test.CacheTestRecord(uuid.Must(uuid.NewV7()), secret, "odd")
			require.NoError(t, err)
			odd.Digest, odd.Hint = legacyDigest(t, base, secret), "…abcd"
			require.NoError(t, store.Create(ctx, odd))
			verify(t, test, apikey.FormatToken("sk_test", odd.ID, secret), apikey.ErrInvalidKey)
		})
	}
}
