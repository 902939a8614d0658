package main

import (
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/sqlitestore"
)

// openSQLite opens the keyscope SQLite database at path with
// [sqlitestore.Open], which creates the file and schema if needed. Unless
// create is set, a missing file is refused with errNoDatabase rather than
// made empty, so that a mistyped --db does not list zero keys.
func openSQLite(path string, create bool) (apikey.Store, func() error, error) {
	if !create && !fileExists(path) {
		return nil, nil, errNoDatabase
	}
	st, err := sqlitestore.Open(path)
	if err != nil {
		return nil, nil, err
	}
	return st, st.Close, nil
}
