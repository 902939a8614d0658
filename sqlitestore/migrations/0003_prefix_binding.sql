-- Version 3 changes no table. From this version on, the Manager writes
-- digests whose first byte also carries a flag saying that the digest binds
-- the token prefix (apikey.Digest.BindsPrefix), a byte that version 2 of this
-- package cannot decode. Recording version 3 makes an older keyscope refuse
-- the whole file when it opens it, with its "schema is newer" error, rather
-- than open it and then fail on each new key: one answer, up front, and
-- nothing written. Keys stored before keep their digests, which verify as
-- they did.
SELECT 1;
