package memstore

import (
	"bytes"
	"iter"
	"slices"

	"github.com/google/uuid"
)

// maxChunk is the most entries an index chunk holds. Inserting or removing
// an entry moves at most this many entries, plus the list of chunks when a
// chunk splits, merges or empties, which happens once in about maxChunk/4
// changes at most.
const maxChunk = 512

// index maps key IDs to values of type V, sorted by ID, ascending, and kept
// as a list of sorted chunks: every ID of a chunk sorts before every ID of
// the next, and no chunk is empty. Unlike one sorted slice, inserting or
// removing an entry costs O(log n + maxChunk) however many entries n it
// holds, so a Delete among a million keys does not move the other million.
// A page is read by a binary search to the cursor and a walk backwards from
// it.
//
// Two neighbouring chunks always hold more than maxChunk/2 entries between
// them (Remove merges them otherwise), so the chunks are a quarter full on
// average at worst and the index's memory stays in proportion to n.
//
// The zero value is an empty index. An index is not safe for concurrent
// use; the Store's lock guards it.
type index[V any] struct {
	chunks [][]entry[V]
	n      int
}

// entry is one ID of an index and its value.
type entry[V any] struct {
	id uuid.UUID
	v  V
}

// compareIDs orders IDs as the Store contract does: byte by byte, which for
// UUIDv7 is by creation time.
func compareIDs(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }

// compareEntry compares the ID of e with id, for binary searches.
func compareEntry[V any](e entry[V], id uuid.UUID) int { return compareIDs(e.id, id) }

// Len returns the number of entries in x.
func (x *index[V]) Len() int { return x.n }

// chunkFor returns the position of the first chunk whose last ID sorts at
// or after id: the chunk that holds id if any does. It is len(x.chunks) when
// id sorts after every ID.
func (x *index[V]) chunkFor(id uuid.UUID) int {
	i, _ := slices.BinarySearchFunc(x.chunks, id, func(c []entry[V], id uuid.UUID) int {
		return compareIDs(c[len(c)-1].id, id)
	})
	return i
}

// Insert adds id with its value v to x and reports whether id was absent;
// if it was present, x is unchanged.
func (x *index[V]) Insert(id uuid.UUID, v V) bool {
	e := entry[V]{id, v}
	i := x.chunkFor(id)
	if i == len(x.chunks) {
		// After every ID, the usual case for UUIDv7s minted in order: append
		// to the last chunk, or start a new one when it is full, so that
		// keys created in order fill their chunks.
		if i == 0 || len(x.chunks[i-1]) >= maxChunk {
			x.chunks = append(x.chunks, []entry[V]{e})
		} else {
			x.chunks[i-1] = append(x.chunks[i-1], e)
		}
		x.n++
		return true
	}
	c := x.chunks[i]
	j, found := slices.BinarySearchFunc(c, id, compareEntry[V])
	if found {
		return false
	}
	c = slices.Insert(c, j, e)
	x.n++
	if len(c) <= maxChunk {
		x.chunks[i] = c
		return true
	}
	half := len(c) / 2
	right := slices.Clone(c[half:])
	clear(c[half:]) // the left half keeps the array: drop what it no longer holds
	x.chunks[i] = c[:half]
	x.chunks = slices.Insert(x.chunks, i+1, right)
	return true
}

// Set replaces the value of id, if x holds it, and reports whether it
// does.
func (x *index[V]) Set(id uuid.UUID, v V) bool {
	i := x.chunkFor(id)
	if i == len(x.chunks) {
		return false
	}
	j, found := slices.BinarySearchFunc(x.chunks[i], id, compareEntry[V])
	if found {
		x.chunks[i][j].v = v
	}
	return found
}

// Remove deletes id and its value from x and reports whether it was
// present.
func (x *index[V]) Remove(id uuid.UUID) bool {
	i := x.chunkFor(id)
	if i == len(x.chunks) {
		return false
	}
	j, found := slices.BinarySearchFunc(x.chunks[i], id, compareEntry[V])
	if !found {
		return false
	}
	c := slices.Delete(x.chunks[i], j, j+1)
	x.chunks[i] = c
	x.n--
	switch {
	case len(c) == 0:
		x.chunks = slices.Delete(x.chunks, i, i+1)
	case i+1 < len(x.chunks) && len(c)+len(x.chunks[i+1]) <= maxChunk/2:
		x.merge(i)
	case i > 0 && len(x.chunks[i-1])+len(c) <= maxChunk/2:
		x.merge(i - 1)
	}
	if x.n == 0 {
		x.chunks = nil
	}
	return true
}

// merge moves the entries of chunk i+1 to the end of chunk i and drops
// chunk i+1.
func (x *index[V]) merge(i int) {
	x.chunks[i] = append(x.chunks[i], x.chunks[i+1]...)
	x.chunks = slices.Delete(x.chunks, i+1, i+2)
}

// Before yields the values of the IDs that sort strictly before the cursor
// before, or of every ID if before is uuid.Nil, greatest ID first. It finds
// the cursor in O(log n) and then costs O(1) per value. x must not change
// while the sequence is being read.
func (x *index[V]) Before(before uuid.UUID) iter.Seq[V] {
	return func(yield func(V) bool) {
		if len(x.chunks) == 0 {
			return
		}
		// Start below position j of chunk i.
		i := len(x.chunks) - 1
		j := len(x.chunks[i])
		if before != uuid.Nil {
			if k := x.chunkFor(before); k < len(x.chunks) {
				i = k
				j, _ = slices.BinarySearchFunc(x.chunks[i], before, compareEntry[V])
			}
		}
		for ; i >= 0; i-- {
			if j < 0 {
				j = len(x.chunks[i])
			}
			for _, e := range slices.Backward(x.chunks[i][:j]) {
				if !yield(e.v) {
					return
				}
			}
			j = -1
		}
	}
}
