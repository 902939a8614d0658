// Command keyscope manages the API keys of a keyscope database, a SQLite
// file or a PostgreSQL database: it creates, lists, shows, renames,
// activates, deactivates, revokes, clones, rolls, deletes and verifies keys.
//
//	go install github.com/keyscope/apikey/cmd/keyscope@latest
//	export KEYSCOPE_DB=/srv/app/keys.db
//	keyscope create --owner acct_42 --label "shop integration" --scopes campaigns:read,lists:write > token.txt
//	keyscope verify < token.txt
//	keyscope list --owner acct_42
//	keyscope deactivate 0190c8e4-...
//	keyscope revoke < leaked.txt
//
// The database is --db, else $KEYSCOPE_DB, else keyscope.db in the working
// directory: a SQLite file's path, or a postgres:// URL for PostgreSQL
// (pgstore), whose search_path parameter names the schema of keyscope's
// tables when the application keeps them in another schema than public
// (postgres://db.internal/app?search_path=keyscope). A change made through
// the tool reaches every instance of the application on the same database
// as soon as the store reports it. The token prefix is --prefix, else
// $KEYSCOPE_PREFIX, else "sk", and must match the application's. Output is
// a human-readable table, or JSON with --json. Every key belongs to an owner, the account given by create's
// --owner, or to none; list shows every owner's keys unless --owner names
// one.
//
// create, clone and roll print the new token, and nothing else, to standard
// output, once; the key's details and a reminder to store the token go to
// standard error (with --json, standard output is one JSON object, the key
// and its token). verify and revoke read the token from standard input,
// which keeps it out of the shell history and the process list: verify
// checks it, revoke deactivates its key. verify still accepts a token as
// an argument, as earlier versions did, but warns on standard error; revoke
// refuses one. A database that create makes is readable and writable by
// its owner only (mode 0600).
//
// Exit status: 0 success, 1 failure (the database could not be opened or
// written), 2 usage error, 3 no such key (for revoke, no key with that
// token), 4 the token given to verify does not verify. Run "keyscope help"
// or "keyscope <command> --help" for details.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
