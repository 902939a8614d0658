package memstore

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seqID returns the UUID whose last 8 bytes are i, so that seqID sorts as i.
func seqID(i int) uuid.UUID {
	var id uuid.UUID
	for b := range 8 {
		id[15-b] = byte(i >> (8 * b))
	}
	return id
}

// checkIndex checks the invariants of x and that it holds exactly want,
// which is sorted.
func checkIndex(t *testing.T, x *index[int], want []uuid.UUID) {
	t.Helper()
	var got []uuid.UUID
	for i, c := range x.chunks {
		require.NotEmpty(t, c, "chunk %d of %d", i, len(x.chunks))
		assert.LessOrEqual(t, len(c), maxChunk, "entries in chunk %d", i)
		if i > 0 {
			assert.Greater(t, len(x.chunks[i-1])+len(c), maxChunk/2, "entries in chunks %d and %d together", i-1, i)
		}
		for _, e := range c {
			if e.id != seqID(e.v) {
				require.Fail(t, "ID and value disagree", "entry %s holds the value %d", e.id, e.v)
			}
			got = append(got, e.id)
		}
		for _, e := range c[len(c):cap(c)] {
			if e != (entry[int]{}) {
				require.Fail(t, "entry left behind", "chunk %d holds %d beyond its end", i, e.v)
			}
		}
	}
	for i, c := range x.chunks[len(x.chunks):cap(x.chunks)] {
		require.Nil(t, c, "chunk kept alive beyond the end of the chunk list, at %d", len(x.chunks)+i)
	}
	require.True(t, slices.IsSortedFunc(got, compareIDs), "IDs of the chunks in order")
	if !slices.Equal(want, got) { // quicker than require.Equal on thousands of IDs
		require.Equal(t, want, got, "IDs in the index")
	}
	assert.Equal(t, len(want), x.Len(), "Len")
}

func TestIndexAgainstSortedSlice(t *testing.T) {
	const n = 3000
	inOrder := make([]int, n)
	for i := range inOrder {
		inOrder[i] = i
	}
	reversed := slices.Clone(inOrder)
	slices.Reverse(reversed)
	shuffled := slices.Clone(inOrder)
	rand.New(rand.NewPCG(1, 2)).Shuffle(n, func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	// nearlyInOrder swaps neighbours, as concurrent Creates of IDs minted
	// in order do.
	nearlyInOrder := slices.Clone(inOrder)
	for i := 0; i+1 < n; i += 3 {
		nearlyInOrder[i], nearlyInOrder[i+1] = nearlyInOrder[i+1], nearlyInOrder[i]
	}
	orders := []struct {
		name           string
		insert, remove []int
	}{
		{"in order, removed in order", inOrder, inOrder},
		{"in order, removed newest first", inOrder, reversed},
		{"in reverse, removed at random", reversed, shuffled},
		{"at random, removed in order", shuffled, inOrder},
		{"nearly in order, removed at random", nearlyInOrder, shuffled},
	}
	for _, tc := range orders {
		t.Run(tc.name, func(t *testing.T) {
			var x index[int]
			var want []uuid.UUID
			for step, i := range tc.insert {
				id := seqID(i)
				require.True(t, x.Insert(id, i), "Insert(%d) of a new ID", i)
				require.False(t, x.Insert(id, -1), "Insert(%d) again", i)
				j, _ := slices.BinarySearchFunc(want, id, compareIDs)
				want = slices.Insert(want, j, id)
				if step%97 == 0 {
					checkIndex(t, &x, want)
				}
			}
			checkIndex(t, &x, want)
			for step, i := range tc.remove {
				id := seqID(i)
				require.True(t, x.Remove(id), "Remove(%d) of a present ID", i)
				require.False(t, x.Remove(id), "Remove(%d) again", i)
				j, _ := slices.BinarySearchFunc(want, id, compareIDs)
				want = slices.Delete(want, j, j+1)
				if step%97 == 0 {
					checkIndex(t, &x, want)
				}
			}
			checkIndex(t, &x, nil)
			assert.Nil(t, x.chunks, "chunks of an emptied index")
		})
	}
}

func TestIndexBefore(t *testing.T) {
	// Even IDs 2..2n, in several chunks, so that cursors fall on IDs, between
	// them, before the first and after the last.
	const n = 3 * maxChunk
	var x index[int]
	for i := 1; i <= n; i++ {
		x.Insert(seqID(2*i), 2*i)
	}
	require.Greater(t, len(x.chunks), 2, "chunks")
	// before returns the values x.Before yields from the cursor, at most
	// limit of them.
	before := func(x *index[int], cursor uuid.UUID, limit int) []int {
		got := []int{}
		for v := range x.Before(cursor) {
			if len(got) == limit {
				break
			}
			got = append(got, v)
		}
		return got
	}
	all := make([]int, n)
	for i := range all {
		all[i] = 2 * (n - i)
	}
	require.Equal(t, all, before(&x, uuid.Nil, 2*n), "every value, greatest ID first")
	for c := 0; c <= 2*n+2; c++ {
		cursor, from := uuid.Nil, 0
		if c > 0 {
			// All IDs are even: the IDs before c are those below 2*ceil(c/2).
			cursor, from = seqID(c), max(0, n-(c-1)/2)
		}
		limits := []int{1, 3}
		if c%7 == 0 {
			limits = append(limits, 2*n)
		}
		for _, limit := range limits {
			want := all[from:min(len(all), from+limit)]
			if got := before(&x, cursor, limit); !slices.Equal(want, got) {
				require.Equal(t, want, got, "Before(%d), %d values", c, limit)
			}
		}
	}
	var empty index[int]
	assert.Empty(t, before(&empty, uuid.Nil, n), "Before of an empty index")
	assert.Empty(t, before(&empty, seqID(5), n), "Before of an empty index from a cursor")
}
