// Package dbopen opens the store that a --db flag names, for keyscope's
// command-line tool and example server: a PostgreSQL database for a
// postgres:// or postgresql:// URL, and otherwise a SQLite file.
package dbopen

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/pgstore"
	"github.com/keyscope/apikey/sqlitestore"
)

// Store is a store that its opener must close.
type Store interface {
	apikey.Store
	Close() error
}

// IsPostgres reports whether db names a PostgreSQL database: a postgres://
// or postgresql:// URL. Anything else is a SQLite file's path.
func IsPostgres(db string) bool {
	l := strings.ToLower(db)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// Describe returns db as it may be shown in a message or a log: a URL's
// password, whether after the user name or in a password parameter, is
// replaced by "xxxxx", and a URL that does not parse is not shown at all,
// so that no secret in it is.
func Describe(db string) string {
	if !IsPostgres(db) {
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		return "(a PostgreSQL URL that does not parse)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Open opens db: a PostgreSQL URL with pgstore, and anything else as the
// path of a SQLite file with sqlitestore, which creates the file if it does
// not exist. The schema of keyscope's tables in PostgreSQL is the one the
// URL's search_path parameter names, when it names one, and otherwise
// pgstore's default, so that the tool reaches the tables an application
// keeps in a schema of its choosing: postgres://host/app?search_path=keyscope.
func Open(ctx context.Context, db string) (Store, error) {
	if IsPostgres(db) {
		schema, err := Schema(db)
		if err != nil {
			return nil, err
		}
		return pgstore.Open(ctx, db, pgstore.Options{Schema: schema})
	}
	return sqlitestore.Open(db)
}

// Schema returns the schema that the PostgreSQL URL db's search_path
// parameter names (unquoted, if it is in double quotes), or "" if the URL
// has none. A search_path of several schemas is an error: keyscope's tables
// live in one.
func Schema(db string) (string, error) {
	u, err := url.Parse(db)
	if err != nil || !u.Query().Has("search_path") {
		return "", nil // pgstore reports a URL that does not parse
	}
	sp := strings.TrimSpace(u.Query().Get("search_path"))
	if len(sp) >= 2 && sp[0] == '"' && sp[len(sp)-1] == '"' && !strings.Contains(sp[1:len(sp)-1], `"`) {
		return sp[1 : len(sp)-1], nil
	}
	if sp == "" || strings.ContainsAny(sp, `, "`) {
		return "", fmt.Errorf("the URL's search_path %q does not name one schema: name the schema that holds keyscope's tables", sp)
	}
	return sp, nil
}
