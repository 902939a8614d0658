-- keyscope_keys holds one row per API key. It never holds a secret: digest
-- is the algorithm-tagged digest of the secret (apikey.Digest.Bytes).
--
-- IDs are the 16 bytes of a UUIDv7, which sort by creation time, so the
-- primary key is also the List order. WITHOUT ROWID makes the table the
-- primary key's B-tree: a verification is one B-tree search, not two.
CREATE TABLE keyscope_keys (
	id           BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
	label        TEXT    NOT NULL,
	scopes       TEXT    NOT NULL,  -- canonical form, apikey.Scopes.String
	active       INTEGER NOT NULL CHECK (active IN (0, 1)),
	created_at   INTEGER NOT NULL,  -- Unix microseconds, UTC
	last_used_at INTEGER,           -- Unix microseconds, UTC; NULL: never used
	expires_at   INTEGER,           -- Unix microseconds, UTC; NULL: never expires
	cloned_from  BLOB    CHECK (cloned_from IS NULL OR length(cloned_from) = 16),
	hint         TEXT    NOT NULL,
	digest       BLOB    NOT NULL
) WITHOUT ROWID;
