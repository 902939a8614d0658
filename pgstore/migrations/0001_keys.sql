-- keyscope_keys holds one row per API key. It never holds a secret: digest
-- is the algorithm-tagged digest of the secret (apikey.Digest.Bytes).
--
-- The migration runs with search_path set to the Store's schema alone, so
-- every name here is created in that schema.
--
-- IDs are UUIDv7s, which sort by creation time, so the primary key is also
-- the List order, and a verification is one search of the primary key's
-- B-tree. Times are timestamptz, microseconds like the Manager keeps.
--
-- label is bytea, the label's UTF-8 bytes exactly: a label may hold NUL
-- bytes, which PostgreSQL text cannot. (To read labels in psql:
-- convert_from(label, 'UTF8'), which fails on a label holding NUL.)
--
-- owner is the account a key belongs to (apikey.Key.Owner), '' for none,
-- in the "C" collation: owners compare, and sort in the index, byte for
-- byte. The index on (owner, id) holds each owner's keys in List order, so
-- that a page of one owner's keys costs in proportion to the keys it
-- returns: owner = $1 selects the range and id < $2 moves within it.
--
-- fillfactor 90 leaves room on each page, so that recording a key's use
-- (last_used_at, in no index) updates its row in place (a HOT update).
CREATE TABLE keyscope_keys (
	id           uuid        NOT NULL PRIMARY KEY,
	owner        text        COLLATE "C" NOT NULL DEFAULT '',
	label        bytea       NOT NULL,
	scopes       text        NOT NULL,  -- canonical form, apikey.Scopes.String
	active       boolean     NOT NULL,
	created_at   timestamptz NOT NULL,
	last_used_at timestamptz,           -- NULL: never used
	expires_at   timestamptz,           -- NULL: never expires
	cloned_from  uuid,                  -- NULL: not a clone
	hint         text        NOT NULL,
	digest       bytea       NOT NULL
) WITH (fillfactor = 90);

CREATE INDEX keyscope_keys_owner ON keyscope_keys (owner, id);
