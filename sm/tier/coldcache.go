package tier

import (
	"fmt"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
)

// The cold cache: what a broker keeps of the bytes it read from the object
// store, so sequential and repeated consumers of old data do not pay a get
// per fetch. One per broker, shared by every partition's ColdReader (a node
// runs on one goroutine, so sharing needs no lock), bounded by
// Config.ColdCacheBytes (the reference's [cache] read_cache_size_bytes).
//
// It holds two kinds of items: the decoded index of a segment object (keyed
// by the object's name), and aligned chunks of an object's data part (keyed
// by name and chunk number). Chunk k of an object is the bytes [k·C,
// min((k+1)·C, DataBytes)) for the cache's chunk size C, so the last chunk of
// a segment, and the only one of a segment smaller than C, is short, and a
// chunk never holds index bytes. Names are unique per upload and objects are
// never rewritten, so an item never goes stale: it only ages out.
//
// Eviction is least-recently-used, O(1) per insert and lookup (an intrusive
// list). Cached bytes are immutable: a fetch keeps the slices it looked up
// or was handed, so eviction never takes bytes from under a pending fetch.
// Memory is therefore the budget plus what pending fetches hold (each at
// most its byte budget plus one frame).
//
// Read-ahead is speculative: the bytes it has in flight (reserved) and the
// chunks it cached that no fetch has used yet together stay within a
// quarter of the budget, so read-ahead can never push out more than that of
// what consumers actually read.

// DefaultColdChunkBytes is the chunk size: a get reads one chunk. 4 MiB
// keeps the gets per byte low (an object store's first byte costs tens of
// milliseconds; a segment of a few MiB is then its index and one get), and
// still lets a cache of the default budget hold 64 chunks. A cache whose
// budget is below minChunksPerBudget chunks of it uses smaller chunks.
const DefaultColdChunkBytes = 4 << 20

// minChunksPerBudget is how many default chunks a budget must hold before
// the default chunk size is used; below it chunks shrink to
// budget/minChunksPerBudget (at least minColdChunkBytes), so a small cache
// still caches.
const (
	minChunksPerBudget = 16
	minColdChunkBytes  = 64 << 10
)

// coldItemOverheadBytes is what the cache charges each item beyond its
// payload (its key, list links and map slot), so a budget bounds memory even
// for many tiny objects.
const coldItemOverheadBytes = 64

// indexChunk is the chunk number that keys an object's index.
const indexChunk = -1

// readAheadShareDiv: read-ahead uses at most budget/readAheadShareDiv.
const readAheadShareDiv = 4

// ColdCacheConfig sizes a ColdCache.
type ColdCacheConfig struct {
	// BudgetBytes bounds the cached bytes (payload plus a small per-item
	// charge); zero uses DefaultColdCacheBytes.
	BudgetBytes int64
	// ChunkBytes is the unit of gets and of caching; zero uses
	// DefaultColdChunkBytes, or less for a small budget (see
	// minChunksPerBudget). Every reader sharing the cache uses it.
	ChunkBytes int64
}

// ColdCacheStats is the cache's state and counters since it was made, for
// metrics and broker health.
type ColdCacheStats struct {
	// Bytes is what the cache holds now (payload plus per-item charge);
	// BudgetBytes its bound; Items the number of indexes and chunks.
	Bytes, BudgetBytes int64
	Items              int
	// Hits and Misses count fetches' lookups of indexes and chunks.
	Hits, Misses uint64
	// Evictions counts items pushed out by the budget; ReadAheadUnused
	// those of them that read-ahead had fetched and no fetch ever used.
	Evictions, ReadAheadUnused uint64
	// ReadAheadBytes is what read-ahead holds now: bytes in flight plus
	// cached chunks not used yet (at most a quarter of the budget).
	ReadAheadBytes int64
	// Gets, GetBytes and GetFailures count the object-store gets the
	// readers completed (read-ahead included), the bytes they returned, and
	// those that failed. Corruptions counts objects found corrupt (a bad
	// index, a frame failing its checksum, bytes that are not the recorded
	// segment).
	Gets, GetBytes, GetFailures, Corruptions uint64
	// ColdReads and CacheHitReads count fetches answered OK: those that
	// waited for a get, and those served from the cache alone;
	// MultiSegmentReads those of them that read on into a following
	// segment; PartialReads those that answered with the batches they held
	// when a get they needed next failed. Refused counts fetches answered LEADER_NOT_AVAILABLE because
	// their reader held its most pending fetches.
	ColdReads, CacheHitReads, MultiSegmentReads, PartialReads, Refused uint64
	// Seeks counts seeks by time (SeekTime) answered OK, found or not
	// (Refused counts the refused ones too).
	Seeks uint64
	// Forgotten counts the items dropped because their segment's record
	// was dropped (remote retention).
	Forgotten uint64
}

// coldKey names one cached item: an object's index (chunk = indexChunk) or
// one of its data chunks.
type coldKey struct {
	name  string
	chunk int64
}

func (k coldKey) String() string {
	if k.chunk == indexChunk {
		return k.name + " index"
	}
	return fmt.Sprintf("%s chunk %d", k.name, k.chunk)
}

// coldItem is one cached index or chunk, linked in recency order.
type coldItem struct {
	key  coldKey
	idx  *sm.SegmentIndex // an index
	data []byte           // a chunk
	size int64
	// speculative: fetched by read-ahead and not used by any fetch yet.
	speculative bool
	prev, next  *coldItem
}

// ColdCache is a broker's cache of object-store bytes. See the comment
// above DefaultColdChunkBytes.
type ColdCache struct {
	budget, chunk int64
	items         map[coldKey]*coldItem
	// lru is the list's sentinel: lru.next is the most recently used item,
	// lru.prev the least.
	lru         coldItem
	bytes       int64
	speculative int64 // speculative items' size plus read-ahead reservations
	stats       ColdCacheStats
}

// NewColdCache returns an empty cache.
func NewColdCache(cfg ColdCacheConfig) *ColdCache {
	if cfg.BudgetBytes <= 0 {
		cfg.BudgetBytes = DefaultColdCacheBytes
	}
	if cfg.ChunkBytes <= 0 {
		cfg.ChunkBytes = min(DefaultColdChunkBytes, max(cfg.BudgetBytes/minChunksPerBudget, minColdChunkBytes))
	}
	c := &ColdCache{budget: cfg.BudgetBytes, chunk: cfg.ChunkBytes, items: map[coldKey]*coldItem{}}
	c.lru.next, c.lru.prev = &c.lru, &c.lru
	return c
}

// ChunkBytes is the cache's chunk size.
func (c *ColdCache) ChunkBytes() int64 { return c.chunk }

// Stats returns the cache's state and counters.
func (c *ColdCache) Stats() ColdCacheStats {
	s := c.stats
	s.Bytes, s.BudgetBytes, s.Items, s.ReadAheadBytes = c.bytes, c.budget, len(c.items), c.speculative
	return s
}

// chunkSpan is chunk k's byte range in an object whose data part is
// dataBytes long.
func (c *ColdCache) chunkSpan(dataBytes, k int64) (off, end int64) {
	return k * c.chunk, min((k+1)*c.chunk, dataBytes)
}

// chunkOf is the chunk holding byte pos.
func (c *ColdCache) chunkOf(pos int64) int64 { return pos / c.chunk }

// Forget drops seg's index and chunks: its record was dropped (remote
// retention), so no fetch reads it any more and its object is deleted. A
// get of it still in flight may cache its bytes again; they age out.
func (c *ColdCache) Forget(seg *sm.RemoteSegment) {
	c.forget(coldKey{seg.Name, indexChunk})
	for k := int64(0); k*c.chunk < seg.DataBytes; k++ {
		c.forget(coldKey{seg.Name, k})
	}
}

func (c *ColdCache) forget(k coldKey) {
	if c.items[k] != nil {
		c.stats.Forgotten++
		c.remove(k)
	}
}

// has reports whether k is cached, without counting a lookup or touching
// its recency (read-ahead's question).
func (c *ColdCache) has(k coldKey) bool { return c.items[k] != nil }

// lookup returns the item under k for a fetch, counting a hit or a miss and
// making it the most recently used.
func (c *ColdCache) lookup(k coldKey) *coldItem {
	it := c.items[k]
	if it == nil {
		c.stats.Misses++
		return nil
	}
	c.stats.Hits++
	if it.speculative {
		it.speculative = false
		c.speculative -= it.size
	}
	c.unlink(it)
	c.pushFront(it)
	return it
}

// index returns the cached index of object name.
func (c *ColdCache) index(name string) (*sm.SegmentIndex, bool) {
	if it := c.lookup(coldKey{name, indexChunk}); it != nil {
		return it.idx, true
	}
	return nil, false
}

// chunkData returns cached chunk k of object name.
func (c *ColdCache) chunkData(name string, k int64) ([]byte, bool) {
	if it := c.lookup(coldKey{name, k}); it != nil {
		return it.data, true
	}
	return nil, false
}

// itemSize is what an item of payload bytes costs.
func itemSize(payload int64) int64 { return payload + coldItemOverheadBytes }

// put caches an index or a chunk as the most recently used item, evicting
// the least recently used ones beyond the budget. An item larger than the
// whole budget is not cached; one already cached is only touched.
func (c *ColdCache) put(k coldKey, idx *sm.SegmentIndex, data []byte, payload int64, speculative bool) {
	if it := c.items[k]; it != nil {
		c.unlink(it)
		c.pushFront(it)
		return
	}
	size := itemSize(payload)
	if size > c.budget {
		return
	}
	if speculative && c.speculative+size > c.budget/readAheadShareDiv {
		speculative = false // over the share: cache it as if a fetch had used it
	}
	it := &coldItem{key: k, idx: idx, data: data, size: size, speculative: speculative}
	c.items[k] = it
	c.pushFront(it)
	c.bytes += size
	if speculative {
		c.speculative += size
	}
	for c.bytes > c.budget {
		c.evict(c.lru.prev)
	}
}

// reserveReadAhead books size bytes of read-ahead in flight; false when
// read-ahead already holds its share of the budget.
func (c *ColdCache) reserveReadAhead(size int64) bool {
	if c.speculative+size > c.budget/readAheadShareDiv {
		return false
	}
	c.speculative += size
	return true
}

// releaseReadAhead returns a reservation (its get completed or was
// abandoned).
func (c *ColdCache) releaseReadAhead(size int64) {
	assert.That(size <= c.speculative, "tier: cold cache releasing %d read-ahead bytes, holds %d", size, c.speculative)
	c.speculative -= size
}

func (c *ColdCache) evict(it *coldItem) {
	assert.That(it != &c.lru, "tier: cold cache holds %d bytes over its budget %d with nothing to evict", c.bytes, c.budget)
	c.stats.Evictions++
	if it.speculative {
		c.stats.ReadAheadUnused++
	}
	c.remove(it.key)
}

func (c *ColdCache) remove(k coldKey) {
	it := c.items[k]
	if it == nil {
		return
	}
	c.unlink(it)
	delete(c.items, k)
	c.bytes -= it.size
	if it.speculative {
		c.speculative -= it.size
	}
}

func (c *ColdCache) unlink(it *coldItem) {
	it.prev.next, it.next.prev = it.next, it.prev
	it.prev, it.next = nil, nil
}

func (c *ColdCache) pushFront(it *coldItem) {
	it.prev, it.next = &c.lru, c.lru.next
	c.lru.next.prev = it
	c.lru.next = it
}

// CheckInvariants verifies the cache's accounting: the list holds exactly
// the mapped items, their sizes sum to Bytes, Bytes is within the budget,
// and read-ahead within its share.
func (c *ColdCache) CheckInvariants() error {
	var n int
	var bytes, spec int64
	for it := c.lru.next; it != &c.lru; it = it.next {
		n++
		if c.items[it.key] != it {
			return fmt.Errorf("tier: cold cache lists %v, which is not mapped to it", it.key)
		}
		if it.next.prev != it {
			return fmt.Errorf("tier: cold cache list broken after %v", it.key)
		}
		if (it.idx != nil) == (it.key.chunk != indexChunk) || (it.data == nil) != (it.key.chunk == indexChunk) {
			return fmt.Errorf("tier: cold cache item %v holds the wrong kind", it.key)
		}
		bytes += it.size
		if it.speculative {
			spec += it.size
		}
		if n > len(c.items) {
			return fmt.Errorf("tier: cold cache lists more than its %d items", len(c.items))
		}
	}
	switch {
	case n != len(c.items):
		return fmt.Errorf("tier: cold cache lists %d items, maps %d", n, len(c.items))
	case bytes != c.bytes:
		return fmt.Errorf("tier: cold cache items hold %d bytes, accounted %d", bytes, c.bytes)
	case c.bytes > c.budget:
		return fmt.Errorf("tier: cold cache holds %d bytes over its budget %d", c.bytes, c.budget)
	case spec > c.speculative:
		return fmt.Errorf("tier: cold cache's unused read-ahead items hold %d bytes, accounted %d", spec, c.speculative)
	case c.speculative > c.budget/readAheadShareDiv:
		return fmt.Errorf("tier: cold cache read-ahead holds %d bytes over its share %d", c.speculative, c.budget/readAheadShareDiv)
	}
	return nil
}
