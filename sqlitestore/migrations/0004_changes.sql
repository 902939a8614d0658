-- keyscope_changes is the change log that Store.Watch reads: one row per
-- change to a key, written by triggers on keyscope_keys, so that every
-- program writing to the file announces its changes, whether it is a Store
-- of this version, the keyscope command, an older process still running
-- since before the upgrade, or the sqlite3 shell. A watcher remembers the
-- last seq it read and reads the rows after it when PRAGMA data_version
-- says another connection committed.
--
-- seq is the order of commits: SQLite admits one writer at a time, so a
-- row committed later has a larger seq. AUTOINCREMENT makes seq never go
-- back, even if every row were deleted, so that a watcher can never take a
-- new row for one it already read. at is when the change was committed,
-- in Unix microseconds, UTC, for pruning alone.
CREATE TABLE keyscope_changes (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	id  BLOB    NOT NULL,
	at  INTEGER NOT NULL
);

-- A key created, or deleted.
CREATE TRIGGER keyscope_keys_created AFTER INSERT ON keyscope_keys
BEGIN
	INSERT INTO keyscope_changes (id, at)
	VALUES (NEW.id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;

CREATE TRIGGER keyscope_keys_deleted AFTER DELETE ON keyscope_keys
BEGIN
	INSERT INTO keyscope_changes (id, at)
	VALUES (OLD.id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;

-- A key updated: any update that sets a column other than last_used_at.
-- MarkUsed sets last_used_at alone, often, and verification does not read
-- it, so recording it would only make every watcher read the log for
-- nothing. UPDATE OF fires when a listed column is in the SET clause,
-- whether or not its value changes; Store.Update sets label, active and
-- expires_at. A migration that adds a column to keyscope_keys must
-- recreate this trigger with the column in the list. A changed id reports
-- both IDs.
CREATE TRIGGER keyscope_keys_updated
AFTER UPDATE OF id, label, scopes, active, created_at, expires_at, cloned_from, hint, digest, owner ON keyscope_keys
BEGIN
	INSERT INTO keyscope_changes (id, at)
	SELECT OLD.id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)
	WHERE OLD.id IS NOT NEW.id;
	INSERT INTO keyscope_changes (id, at)
	VALUES (NEW.id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;

-- The log keeps five minutes of changes, and never fewer than the newest
-- row. Every 256th change deletes the rows older than five minutes, a
-- prefix of the log in seq order: the subquery walks the log from its
-- oldest row to the first one young enough to keep, so the work is in
-- proportion to the rows deleted, and is done in the writer's own
-- transaction, by whichever program writes, about once every 256 writes.
-- The newest row, the one just inserted, is young enough by construction.
-- A watcher that has not read the log for five minutes (a suspended
-- process) finds the oldest row it has not read gone, seq > last+1, and
-- starts afresh: it cannot know what it missed.
CREATE TRIGGER keyscope_changes_pruned AFTER INSERT ON keyscope_changes
WHEN NEW.seq % 256 = 0
BEGIN
	DELETE FROM keyscope_changes WHERE seq < (
		SELECT seq FROM keyscope_changes
		WHERE at >= NEW.at - 300000000
		ORDER BY seq LIMIT 1);
END;
