package apikey

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Store persists key records. keyscope ships memstore (in memory) and
// sqlitestore (SQLite); the storetest package holds the conformance suite
// that every implementation, ours or a third party's, must pass.
//
// A Store holds records, never secrets: a [Key] carries only the [Digest] of
// its secret. Every method takes a context first and must honour its
// cancellation. Errors are for failures of the store itself and for the
// outcomes named below (ErrNotFound, ErrDuplicateID); a Store never returns
// ErrInvalidKey, ErrInactive or ErrExpired, which are the Manager's business.
//
// Records passed in and returned are values: a Store must not keep a
// reference into a Key it was given, and a Key it returns must be a copy, so
// that a caller mutating it never changes what is stored. (Key's fields are
// strings, times, UUIDs and the immutable Scopes and Digest, so a plain
// struct copy is enough.)
//
// Times must read back equal to what was written, at microsecond precision
// at least; the Manager truncates every time it writes to whole microseconds,
// so stores may truncate to microseconds too. Times read back are in UTC.
//
// Implementations must be safe for concurrent use by multiple goroutines, and
// each method must be atomic: a concurrent Get sees a record either wholly
// before or wholly after an Update.
type Store interface {
	// Create stores a new record. It returns an error wrapping
	// ErrDuplicateID, and stores nothing, if a record with k.ID exists
	// (whatever its other fields).
	Create(ctx context.Context, k Key) error

	// Get returns the record with the given ID, or an error wrapping
	// ErrNotFound. It is on the verification hot path: it should be a point
	// lookup whose cost does not grow with the number of keys.
	Get(ctx context.Context, id uuid.UUID) (Key, error)

	// List returns the records whose Owner is opts.Owner (exactly, byte for
	// byte; "" selects the keys without an owner), or with opts.AllOwners
	// every record whatever its owner, newest first, that is in descending
	// ID order (IDs are UUIDv7, which sort by creation time). With
	// opts.Before set, it returns only records whose ID sorts strictly
	// before it, so that the last ID of one page is the cursor of the next;
	// the cursor need not be a record of the owner listed. With
	// opts.Limit > 0 it returns at most that many. An owner with no
	// records, or an empty store, gives an empty slice and no error.
	//
	// Listing one owner costs in proportion to the records returned, not to
	// every record stored: stores keep an index by owner and ID.
	List(ctx context.Context, opts ListOptions) ([]Key, error)

	// Update applies the non-nil fields of u to the record with the given ID
	// atomically and returns the record as it is after the change. A record
	// that does not exist gives an error wrapping ErrNotFound. An Update
	// with no fields set returns the current record unchanged. There is no
	// way to change a key's scopes, digest, ID or creation time.
	//
	// Concurrent Updates of the same record are serialised: each applies
	// wholly, and the last to apply wins field by field.
	Update(ctx context.Context, id uuid.UUID, u Update) (Key, error)

	// Delete removes the record with the given ID. Deleting a record that
	// does not exist gives an error wrapping ErrNotFound and changes
	// nothing. A deleted ID is never reused.
	Delete(ctx context.Context, id uuid.UUID) error

	// MarkUsed records that keys were used, setting each named record's
	// LastUsedAt to the given time if that is later than the stored one (it
	// never moves backwards). IDs that do not exist (the key was deleted
	// meanwhile) are skipped without error. It is called in batches from a
	// background flush, not per request.
	MarkUsed(ctx context.Context, uses []Use) error
}

// ListOptions selects a page of records for Store.List and Manager.List.
// The zero value lists the keys without an owner: listing is confined to one
// owner unless AllOwners says otherwise, so that forgetting the owner never
// shows one account another's keys.
type ListOptions struct {
	// Owner selects the keys of one owner, compared byte for byte; ""
	// selects the keys without an owner. Ignored when AllOwners is set.
	Owner string
	// AllOwners lists every key whatever its owner, for operators' tools.
	AllOwners bool
	// Before, if not uuid.Nil, returns only keys whose ID sorts before it:
	// pass the ID of the last key of the previous page.
	Before uuid.UUID
	// Limit, if positive, is the most keys returned. Zero means no limit.
	Limit int
}

// check returns an error naming the first bad field of o.
func (o ListOptions) check() error {
	if o.Limit < 0 {
		return fmt.Errorf("apikey: ListOptions.Limit %d is negative", o.Limit)
	}
	if o.AllOwners {
		if o.Owner != "" {
			return fmt.Errorf("apikey: ListOptions sets both AllOwners and Owner %s", quoteClipped(o.Owner))
		}
		return nil
	}
	return CheckOwner(o.Owner)
}

// Update names the fields of a record to change: a nil field is left as it
// is. Scopes are deliberately absent: they are fixed at creation.
type Update struct {
	Label  *string
	Active *bool
	// ExpiresAt sets the expiry; a pointer to the zero time removes it.
	ExpiresAt *time.Time
}

// Use is one entry of a Store.MarkUsed batch.
type Use struct {
	ID uuid.UUID
	At time.Time
}

// Notifier is implemented by a Store that can tell its watchers, within
// moments, which of its records changed, whoever changed them: another
// process, another Manager, or an operator's tool. A [Manager] whose Store is
// a Notifier watches it, and drops a key from its verification cache as soon
// as the store reports a change to it, so that a key deactivated or deleted
// on one instance of an application stops verifying on every instance at
// once rather than within [Options.CacheTTL]. pgstore implements it with
// PostgreSQL's LISTEN/NOTIFY, sqlitestore with a change log, and memstore in
// memory. A third-party store may implement it too; the storetest suite
// checks it whenever a store does.
//
// Watch reports changes to w until ctx is done. It returns only then, with
// ctx's error, or when the Store is closed, with an error wrapping
// ErrClosed; a Store that cannot watch in the configuration it was made
// with returns an error wrapping errors.ErrUnsupported at once, without
// calling w. Failures to reach the store's backend are not returned: Watch
// reports them with Watching(false) and keeps trying until it can listen
// again. Watch may be called any number of times, concurrently; each call
// reports every change to its own Watcher.
//
// The calls Watch makes to w follow these rules, on which a watcher's
// correctness rests:
//
//   - Calls are made one at a time, in order, and none after Watch returns.
//     A Watcher's methods must return quickly, and must not call the Store.
//   - Watching(true) says that the store is listening: every change
//     committed after the call, and possibly some committed before it, will
//     be reported with Changed until Watching(false) is called or Watch
//     returns. It is the first call Watch makes to w, once it listens.
//     A Get made after the call sees every change committed before it.
//   - Watching(false) says that the store has stopped listening (its
//     connection was lost, say) and that changes made from now on may go
//     unreported. A store must call it as soon as it can no longer vouch
//     that a change will be reported within a second: when its connection
//     fails, and also when it hangs (a poll or a read that does not
//     return counts, not only an error). Where a loss can only be found
//     by asking (a network path dropped without a word), the store must
//     ask often enough to find it within a few seconds, sooner than
//     DefaultCacheTTL. Watch keeps trying, and calls
//     Watching(true) once it listens again. Changes made in between may
//     never be reported: a watcher that keeps state must treat all of it
//     as stale when Watching(true) follows Watching(false).
//   - Changed(id) says that the record with that ID was created, updated
//     or deleted. It is called after the change is committed, so that a
//     Get made after it sees the change (or a later one). A store may
//     report a change more than once, and may report IDs that did not
//     change. Changes made by MarkUsed need not be reported, and are best
//     not: they are frequent and change nothing that verification checks.
//
// A store should report a change within a second of its commit, and
// typically within milliseconds.
//
// A Store that wraps another, to log or count its calls say, is a Notifier
// only if it says so: forward Watch to the wrapped store when it is one
// (returning an error wrapping errors.ErrUnsupported when it is not), or
// the Manager falls back to keeping records for Options.CacheTTL.
type Notifier interface {
	Watch(ctx context.Context, w Watcher) error
}

// Watcher receives the reports of [Notifier.Watch]; see there for the rules
// its calls follow. A Manager is a watcher of its own store's reports, and
// implementations need not be safe for concurrent use, since a Watch calls
// them one at a time.
type Watcher interface {
	// Watching reports that the store started (true) or stopped (false)
	// listening for changes.
	Watching(listening bool)
	// Changed reports that the record with ID id changed.
	Changed(id uuid.UUID)
}
