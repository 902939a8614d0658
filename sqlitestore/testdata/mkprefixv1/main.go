// Command mkprefixv1 wrote sqlitestore/testdata/prefix-v1.db and
// prefix-v1-tokens.json with the code of commit dcc9d36, before digests
// bound the token prefix. Apart from this comment it is the program as it ran; see
// ../README.md for how to run it.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/sqlitestore"
)

type token struct {
	Prefix string `json:"prefix"`
	Hash   string `json:"hash"`
	Owner  string `json:"owner"`
	ID     string `json:"id"`
	Token  string `json:"token"`
}

func main() {
	dir := os.Args[1]
	db := filepath.Join(dir, "prefix-v1.db")
	store, err := sqlitestore.Open(db)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	pepper := []byte("keyscope testdata pepper, 32+ bytes long")
	var out []token
	for _, prefix := range []string{"", "acme_test", "acme_live"} {
		for _, opts := range []apikey.Options{
			{Hash: apikey.SHA256},
			{Hash: apikey.HMACSHA256, Pepper: pepper},
			{Hash: apikey.Argon2id, Argon2: apikey.Argon2Params{Time: 1, Memory: 64, Threads: 1}},
		} {
			opts.Store, opts.Prefix, opts.UsageInterval = store, prefix, -1
			m, err := apikey.NewManager(opts)
			if err != nil {
				log.Fatal(err)
			}
			for _, owner := range []string{"", "acct_42"} {
				k, tok, err := m.Create(ctx, apikey.CreateParams{
					Owner: owner, Label: fmt.Sprintf("%s %s %q", m.Prefix(), opts.Hash, owner),
					ExpiresAt: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
				})
				if err != nil {
					log.Fatal(err)
				}
				out = append(out, token{m.Prefix(), opts.Hash.String(), owner, k.ID.String(), tok.Reveal()})
			}
			m.Close()
		}
	}
	if err := store.Close(); err != nil {
		log.Fatal(err)
	}
	js, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "prefix-v1-tokens.json"), append(js, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
}
