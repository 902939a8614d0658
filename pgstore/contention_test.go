package pgstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// modelKey is what the contention test's model knows of a key.
type modelKey struct {
	token, owner, label string
	active              bool
	clonedFrom          uuid.UUID
}

// TestTwoInstancesAgreeWithModel runs 32 workers over two Stores, each
// with a pool of its own on one schema (two instances of an application),
// each behind a Manager without a cache. Every worker creates, verifies
// (through either instance), toggles, clones and deletes keys of its own,
// keeping a model of them; at the end the table must hold exactly the
// union of the models.
func TestTwoInstancesAgreeWithModel(t *testing.T) {
	ctx := context.Background()
	a, b, _ := openTwo(t)
	managers := []*apikey.Manager{
		newManager(t, apikey.Options{Store: a, CacheTTL: -1}),
		newManager(t, apikey.Options{Store: b, CacheTTL: -1}),
	}
	const workers, ops = 32, 30
	owners := []string{"", "acct_1", "東京"}
	models := make([]map[uuid.UUID]*modelKey, workers)
	var wg sync.WaitGroup
	for w := range workers {
		models[w] = map[uuid.UUID]*modelKey{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			mine := models[w]
			pick := func() (uuid.UUID, *modelKey) {
				ids := make([]uuid.UUID, 0, len(mine))
				for id := range mine {
					ids = append(ids, id)
				}
				sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
				id := ids[rng.IntN(len(ids))]
				return id, mine[id]
			}
			for i := range ops {
				m := managers[rng.IntN(2)]
				op := rng.IntN(6)
				if len(mine) == 0 {
					op = 0
				}
				switch op {
				case 0: // create
					owner := owners[rng.IntN(len(owners))]
					label := fmt.Sprintf("worker %d key %d", w, i)
					k, tok, err := m.Create(ctx, apikey.CreateParams{Owner: owner, Label: label})
					if !assert.NoError(t, err, "worker %d: Create", w) {
						return
					}
					mine[k.ID] = &modelKey{token: tok.Reveal(), owner: owner, label: label, active: true}
				case 1, 2: // verify, through either instance
					id, mk := pick()
					got, err := m.Verify(ctx, mk.token)
					if mk.active {
						if assert.NoError(t, err, "worker %d: Verify of active key %s", w, id) {
							assert.Equal(t, id, got.ID, "worker %d: key Verify gives", w)
							assert.Equal(t, mk.owner, got.Owner, "worker %d: owner Verify gives", w)
						}
					} else {
						assert.ErrorIs(t, err, apikey.ErrInactive, "worker %d: Verify of inactive key %s", w, id)
					}
				case 3: // toggle
					id, mk := pick()
					var err error
					if mk.active {
						_, err = m.Deactivate(ctx, id)
					} else {
						_, err = m.Activate(ctx, id)
					}
					if assert.NoError(t, err, "worker %d: toggling %s", w, id) {
						mk.active = !mk.active
					}
				case 4: // clone
					id, mk := pick()
					c, tok, err := m.Clone(ctx, id)
					if assert.NoError(t, err, "worker %d: Clone of %s", w, id) {
						mine[c.ID] = &modelKey{token: tok.Reveal(), owner: mk.owner, label: mk.label, active: true, clonedFrom: id}
					}
				case 5: // delete
					id, mk := pick()
					if assert.NoError(t, m.Delete(ctx, id), "worker %d: Delete of %s", w, id) {
						delete(mine, id)
						_, err := managers[rng.IntN(2)].Verify(ctx, mk.token)
						assert.ErrorIs(t, err, apikey.ErrInvalidKey, "worker %d: Verify of deleted key %s", w, id)
					}
				}
			}
		}()
	}
	wg.Wait()
	want := map[uuid.UUID]*modelKey{}
	for _, m := range models {
		for id, mk := range m {
			want[id] = mk
		}
	}
	for name, s := range map[string]apikey.Store{"instance a": a, "instance b": b} {
		ks, err := s.List(ctx, apikey.ListOptions{AllOwners: true})
		require.NoError(t, err, "List through %s", name)
		got := map[uuid.UUID]bool{}
		for _, k := range ks {
			got[k.ID] = true
			mk, ok := want[k.ID]
			if !assert.True(t, ok, "%s: key %s (%q) is stored but not in the model", name, k.ID, k.Label) {
				continue
			}
			assert.Equal(t, mk.owner, k.Owner, "%s: owner of %s", name, k.ID)
			assert.Equal(t, mk.label, k.Label, "%s: label of %s", name, k.ID)
			assert.Equal(t, mk.active, k.Active, "%s: active flag of %s", name, k.ID)
			assert.Equal(t, mk.clonedFrom, k.ClonedFrom, "%s: ClonedFrom of %s", name, k.ID)
		}
		for id := range want {
			assert.True(t, got[id], "%s: key %s of the model is not stored", name, id)
		}
	}
}
