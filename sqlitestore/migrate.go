package sqlitestore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/keyscope/apikey/internal/storekit"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one schema change: the SQL of file NNNN_description.sql,
// which brings the schema from version NNNN-1 to NNNN.
type migration = storekit.Migration

// loadMigrations reads the numbered *.sql files of dir in fsys (see
// storekit.LoadMigrations).
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	ms, err := storekit.LoadMigrations(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	return ms, nil
}

// migrations returns the embedded migrations. They are checked by a test,
// so failing here is a build defect.
func migrations() []migration {
	ms, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		panic(err)
	}
	return ms
}

// schemaTable records the migrations applied to a database, one row each;
// the highest version is the schema version. A table of its own, rather than
// PRAGMA user_version, leaves user_version to applications that keep their
// own tables in the same database.
const schemaTable = `CREATE TABLE IF NOT EXISTS keyscope_schema (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL -- Unix microseconds, UTC
)`

// errNewerSchema is wrapped by the error for a database whose schema is
// newer than this code knows.
var errNewerSchema = errors.New("schema is newer than this version of keyscope knows")

// migrate brings the database up to the last of ms, applying every missing
// migration in one IMMEDIATE transaction: either all of them apply or none.
// A database whose schema version is beyond ms is refused, and nothing in it
// is changed. It reports the version found and the version left.
func migrate(ctx context.Context, db *sql.DB, ms []migration) (from, to int, err error) {
	latest := ms[len(ms)-1].Version
	err = inImmediateTx(ctx, db, func(conn *sql.Conn) error {
		var n int
		err := conn.QueryRowContext(ctx,
			`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'keyscope_schema'`).Scan(&n)
		if err != nil {
			return fmt.Errorf("reading schema version: %w", err)
		}
		if n > 0 {
			err := conn.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM keyscope_schema`).Scan(&from)
			if err != nil {
				return fmt.Errorf("reading schema version: %w", err)
			}
		}
		to = from
		switch {
		case from > latest:
			return fmt.Errorf("%w: database is at version %d, this code knows up to %d", errNewerSchema, from, latest)
		case from == latest:
			// BEGIN IMMEDIATE does not fail on a read-only database (SQLite
			// skips read-only files); a statement that writes, even nothing,
			// does. Refuse a read-only database now, not at its first write.
			if _, err := conn.ExecContext(ctx, `DELETE FROM keyscope_schema WHERE 0`); err != nil {
				return fmt.Errorf("checking that the database is writable: %w", err)
			}
			return nil
		}
		if _, err := conn.ExecContext(ctx, schemaTable); err != nil {
			return fmt.Errorf("creating schema table: %w", err)
		}
		for _, m := range ms[from:] {
			if _, err := conn.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("applying migration %s: %w", m.Name, err)
			}
			_, err := conn.ExecContext(ctx, `INSERT INTO keyscope_schema (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, time.Now().UnixMicro())
			if err != nil {
				return fmt.Errorf("recording migration %s: %w", m.Name, err)
			}
			to = m.Version
		}
		return nil
	})
	if err != nil {
		return from, from, err
	}
	return from, to, nil
}

// inImmediateTx runs fn inside BEGIN IMMEDIATE ... COMMIT on one connection
// of db, rolling back if fn fails. IMMEDIATE takes the write lock at BEGIN,
// where SQLite's busy handler waits for it, instead of upgrading a read
// transaction later, which fails at once with SQLITE_BUSY when another
// connection has written meanwhile. It is spelled out rather than left to
// db.BeginTx because the transaction mode of a handle passed to New is the
// caller's choice.
func inImmediateTx(ctx context.Context, db *sql.DB, fn func(*sql.Conn) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if err := fn(conn); err != nil {
		// Roll back even when ctx is done: the connection goes back to the
		// pool and must not stay inside a transaction.
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
			discard(conn)
			return errors.Join(err, fmt.Errorf("rolling back: %w", rerr))
		}
		return err
	}
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), "COMMIT"); err != nil {
		// A failed COMMIT may leave the transaction open (SQLITE_BUSY):
		// end it, and do not return the connection to the pool in doubt.
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
			discard(conn)
		}
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// discard makes the pool close conn instead of reusing it.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
}
