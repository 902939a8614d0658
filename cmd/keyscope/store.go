package main

import (
	"errors"

	"github.com/keyscope/apikey"
)

// openSQLite opens the keyscope SQLite database at path.
//
// TODO(admin): sqlitestore has not landed on main yet; this becomes
// sqlitestore.Open when it does.
func openSQLite(path string, create bool) (apikey.Store, func() error, error) {
	if !create && !fileExists(path) {
		return nil, nil, errNoDatabase
	}
	return nil, nil, errors.New("sqlitestore is not available in this build")
}
