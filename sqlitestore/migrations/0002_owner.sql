-- owner is the account a key belongs to (apikey.Key.Owner), '' for none.
-- Every key stored before owners existed gets '', which is what it meant.
-- ADD COLUMN with a constant default rewrites no row (a row written before
-- reads the default), so every record, and every token that verifies
-- against it, stays as it was. TEXT in the default BINARY collation:
-- owners compare byte for byte.
ALTER TABLE keyscope_keys ADD COLUMN owner TEXT NOT NULL DEFAULT '';

-- Listing one owner's keys, newest first, is a range of this index:
-- owner = ? selects the range, id < ? moves the cursor within it, and the
-- range is already in id order, so there is nothing to sort. Each entry
-- leads to its row by primary key, so a page costs in proportion to the
-- keys it returns, however many keys other owners have. (An index of a
-- WITHOUT ROWID table ends with the primary key anyway: naming id costs
-- nothing, and says what the index is for.) Building the index reads the
-- table once, during the upgrade.
CREATE INDEX keyscope_keys_owner ON keyscope_keys (owner, id);
