package apikey

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Key is the stored record of an API key. It never holds the secret; Digest
// holds the secret's digest and is set only on records a [Store] handles:
// every Key a [Manager] returns has a zero Digest.
//
// Key is a plain value, safe to copy and to read from several goroutines;
// changing a copy never changes what is stored.
type Key struct {
	// ID is the key's public identifier, a UUIDv7. It is part of the token.
	ID uuid.UUID `json:"id"`
	// Owner is the account the key belongs to, an identifier the
	// application defines ("acct_42"), or "" for a key that belongs to no
	// account, as every key of a single-tenant app does. It is set at
	// creation, carried by clones and rolled keys, and never changes, so a
	// handler can scope its queries by the Owner of the verified key
	// ([FromContext]). See [CheckOwner] for what an owner may hold.
	Owner string `json:"owner,omitzero"`
	// Label says what the key is for, for example "shop integration".
	Label string `json:"label"`
	// Scopes is what the key may do. It is fixed at creation.
	Scopes Scopes `json:"scopes"`
	// Active is false once the key is deactivated; it can be reactivated.
	Active bool `json:"active"`
	// CreatedAt is when the key was created, in UTC.
	CreatedAt time.Time `json:"created_at"`
	// LastUsedAt is when the key last verified, accurate to within the
	// Manager's UsageInterval; zero if never.
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	// ExpiresAt is when the key stops verifying; zero if never.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// ClonedFrom is the ID of the key this one was cloned or rolled from,
	// or uuid.Nil.
	ClonedFrom uuid.UUID `json:"cloned_from,omitzero"`
	// Hint is the masked token for display, for example "sk_…a1b2".
	Hint string `json:"hint"`
	// Digest is the digest of the secret, for stores only. It never prints
	// and is never marshaled.
	Digest Digest `json:"-"`
}

// Expired reports whether k's expiry has passed at now.
func (k Key) Expired(now time.Time) bool {
	return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)
}

// LogValue groups the key's safe fields for slog: ID, owner, label, scopes,
// active and hint. It never includes the digest.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", k.ID.String()),
		slog.String("owner", k.Owner),
		slog.String("label", k.Label),
		slog.String("scopes", k.Scopes.String()),
		slog.Bool("active", k.Active),
		slog.String("hint", k.Hint),
	)
}

// MaxLabelLen is the longest label, in bytes, that a key may have.
const MaxLabelLen = 16 << 10

// checkLabel returns an error wrapping ErrInvalidLabel for a label that is
// blank, too long or not UTF-8. Any other text, quotes and NUL bytes
// included, is a valid label and is stored exactly.
func checkLabel(label string) error {
	switch {
	case strings.TrimSpace(label) == "":
		return fmt.Errorf("%w: label is empty", ErrInvalidLabel)
	case len(label) > MaxLabelLen:
		return fmt.Errorf("%w: label is %d bytes, more than %d", ErrInvalidLabel, len(label), MaxLabelLen)
	case !utf8.ValidString(label):
		return fmt.Errorf("%w: label is not valid UTF-8", ErrInvalidLabel)
	}
	return nil
}

// MaxOwnerLen is the longest owner, in bytes, that a key may have.
const MaxOwnerLen = 128

// CheckOwner reports whether owner may be a key's [Key.Owner], with an
// error wrapping ErrInvalidOwner that names the value if not. An owner is at
// most MaxOwnerLen bytes of UTF-8 text without control characters, without
// invisible format characters (zero-width spaces, bidirectional controls,
// byte order marks, soft hyphens, tags: Unicode category Cf) and without
// white space at either end, in any script ("acct_42", "acme",
// "bücher-köln"). Use an identifier that never changes and is never given
// to another account, such as the account's database ID, rather than a
// name or an email address. The empty owner is valid: it is the owner of
// the keys of a single-tenant app, and of every key stored before keys had
// owners. Owners are compared byte for byte, never normalised: "Acme" and
// "acme" are two accounts, so an application that queries its own
// database by owner should compare them byte for byte too.
func CheckOwner(owner string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: owner %s %s", ErrInvalidOwner, quoteClipped(owner), why)
	}
	switch {
	case len(owner) > MaxOwnerLen:
		return bad(fmt.Sprintf("is %d bytes, more than %d", len(owner), MaxOwnerLen))
	case !utf8.ValidString(owner):
		return bad("is not valid UTF-8")
	case strings.IndexFunc(owner, unicode.IsControl) >= 0:
		return bad("holds a control character")
	case strings.IndexFunc(owner, isFormat) >= 0:
		return bad("holds an invisible format character")
	case strings.TrimSpace(owner) != owner:
		return bad("starts or ends with white space")
	}
	return nil
}

func isFormat(r rune) bool { return unicode.Is(unicode.Cf, r) }

// quoteClipped quotes s for an error message, cut to its first 64 bytes.
func quoteClipped(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:max]) + "…"
}

// Options configures a [Manager]. Only Store is required; every other field
// has the default its comment gives.
type Options struct {
	// Store holds the key records. Required.
	Store Store

	// Prefix starts every token, before an underscore: "sk" gives
	// "sk_...". ASCII letters, digits and '_', 1 to 32 characters, not
	// ending in '_'. Default "sk". Tokens with another prefix never verify.
	//
	// A key is bound to the prefix of the Manager that minted it, so a
	// Manager with prefix "sk_live" refuses, as ErrInvalidKey, a token
	// minted under "sk_test" and re-prefixed, even on a shared store. The
	// digest of a key covers its prefix (see [Digest.BindsPrefix]); for a
	// key stored before keyscope bound prefixes, whose digest does not,
	// the prefix its Hint names decides. Changing Prefix therefore
	// invalidates the keys minted under the old one.
	Prefix string

	// Hash is the algorithm for new keys' digests. Default SHA256. Keys
	// stored with another algorithm keep verifying, except HMAC-SHA256 keys
	// when Pepper is not set.
	Hash HashAlgorithm
	// Pepper is the server-side secret for HMACSHA256, at least 32 bytes.
	// Required when Hash is HMACSHA256; keep it out of the database.
	Pepper []byte
	// Argon2 tunes Argon2id when Hash is Argon2id; zero fields take the
	// defaults of [Argon2Params].
	Argon2 Argon2Params

	// Catalog, if set, is the application's resources: Create refuses
	// scopes naming a resource outside it.
	Catalog *Catalog

	// UsageInterval is the granularity of LastUsedAt: the Manager writes a
	// key's last use at most once per interval, in the background, never
	// on the request path. Default one minute; negative disables tracking.
	UsageInterval time.Duration

	// CacheTTL is how long Verify may reuse a key record it read from the
	// store, so that verifying the same key again within it costs no store
	// read. Changes made through this Manager (every method that writes:
	// Create, Clone, Roll, Update, Rename, Activate, Deactivate, Delete)
	// take effect on the very next verification whatever the cache
	// holds; changes made any other way (another process, another
	// Manager, direct writes to the store) take effect within CacheTTL.
	// Expiry is checked on every verification, cached or not. The cache
	// holds records as the store returns them, with the digest of the
	// secret but never the secret or the token, so a wrong secret never
	// verifies. Default DefaultCacheTTL (5s); negative disables the cache.
	//
	// A Store that reports changes (a [Notifier]: pgstore, sqlitestore and
	// memstore are) lifts the last limit: while its reports flow, a change
	// made anywhere takes effect as soon as the store reports it, within a
	// second and typically within milliseconds, and records are kept for
	// NotifiedCacheTTL instead. Whenever the reports stop (the store's
	// connection was lost, say), the Manager drops every cached record and
	// keeps records for CacheTTL again, so that a change is never missed
	// for longer than CacheTTL; once they resume, it drops every record
	// once more, since changes made meanwhile may have gone unreported.
	// See [Manager.Watching].
	CacheTTL time.Duration
	// NotifiedCacheTTL is how long Verify may reuse a key record while the
	// Store's change reports flow (see CacheTTL). It bounds the damage of a
	// report the store lost without noticing. Default
	// DefaultNotifiedCacheTTL (1 minute); negative ignores the store's
	// reports, and keeps records for CacheTTL. Ignored when CacheTTL is
	// negative.
	NotifiedCacheTTL time.Duration
	// CacheSize is the most key records the cache holds; when it is full,
	// adding one evicts another. A record takes about 400 bytes plus its
	// label. Default DefaultCacheSize (10000). Negative sizes are refused.
	CacheSize int
	// NegativeCacheTTL is how long Verify remembers that a key ID is not in
	// the store, so that a flood of well-formed tokens for one made-up ID
	// does not become a flood of store reads. Key IDs are random and are
	// only known once minted, so remembering an unknown one delays no real
	// key. The cache keeps about a quarter of CacheSize unknown IDs, apart
	// from the records, so that made-up IDs never push out real keys.
	// Default DefaultNegativeCacheTTL (1s); negative disables this part of
	// the cache. Ignored when CacheTTL is negative.
	NegativeCacheTTL time.Duration

	// Logger receives the Manager's own failures: a background usage flush
	// that could not be written, and a store that fails during Verify (or
	// a Guard's check, answered 503), logged at most once per
	// StoreFailureLogInterval with the count of the failures left out,
	// the key ID and the store's error, never a token or a secret.
	// Default slog.Default().
	Logger *slog.Logger

	// Now returns the current time. Default time.Now. For tests.
	Now func() time.Time
}

// DefaultPrefix is the token prefix used when Options.Prefix is empty.
const DefaultPrefix = "sk"

// StoreFailureLogInterval is the least time, by the Manager's clock
// (Options.Now), between two records a Manager logs of store failures during
// verification, so that a failing store under load cannot flood the log.
const StoreFailureLogInterval = 10 * time.Second

// Manager creates, verifies and manages API keys on top of a [Store]. It is
// safe for concurrent use. Call Close when done, to stop the background
// usage flush and write what is pending, and to stop watching the store's
// change reports (for pgstore, and sqlitestore made by Open, a database
// connection of its own).
type Manager struct {
	store   Store
	prefix  string
	hasher  *hasher
	catalog *Catalog
	usage   *usageTracker
	cache   *verifyCache  // nil: disabled
	slow    chan struct{} // bounds concurrent Argon2id checks
	turns   keyTurns      // one Argon2id check per key ID at a time

	watch watchState // the store's change reports; see watch.go

	log      *slog.Logger
	failures failureLog
	nowFn    func() time.Time

	closeOnce sync.Once
	closeErr  error
}

// NewManager returns a Manager for opts. It reports an error naming the bad
// option when opts is invalid.
func NewManager(opts Options) (*Manager, error) {
	if opts.Store == nil {
		return nil, errors.New("apikey: Options.Store is required")
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if err := checkPrefix(opts.Prefix); err != nil {
		return nil, err
	}
	h, err := newHasher(opts.Hash, opts.Pepper, opts.Argon2, opts.Prefix)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.UsageInterval == 0 {
		opts.UsageInterval = time.Minute
	}
	if opts.CacheSize < 0 {
		return nil, fmt.Errorf("apikey: Options.CacheSize %d is negative", opts.CacheSize)
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.NegativeCacheTTL == 0 {
		opts.NegativeCacheTTL = DefaultNegativeCacheTTL
	}
	if opts.NotifiedCacheTTL == 0 {
		opts.NotifiedCacheTTL = DefaultNotifiedCacheTTL
	}
	m := &Manager{
		store:   opts.Store,
		prefix:  opts.Prefix,
		hasher:  h,
		catalog: opts.Catalog,
		log:     opts.Logger,
		nowFn:   opts.Now,
		slow:    make(chan struct{}, runtime.GOMAXPROCS(0)),
	}
	n, notifies := opts.Store.(Notifier)
	switch {
	case opts.CacheTTL < 0:
		m.watch.init(fmt.Errorf("apikey: the Manager does not watch the store: its cache is off: %w", errors.ErrUnsupported))
	case !notifies:
		m.watch.init(fmt.Errorf("apikey: the store does not report key changes (%T is not an apikey.Notifier): %w", opts.Store, errors.ErrUnsupported))
	case opts.NotifiedCacheTTL < 0:
		m.watch.init(fmt.Errorf("apikey: the Manager does not watch the store: Options.NotifiedCacheTTL is negative: %w", errors.ErrUnsupported))
	default:
		m.watch.init(nil)
	}
	if opts.CacheTTL > 0 {
		m.cache = newVerifyCache(opts.CacheTTL, opts.NegativeCacheTTL, opts.CacheSize)
		if notifies && opts.NotifiedCacheTTL > 0 {
			m.startWatch(n, opts.CacheTTL, opts.NotifiedCacheTTL)
		}
	}
	if opts.UsageInterval > 0 {
		m.usage = newUsageTracker(opts.UsageInterval)
		go m.usage.run(m.flushLogged)
	}
	return m, nil
}

// Store returns the store the Manager was made with.
func (m *Manager) Store() Store { return m.store }

// Prefix returns the token prefix.
func (m *Manager) Prefix() string { return m.prefix }

// Catalog returns the Catalog the Manager checks new keys' scopes against
// (Options.Catalog), or nil if it has none.
func (m *Manager) Catalog() *Catalog { return m.catalog }

// Now returns the current time by the Manager's clock (Options.Now), in UTC
// at microsecond precision, the precision every Store keeps: the time the
// Manager stamps on the records it writes. Code that checks times against
// the Manager's, such as a handler refusing an expiry in the past, should
// read this clock too.
func (m *Manager) Now() time.Time { return m.nowFn().UTC().Truncate(time.Microsecond) }

// CreateParams describes a new key.
type CreateParams struct {
	// Owner is the account the key belongs to; "" for none. It is checked
	// by [CheckOwner] and never changes afterwards.
	Owner string
	// Label says what the key is for. Required: blank labels are refused.
	Label string
	// Scopes is what the key may do. The zero value means full access;
	// use [ReadOnly] for read-only access or [ParseScopes] for custom
	// access.
	Scopes Scopes
	// ExpiresAt, if not zero, is when the key stops verifying. It must be
	// in the future.
	ExpiresAt time.Time
}

// Create mints a new key. It returns the stored record and the plaintext
// token, which is shown exactly once: keyscope keeps only its digest.
func (m *Manager) Create(ctx context.Context, p CreateParams) (Key, Token, error) {
	if err := checkLabel(p.Label); err != nil {
		return Key{}, Token{}, err
	}
	if err := CheckOwner(p.Owner); err != nil {
		return Key{}, Token{}, err
	}
	if p.Scopes.IsZero() {
		p.Scopes = FullAccess()
	}
	if m.catalog != nil {
		if err := m.catalog.Validate(p.Scopes); err != nil {
			return Key{}, Token{}, err
		}
	}
	now := m.Now()
	if !p.ExpiresAt.IsZero() {
		p.ExpiresAt = p.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !p.ExpiresAt.After(now) {
			return Key{}, Token{}, fmt.Errorf("%w: %s is not in the future", ErrInvalidExpiry, p.ExpiresAt.Format(time.RFC3339Nano))
		}
	}
	return m.mint(ctx, Key{Owner: p.Owner, Label: p.Label, Scopes: p.Scopes, ExpiresAt: p.ExpiresAt, CreatedAt: now})
}

// mint gives k a new ID, secret, digest and hint, stores it, and returns the
// record and token.
func (m *Manager) mint(ctx context.Context, k Key) (Key, Token, error) {
	var p payload
	id, err := uuid.NewV7()
	if err != nil {
		return Key{}, Token{}, fmt.Errorf("apikey: new key id: %w", err)
	}
	p.id = id
	if _, err := rand.Read(p.secret[:]); err != nil {
		return Key{}, Token{}, fmt.Errorf("apikey: reading random secret: %w", err)
	}
	d, err := m.hasher.digest(&p.secret)
	if err != nil {
		return Key{}, Token{}, err
	}
	text := p.format(m.prefix)
	k.ID, k.Active, k.Digest, k.Hint = id, true, d, hintOf(m.prefix, text)
	err = m.store.Create(ctx, k)
	// A new ID cannot be in the cache unless someone guessed it before it
	// existed; make sure anyway that "unknown" is not remembered for it.
	m.invalidate(id)
	if err != nil {
		return Key{}, Token{}, fmt.Errorf("apikey: storing new key: %w", err)
	}
	if k.Owner != "" {
		if err := m.checkStored(ctx, k); err != nil {
			return Key{}, Token{}, err
		}
	}
	k.Digest = Digest{}
	return k, newToken(text, k.Hint), nil
}

// checkStored reads the new key k back and fails closed, deleting it, if
// the store did not keep its owner: a Store written before keys had owners
// would otherwise make every key ownerless, and Verify would hand handlers
// the wrong account. It runs for keys with an owner only; creation is
// rare, and the read is a point lookup.
func (m *Manager) checkStored(ctx context.Context, k Key) error {
	got, err := m.store.Get(ctx, k.ID)
	if err != nil {
		return fmt.Errorf("apikey: reading back new key %s: %w", k.ID, err)
	}
	if got.Owner == k.Owner {
		return nil
	}
	err = fmt.Errorf("%w: it stored new key %s with owner %s, not %s", ErrStoreContract, k.ID, quoteClipped(got.Owner), quoteClipped(k.Owner))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	if derr := m.Delete(ctx, k.ID); derr != nil {
		err = errors.Join(err, fmt.Errorf("apikey: key %s, whose token nobody has seen, could not be deleted: %w", k.ID, derr))
	}
	return err
}

// Get returns the key with the given ID, or an error wrapping ErrNotFound.
func (m *Manager) Get(ctx context.Context, id uuid.UUID) (Key, error) {
	k, err := m.store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Key{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Key{}, fmt.Errorf("apikey: reading key %s: %w", id, err)
	}
	k.Digest = Digest{}
	return k, nil
}

// List returns the keys of one owner, opts.Owner, newest first, or of
// every owner with opts.AllOwners; see [Store.List] for paging with opts.
// An owner that [CheckOwner] refuses, or a negative limit, is an error
// naming it.
func (m *Manager) List(ctx context.Context, opts ListOptions) ([]Key, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	ks, err := m.store.List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("apikey: listing keys: %w", err)
	}
	if !opts.AllOwners {
		// Fail closed with a store that predates owners and ignores the
		// filter: one account must never see another's keys.
		for _, k := range ks {
			if k.Owner != opts.Owner {
				return nil, fmt.Errorf("%w: listing the keys of owner %s, the store returned key %s of owner %s",
					ErrStoreContract, quoteClipped(opts.Owner), k.ID, quoteClipped(k.Owner))
			}
		}
	}
	for i := range ks {
		ks[i].Digest = Digest{}
	}
	return ks, nil
}

// Update changes a key's label, status and expiry in one atomic store write
// and returns the updated record: the non-nil fields of u apply, together or
// not at all. The label rules are those of Create. u.ExpiresAt may set an
// expiry in the future, or remove one with a pointer to the zero time;
// applications that let clients call Update must decide whether a caller may
// extend a key's life. An Update with no fields set returns the key
// unchanged.
func (m *Manager) Update(ctx context.Context, id uuid.UUID, u Update) (Key, error) {
	if u.Label != nil {
		if err := checkLabel(*u.Label); err != nil {
			return Key{}, err
		}
	}
	if u.ExpiresAt != nil && !u.ExpiresAt.IsZero() {
		exp := u.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !exp.After(m.Now()) {
			return Key{}, fmt.Errorf("%w: %s is not in the future", ErrInvalidExpiry, exp.Format(time.RFC3339Nano))
		}
		u.ExpiresAt = &exp
	}
	return m.update(ctx, id, u)
}

// Rename changes a key's label and returns the updated record. The label
// rules are those of Create.
func (m *Manager) Rename(ctx context.Context, id uuid.UUID, label string) (Key, error) {
	if err := checkLabel(label); err != nil {
		return Key{}, err
	}
	return m.update(ctx, id, Update{Label: &label})
}

// Deactivate stops a key from verifying, at once, without deleting it, and
// returns the updated record. Deactivating an inactive key is a no-op.
func (m *Manager) Deactivate(ctx context.Context, id uuid.UUID) (Key, error) {
	f := false
	return m.update(ctx, id, Update{Active: &f})
}

// Activate lets a deactivated key verify again and returns the updated
// record. Activating an active key is a no-op.
func (m *Manager) Activate(ctx context.Context, id uuid.UUID) (Key, error) {
	t := true
	return m.update(ctx, id, Update{Active: &t})
}

func (m *Manager) update(ctx context.Context, id uuid.UUID, u Update) (Key, error) {
	k, err := m.store.Update(ctx, id, u)
	m.invalidate(id)
	if err != nil {
		return Key{}, err
	}
	k.Digest = Digest{}
	return k, nil
}

// Revoke deactivates the key of a leaked token, given the token itself
// rather than the key's ID: what a secret scanner, or an operator woken at
// 3 a.m., holds. The token's secret must match its key's digest, so that
// knowing a key's ID is not enough to revoke it; the key's status and
// expiry do not matter, and revoking a key that is already inactive
// succeeds and changes nothing. It returns the record as deactivated; the
// token stops verifying at once. A token that is malformed, names an
// unknown key or carries the wrong secret gives ErrInvalidKey, as in
// Verify, and so does a token of a key bound to another prefix (see
// Options.Prefix). The store is always read, never the cache.
func (m *Manager) Revoke(ctx context.Context, token string) (Key, error) {
	var p payload
	if !parseToken(m.prefix, token, &p) {
		return Key{}, ErrInvalidKey
	}
	k, err := m.store.Get(ctx, p.id)
	switch {
	case errors.Is(err, ErrNotFound):
		return Key{}, ErrInvalidKey
	case err != nil:
		return Key{}, fmt.Errorf("apikey: reading key %s: %w", p.id, err)
	case k.ID != p.id, !m.mintedHere(&k):
		return Key{}, ErrInvalidKey
	}
	ok := false
	if k.Digest.Algorithm() == Argon2id {
		if ok, err = m.slowMatch(ctx, &k, &p.secret); err != nil {
			return Key{}, err
		}
	} else {
		ok = m.hasher.matches(k.Digest, &p.secret)
	}
	if !ok {
		return Key{}, ErrInvalidKey
	}
	return m.Deactivate(ctx, k.ID)
}

// Delete removes a key; its token stops verifying at once. Deleting an
// unknown key gives an error wrapping ErrNotFound.
func (m *Manager) Delete(ctx context.Context, id uuid.UUID) error {
	err := m.store.Delete(ctx, id)
	m.invalidate(id)
	return err
}

// invalidate makes the next Verify of key id read the store. It runs after
// each change, even a failed one: the store may have applied it anyway.
func (m *Manager) invalidate(id uuid.UUID) {
	if m.cache != nil {
		m.cache.invalidate(id)
	}
}

// Clone mints a new key with a new ID and secret and the same owner, label,
// scopes and expiry as the key with the given ID, recording that ID in ClonedFrom,
// so that a key that expires cannot be cloned into one that outlives it. The
// original is untouched and keeps working. The clone is active. A key that
// has expired cannot be cloned (an error wrapping ErrExpired); an unknown ID
// gives an error wrapping ErrNotFound.
func (m *Manager) Clone(ctx context.Context, id uuid.UUID) (Key, Token, error) {
	_, k, tok, err := m.cloneOf(ctx, id)
	return k, tok, err
}

// cloneOf is the minting step of Clone and Roll: it reads the key id, which
// must not have expired, and mints its clone. It returns the source record
// and the clone with its token.
func (m *Manager) cloneOf(ctx context.Context, id uuid.UUID) (src, clone Key, tok Token, err error) {
	src, err = m.store.Get(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return Key{}, Key{}, Token{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	case err != nil:
		return Key{}, Key{}, Token{}, fmt.Errorf("apikey: reading key %s: %w", id, err)
	case src.Expired(m.nowFn()):
		return Key{}, Key{}, Token{}, fmt.Errorf("%w: key %s cannot be cloned or rolled", ErrExpired, id)
	}
	clone, tok, err = m.mint(ctx, Key{Owner: src.Owner, Label: src.Label, Scopes: src.Scopes, ExpiresAt: src.ExpiresAt, ClonedFrom: src.ID, CreatedAt: m.Now()})
	return src, clone, tok, err
}

// undoTimeout bounds the store writes that undo a failed Roll.
const undoTimeout = 10 * time.Second

// Roll clones the key with the given ID and makes the original expire after
// grace (zero: at once), so that clients can move to the new token. The new
// key takes the expiry the original had before the roll, if any; an
// original that already expires sooner than grace keeps its earlier expiry.
// It returns the new key and its token. A key that has expired cannot be
// rolled (ErrExpired); an unknown ID gives ErrNotFound.
//
// Roll is all or nothing. When the original cannot be given its new expiry,
// Roll puts the original's expiry back as it was (the failed write may have
// been applied all the same), deletes the clone, whose token nobody has
// seen, and returns the error. Only if the store fails again while undoing
// can part of the roll remain; the error then names what is left.
func (m *Manager) Roll(ctx context.Context, id uuid.UUID, grace time.Duration) (Key, Token, error) {
	if grace < 0 {
		return Key{}, Token{}, fmt.Errorf("apikey: roll grace period %s is negative", grace)
	}
	src, k, tok, err := m.cloneOf(ctx, id)
	if err != nil {
		return Key{}, Token{}, err
	}
	exp := k.CreatedAt.Add(grace)
	if !src.ExpiresAt.IsZero() && src.ExpiresAt.Before(exp) {
		exp = src.ExpiresAt
	}
	if _, err := m.update(ctx, id, Update{ExpiresAt: &exp}); err != nil {
		err = fmt.Errorf("apikey: rolling key %s: setting its expiry: %w", id, err)
		return Key{}, Token{}, errors.Join(err, m.undoRoll(ctx, src, k.ID))
	}
	return k, tok, nil
}

// undoRoll restores the expiry of the rolled key src and deletes its clone.
// It gets a context of its own, since the caller's may be what failed, and
// returns what it could not undo.
func (m *Manager) undoRoll(ctx context.Context, src Key, clone uuid.UUID) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	var errs []error
	if _, err := m.update(ctx, src.ID, Update{ExpiresAt: &src.ExpiresAt}); err != nil && !errors.Is(err, ErrNotFound) {
		errs = append(errs, fmt.Errorf("apikey: key %s may keep the expiry of the failed roll: %w", src.ID, err))
	}
	if err := m.Delete(ctx, clone); err != nil && !errors.Is(err, ErrNotFound) {
		errs = append(errs, fmt.Errorf("apikey: the unused clone %s could not be deleted: %w", clone, err))
	}
	return errors.Join(errs...)
}

// Verify checks a token and returns its key. The error wraps ErrInvalidKey
// for a token that is malformed, unknown or has the wrong secret (one error
// for all three), ErrInactive for a deactivated key and ErrExpired for an
// expired one; the last two are only reported for a correct secret. Any
// other error is a failure of the store: callers must treat it as "not
// verified" (fail closed) and typically answer 503.
//
// A malformed token is rejected by its checksum before any store lookup.
// Verify does one point lookup by key ID, answered from the cache (see
// Options.CacheTTL) or the store, and one constant-time digest comparison;
// its cost does not grow with the number of keys.
func (m *Manager) Verify(ctx context.Context, token string) (Key, error) {
	var buf Key
	return public(m.verify(ctx, token, &buf))
}

// public returns a copy of the record k for a caller outside the package,
// without its digest.
func public(k *Key, err error) (Key, error) {
	if err != nil {
		return Key{}, err
	}
	out := *k
	out.Digest = Digest{}
	return out, nil
}

// verify is Verify returning the record itself, digest included: a record
// shared by the cache, which nobody may change, or buf filled from the store
// (a new Key if buf is nil).
func (m *Manager) verify(ctx context.Context, token string, buf *Key) (*Key, error) {
	var p payload
	if !parseToken(m.prefix, token, &p) {
		return nil, ErrInvalidKey
	}
	now := m.nowFn()
	k, proof, err := m.lookup(ctx, p.id, now, buf)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, ErrInvalidKey
		}
		m.logStoreFailure(ctx, p.id, err)
		return nil, fmt.Errorf("apikey: verifying key: %w", err)
	}
	if k.ID != p.id || !m.mintedHere(k) {
		return nil, ErrInvalidKey
	}
	if k.Digest.Algorithm() == Argon2id {
		ok, err := m.checkSlow(ctx, k, proof, &p.secret)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, ErrInvalidKey
		}
	} else if !m.hasher.matches(k.Digest, &p.secret) {
		return nil, ErrInvalidKey
	}
	if !k.Active {
		return nil, ErrInactive
	}
	if k.Expired(now) {
		return nil, ErrExpired
	}
	if m.usage != nil {
		m.usage.note(k.ID, k.LastUsedAt, now)
	}
	return k, nil
}

// mintedHere reports whether k was minted under the Manager's prefix: its
// digest binds the prefix, which matching the secret then checks, or, for
// a key stored before digests bound prefixes, its hint names the prefix.
func (m *Manager) mintedHere(k *Key) bool {
	return k.Digest.BindsPrefix() || hintUnder(k.Hint, m.prefix)
}

// lookup returns the record of key id from the cache or, failing that,
// from the store, and caches what the store says. A record from the cache
// is shared and must not be changed; one from the store is written to buf
// (a new Key if buf is nil) when there is no cache.
func (m *Manager) lookup(ctx context.Context, id uuid.UUID, now time.Time, buf *Key) (*Key, *[sumLen]byte, error) {
	c := m.cache
	if c == nil {
		k, err := m.store.Get(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		if buf == nil {
			buf = new(Key)
		}
		*buf = k
		return buf, nil, nil
	}
	sh := c.shard(id)
	switch e, res := sh.get(id, now); res {
	case cacheFound:
		return e.key, e.proof, nil
	case cacheMissing:
		return nil, nil, ErrNotFound
	}
	ticket := sh.ticket()
	k, err := m.store.Get(ctx, id)
	switch {
	case err == nil:
		kp := &k
		if k.ID == id {
			c.put(sh, ticket, kp, now)
		}
		return kp, nil, nil
	case errors.Is(err, ErrNotFound):
		c.putMissing(sh, ticket, id, now)
	}
	return nil, nil, err
}

// failureLog rate-limits the records of store failures during
// verification. It is safe for concurrent use.
type failureLog struct {
	mu         sync.Mutex
	next       time.Time // no record before
	suppressed int       // failures not logged since the last record
}

// logStoreFailure logs that the store failed, with err, to read key id for a
// verification: at once if the Manager has not logged such a failure for
// StoreFailureLogInterval, and otherwise only by counting it for the next
// record. The token is never logged, and the store never saw it: it is
// given the key ID only. A store that gave up because ctx ended (the client
// hung up, or its deadline passed) did not fail, and nothing is logged.
func (m *Manager) logStoreFailure(ctx context.Context, id uuid.UUID, err error) {
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
		return
	}
	now := m.nowFn()
	f := &m.failures
	f.mu.Lock()
	if now.Before(f.next) {
		f.suppressed++
		f.mu.Unlock()
		return
	}
	n := f.suppressed
	f.suppressed, f.next = 0, now.Add(StoreFailureLogInterval)
	f.mu.Unlock()
	m.log.LogAttrs(ctx, slog.LevelError, "apikey: verification failed: the store could not read the key",
		slog.String("key_id", id.String()), slog.Any("err", err), slog.Int("suppressed", n))
}

// checkSlow checks secret against k's slow (Argon2id) digest. Argon2id costs
// milliseconds and megabytes, and anyone can build a well-formed token for a
// known key ID, so it is kept off the hot path twice over:
//
//   - Once a secret has verified against a cached record, the cache keeps a
//     proof: HMAC-SHA256 of the secret and the prefix binding under a key
//     made at random for this Manager and never stored. Later
//     verifications of that record compare proofs instead, in constant
//     time: the right secret passes and any other fails, both at HMAC
//     speed.
//   - Without a proof, each key ID gets one Argon2id computation at a time,
//     and at most GOMAXPROCS run at once in a Manager (see slowMatch), so
//     forged tokens cannot exhaust memory, and forged tokens for one key
//     ID cost that key, not every key. Waiting honours ctx.
func (m *Manager) checkSlow(ctx context.Context, k *Key, proof *[sumLen]byte, secret *[secretLen]byte) (bool, error) {
	if m.cache != nil {
		var got [sumLen]byte
		m.hasher.prove(secret, &got)
		if proof != nil {
			return subtle.ConstantTimeCompare(proof[:], got[:]) == 1, nil
		}
		ok, err := m.slowMatch(ctx, k, secret)
		if ok {
			m.cache.prove(k, got)
		}
		return ok, err
	}
	return m.slowMatch(ctx, k, secret)
}

// Test hooks: testHookSlowMatch runs before each Argon2id computation, in
// its global slot; testHookTurnWait runs when a slow check must wait for
// its key's turn. Tests count and hold slow checks with them.
var (
	testHookSlowMatch = func(*Manager, uuid.UUID) {}
	testHookTurnWait  = func(*Manager, uuid.UUID) {}
)

// slowMatch checks secret against k's Argon2id digest. It first waits for
// k's turn, since a key ID gets one computation at a time, and only then for
// one of the Manager's GOMAXPROCS slots: a flood of forged tokens for one
// key ID queues on that ID and holds one slot at most, leaving the others to
// every other key.
func (m *Manager) slowMatch(ctx context.Context, k *Key, secret *[secretLen]byte) (bool, error) {
	t, err := m.turns.take(ctx, m, k.ID)
	if err != nil {
		return false, fmt.Errorf("apikey: waiting to verify key %s: %w", k.ID, err)
	}
	defer m.turns.give(k.ID, t)
	select {
	case m.slow <- struct{}{}:
	case <-ctx.Done():
		return false, fmt.Errorf("apikey: waiting to verify key %s: %w", k.ID, ctx.Err())
	}
	defer func() { <-m.slow }()
	testHookSlowMatch(m, k.ID)
	return m.hasher.matches(k.Digest, secret), nil
}

// keyTurns gives each key ID one slow check at a time. It keeps state only
// for the IDs with a check running or waiting, so it holds no more entries
// than there are goroutines in slowMatch. It is safe for concurrent use.
type keyTurns struct {
	mu  sync.Mutex
	ids map[uuid.UUID]*keyTurn
}

// keyTurn is the turn of one key ID: whoever has put a token in ch holds
// it. refs counts the holder and the waiters, under keyTurns.mu; the entry
// is deleted when it drops to zero.
type keyTurn struct {
	ch   chan struct{}
	refs int
}

// take waits for the turn of key id, or for ctx to be done, and returns
// the turn to give back.
func (ts *keyTurns) take(ctx context.Context, m *Manager, id uuid.UUID) (*keyTurn, error) {
	ts.mu.Lock()
	if ts.ids == nil {
		ts.ids = make(map[uuid.UUID]*keyTurn)
	}
	t := ts.ids[id]
	if t == nil {
		t = &keyTurn{ch: make(chan struct{}, 1)}
		ts.ids[id] = t
	}
	t.refs++
	ts.mu.Unlock()
	select {
	case t.ch <- struct{}{}:
		return t, nil
	default:
	}
	testHookTurnWait(m, id)
	select {
	case t.ch <- struct{}{}:
		return t, nil
	case <-ctx.Done():
		ts.leave(id, t)
		return nil, ctx.Err()
	}
}

// give ends the turn t of key id that take returned.
func (ts *keyTurns) give(id uuid.UUID, t *keyTurn) {
	<-t.ch
	ts.leave(id, t)
}

// leave drops a reference to t, and forgets id once nobody holds or waits
// for its turn.
func (ts *keyTurns) leave(id uuid.UUID, t *keyTurn) {
	ts.mu.Lock()
	if t.refs--; t.refs == 0 {
		delete(ts.ids, id)
	}
	ts.mu.Unlock()
}

// len returns the number of key IDs with a slow check running or waiting.
func (ts *keyTurns) len() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.ids)
}

// Flush writes pending last-used times to the store now. The Manager also
// flushes in the background once per UsageInterval and on Close.
func (m *Manager) Flush(ctx context.Context) error {
	if m.usage == nil {
		return nil
	}
	uses := m.usage.take()
	if len(uses) == 0 {
		return nil
	}
	if err := m.store.MarkUsed(ctx, uses); err != nil {
		m.usage.requeue(uses)
		return fmt.Errorf("apikey: recording the use of %d keys: %w", len(uses), err)
	}
	if m.cache != nil {
		// Let cached records show what was just written, so that their
		// next verifications see a recent LastUsedAt and skip the tracker.
		for _, u := range uses {
			m.cache.used(u.ID, u.At)
		}
	}
	return nil
}

func (m *Manager) flushLogged() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Flush(ctx); err != nil {
		m.log.Error("apikey: background usage flush failed", "err", err)
	}
}

// Close stops the background usage flush and writes what is pending, and
// stops watching the store's change reports (see [Manager.Watching]). It
// does not close the Store, which the caller owns. After Close, keys still
// verify, cached for Options.CacheTTL, but their use is no longer recorded.
// Close is idempotent.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		m.stopWatch()
		if m.usage == nil {
			return
		}
		m.usage.stop()
		m.usage.disable()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		m.closeErr = m.Flush(ctx)
	})
	return m.closeErr
}
