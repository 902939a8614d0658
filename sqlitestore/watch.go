package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/mattn/go-sqlite3"
)

// PollInterval is how often a Watch looks for changes committed by other
// connections: it asks SQLite whether the file changed (PRAGMA
// data_version) and reads the change log only when it did. The question
// costs a few microseconds, so polling 50 times a second costs a Watch
// well under a thousandth of a core, and a change is reported on average
// half an interval after its commit.
const PollInterval = 20 * time.Millisecond

// watchGrace is how long a Watch may go without reading the change log,
// because its polls fail or hang, before it reports Watching(false). Within
// it the change log still holds whatever it missed (it keeps five minutes,
// see 0004_changes.sql), so a Watch that reads again in time reports every
// change, only late, and its watcher need not drop anything. Past it, the
// watcher is told it can no longer trust what it keeps. Each poll is given
// watchGrace to finish, so that a poll that waits (for a connection of a
// busy pool, say, or a lock) counts as a failure rather than a silence.
const watchGrace = 500 * time.Millisecond

// watchBatch is how many rows of the change log one query reads.
const watchBatch = 512

// The queries of Watch. changesQuery reads the rows after a seq, and the
// lowest seq the log still holds: when that is beyond the next row the
// watcher expects, the rows between were pruned unread.
const (
	lastSeqQuery = `SELECT coalesce(max(seq), 0) FROM keyscope_changes`
	changesQuery = `SELECT seq, id, (SELECT min(seq) FROM keyscope_changes)
		FROM keyscope_changes WHERE seq > ? ORDER BY seq LIMIT 512`
)

// Watch implements apikey.Notifier: it reports to w every change to a key
// committed to the database, by this Store, by another Store on the same
// file, in this process or another, or by any other program that writes
// to keyscope_keys (triggers record each change in the table
// keyscope_changes). Changes made by MarkUsed are not reported.
//
// Every [PollInterval] it asks SQLite whether another connection committed,
// and if so reads the change log. A Store made by [Open] polls on a
// connection of its own for each Watch; one made by [New] polls through the
// application's handle, reading the log each time, since a question about
// one connection of a pool says nothing about the next. The poll is a
// read, which in WAL mode never waits for a writer nor makes one wait, and
// it holds no transaction open between polls, so that it does not keep the
// WAL from being checkpointed.
//
// When the log cannot be read for longer than half a second, Watch calls
// w.Watching(false), keeps trying, and calls w.Watching(true) once it reads
// again. A Watch that falls more than five minutes behind (its process was
// suspended, say) finds that the log no longer holds the changes it
// missed, and calls w.Watching(false) and then w.Watching(true) at once.
//
// Watch returns ctx's error when ctx is done, and an error wrapping
// apikey.ErrClosed when the Store is closed: Close stops every Watch and
// waits for it to return.
func (s *Store) Watch(ctx context.Context, w apikey.Watcher) error {
	s.watchMu.Lock()
	if s.closed.Load() {
		s.watchMu.Unlock()
		return fmt.Errorf("sqlitestore: %s: %w", s.name, apikey.ErrClosed)
	}
	s.watches.Add(1)
	s.watchMu.Unlock()
	defer s.watches.Done()

	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(s.closing, func() { cancel(apikey.ErrClosed) })
	defer stop()

	wa := watch{s: s, w: w, version: -1}
	defer wa.close()
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	for {
		wa.poll(ctx)
		select {
		case <-tick.C:
		case <-ctx.Done():
			if err := parent.Err(); err != nil {
				return err
			}
			return fmt.Errorf("sqlitestore: %s: %w", s.name, apikey.ErrClosed)
		}
	}
}

// watch is the state of one Watch. It is used by one goroutine.
type watch struct {
	s *Store
	w apikey.Watcher

	db      *sql.DB // polled; a handle of its own, or s.read for New
	own     bool    // whether db is the Watch's own, closed when it fails
	version int64   // PRAGMA data_version at the last read of the log; -1: unknown

	listening bool      // whether w was last told Watching(true)
	last      int64     // the last seq reported, or read at the start
	ok        time.Time // when a poll last succeeded
}

// close releases the Watch's own connection, if any.
func (wa *watch) close() {
	if wa.own && wa.db != nil {
		wa.db.Close()
	}
	wa.db = nil
}

// poll does one round of the Watch: it starts listening if it is not, and
// reads and reports the changes since the last round if it is. A failure
// is reported to the watcher only once no poll has succeeded for
// watchGrace; a poll that takes longer fails.
func (wa *watch) poll(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, watchGrace)
	defer cancel()
	var err error
	if wa.listening {
		err = wa.read(pctx)
	} else {
		err = wa.start(pctx)
	}
	switch {
	case err == nil:
		wa.ok = time.Now()
	case ctx.Err() != nil:
		// Watch is returning; the failure is the cancellation's.
	case wa.listening && time.Since(wa.ok) >= watchGrace:
		wa.listening = false
		wa.w.Watching(false)
		wa.drop()
	default:
		wa.drop()
	}
}

// drop closes the Watch's own connection after a failure, so that the
// next round opens a new one: the file may have been replaced, or the
// connection broken.
func (wa *watch) drop() {
	if wa.own {
		wa.close()
	}
	wa.version = -1
}

// connect returns the handle to poll, opening the Watch's own for a Store
// made by Open.
func (wa *watch) connect() (*sql.DB, error) {
	if wa.db != nil {
		return wa.db, nil
	}
	if wa.s.watchDSN == "" { // made by New
		wa.db = wa.s.read
		return wa.db, nil
	}
	db := sql.OpenDB(connector{dsn: wa.s.watchDSN, drv: &sqlite3.SQLiteDriver{}})
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	wa.db, wa.own, wa.version = db, true, -1
	return db, nil
}

// start reads the newest seq of the log and tells the watcher that it
// listens: every change committed from now on has a larger seq.
func (wa *watch) start(ctx context.Context) error {
	db, err := wa.connect()
	if err != nil {
		return err
	}
	if wa.own {
		// Before the log, so that a commit between the two moves the
		// version and makes the next round read the log.
		if wa.version, err = dataVersion(ctx, db); err != nil {
			return err
		}
	}
	if err := db.QueryRowContext(ctx, lastSeqQuery).Scan(&wa.last); err != nil {
		return err
	}
	wa.listening = true
	wa.w.Watching(true)
	return nil
}

// dataVersion returns PRAGMA data_version of db's one connection.
func dataVersion(ctx context.Context, db *sql.DB) (int64, error) {
	var v int64
	err := db.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v)
	return v, err
}

// change is a row of the change log.
type change struct {
	seq int64
	id  uuid.UUID
}

// read reports the changes committed since the last round. On its own
// connection it reads the log only when PRAGMA data_version moved, that
// is when another connection committed; the Watch's connection never
// writes.
func (wa *watch) read(ctx context.Context) error {
	db, err := wa.connect()
	if err != nil {
		return err
	}
	if wa.own {
		v, err := dataVersion(ctx, db)
		if err != nil {
			return err
		}
		if v == wa.version {
			return nil
		}
		wa.version = v
	}
	for {
		batch, lagged, err := readChanges(ctx, db, wa.last)
		if err != nil {
			return err
		}
		if lagged {
			// The log was pruned past rows this Watch never read: tell
			// the watcher to forget what it knows, and start afresh.
			wa.listening = false
			wa.w.Watching(false)
			return wa.start(ctx)
		}
		if len(batch) == 0 {
			// Something committed but logged nothing after last: a
			// MarkUsed, or a log that went back, the file having been
			// restored from a copy made before rows this Watch read.
			// After a restore the keys are what the copy held, and
			// changes logged under the seqs it reused would be skipped:
			// tell the watcher to forget what it knows, and start afresh.
			var newest int64
			if err := db.QueryRowContext(ctx, lastSeqQuery).Scan(&newest); err != nil {
				return err
			}
			if newest < wa.last {
				wa.listening = false
				wa.w.Watching(false)
				return wa.start(ctx)
			}
			return nil
		}
		for _, c := range batch {
			wa.w.Changed(c.id)
			wa.last = c.seq
		}
		if len(batch) < watchBatch {
			return nil
		}
	}
}

// readChanges reads up to watchBatch rows of the log after seq last, and
// reports whether rows after last were pruned unread. It is one statement,
// one snapshot, and holds no transaction open once it returns.
func readChanges(ctx context.Context, db *sql.DB, last int64) (batch []change, lagged bool, err error) {
	rows, err := db.QueryContext(ctx, changesQuery, last)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var c change
		var id []byte
		var oldest int64
		if err := rows.Scan(&c.seq, &id, &oldest); err != nil {
			return nil, false, err
		}
		if oldest > last+1 {
			return nil, true, rows.Close()
		}
		if c.id, err = uuid.FromBytes(id); err != nil {
			return nil, false, fmt.Errorf("change %d: key ID of %d bytes", c.seq, len(id))
		}
		batch = append(batch, c)
	}
	return batch, false, errors.Join(rows.Err(), rows.Close())
}
