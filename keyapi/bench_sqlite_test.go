//go:build cgo

package keyapi_test

// The sqlitestore benchmarks stay in a file of their own because sqlitestore
// is built on github.com/mattn/go-sqlite3 and needs cgo: with CGO_ENABLED=0
// this file drops out and the package's tests still build.

import (
	"path/filepath"
	"testing"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/sqlitestore"
	"github.com/stretchr/testify/require"
)

func init() {
	benchStores = append(benchStores, benchStore{"sqlitestore", func(b *testing.B) apikey.Store {
		st, err := sqlitestore.Open(filepath.Join(b.TempDir(), "keys.db"))
		require.NoError(b, err)
		b.Cleanup(func() { st.Close() })
		return st
	}})
}
