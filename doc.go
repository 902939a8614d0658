// Package apikey issues, stores, verifies and scopes API keys for Go web
// applications.
//
// A [Manager] sits on top of a [Store] (memstore for tests and demos,
// sqlitestore for one machine, or your own, checked by the storetest
// conformance suite). It creates keys, shows each plaintext token exactly
// once, keeps only a digest of the secret, and verifies tokens on the hot
// path with one point lookup by key ID and one constant-time comparison:
// a few hundred nanoseconds, whatever the number of keys. Beside it, the
// keyapi package serves a JSON management API, cmd/keyscope is the
// operators' command line, and apikeytest helps applications test their
// handlers and their failure paths.
//
// # Keys
//
// A key has a label, scopes fixed at creation, an active flag that can be
// toggled either way, a creation time, a last-used time, an optional expiry
// and, for clones, the ID of the key it was cloned from. Clone mints a new
// secret with the same label and scopes and leaves the original working;
// Roll clones and makes the original expire after a grace period.
//
// # Accounts
//
// A key belongs to an owner ([Key.Owner]): the account, user or
// organisation the application defines, such as "acct_42", or "" for the
// keys of a single-tenant app. The owner is set at creation, carried by
// clones and rolled keys, and never changes; a handler reads it from the
// verified key ([FromContext]) to scope its queries to that account.
// [Manager.List] lists one owner's keys unless told to list every owner's,
// and stores index keys by owner, so listing one account costs in
// proportion to that account's keys. [Manager.Revoke] deactivates the key
// of a leaked token without needing its ID.
//
// # Token layout
//
// A token is the prefix (default "sk"), an underscore and 72 base62
// characters (0-9, A-Z, a-z), so a double click selects all of it:
//
//	sk_ IIIIIIIIIIIIIIIIIIIIII SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS CCCCCC
//	    key ID (22)            secret (44)                                  checksum (6)
//
// The key ID is the key's UUIDv7 (16 bytes), the secret is 32 bytes (256
// bits) from crypto/rand, and the checksum is the CRC-32 (IEEE) of the 48
// bytes ID||secret. Each 8-byte word of the ID and secret is written as
// exactly 11 base62 digits, most significant first, and the checksum as
// exactly 6, so every token has a single spelling. Verify rejects a token
// with the wrong prefix or length, a character outside base62, or a bad
// checksum before it touches the store, then looks the ID up and compares
// digests in constant time. The display hint is the prefix and the last
// four characters: "sk_…a1b2".
//
// # Digests
//
// Only a digest of the secret is stored, tagged with its algorithm so keys
// keep verifying when an application changes algorithm: SHA-256 (default;
// the secret has 256 random bits, so a fast hash is safe), HMAC-SHA256 with
// a server-side pepper, or Argon2id for policies that demand a slow hash.
// What is digested is the secret and the token prefix of the Manager that
// minted the key, so a token verifies under that prefix only: a token of an
// "sk_test" Manager, re-prefixed "sk_live", is invalid for an "sk_live"
// Manager on the same store. Keys stored before keyscope bound prefixes
// ([Digest.BindsPrefix] false) keep verifying with their tokens, under the
// prefix their Hint names.
// No String, fmt verb, JSON, text or slog output of a [Token], [Digest] or
// [Key] contains a secret or a digest; [Token.Reveal] hands out the
// plaintext on purpose.
//
// # Scopes
//
// A scope is "resource:access", access being read or write ("full" is read
// as write), and write covers read. The resource "*" means every resource,
// including resources added later: full access is "*:write" ([FullAccess]),
// read-only is "*:read" ([ReadOnly]). Lists read as
// "campaigns:read,lists:write"; [ParseScopes] canonicalises them,
// keeping a grant that names a resource even beside a "*" grant
// ("*:write,keys:write"), since some rights, such as managing keys in
// keyapi, must be granted by name ([Scopes.Named]);
// [ParseScopesOrPreset] also accepts the presets "full" and "read-only"
// that forms and command lines offer, and a [Catalog] checks resource
// names, suggesting the close match for a typo.
//
// # HTTP
//
// A [Guard] authenticates requests (Authorization: Bearer or X-API-Key by
// default) and checks scopes: [Guard.Check] decides without writing a
// response, [Guard.MustRequire] wraps one handler, and handlers read the key
// with [FromContext]. A [Router] serves a whole route table: each [Route]
// names its ServeMux pattern (method included), its handler and its
// resource in one entry, so the route that serves a request is the route
// whose requirement it meets; the method chooses read or write unless the
// route declares its access (a POST search that only reads), "include"
// query values add read requirements, and [Router.Routes] lists the scopes
// of every endpoint. [Router.Register] hands the same table to routers such
// as chi. Refusals follow RFC 6750 (401, 403 with the missing scope, 503
// when the store fails), with bodies that never reveal why a key was
// invalid.
//
// # Caching
//
// The Manager keeps verified records in memory, so a store behind a disk or
// a network verifies at memory speed. Changes made through a Manager take
// effect on its very next verification. Changes made elsewhere (another
// instance of the application, an operator's tool) take effect as soon as
// the store reports them, when it is a [Notifier] (pgstore, sqlitestore and
// memstore are) and its reports flow, and otherwise within Options.CacheTTL
// (5 seconds by default). See [Manager.Watching].
//
// # Errors
//
// Verify returns an error wrapping [ErrInvalidKey] for a malformed, unknown
// or wrong-secret token (one error, so callers cannot tell which),
// [ErrInactive] or [ErrExpired] for a correct token of a disabled key, and
// anything else for a store failure, which callers must treat as a refusal.
// The Manager logs store failures through Options.Logger, at most once per
// [StoreFailureLogInterval], counting those it left out, and never a token.
// Every sentinel error and error type of the package is declared in
// errors.go; every scope error is a [*ScopeError], whose Detail method
// words it for the person who wrote the scopes.
//
// # Why the hot path looks the way it does
//
// Verification and the middleware run on every request, in a few hundred
// nanoseconds with no allocation for Verify and two for a middleware round;
// the benchmarks in bench_test.go hold them to it. Several pieces look more
// complicated than their obvious replacements, each for a measured reason,
// and must not be "simplified" back:
//
//   - The key context (context.go): the middleware hands the handler a
//     keyContext pointing at the cache's immutable record instead of
//     calling context.WithValue, which would allocate the value context
//     and a boxed copy of the Key.
//   - The hand-written CRC (token.go): a slicing-by-8 CRC-32 over the
//     token's 48 bytes, since hash/crc32's assembly dispatch makes its
//     input escape to the heap; base62 decoding runs as two independent
//     chains.
//   - The usage filter (usage.go): a direct-mapped, lock-free table of
//     recently noted key IDs lets a hot key skip the tracker's lock; a miss
//     only falls back to the locked path, so no use is lost.
//   - Cache tickets (cache.go): a shard's invalidation count, read before
//     the store and checked before caching, so that a record read before a
//     change can never be cached after it, without holding a lock across
//     the store read.
//   - Exported/unexported pairs (Verify and verify, Check and check,
//     Authenticate and authenticate, Router.Check and route.check): the
//     unexported form returns the shared *Key, or fills a caller's buffer,
//     without copying or allocating; the exported one copies the record and
//     clears its digest for callers outside the package.
//   - Argon2id proofs and the bounds on concurrent Argon2id checks (see
//     [Argon2id] and Manager.checkSlow): the slow hash runs once per cached
//     record, and later checks compare a keyed in-memory proof; a check
//     waits for its key ID's turn (one at a time per ID) before it takes
//     one of GOMAXPROCS slots, so forged tokens for one key ID hold one
//     slot at most, and slow that key only.
package apikey
