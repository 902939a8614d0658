// Command keyscope manages the API keys of a keyscope SQLite database: it
// creates, lists, shows, renames, activates, deactivates, clones, rolls,
// deletes and verifies keys.
//
//	go install github.com/keyscope/apikey/cmd/keyscope@latest
//	export KEYSCOPE_DB=/srv/app/keys.db
//	keyscope create --label "shop integration" --scopes campaigns:read,lists:write
//	keyscope list
//	keyscope deactivate 0190c8e4-...
//
// The database is --db, else $KEYSCOPE_DB, else keyscope.db in the working
// directory; token prefix is --prefix, else $KEYSCOPE_PREFIX, else "sk", and
// must match the application's. Output is a human-readable table, or JSON
// with --json. A new token is printed to standard output once, and a
// reminder to store it to standard error.
//
// Exit status: 0 success, 1 failure (the database could not be opened or
// written), 2 usage error, 3 no such key, 4 the token given to verify does
// not verify. Run "keyscope help" or "keyscope <command> --help" for
// details.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
