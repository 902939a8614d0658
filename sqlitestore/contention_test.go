package sqlitestore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuffer is an io.Writer safe for concurrent use, for a test logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// modelKey is what the contention test expects of a key.
type modelKey struct {
	token      string
	label      string
	active     bool
	clonedFrom uuid.UUID
}

// TestContention runs 32 goroutines that create, verify, toggle, rename,
// clone and delete keys through one Manager for a couple of seconds, with
// the cache off so that every verification reads SQLite, while the usage
// flush writes in the background. No operation may fail, "database is
// locked" included, and the file must end up equal to the model the
// goroutines kept.
func TestContention(t *testing.T) {
	const (
		workers  = 32
		duration = 2 * time.Second
		minOps   = 20
	)
	ctx := context.Background()
	s, path := openTemp(t)
	var logged syncBuffer
	m := newManager(t, apikey.Options{
		Store:         s,
		CacheTTL:      -1,
		UsageInterval: 10 * time.Millisecond,
		Logger:        slog.New(slog.NewTextHandler(&logged, nil)),
	})

	// Keys every worker toggles. Their model is exact because a toggle and
	// the check after it hold the key's lock; verifications without the
	// lock only check that the answer is one of the two states.
	type sharedKey struct {
		mu sync.Mutex
		id uuid.UUID
		modelKey
	}
	shared := make([]*sharedKey, 4)
	for i := range shared {
		k, tok, err := m.Create(ctx, apikey.CreateParams{Label: fmt.Sprint("shared ", i)})
		require.NoError(t, err, "Manager.Create")
		shared[i] = &sharedKey{id: k.ID, modelKey: modelKey{token: tok.Reveal(), label: k.Label, active: true}}
	}

	models := make([]map[uuid.UUID]*modelKey, workers)
	deleted := make([][]string, workers)
	errs := make([]error, workers)
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			mine := map[uuid.UUID]*modelKey{}
			models[w] = mine
			var ids []uuid.UUID
			verifyAs := func(tok string, active bool) error {
				_, err := m.Verify(ctx, tok)
				if active && err != nil || !active && !errors.Is(err, apikey.ErrInactive) {
					return fmt.Errorf("Verify active=%v: %v", active, err)
				}
				return nil
			}
			add := func(k apikey.Key, tok apikey.Token) {
				mine[k.ID] = &modelKey{token: tok.Reveal(), label: k.Label, active: true, clonedFrom: k.ClonedFrom}
				ids = append(ids, k.ID)
			}
			for i := 0; i < minOps || time.Now().Before(deadline); i++ {
				var err error
				op := rng.IntN(100)
				if len(ids) == 0 {
					op = 0
				}
				var id uuid.UUID
				var mk *modelKey
				if len(ids) > 0 {
					id = ids[rng.IntN(len(ids))]
					mk = mine[id]
				}
				switch {
				case op < 20:
					k, tok, cerr := m.Create(ctx, apikey.CreateParams{Label: fmt.Sprintf("w%d op%d", w, i)})
					if err = cerr; err == nil {
						add(k, tok)
					}
				case op < 45:
					err = verifyAs(mk.token, mk.active)
				case op < 60:
					if mk.active {
						_, err = m.Deactivate(ctx, id)
					} else {
						_, err = m.Activate(ctx, id)
					}
					mk.active = !mk.active
					if err == nil {
						err = verifyAs(mk.token, mk.active)
					}
				case op < 65:
					mk.label = fmt.Sprintf("w%d renamed at op%d", w, i)
					_, err = m.Rename(ctx, id, mk.label)
				case op < 75:
					k, tok, cerr := m.Clone(ctx, id)
					if err = cerr; err == nil {
						add(k, tok)
					}
				case op < 85:
					err = m.Delete(ctx, id)
					delete(mine, id)
					ids = slices.DeleteFunc(ids, func(x uuid.UUID) bool { return x == id })
					deleted[w] = append(deleted[w], mk.token)
					if err == nil {
						if _, verr := m.Verify(ctx, mk.token); !errors.Is(verr, apikey.ErrInvalidKey) {
							err = fmt.Errorf("Verify after Delete: %v", verr)
						}
					}
				case op < 92:
					sk := shared[rng.IntN(len(shared))]
					sk.mu.Lock()
					if sk.active {
						_, err = m.Deactivate(ctx, sk.id)
					} else {
						_, err = m.Activate(ctx, sk.id)
					}
					sk.active = !sk.active
					if err == nil {
						err = verifyAs(sk.token, sk.active)
					}
					sk.mu.Unlock()
				default:
					sk := shared[rng.IntN(len(shared))]
					if _, verr := m.Verify(ctx, sk.token); verr != nil && !errors.Is(verr, apikey.ErrInactive) {
						err = fmt.Errorf("Verify of a shared key: %v", verr)
					}
				}
				if err != nil {
					errs[w] = fmt.Errorf("worker %d op %d: %w", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err == nil {
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "locked") || strings.Contains(msg, "busy") {
			assert.Fail(t, "SQLITE_BUSY reached a caller: "+msg)
		} else {
			assert.NoError(t, err, "a worker's operation")
		}
	}
	assert.NoError(t, m.Close(), "final usage flush")
	assert.Empty(t, logged.String(), "log of the background usage flush, which must not fail")
	if t.Failed() {
		return
	}

	// The file, reopened, holds exactly the model.
	want := map[uuid.UUID]modelKey{}
	for _, sk := range shared {
		want[sk.id] = sk.modelKey
	}
	for _, mine := range models {
		for id, mk := range mine {
			want[id] = *mk
		}
	}
	s = reopen(t, s, path)
	all, err := s.List(ctx, apikey.ListOptions{})
	require.NoError(t, err, "List after reopening")
	assert.Equal(t, len(want), len(all), "keys in the file, against the model")
	for _, k := range all {
		mk, ok := want[k.ID]
		if !assert.True(t, ok, "file holds key %s (%q), which the model deleted or never made", k.ID, k.Label) {
			continue
		}
		assert.Equal(t, mk.label, k.Label, "label of key %s, against the model", k.ID)
		assert.Equal(t, mk.active, k.Active, "Active of key %s, against the model", k.ID)
		assert.Equal(t, mk.clonedFrom.String(), k.ClonedFrom.String(), "ClonedFrom of key %s, against the model", k.ID)
	}
	check := newManager(t, apikey.Options{Store: s, CacheTTL: -1})
	for id, mk := range want {
		_, err := check.Verify(ctx, mk.token)
		if mk.active {
			assert.NoError(t, err, "after reopening, Verify(%s) of a key active in the model", id)
		} else {
			assert.ErrorIs(t, err, apikey.ErrInactive, "after reopening, Verify(%s) of a key inactive in the model", id)
		}
	}
	var gone int
	for _, toks := range deleted {
		for _, tok := range toks {
			gone++
			_, err := check.Verify(ctx, tok)
			assert.ErrorIs(t, err, apikey.ErrInvalidKey, "after reopening, Verify of a deleted key")
		}
	}
	t.Logf("%d keys, %d deleted", len(want), gone)
}
