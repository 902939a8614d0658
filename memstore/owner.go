package memstore

import (
	"github.com/google/uuid"
	"github.com/keyscope/apikey"
)

// blockSize is the number of records a full block of an owner's records
// holds (some 13 kB).
const blockSize = 64

// owned holds the records of one owner, and indexes them by ID.
//
// The records are packed in blocks that belong to the owner, so that one
// owner's keys lie together in memory however many keys other owners hold:
// listing them reads a few blocks rather than one record scattered
// somewhere in the heap per key. The records fill slots 0 to n-1, in no
// particular order: add appends, and remove moves the last record into the
// slot it empties, dropping the last block when it is left empty. An
// owner's memory thus follows the keys it holds, and goes with the owner
// when its last key is deleted.
type owned struct {
	// blocks holds slot s at blocks[s/blockSize][s%blockSize]. Every block
	// but the last is full; the first grows by doubling up to blockSize.
	blocks [][]apikey.Key
	byID   index[int32] // the slot of each record
}

// at returns the record in slot s. The pointer is good until the next add
// or remove, which may move records and blocks.
func (o *owned) at(s int32) *apikey.Key {
	return &o.blocks[s/blockSize][s%blockSize]
}

// add stores k in the next slot, indexes it, and returns the slot.
func (o *owned) add(k apikey.Key) int32 {
	last := len(o.blocks) - 1
	if last < 0 || len(o.blocks[last]) == blockSize {
		// An owner's first block starts with room for one key, as most
		// owners have few; an owner that fills a block will fill more.
		size := blockSize
		if last < 0 {
			size = 1
		}
		o.blocks = append(o.blocks, make([]apikey.Key, 0, size))
		last++
	}
	b := o.blocks[last]
	if len(b) == cap(b) {
		b = append(make([]apikey.Key, 0, min(2*cap(b), blockSize)), b...)
	}
	s := int32(last*blockSize + len(b))
	o.blocks[last] = append(b, k)
	o.byID.Insert(k.ID, s)
	return s
}

// remove deletes the record in slot s and unindexes it. The record in the
// last slot, if that is not s, moves to s: remove returns its ID, for the
// caller to update where it keeps slots, or uuid.Nil. It also reports
// whether the owner has records left.
func (o *owned) remove(s int32) (moved uuid.UUID, left bool) {
	o.byID.Remove(o.at(s).ID)
	last := int32(o.byID.Len()) // the records were in slots 0 to last
	if s != last {
		*o.at(s) = *o.at(last)
		moved = o.at(s).ID
		o.byID.Set(moved, s)
	}
	*o.at(last) = apikey.Key{} // let go of its strings
	b := len(o.blocks) - 1
	if o.blocks[b] = o.blocks[b][:len(o.blocks[b])-1]; len(o.blocks[b]) == 0 {
		o.blocks[b] = nil
		o.blocks = o.blocks[:b]
	}
	return moved, last > 0
}
