package partition

import "github.com/weirmq/weir/sm"

// Cache bounds the recent batches every replica on one broker keeps in
// memory together (the reference's [cache] write_cache_size_bytes). Each
// replica keeps a contiguous suffix of its log; when the total passes the
// budget, the batches admitted longest ago go first, from whichever replica
// holds them, so a busy partition cannot keep an idle one's tail cached
// forever and memory stays flat however much data flows. Reads below a
// replica's cached suffix go to disk (sm.LogRead).
//
// One Cache is shared by a broker's replicas; like them it is pure and
// single-threaded. Eviction is O(1) amortised: admissions queue in order,
// and each queued entry names the replica and the admission it belongs to,
// so entries for batches already gone (truncated, trimmed, the replica
// closed) are skipped.
type Cache struct {
	budget int64
	used   int64
	seq    uint64
	queue  []cacheRef
	head   int
	live   int // queued entries whose batch is still cached
	// hits and lookups count the fetches served from a cached suffix and
	// all fetches that needed batches, since the process started.
	hits, lookups uint64
}

// HitRate is the share of fetches served from the cache since the process
// started (0 before the first).
func (c *Cache) HitRate() float64 {
	if c.lookups == 0 {
		return 0
	}
	return float64(c.hits) / float64(c.lookups)
}

// lookup counts one fetch that needed batches, served from the cache or not.
func (c *Cache) lookup(hit bool) {
	if c == nil {
		return
	}
	c.lookups++
	if hit {
		c.hits++
	}
}

// cacheRef is one admission, in admission order.
type cacheRef struct {
	log *replicaLog
	seq uint64
}

// NewCache returns a cache holding at most budget bytes of batches (encoded
// frame size). A budget of zero or less caches nothing: every fetch reads
// the disk.
func NewCache(budget int64) *Cache { return &Cache{budget: max(budget, 0)} }

// Used is the bytes of batches cached now.
func (c *Cache) Used() int64 { return c.used }

// Budget is the cache's bound.
func (c *Cache) Budget() int64 { return c.budget }

// admit accounts a batch l just appended to its cached suffix, then evicts
// the oldest admissions while over budget.
func (c *Cache) admit(l *replicaLog, cb *cachedBatch) {
	c.seq++
	cb.seq = c.seq
	c.used += int64(cb.size)
	c.queue = append(c.queue, cacheRef{log: l, seq: cb.seq})
	c.live++
	for c.used > c.budget && c.head < len(c.queue) {
		r := c.queue[c.head]
		c.queue[c.head] = cacheRef{}
		c.head++
		if len(r.log.cache) > 0 && r.log.cache[0].seq == r.seq {
			r.log.evictHead()
		}
	}
	c.compact()
}

// release accounts batches leaving a replica's cache for any reason.
func (c *Cache) release(bytes int64, n int) {
	c.used -= bytes
	c.live -= n
}

// compact drops the consumed and dead entries once they outnumber the live
// ones, so the queue stays proportional to what is cached.
func (c *Cache) compact() {
	if c.head < 1024 && len(c.queue)-c.live < 1024 {
		return
	}
	if dead := len(c.queue) - c.live; dead <= c.live && c.head < len(c.queue)/2 {
		return
	}
	kept := c.queue[:0]
	for _, r := range c.queue[c.head:] {
		if r.log != nil && r.log.holds(r.seq) {
			kept = append(kept, r)
		}
	}
	clear(c.queue[len(kept):])
	c.queue, c.head, c.live = kept, 0, len(kept)
}

// cachedBatch is one batch of a replica's cached suffix and where it lies on
// disk.
type cachedBatch struct {
	b    sm.Batch
	seg  sm.Offset // base of the segment holding it
	pos  int64     // its frame's byte position there
	size int       // its frame's size
	seq  uint64    // its admission to the Cache
}
