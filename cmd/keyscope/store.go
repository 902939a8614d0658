package main

import (
	"context"
	"time"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/internal/dbopen"
)

// openTimeout bounds how long opening a PostgreSQL database may take.
const openTimeout = 30 * time.Second

// openDB opens the keyscope database db: a PostgreSQL database for a
// postgres:// URL, with pgstore, and otherwise the SQLite file at path db,
// with sqlitestore. Both create the schema if needed. Unless create is
// set, a missing SQLite file is refused with errNoDatabase rather than made
// empty, so that a mistyped --db does not list zero keys.
func openDB(db string, create bool) (apikey.Store, func() error, error) {
	if !dbopen.IsPostgres(db) && !create && !fileExists(db) {
		return nil, nil, errNoDatabase
	}
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	st, err := dbopen.Open(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	return st, st.Close, nil
}
