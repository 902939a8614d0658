// Package pgstore is an [apikey.Store] kept in a PostgreSQL database, for
// applications that run on several machines, and an [apikey.Notifier]
// that tells every instance of the application within moments which keys
// changed. It is built on github.com/jackc/pgx/v5 and its pool, pgxpool;
// importing keyscope's root package pulls in neither.
//
//	store, err := pgstore.Open(ctx, "postgres://app@db.internal/app", pgstore.Options{})
//	if err != nil {
//		return err
//	}
//	defer store.Close()
//	keys, err := apikey.NewManager(apikey.Options{Store: store})
//
// [Open] takes a postgres:// URL or a key=value DSN, as pgx reads them
// (pool settings such as pool_max_conns included), and makes a pool that
// the Store owns. An application that has a pool already passes it to
// [New] instead; Close then leaves the pool open.
//
// # Schema and migrations
//
// Keys live in the table keyscope_keys, and the schema version in
// keyscope_schema, both in the PostgreSQL schema [Options].Schema names:
// "public" by default, beside the application's own tables, or a schema of
// their own, which Open creates if it is missing (that needs the CREATE
// privilege on the database; an existing schema needs only the privilege
// to create tables in it). The name is quoted wherever it is used, so any
// name PostgreSQL accepts works: up to 63 bytes of UTF-8 without control
// characters, not starting with "pg_". Open refuses other names.
//
// The tables are built by SQL files embedded in the package, numbered
// 0001, 0002 and so on. [Open] and [New] apply those a schema lacks, all
// in one transaction, and record each in keyscope_schema. The transaction
// first takes a transaction-level advisory lock whose key is derived from
// the schema's name (pg_advisory_xact_lock): of ten instances starting at
// once against an empty schema, one migrates and the nine others wait for
// its commit, then find nothing left to do; none ever sees a half-made
// schema, and stores of other schemas do not wait. A schema whose version
// is newer than this code knows is refused with an error wrapping
// [ErrNewerSchema] that names both versions, and left exactly as it was, so
// that an older binary never writes to a schema it does not understand.
// The database must be in the UTF8 encoding.
//
// The schema versions so far:
//
//   - 1 (0001_keys.sql): the table keyscope_keys and its owner index.
//   - 2 (0002_notify.sql): the triggers that announce changes.
//
// # Table layout
//
//	id           uuid        primary key: a UUIDv7, so the List order too
//	owner        text        COLLATE "C", '' for none; index (owner, id)
//	label        bytea       the label's UTF-8 bytes, exactly
//	scopes       text        canonical form (apikey.Scopes.String)
//	active       boolean
//	created_at   timestamptz
//	last_used_at timestamptz NULL: never used
//	expires_at   timestamptz NULL: never expires
//	cloned_from  uuid        NULL: not a clone
//	hint         text
//	digest       bytea       apikey.Digest.Bytes; secrets are never stored
//
// A verification is one lookup by primary key, a statement pgx prepares
// once per connection and keeps. Listing one owner's keys reads a range of
// the index on (owner, id), in List order, so a page costs in proportion
// to the keys it returns; owners compare byte for byte (the "C"
// collation). Times are timestamptz, microseconds like the Manager keeps,
// and read back in UTC. Recording use touches last_used_at only, which is
// in no index, on pages left 10% free (fillfactor 90), so PostgreSQL
// updates the row in place.
//
// # NUL bytes
//
// PostgreSQL text cannot hold a NUL byte, and a label may (the Manager
// accepts any valid UTF-8 label): labels are therefore bytea, stored and
// read back exactly, quotes, markup and NUL bytes included. In psql,
// convert_from(label, 'UTF8') shows them as text, and fails on the rare
// label holding NUL. Owners, hints and scopes are text: [apikey.CheckOwner]
// refuses owners with control characters, and the Manager makes only valid
// hints and scopes, so only a Key built by hand can carry one there, and
// Create refuses it with an error naming the field (wrapping
// apikey.ErrInvalidOwner for the owner). List of such an owner finds no
// keys.
//
// # Notifications
//
// Triggers on keyscope_keys run pg_notify for every insert and delete, and
// for every update that changes a column other than last_used_at, inside
// the transaction that makes the change: PostgreSQL delivers the
// notification when, and only if, that transaction commits, so no
// committed change goes unannounced, whoever made it (a Store, another
// program, an operator in psql). Recording use ([Store.MarkUsed]) is not
// announced. The payload is the key's ID; a TRUNCATE of the table sends
// "*". The channel is named after the schema ([Channel]), so that two
// keyscope schemas in one database never hear each other.
//
// [Store.Watch] listens on a connection of its own, opened with the pool's
// settings but outside it, and reports each notification to its watcher.
// When that connection is lost it says so (Watching(false)), reconnects
// after 50 ms and then at doubling intervals up to a second, and says
// Watching(true) once it listens again. A connection silent for a second
// is pinged, and one that does not answer within two is counted lost, so
// that a connection lost without a word (a dropped network path) is
// noticed within three seconds too.
// Close stops every Watch and waits for it to return.
//
// # Connections and concurrency
//
// A Store is safe for concurrent use, and so are several Stores, in one
// process or many, on the same schema. Every method is one statement, and
// so atomic: Update is one UPDATE ... RETURNING, serialised with other
// Updates of the same key by its row lock; MarkUsed updates a whole batch
// in one statement that locks the rows in ID order first, so that two
// instances flushing at once never deadlock. Create of an ID already
// stored gives apikey.ErrDuplicateID, and a missing key apikey.ErrNotFound;
// any other failure is wrapped, naming the operation and the key.
//
// Every method honours its context. When it ends during a statement, the
// pool [Open] makes sends the server a cancel request and keeps the
// connection; pgx's default, which a pool passed to New has unless the
// application changed it, sends the cancel request and closes the
// connection. Either way the statement is stopped on the server too. A
// statement_timeout set in the connection string (statement_timeout=5000,
// in milliseconds) applies to every statement as well. A connection
// pooler in transaction mode (PgBouncer) needs pgx's
// default_query_exec_mode=exec or simple_protocol, as it cannot keep
// prepared statements.
//
// When the server goes away, calls fail with errors and never give a wrong
// answer; once it is back, the pool replaces its broken connections by
// itself, and the same Store works again.
//
// # Tests
//
// The package's tests need a PostgreSQL server. They use the one named by
// KEYSCOPE_TEST_POSTGRES, a postgres:// URL of a server where they may
// create and drop schemas, or else start a throwaway cluster of their own
// from the PostgreSQL binaries on the machine (initdb, pg_ctl and postgres,
// on PATH or under /usr/lib/postgresql/*/bin), in a temporary directory,
// reachable through a unix socket only, and remove it at the end. Where
// there is neither, they are skipped, with a message saying how to install
// PostgreSQL (on Debian: apt-get install postgresql); with KEYSCOPE_CI=1
// they fail instead. The restart test always starts a cluster of its own.
// See the package internal/pgtest.
//
//	go test -race ./pgstore
//	KEYSCOPE_TEST_POSTGRES=postgres://me@localhost/test go test -race ./pgstore
package pgstore
