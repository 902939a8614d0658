package apikey

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Defaults of the verification cache; see [Options].
const (
	DefaultCacheTTL         = 5 * time.Second
	DefaultNotifiedCacheTTL = time.Minute
	DefaultNegativeCacheTTL = time.Second
	DefaultCacheSize        = 10000
)

// maxCacheShards bounds how many locks the verification cache spreads over.
const maxCacheShards = 32

// verifyCache keeps the key records Verify read from the store, and the key
// IDs the store did not hold, for a bounded time and in bounded number, so
// that verifying the same key again costs no store read. It holds records as
// stores return them, digest included, and never a secret or a token. It is
// safe for concurrent use.
//
// The Manager invalidates a key's entry after every change it makes to the
// key. Invalidation and filling race: a Verify may read a record from the
// store, lose the CPU while a Deactivate writes the store and invalidates,
// and then insert the record it read, which is now stale. Each shard
// therefore counts its invalidations; a fill takes the count before it reads
// the store and inserts only if the count has not moved since. A fill that
// loses the race is dropped, and the next Verify reads the store again.
//
// How long a record is kept can change while the cache runs: a Manager
// whose store reports changes keeps records longer while the reports flow
// (see Manager.Watching). Every such change goes with a reset, which counts
// as an invalidation in every shard, so that a record is only ever kept for
// the time in force when it was read from the store.
type verifyCache struct {
	ttl        atomic.Int64  // how long put keeps a record, in nanoseconds
	missingTTL time.Duration // <= 0: unknown IDs are not kept
	mask       uint8         // len(shards)-1
	shards     []cacheShard
}

type cacheShard struct {
	mu         sync.RWMutex
	gen        atomic.Uint64 // invalidations so far; changed under mu
	keys       map[uuid.UUID]cachedKey
	missing    map[uuid.UUID]time.Time // unknown ID -> when to forget it
	maxKeys    int
	maxMissing int
	_          [64]byte // keep shards' locks on separate cache lines
}

// cachedKey is a cache entry. key is shared with callers (the request
// context holds it) and is never changed: an update replaces the pointer.
type cachedKey struct {
	key   *Key
	until time.Time
	// proof, for keys with a slow digest (Argon2id), is a keyed hash of
	// the secret that verified against key: see Manager.checkSlow.
	proof *[sumLen]byte
}

// newVerifyCache returns a cache holding at most size records for ttl each,
// and about a quarter as many unknown IDs (at least one per shard) for
// missingTTL each.
func newVerifyCache(ttl, missingTTL time.Duration, size int) *verifyCache {
	// The largest power of two shards, up to maxCacheShards, that gives
	// each at least one record, so that the total never exceeds size.
	n := 1 << (bits.Len(uint(min(size, maxCacheShards))) - 1)
	c := &verifyCache{missingTTL: missingTTL, mask: uint8(n - 1), shards: make([]cacheShard, n)}
	c.ttl.Store(int64(ttl))
	for i := range c.shards {
		sh := &c.shards[i]
		sh.maxKeys = size / n
		sh.maxMissing = max(1, sh.maxKeys/4)
		sh.keys = make(map[uuid.UUID]cachedKey)
		sh.missing = make(map[uuid.UUID]time.Time)
	}
	return c
}

// shard returns id's shard. The last byte of a UUIDv7 is random.
func (c *verifyCache) shard(id uuid.UUID) *cacheShard { return &c.shards[id[15]&c.mask] }

// cacheResult is what the cache knows of a key ID.
type cacheResult uint8

const (
	cacheMiss    cacheResult = iota // nothing, or only an expired entry
	cacheFound                      // a record
	cacheMissing                    // the store did not hold the ID
)

// get returns what the shard knows of id at now.
func (sh *cacheShard) get(id uuid.UUID, now time.Time) (cachedKey, cacheResult) {
	sh.mu.RLock()
	e, ok := sh.keys[id]
	if ok {
		sh.mu.RUnlock()
		if now.Before(e.until) {
			return e, cacheFound
		}
		return cachedKey{}, cacheMiss
	}
	until, ok := sh.missing[id]
	sh.mu.RUnlock()
	if ok && now.Before(until) {
		return cachedKey{}, cacheMissing
	}
	return cachedKey{}, cacheMiss
}

// prove attaches proof to the entry of k.ID if that entry still holds the
// record k, which the secret behind proof has just verified against.
func (c *verifyCache) prove(k *Key, proof [sumLen]byte) {
	sh := c.shard(k.ID)
	sh.mu.Lock()
	if e, ok := sh.keys[k.ID]; ok && e.key == k && e.proof == nil {
		e.proof = &proof
		sh.keys[k.ID] = e
	}
	sh.mu.Unlock()
}

// ticket returns the shard's invalidation count, to be passed to put or
// putMissing after reading the store.
func (sh *cacheShard) ticket() uint64 { return sh.gen.Load() }

// put stores k, read from the store after ticket was taken, until ttl
// after now, unless the shard has seen an invalidation since.
func (c *verifyCache) put(sh *cacheShard, ticket uint64, k *Key, now time.Time) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.gen.Load() != ticket {
		return
	}
	delete(sh.missing, k.ID)
	if _, ok := sh.keys[k.ID]; !ok && len(sh.keys) >= sh.maxKeys {
		evictOne(sh.keys, now, func(e cachedKey) time.Time { return e.until })
	}
	sh.keys[k.ID] = cachedKey{key: k, until: now.Add(time.Duration(c.ttl.Load()))}
}

// putMissing remembers that the store did not hold id, as put does.
func (c *verifyCache) putMissing(sh *cacheShard, ticket uint64, id uuid.UUID, now time.Time) {
	if c.missingTTL <= 0 {
		return
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.gen.Load() != ticket {
		return
	}
	delete(sh.keys, id)
	if _, ok := sh.missing[id]; !ok && len(sh.missing) >= sh.maxMissing {
		evictOne(sh.missing, now, func(until time.Time) time.Time { return until })
	}
	sh.missing[id] = now.Add(c.missingTTL)
}

// evictOne makes room in a full map: it deletes an expired entry if one of
// the first few it looks at has expired, else the first it looked at. Map
// iteration starts at a random place, so this is random eviction, which
// costs O(1) and needs no bookkeeping on the read path.
func evictOne[V any](m map[uuid.UUID]V, now time.Time, until func(V) time.Time) {
	const look = 4
	var victim uuid.UUID
	i := 0
	for id, v := range m {
		if i == 0 {
			victim = id
		}
		if !now.Before(until(v)) {
			victim = id
			break
		}
		if i++; i == look {
			break
		}
	}
	delete(m, victim)
}

// invalidate forgets id, and makes fills that read the store before now
// drop what they read. The Manager calls it after every change it makes to
// a key, whether or not the change succeeded.
func (c *verifyCache) invalidate(id uuid.UUID) {
	sh := c.shard(id)
	sh.mu.Lock()
	sh.gen.Add(1)
	delete(sh.keys, id)
	delete(sh.missing, id)
	sh.mu.Unlock()
}

// reset forgets every record and unknown ID, makes every fill that read the
// store before now drop what it read, and keeps later records for ttl.
func (c *verifyCache) reset(ttl time.Duration) {
	// The new TTL first: a fill that puts between this store and the
	// clearing of its shard is then cleared, and every later fill took its
	// ticket either before the clearing, and is dropped, or after it, and
	// read the store under the new TTL's terms.
	c.ttl.Store(int64(ttl))
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.gen.Add(1)
		clear(sh.keys)
		clear(sh.missing)
		sh.mu.Unlock()
	}
}

// used moves the cached record of id, if any, to LastUsedAt at, as the
// store's MarkUsed just did. It is not an invalidation: LastUsedAt only
// moves forward, and a fill that raced with it at worst leaves the older
// time, which the next flush corrects.
func (c *verifyCache) used(id uuid.UUID, at time.Time) {
	sh := c.shard(id)
	sh.mu.Lock()
	if e, ok := sh.keys[id]; ok && at.After(e.key.LastUsedAt) {
		k := *e.key // copy on write: callers may hold the old record
		k.LastUsedAt = at
		e.key = &k
		sh.keys[id] = e
	}
	sh.mu.Unlock()
}

// len returns the number of records and unknown IDs held, expired or not.
func (c *verifyCache) len() (keys, missing int) {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		keys += len(sh.keys)
		missing += len(sh.missing)
		sh.mu.RUnlock()
	}
	return keys, missing
}
