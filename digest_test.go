package apikey_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/keyscope/apikey/memstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		})
	}
	argon := append([]byte{byte(apikey.Argon2id), 0, 0, 0, 0, 0, 0, 0, 64, 1}, make([]byte, 48)...)
	tests := map[string][]byte{
		"empty":             nil,
		"unknown algorithm": {9, 1, 2},
		"short sha256":      append([]byte{byte(apikey.SHA256)}, make([]byte, 31)...),
		"long hmac":         append([]byte{byte(apikey.HMACSHA256)}, make([]byte, 33)...),
		"argon2 time zero":  argon,
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := apikey.DecodeDigest(b)
			assert.Error(t, err, "DecodeDigest(%s) succeeded", name)
		})
	}
}
