package memstore

import (
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
// somewhere in the heap per key. Each record has a slot, its place in the blocks, from
// Create to Delete; Delete clears the slot and a later add reuses it. The
// blocks are thus sized for the most keys the owner has held at once, and
// go with the owner when its last key is deleted.
type owned struct {
	// blocks holds slot s at blocks[s/blockSize][s%blockSize]. Every block
	// but the last is full; the first grows by doubling up to blockSize.
	blocks [][]apikey.Key
	free   []int32      // cleared slots, for add to reuse
	byID   index[int32] // the slot of each record
}

// at returns the record in slot s. The pointer is good until the next add,
// which may move the last block.
func (o *owned) at(s int32) *apikey.Key {
	return &o.blocks[s/blockSize][s%blockSize]
}

// add stores k in a free slot, indexes it, and returns the slot.
func (o *owned) add(k apikey.Key) int32 {
	var s int32
	if n := len(o.free); n > 0 {
		s, o.free = o.free[n-1], o.free[:n-1]
		*o.at(s) = k
	} else {
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
		s = int32(last*blockSize + len(b))
		o.blocks[last] = append(b, k)
	}
	o.byID.Insert(k.ID, s)
	return s
}

// remove clears slot s, which holds a record, and unindexes it. It returns
// whether the owner has records left.
func (o *owned) remove(s int32) bool {
	k := o.at(s)
	o.byID.Remove(k.ID)
	*k = apikey.Key{} // let go of its strings
	o.free = append(o.free, s)
	return o.byID.Len() > 0
}
