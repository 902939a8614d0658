//go:build cgo

package keyapi_test

import (
	"path/filepath"
	"testing"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/sqlitestore"
)

func init() {
	benchStores = append(benchStores, benchStore{"sqlitestore", func(b *testing.B) apikey.Store {
		st, err := sqlitestore.Open(filepath.Join(b.TempDir(), "keys.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	}})
}
