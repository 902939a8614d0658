-- Every change to a key that verification could see is announced with
-- NOTIFY, from a trigger, so that it is announced in the transaction that
-- makes it, whoever makes it: the Store, another program, or an operator
-- in psql. PostgreSQL delivers a notification when, and only if, its
-- transaction commits.
--
-- The channel is the schema's name followed by ".keyscope_keys", or, when
-- that is longer than the 63 bytes of a PostgreSQL name,
-- "keyscope_keys_" and the first 32 hex digits of the SHA-256 of the
-- schema's name; pgstore's Go code derives the same name. Two schemas of
-- keyscope in one database so never share a channel.
--
-- The payload is the key's ID in its text form; TRUNCATE sends '*', every
-- key.
CREATE FUNCTION keyscope_keys_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	channel text := TG_TABLE_SCHEMA || '.keyscope_keys';
BEGIN
	IF octet_length(channel) > 63 THEN
		channel := 'keyscope_keys_' || left(encode(sha256(convert_to(TG_TABLE_SCHEMA, 'UTF8')), 'hex'), 32);
	END IF;
	IF TG_OP = 'TRUNCATE' THEN
		PERFORM pg_notify(channel, '*');
	ELSIF TG_OP = 'DELETE' THEN
		PERFORM pg_notify(channel, OLD.id::text);
	ELSE
		PERFORM pg_notify(channel, NEW.id::text);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER keyscope_keys_notify_insert_delete
	AFTER INSERT OR DELETE ON keyscope_keys
	FOR EACH ROW EXECUTE FUNCTION keyscope_keys_notify();

-- An update announces itself only if it changes a column other than
-- last_used_at: recording use (Store.MarkUsed) is frequent, and changes
-- nothing that verification checks.
CREATE TRIGGER keyscope_keys_notify_update
	AFTER UPDATE ON keyscope_keys
	FOR EACH ROW
	WHEN ((OLD.id, OLD.owner, OLD.label, OLD.scopes, OLD.active, OLD.created_at,
	       OLD.expires_at, OLD.cloned_from, OLD.hint, OLD.digest)
	      IS DISTINCT FROM
	      (NEW.id, NEW.owner, NEW.label, NEW.scopes, NEW.active, NEW.created_at,
	       NEW.expires_at, NEW.cloned_from, NEW.hint, NEW.digest))
	EXECUTE FUNCTION keyscope_keys_notify();

CREATE TRIGGER keyscope_keys_notify_truncate
	AFTER TRUNCATE ON keyscope_keys
	FOR EACH STATEMENT EXECUTE FUNCTION keyscope_keys_notify();
