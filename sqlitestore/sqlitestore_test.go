package sqlitestore_test

import (
	"path/filepath"
	"testing"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/sqlitestore"
	"github.com/keyscope/apikey/storetest"
)

// openTemp opens a Store on a new file in t's temporary directory and
// closes it when t ends.
func openTemp(t testing.TB) (*sqlitestore.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.db")
	s, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) apikey.Store {
		s, _ := openTemp(t)
		return s
	})
}
