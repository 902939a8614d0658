package memstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/storetest"
	"github.com/stretchr/testify/require"
)

// modelOwners are owners that differ by a byte, by case or by a space.
var modelOwners = []string{"", "a", "a ", "A", "acct_1", "acct_10", "東京"}

// modelID returns a UUIDv7-like increasing ID or a random one.
func modelID(rng *rand.Rand, seq *uint64) uuid.UUID {
	var id uuid.UUID
	switch rng.IntN(3) {
	case 0: // monotone (UUIDv7-like)
		*seq += 1 + uint64(rng.IntN(3))
		for b := range 8 {
			id[7-b] = byte(*seq >> (8 * b))
		}
		id[8] = byte(rng.IntN(256))
	default: // random
		for i := range id {
			id[i] = byte(rng.IntN(256))
		}
	}
	return id
}

// wantModel is what the Store contract says List(o) returns from model.
func wantModel(model map[uuid.UUID]apikey.Key, o apikey.ListOptions) []apikey.Key {
	var out []apikey.Key
	for _, k := range model {
		if (o.AllOwners || k.Owner == o.Owner) && (o.Before == uuid.Nil || bytes.Compare(k.ID[:], o.Before[:]) < 0) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b apikey.Key) int { return bytes.Compare(b.ID[:], a.ID[:]) })
	if o.Limit > 0 && len(out) > o.Limit {
		out = out[:o.Limit]
	}
	return out
}

// checkInvariants checks x's chunks: sorted, none empty or over
// maxChunk, no two neighbours small enough to merge, n counted right.
func checkInvariants[V any](t *testing.T, x *index[V], what string) {
	t.Helper()
	n := 0
	var prev *uuid.UUID
	for i, c := range x.chunks {
		if len(c) == 0 || len(c) > maxChunk {
			require.FailNowf(t, "memstore differs from the model", "%s: chunk %d has %d entries", what, i, len(c))
		}
		if i > 0 && len(x.chunks[i-1])+len(c) <= maxChunk/2 {
			require.FailNowf(t, "memstore differs from the model", "%s: chunks %d,%d hold %d together", what, i-1, i, len(x.chunks[i-1])+len(c))
		}
		for j := range c {
			if prev != nil && compareIDs(*prev, c[j].id) >= 0 {
				require.FailNowf(t, "memstore differs from the model", "%s: unsorted at chunk %d", what, i)
			}
			prev = &c[j].id
		}
		n += len(c)
	}
	if n != x.n {
		require.FailNowf(t, "memstore differs from the model", "%s: n=%d, counted %d", what, x.n, n)
	}
}

// TestAgainstModel runs long random sequences of every Store method, in
// waves that grow and shrink the store so that index chunks split and
// merge and owners' blocks fill and empty, against a plain map filtered and
// sorted on each List, and compares every record returned.
func TestAgainstModel(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(seed, 99))
			s := New()
			model := map[uuid.UUID]apikey.Key{}
			var live, dead []uuid.UUID
			var seq uint64
			target := []int{50, 600, 3000}[seed%3]
			pickLive := func() uuid.UUID { return live[rng.IntN(len(live))] }
			base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for step := range 12000 {
				op := rng.IntN(100)
				// Grow, then shrink, in waves.
				grow := (step/3000)%2 == 0
				switch {
				case op < 30 && (grow || len(live) < target/10) || len(live) == 0:
					k := apikey.Key{ID: modelID(rng, &seq), Owner: modelOwners[rng.IntN(len(modelOwners))], Label: fmt.Sprint(step), Active: true, CreatedAt: base.Add(time.Duration(step) * time.Microsecond)}
					if _, ok := model[k.ID]; ok {
						continue
					}
					if err := s.Create(ctx, k); err != nil {
						require.FailNowf(t, "memstore differs from the model", "step %d Create: %v", step, err)
					}
					model[k.ID] = k
					live = append(live, k.ID)
				case op < 33:
					id := pickLive()
					dup := apikey.Key{ID: id, Owner: modelOwners[rng.IntN(len(modelOwners))], Label: "dup"}
					if err := s.Create(ctx, dup); !errors.Is(err, apikey.ErrDuplicateID) {
						require.FailNowf(t, "memstore differs from the model", "step %d dup Create: %v", step, err)
					}
				case op < 55:
					j := rng.IntN(len(live))
					id := live[j]
					if err := s.Delete(ctx, id); err != nil {
						require.FailNowf(t, "memstore differs from the model", "step %d Delete: %v", step, err)
					}
					delete(model, id)
					live[j] = live[len(live)-1]
					live = live[:len(live)-1]
					dead = append(dead, id)
					if err := s.Delete(ctx, id); !errors.Is(err, apikey.ErrNotFound) {
						require.FailNowf(t, "memstore differs from the model", "step %d re-Delete: %v", step, err)
					}
				case op < 65:
					id := pickLive()
					l := fmt.Sprint("u", step)
					a := rng.IntN(2) == 0
					k, err := s.Update(ctx, id, apikey.Update{Label: &l, Active: &a})
					m := model[id]
					m.Label, m.Active = l, a
					model[id] = m
					if err != nil || storetest.Diff(k, m) != "" {
						require.FailNowf(t, "memstore differs from the model", "step %d Update: %v %s", step, err, storetest.Diff(k, m))
					}
					k.Label = "mutated" // must not reach the store
				case op < 70:
					id := pickLive()
					at := base.Add(time.Duration(rng.IntN(100000)) * time.Second)
					if err := s.MarkUsed(ctx, []apikey.Use{{ID: id, At: at}, {ID: uuid.New(), At: at}}); err != nil {
						require.NoError(t, err, "MarkUsed")
					}
					m := model[id]
					if at.After(m.LastUsedAt) {
						m.LastUsedAt = at
					}
					model[id] = m
				case op < 75:
					id := pickLive()
					k, err := s.Get(ctx, id)
					if err != nil || storetest.Diff(k, model[id]) != "" {
						require.FailNowf(t, "memstore differs from the model", "step %d Get: %v %s", step, err, storetest.Diff(k, model[id]))
					}
				default:
					o := apikey.ListOptions{Limit: []int{0, 0, 1, 2, 7, 100}[rng.IntN(6)]}
					if rng.IntN(4) == 0 {
						o.AllOwners = true
					} else {
						o.Owner = modelOwners[rng.IntN(len(modelOwners))]
					}
					switch rng.IntN(5) {
					case 0:
					case 1:
						o.Before = pickLive()
					case 2:
						if len(dead) > 0 {
							o.Before = dead[rng.IntN(len(dead))]
						}
					case 3:
						o.Before = modelID(rng, &seq)
					case 4:
						o.Before = uuid.Max
					}
					got, err := s.List(ctx, o)
					if err != nil || got == nil {
						require.FailNowf(t, "memstore differs from the model", "step %d List(%+v): %v nil=%v", step, o, err, got == nil)
					}
					want := wantModel(model, o)
					if len(got) != len(want) {
						require.FailNowf(t, "memstore differs from the model", "step %d List(%+v): %d keys, want %d", step, o, len(got), len(want))
					}
					for i := range got {
						if d := storetest.Diff(got[i], want[i]); d != "" {
							require.FailNowf(t, "memstore differs from the model", "step %d List(%+v)[%d]: %s", step, o, i, d)
						}
						got[i].Label = "mutated"
					}
				}
				if step%997 == 0 {
					checkInvariants(t, &s.all, "all")
					for name, o := range s.owners {
						checkInvariants(t, &o.byID, "owner "+name)
					}
					if len(s.keys) != len(model) || s.all.Len() != len(model) {
						require.FailNowf(t, "memstore differs from the model", "sizes %d %d %d", len(s.keys), s.all.Len(), len(model))
					}
				}
			}
		})
	}
}
