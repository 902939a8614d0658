package memstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOwnedPacksRecords checks that an owner's records fill its blocks in
// order, the first block growing from one record and the others full size.
func TestOwnedPacksRecords(t *testing.T) {
	var o owned
	const n = 3*blockSize + 5
	for i := range n {
		require.Equal(t, int32(i), o.add(apikey.Key{ID: seqID(i), Label: fmt.Sprint(i)}), "slot of record %d", i)
		if i == 0 {
			assert.Equal(t, 1, cap(o.blocks[0]), "room in the first block of an owner with one key")
		}
	}
	require.Len(t, o.blocks, 4, "blocks")
	for b, block := range o.blocks {
		assert.Equal(t, blockSize, cap(block), "room in block %d", b)
	}
	for i := range n {
		assert.Equal(t, fmt.Sprint(i), o.at(int32(i)).Label, "record in slot %d", i)
	}
}

// TestOwnedReusesSlots checks that remove clears a slot and unindexes its
// record, that add fills cleared slots before growing, and that the index
// always yields the slots of the records present, newest first.
func TestOwnedReusesSlots(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var o owned
	present := map[int32]int{} // slot: the number of its record
	next := 0
	for step := range 2000 {
		if len(present) == 0 || rng.IntN(5) < 3 {
			slots, free := len(present)+len(o.free), len(o.free)
			s := o.add(apikey.Key{ID: seqID(next), Label: fmt.Sprint(next)})
			require.NotContains(t, present, s, "step %d: add gave a slot in use", step)
			if free > 0 {
				assert.Less(t, int(s), slots, "step %d: add grew the blocks while slots were free", step)
			} else {
				assert.Equal(t, slots, int(s), "step %d: add to full blocks", step)
			}
			present[s] = next
			next++
		} else {
			var s int32
			for s = range present { // any present slot
				break
			}
			left := o.remove(s)
			assert.Equal(t, len(present) > 1, left, "step %d: remove reports records left", step)
			assert.Equal(t, apikey.Key{}, *o.at(s), "step %d: a removed record's slot", step)
			delete(present, s)
		}
		if step%50 != 0 {
			continue
		}
		var want []int32
		for s, i := range present {
			assert.Equal(t, fmt.Sprint(i), o.at(s).Label, "step %d: record in slot %d", step, s)
			want = append(want, s)
		}
		slices.SortFunc(want, func(a, b int32) int { return present[b] - present[a] })
		got := slices.Collect(o.byID.Before(uuid.Nil))
		require.Equal(t, want, got, "step %d: slots of the index, newest first", step)
	}
}

// TestRecordsSurviveTheirBlockGrowing updates and reads keys whose owner's
// first block has since been reallocated to grow, and after deletes have
// freed their neighbours' slots for others.
func TestRecordsSurviveTheirBlockGrowing(t *testing.T) {
	ctx := context.Background()
	s := New()
	var ids []uuid.UUID
	for i := range 3 * blockSize {
		id := uuid.Must(uuid.NewV7())
		require.NoError(t, s.Create(ctx, apikey.Key{ID: id, Owner: "acct", Label: fmt.Sprint(i)}), "Create")
		ids = append(ids, id)
		if j := i / 2; j%3 != 1 { // keys 1, 4, 7... are deleted
			label := fmt.Sprintf("%d renamed", j)
			_, err := s.Update(ctx, ids[j], apikey.Update{Label: &label})
			require.NoError(t, err, "Update")
		}
		if i%3 == 2 {
			require.NoError(t, s.Delete(ctx, ids[i-1]), "Delete")
		}
	}
	for i, id := range ids {
		k, err := s.Get(ctx, id)
		if i%3 == 1 {
			assert.ErrorIs(t, err, apikey.ErrNotFound, "Get of deleted key %d", i)
			continue
		}
		require.NoError(t, err, "Get of key %d", i)
		assert.Equal(t, id, k.ID, "ID of key %d", i)
		if i < 3*blockSize/2 {
			assert.Equal(t, fmt.Sprintf("%d renamed", i), k.Label, "label of key %d", i)
		} else {
			assert.Equal(t, fmt.Sprint(i), k.Label, "label of key %d", i)
		}
	}
}

// TestOwnerEntriesDropped checks that an owner's index goes with its last
// key, so that owners that come and go leave nothing behind.
func TestOwnerEntriesDropped(t *testing.T) {
	ctx := context.Background()
	s := New()
	var ids []uuid.UUID
	for i := range 1000 {
		id := uuid.Must(uuid.NewV7())
		require.NoError(t, s.Create(ctx, apikey.Key{ID: id, Owner: fmt.Sprintf("acct_%d", i%10)}), "Create")
		ids = append(ids, id)
	}
	require.Len(t, s.owners, 10, "owners indexed")
	for i, id := range ids {
		require.NoError(t, s.Delete(ctx, id), "Delete")
		if i == len(ids)-11 {
			assert.Len(t, s.owners, 10, "owners indexed with one key left each")
		}
	}
	assert.Empty(t, s.owners, "owners indexed after every key was deleted")
	assert.Zero(t, s.all.Len(), "IDs in the index of every key")
	assert.Nil(t, s.all.chunks, "chunks of the index of every key")
	assert.Empty(t, s.keys, "keys")
}
