package pgstore

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"

	"github.com/keyscope/apikey/internal/storekit"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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
		return nil, fmt.Errorf("pgstore: %w", err)
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

// ErrNewerSchema is wrapped by the error of [Open] and [New] for a schema
// whose version is newer than this version of the package knows. Such a
// schema is left untouched.
var ErrNewerSchema = errors.New("pgstore: schema is newer than this version of keyscope knows")

// lockKey returns the key of the advisory lock that serialises migrations
// of schema: the first 8 bytes of a SHA-256 of the schema's name, so that
// stores of different schemas do not wait for each other.
func lockKey(schema string) int64 {
	sum := sha256.Sum256([]byte("keyscope migrate\x00" + schema))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// migrate brings the schema up to the last of ms, applying every missing
// migration in one transaction, under a transaction-level advisory lock
// keyed by the schema's name: of several processes starting at once, one
// migrates and the others wait for it to commit, then find nothing to do.
// A schema whose version is beyond ms is refused, and nothing in it is
// changed. It reports the version found and the version left.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string, ms []migration) (from, to int, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("connecting: %w", err)
	}
	defer conn.Release()
	if enc := conn.Conn().PgConn().ParameterStatus("server_encoding"); enc != "UTF8" {
		return 0, 0, fmt.Errorf("the database's encoding is %s: keyscope needs a UTF8 database", enc)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("beginning the migration: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(schema)); err != nil {
		return 0, 0, fmt.Errorf("taking the migration lock: %w", err)
	}
	qschema := pgx.Identifier{schema}.Sanitize()
	var exists bool
	err = tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = 'keyscope_schema')`, schema).Scan(&exists)
	if err != nil {
		return 0, 0, fmt.Errorf("reading the schema version: %w", err)
	}
	if exists {
		err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+qschema+`.keyscope_schema`).Scan(&from)
		if err != nil {
			return 0, 0, fmt.Errorf("reading the schema version: %w", err)
		}
	}
	latest := ms[len(ms)-1].Version
	switch {
	case from > latest:
		return from, from, fmt.Errorf("%w: schema %s is at version %d, this code knows up to version %d; upgrade keyscope", ErrNewerSchema, qschema, from, latest)
	case from == latest:
		return from, from, nil // nothing to write: commit nothing
	}
	// CREATE SCHEMA needs the CREATE privilege on the database even with
	// IF NOT EXISTS, so only a missing schema is created.
	var schemaExists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&schemaExists); err != nil {
		return from, from, fmt.Errorf("looking up schema %s: %w", qschema, err)
	}
	if !schemaExists {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA `+qschema); err != nil {
			return from, from, fmt.Errorf("creating schema %s: %w", qschema, err)
		}
	}
	// Every name the migrations create lands in the schema.
	if _, err := tx.Exec(ctx, `SET LOCAL search_path TO `+qschema); err != nil {
		return from, from, fmt.Errorf("selecting schema %s: %w", qschema, err)
	}
	_, err = tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS keyscope_schema (
		version    integer     NOT NULL PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`)
	if err != nil {
		return from, from, fmt.Errorf("creating the table keyscope_schema: %w", err)
	}
	for _, m := range ms[from:] {
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return from, from, fmt.Errorf("applying migration %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO keyscope_schema (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			return from, from, fmt.Errorf("recording migration %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return from, from, fmt.Errorf("committing the migration: %w", err)
	}
	return from, latest, nil
}
