// Command mkv3 wrote sqlitestore/testdata/v3.db and v3-tokens.json with the
// code of commit ccbda1f (schema version 3), before the change log of
// schema version 4. Apart from this comment it is the program as it ran;
// see ../README.md for how to run it.
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
	Hash   string `json:"hash"`
	Owner  string `json:"owner"`
	Active bool   `json:"active"`
	ID     string `json:"id"`
	Token  string `json:"token"`
}

func main() {
	dir := os.Args[1]
	db := filepath.Join(dir, "v3.db")
	store, err := sqlitestore.Open(db)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	pepper := []byte("keyscope testdata pepper, 32+ bytes long")
	var out []token
	for _, opts := range []apikey.Options{
		{Hash: apikey.SHA256},
		{Hash: apikey.HMACSHA256, Pepper: pepper},
		{Hash: apikey.Argon2id, Argon2: apikey.Argon2Params{Time: 1, Memory: 64, Threads: 1}},
	} {
		opts.Store, opts.UsageInterval = store, -1
		m, err := apikey.NewManager(opts)
		if err != nil {
			log.Fatal(err)
		}
		for _, owner := range []string{"", "acct_42"} {
			for _, active := range []bool{true, false} {
				k, tok, err := m.Create(ctx, apikey.CreateParams{
					Owner: owner, Label: fmt.Sprintf("%s %q active=%t", opts.Hash, owner, active),
					ExpiresAt: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
				})
				if err != nil {
					log.Fatal(err)
				}
				if !active {
					if _, err := m.Deactivate(ctx, k.ID); err != nil {
						log.Fatal(err)
					}
				}
				out = append(out, token{opts.Hash.String(), owner, active, k.ID.String(), tok.Reveal()})
			}
		}
		m.Close()
	}
	if err := store.Close(); err != nil {
		log.Fatal(err)
	}
	js, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "v3-tokens.json"), append(js, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
}
