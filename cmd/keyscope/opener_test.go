package main

import (
	"os"
	"sync"
	"testing"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/memstore"
)

// testOpener keeps one memstore per database path, standing in for
// sqlitestore until it lands.
func testOpener(t *testing.T) opener {
	var mu sync.Mutex
	stores := map[string]*memstore.Store{}
	return func(path string, create bool) (apikey.Store, func() error, error) {
		mu.Lock()
		defer mu.Unlock()
		st, ok := stores[path]
		if !ok {
			if !create {
				return nil, nil, errNoDatabase
			}
			st = memstore.New()
			stores[path] = st
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return st, func() error { return nil }, nil
	}
}
