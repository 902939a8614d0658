// Package sqlitestore is an [apikey.Store] kept in a SQLite database, for
// applications that run on one machine. It is built on
// github.com/mattn/go-sqlite3 and so needs cgo; importing keyscope's root
// package does not.
//
//	store, err := sqlitestore.Open("keys.db")
//	if err != nil {
//		return err
//	}
//	defer store.Close()
//	keys, err := apikey.NewManager(apikey.Options{Store: store})
//
// # Schema and migrations
//
// Keys live in the table keyscope_keys, and the schema version in
// keyscope_schema, so an application may keep its own tables, and its own
// PRAGMA user_version, in the same file. The schema is built by SQL files
// embedded in the package, numbered 0001, 0002 and so on. [Open] and [New]
// apply those a database lacks, all in one transaction, and record each in
// keyscope_schema. A database whose schema is newer than this code knows is
// refused with an error, and left exactly as it was, so that an older binary
// never writes to a schema it does not understand.
//
// A key ID is stored as its 16 bytes, the primary key of a WITHOUT ROWID
// table: UUIDv7s sort by creation time, so the primary key is also the List
// order, and a lookup by ID is a single B-tree search. Times are integer
// Unix microseconds in UTC, the precision the Manager keeps; scopes are
// their canonical text; digests are [apikey.Digest.Bytes], stored exactly.
// Secrets are never stored.
//
// The owner ([apikey.Key.Owner]) is a TEXT column compared byte for byte,
// empty for a key without one, and an index on (owner, id) holds each owner's
// keys in List order: listing one owner reads a range of that index and
// then each key by its ID, so a page costs in proportion to the keys it
// returns, not to the keys of every owner. Listing with
// [apikey.ListOptions].AllOwners reads the primary key instead. Update
// never writes the owner.
//
// The schema versions so far:
//
//   - 1 (0001_keys.sql): the table keyscope_keys.
//   - 2 (0002_owner.sql): the owner column and its index. A database of
//     version 1 is upgraded in place when it is opened: its keys get the
//     empty owner, and keep verifying with the tokens issued for them. Adding
//     the column rewrites no row; building the index reads the table once.
//   - 3 (0003_prefix_binding.sql): no table changes. It marks the files in
//     which new keys' digests bind the token prefix
//     ([apikey.Digest.BindsPrefix]), a digest byte version 2 cannot decode,
//     so that version 2 refuses such a file when it opens it instead of
//     failing on each new key. Keys stored before keep their digests.
//   - 4 (0004_changes.sql): the change log, the table keyscope_changes,
//     and the triggers on keyscope_keys that fill it, for [Store.Watch]
//     (see Change notifications below). A database of version 3 is
//     upgraded in place when it is opened; its keys are not touched, and
//     changes to them are reported from then on. Every write to a key
//     now also appends a row to the log, in the same transaction.
//
// An older version of this package refuses a database once it is upgraded,
// as it refuses any newer schema: run one version of keyscope on a file, or
// upgrade every program that opens it together.
//
// # File permissions
//
// The database holds the digest of every key, so [Open] creates a new
// database file with mode 0600, readable and writable by its owner only,
// before SQLite opens it; SQLite gives the -wal and -shm files it keeps
// beside the database the database file's mode, so they are 0600 too. (Left
// to itself, SQLite would create all three 0644, readable by every user of
// the machine.) Open leaves the mode of an existing file alone: a file an
// operator made readable by a group, for a backup job, stays so, and its
// -wal and -shm files follow it. chmod 600 the file to make it private
// again. [New] opens no file, and so changes no mode: the application
// decides.
//
// # Connections and concurrency
//
// The database is in WAL mode (journal_mode=WAL, which Open sets and which
// persists in the file): readers read a snapshot and never wait for a
// writer, nor a writer for readers. Open makes two connection pools on the
// file:
//
//   - a writer of one connection, with _txlock=immediate. The Store also
//     lets only one of its writes at a time reach SQLite, and waits for its
//     turn in Go, where the caller's context can cancel the wait.
//   - a pool of readers, max(4, 2×GOMAXPROCS) connections with
//     query_only=true, for Get and List, each a prepared statement. Readers
//     map the first 1 GiB of the file into memory (mmap_size), so that a
//     lookup reads the operating system's page cache directly instead of
//     making a system call and copying the page into each connection's own
//     cache. The price is SQLite's usual one for mapped reads: should the
//     disk fail under a mapped page, the process gets SIGBUS instead of an
//     I/O error.
//
// Every connection has busy_timeout=5000 (milliseconds). Every write is a
// single statement or an explicit BEGIN IMMEDIATE transaction, so it takes
// SQLite's write lock before it reads anything, where the busy handler
// applies; a deferred transaction that read first would get SQLITE_BUSY at
// once, without waiting, when another connection had written meanwhile.
// Together these mean that in one process no caller sees SQLITE_BUSY
// ("database is locked"), however many goroutines write: the writes queue in
// Go. Other processes writing to the same file (a second Store, the sqlite3
// shell) contend for the lock, and a write gives up with SQLITE_BUSY only
// after waiting five seconds for it.
//
// # Durability: synchronous=NORMAL
//
// Open sets synchronous=NORMAL, not FULL. In WAL mode NORMAL syncs the log
// to disk at checkpoints rather than at every commit. A committed change
// survives a crash of the application: the package's crash test kills a
// writing process with SIGKILL at random moments and finds every
// acknowledged write intact. No crash, even a power cut, corrupts the
// database. What a power cut or an operating-system crash can undo is the
// last transactions committed before it: a key created, or revoked, in the
// last moments before the machine went down. FULL would close that window
// by syncing at every commit, at the price of an fsync per write: on the
// machine where the package's benchmarks ran, a Create took about 40 µs
// with NORMAL and 0.6 to 1.2 ms with FULL. An application that must not
// lose a revocation to a power cut can open its own handle with
// _synchronous=FULL and pass it to New.
//
// # Bringing your own handle
//
// [New] uses the application's *sql.DB, of the go-sqlite3 driver, for reads
// and writes alike, and changes none of its settings. go-sqlite3 already
// sets busy_timeout=5000 and synchronous=NORMAL on each connection by
// default; open the handle in WAL mode too, so that readers never wait for
// writers:
//
//	db, err := sql.Open("sqlite3", "file:app.db?_journal_mode=WAL&_txlock=immediate")
//
// The Store still lets one of its writes at a time reach SQLite and runs its
// transactions as BEGIN IMMEDIATE, whatever _txlock says, so it does not
// contend with itself. The application's own writes to the file contend with
// the Store's for the lock, within the busy timeout; _txlock=immediate
// makes the application's transactions take it the safe way too. In another
// journal mode the Store works, but reads wait while a write commits. A
// database in memory must be shared by every connection of the pool, for
// example with db.SetMaxOpenConns(1). Close leaves db open: it is the
// application's to close.
//
// # Change notifications
//
// A Store is an [apikey.Notifier]: [Store.Watch] reports every change to a
// key, so that a Manager drops the key from its verification cache at
// once, even when the change was made by another process on the same file
// (another instance of the application, or the keyscope command). Triggers
// on keyscope_keys record each change as a row of keyscope_changes, in the
// transaction that makes it, whoever writes: the log misses no committed
// change, and holds none that was rolled back. MarkUsed, which only
// records when keys were used, is not recorded.
//
// A Watch polls every [PollInterval] (20 ms). On a Store made by Open it
// polls on a connection of its own and asks SQLite whether another
// connection committed since the last poll (PRAGMA data_version, a few
// microseconds), reading the log only when one did; on a Store made by New
// it reads the log through the application's handle each time. Either way
// the poll is a read, which in WAL mode never waits for a writer nor makes
// one wait, and holds no transaction open between polls. A change is
// reported about 10 ms after its commit on average, 20 ms at most, plus
// the time to read the log.
//
// The log keeps five minutes of changes, pruned by a trigger every 256
// writes, in the transaction of the write, so that it does not grow
// without bound whichever programs write to the file. A Watch that falls
// further behind (its process was suspended, say) finds rows it never read
// pruned, and tells its watcher to drop what it knows (Watching(false),
// then Watching(true)). A Watch that cannot read the log for more than
// half a second tells its watcher likewise, with Watching(false) at once
// and Watching(true) once it reads again.
//
// Do not write to keyscope_changes: a row deleted there may be a change a
// Watch never reports. An application that writes to keyscope_keys itself
// is reported like any other writer.
//
// # Speed
//
// Verification reads one record by primary key, with a statement prepared
// once. Put the Manager's verification cache in front of the Store (it is on
// by default, see [apikey.Options].CacheTTL) and a repeated verification
// does not reach SQLite at all.
package sqlitestore
