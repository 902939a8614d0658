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

// TestOwnedStaysDense checks that remove unindexes its record and moves
// the last one into the emptied slot, reporting which, so that the records
// always fill slots 0 to n-1, the blocks are as few as they can be, and the
// index always yields the slot of each record present, newest first.
func TestOwnedStaysDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var o owned
	present := map[int32]int{} // slot: the number of its record
	next := 0
	for step := range 4000 {
		// Grow for the first half, then shrink, removing at random.
		if len(present) == 0 || rng.IntN(10) < 7-4*(step/2000) {
			s := o.add(apikey.Key{ID: seqID(next), Label: fmt.Sprint(next)})
			assert.Equal(t, len(present), int(s), "step %d: add appends", step)
			present[s] = next
			next++
		} else {
			s := int32(rng.IntN(len(present)))
			last := int32(len(present) - 1)
			moved, left := o.remove(s)
			assert.Equal(t, last > 0, left, "step %d: remove reports records left", step)
			if s == last {
				assert.Equal(t, uuid.Nil, moved, "step %d: removing the last slot moves nothing", step)
			} else {
				assert.Equal(t, seqID(present[last]), moved, "step %d: the record that moved", step)
				present[s] = present[last]
			}
			delete(present, last)
		}
		assert.Len(t, o.blocks, (len(present)+blockSize-1)/blockSize, "step %d: blocks for %d records", step, len(present))
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

// TestDeleteGivesMemoryBack checks that an owner that minted many keys and
// deleted most keeps only the blocks its remaining keys need, and that the
// records that moved still read, update and list right.
func TestDeleteGivesMemoryBack(t *testing.T) {
	ctx := context.Background()
	s := New()
	const n = 20 * blockSize
	var ids []uuid.UUID
	for i := range n {
		id := seqID(i)
		require.NoError(t, s.Create(ctx, apikey.Key{ID: id, Label: fmt.Sprint(i)}), "Create")
		ids = append(ids, id)
	}
	var kept []string
	for i, id := range ids {
		if i%16 == 0 {
			kept = append([]string{id.String()}, kept...) // newest first
			continue
		}
		require.NoError(t, s.Delete(ctx, id), "Delete")
	}
	o := s.owners[""]
	require.NotNil(t, o, "the owner's records")
	assert.Len(t, o.blocks, (len(kept)+blockSize-1)/blockSize, "blocks for %d keys left of %d", len(kept), n)
	for i := 0; i < n; i += 16 {
		label := fmt.Sprintf("%d renamed", i)
		k, err := s.Update(ctx, ids[i], apikey.Update{Label: &label})
		require.NoError(t, err, "Update of key %d", i)
		assert.Equal(t, ids[i], k.ID, "the record Update changed")
		got, err := s.Get(ctx, ids[i])
		require.NoError(t, err, "Get of key %d", i)
		assert.Equal(t, label, got.Label, "label of key %d", i)
	}
	for _, opts := range []apikey.ListOptions{{}, {AllOwners: true}} {
		ks, err := s.List(ctx, opts)
		require.NoError(t, err, "List(%+v)", opts)
		var got []string
		for _, k := range ks {
			got = append(got, k.ID.String())
		}
		assert.Equal(t, kept, got, "List(%+v)", opts)
	}
}

// TestRecordsSurviveTheirBlockGrowing updates and reads keys whose owner's
// first block has since been reallocated to grow, and that deletes have
// moved into their neighbours' slots.
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
