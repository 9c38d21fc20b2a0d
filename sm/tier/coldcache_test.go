package tier

import (
	"testing"

	"github.com/weirmq/weir/sm"
)

func chunkOfSize(n int) []byte { return make([]byte, n) }

// The cache evicts the least recently used items beyond its budget, counts
// hits, misses and evictions, and never caches an item larger than its
// budget.
func TestColdCacheLRU(t *testing.T) {
	item := itemSize(100)
	c := NewColdCache(ColdCacheConfig{BudgetBytes: 3 * item, ChunkBytes: 100})
	for k := range int64(3) {
		c.put(coldKey{"a", k}, nil, chunkOfSize(100), 100, false)
	}
	if _, ok := c.chunkData("a", 0); !ok { // a/0 is now the most recent
		t.Fatalf("a/0 not cached")
	}
	c.put(coldKey{"a", 3}, nil, chunkOfSize(100), 100, false) // evicts a/1
	for k, want := range []bool{true, false, true, true} {
		if c.has(coldKey{"a", int64(k)}) != want {
			t.Fatalf("a/%d cached %v, want %v", k, !want, want)
		}
	}
	if _, ok := c.chunkData("a", 1); ok {
		t.Fatalf("evicted chunk found")
	}
	c.put(coldKey{"big", 0}, nil, chunkOfSize(1000), 1000, false)
	if c.has(coldKey{"big", 0}) {
		t.Fatalf("an item over the whole budget was cached")
	}
	idx := &sm.SegmentIndex{Base: 1, Next: 2}
	c.put(coldKey{"a", indexChunk}, idx, nil, 10, false) // evicts a/2
	if got, ok := c.index("a"); !ok || got != idx {
		t.Fatalf("index not cached")
	}
	st := c.Stats()
	want := ColdCacheStats{Bytes: 2*item + itemSize(10), BudgetBytes: 3 * item, Items: 3, Hits: 2, Misses: 1, Evictions: 2}
	if st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	if err := c.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	c.Forget(&sm.RemoteSegment{Name: "a", DataBytes: 400})
	if st := c.Stats(); st.Items != 0 || st.Bytes != 0 {
		t.Fatalf("after Forget: %+v", st)
	}
	if err := c.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// Read-ahead holds at most a quarter of the budget, in flight and cached
// unused together; a fetch using a prefetched item frees its share, and an
// unused one evicted is counted.
func TestColdCacheReadAheadShare(t *testing.T) {
	item := itemSize(100)
	c := NewColdCache(ColdCacheConfig{BudgetBytes: 8 * item, ChunkBytes: 100})
	if !c.reserveReadAhead(item) || !c.reserveReadAhead(item) || c.reserveReadAhead(item) {
		t.Fatalf("read-ahead share of a budget of 8 items is not 2 items")
	}
	c.releaseReadAhead(item)
	c.put(coldKey{"a", 0}, nil, chunkOfSize(100), 100, true)
	c.releaseReadAhead(item)
	c.put(coldKey{"a", 1}, nil, chunkOfSize(100), 100, true)
	if c.reserveReadAhead(item) {
		t.Fatalf("reserved past the share with two unused prefetched items")
	}
	if _, ok := c.chunkData("a", 1); !ok {
		t.Fatalf("a/1 not cached")
	}
	if !c.reserveReadAhead(item) {
		t.Fatalf("a used item still counts against read-ahead")
	}
	c.releaseReadAhead(item)
	for k := int64(2); k < 10; k++ {
		c.put(coldKey{"b", k}, nil, chunkOfSize(100), 100, false)
	}
	st := c.Stats()
	if st.ReadAheadUnused != 1 || st.ReadAheadBytes != 0 || st.Evictions != 2 {
		t.Fatalf("stats %+v", st)
	}
	if err := c.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// Chunks are aligned and the last one ends at the data part's end.
func TestColdCacheChunkSpans(t *testing.T) {
	c := NewColdCache(ColdCacheConfig{ChunkBytes: 1000})
	for _, x := range []struct{ data, k, off, end int64 }{{2500, 0, 0, 1000}, {2500, 2, 2000, 2500}, {10, 0, 0, 10}, {2000, 1, 1000, 2000}} {
		if off, end := c.chunkSpan(x.data, x.k); off != x.off || end != x.end {
			t.Fatalf("chunk %d of %d bytes: [%d, %d), want [%d, %d)", x.k, x.data, off, end, x.off, x.end)
		}
	}
	d := NewColdCache(ColdCacheConfig{})
	if d.ChunkBytes() != DefaultColdChunkBytes || d.Stats().BudgetBytes != DefaultColdCacheBytes {
		t.Fatalf("defaults: chunk %d, budget %d", d.ChunkBytes(), d.Stats().BudgetBytes)
	}
}
