package controller

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/assert"
)

// The garbage collector of segment objects (Config.Tiering.GC), on the
// controller leader only.
//
// Uploads that fail, complete with an unknown outcome, or are refused by
// the controller (a zombie leader's, one that lost a race) leave objects no
// record refers to; remote retention (drop_remote_segments) and topic
// deletion leave more. Every GCInterval the leader lists segments/ a page
// at a time and, for each page:
//
//  1. confirms its leadership and the commit index with a raft ReadIndex
//     round issued after the page arrived, and waits until it has applied
//     through that index;
//  2. classifies every listed object against its applied state: an object
//     is a candidate when no record refers to it and it can never be
//     recorded — its topic ID is no live topic's, or its partition does not
//     exist, or its epoch is below the partition's current leader epoch, or
//     its base is below the partition's Remote.End. Names under segments/
//     that are not segment objects are left alone (and counted);
//  3. deletes the candidates that have been candidates for GCGrace of its
//     own time (the first sighting is soft state of this tenure: a new
//     leader waits a full grace), at most gcDeletesInflightMax at a time,
//     then lists the next page.
//
// A list or delete that fails or has an unknown outcome is retried by the
// next pass (a delete is idempotent; a candidate keeps its first sighting).
//
// Why a delete never removes an object a record refers to, now or later:
//
//   - A record is added only by applying commit_segment, which accepts a
//     segment only for the topic's current ID, for an existing partition,
//     at the partition's current leader epoch, with Base == Remote.End once
//     anything was uploaded, and only an object whose name carries that
//     topic ID, partition, base and epoch (checkSegmentShape).
//   - Along the log, leader epochs and Remote.End only grow, a partition
//     count never changes, and topic IDs are never reused (topicid.go). So
//     once an applied state finds an object's epoch below the current one,
//     or its base below End (with its name not recorded — every record at
//     or above End is a later commit at Base ≥ End, and names are unique),
//     every later state refuses it too: it is unreferenced for good.
//     These conditions hold in any prefix of the log, so even a stale
//     leader's applied state proves them.
//   - "Topic ID unknown" is the one condition a stale prefix does not
//     prove: the topic may have been created in an entry this node has not
//     applied yet. The ReadIndex round fixes that. A broker names an object
//     with a topic ID only after some controller applied the topic's
//     creation, and the page listed the object before the round was
//     issued, so the creation was committed before the round; the round
//     confirms that the commit index it returns covers every entry
//     committed before it, and the page is classified only once that index
//     is applied. A topic ID unknown then was deleted (or never came from
//     this cluster).
//   - An unknown-outcome put may land after the object was deleted (or
//     listed): it is an object like any other, classified anew by a later
//     pass.
//
// The grace period is not what makes deleting safe; it gives readers that
// located a segment just before remote retention dropped it time to finish
// (a cold read of a dropped segment fails and the reader asks again), and
// keeps a new leader from deleting on its very first look.

// GC limits.
const (
	// gcListPage is how many names one list asks for.
	gcListPage = 1000
	// gcDeletesInflightMax bounds the collector's deletes in flight.
	gcDeletesInflightMax = 16
	// gcCandidatesMax bounds the candidates waiting out their grace; more
	// are noticed again by later passes once these are gone.
	gcCandidatesMax = 1 << 16
)

// GCStats counts what this controller's collector did since it started
// (over all its tenures), for metrics and tests.
type GCStats struct {
	// Passes is how many collection passes completed (listed to the end).
	Passes uint64
	// Listed counts objects listed; Unparseable those under segments/
	// that are not segment objects (left alone).
	Listed, Unparseable uint64
	// Candidates is how many objects now wait out their grace.
	Candidates int
	// Deleted counts deletes that completed OK: orphans collected.
	Deleted uint64
	// ListErrors and DeleteErrors count operations that failed or ended
	// unknown; the next pass retries.
	ListErrors, DeleteErrors uint64
}

// gcSighting is an object the collector found collectable: since is when
// it first did in this tenure, pass the last pass that saw it.
type gcSighting struct {
	since sm.Time
	pass  uint64
}

// gcState is the collector's soft state. Everything but stats is the
// current tenure's: stepDown clears it, and completions of operations it
// no longer tracks are ignored.
type gcState struct {
	stats GCStats
	// nextAt is when the next pass starts; pass counts this tenure's passes
	// and active says one is running.
	nextAt sm.Time
	pass   uint64
	active bool
	// after is the list cursor (the last name listed); listID the list in
	// flight (0: none); page the listed objects waiting for the read round
	// readSeq (0: none), with more telling whether another page follows.
	after   string
	listID  sm.EffectID
	page    []sm.ObjectInfo
	more    bool
	readSeq uint64
	// readConfirmed and readIndex are raft's answer to readSeq.
	readConfirmed bool
	readIndex     uint64
	// queue holds names decided to be deleted, not yet issued; deletes the
	// ones in flight by effect ID.
	queue      []string
	deletes    map[sm.EffectID]string
	candidates map[string]gcSighting
}

// gcVerdict is what the collector makes of one listed object.
type gcVerdict uint8

const (
	gcKeep        gcVerdict = iota // recorded, or it may still be
	gcCollectable                  // unreferenced for good
	gcForeign                      // not a segment object: left alone
)

// GCStats reports the collector's counters.
func (n *Node) GCStats() GCStats {
	s := n.gc.stats
	s.Candidates = len(n.gc.candidates)
	return s
}

func (n *Node) gcGrace() sm.Duration {
	if n.cfg.Tiering.GCGrace > 0 {
		return n.cfg.Tiering.GCGrace
	}
	return DefaultGCGrace
}

func (n *Node) gcInterval() sm.Duration {
	if n.cfg.Tiering.GCInterval > 0 {
		return n.cfg.Tiering.GCInterval
	}
	return DefaultGCInterval
}

// gcStepUp starts a tenure's collector: the first pass starts at once, and
// every object waits a full grace from its first sighting.
func (n *Node) gcStepUp() {
	assert.That(!n.gc.active && len(n.gc.candidates) == 0 && len(n.gc.deletes) == 0,
		"controller: %v steps up with a collection pass running", n.cfg.ID)
	n.gc.nextAt = n.now
	n.gc.pass = 0
}

// gcStepDown forgets the tenure's collector state; late completions of its
// operations are then ignored.
func (n *Node) gcStepDown() {
	stats := n.gc.stats
	n.gc = gcState{stats: stats}
}

// gcTick starts a pass when one is due.
func (n *Node) gcTick() {
	if !n.cfg.Tiering.GC || !n.IsLeader() || n.gc.active || n.now < n.gc.nextAt {
		return
	}
	n.gc.active = true
	n.gc.pass++
	n.gc.after = ""
	n.gcList()
}

// gcList asks for the page after the cursor.
func (n *Node) gcList() {
	assert.That(n.gc.listID == 0 && n.gc.readSeq == 0 && len(n.gc.page) == 0, "controller: %v lists with a page in hand", n.cfg.ID)
	n.gc.listID = n.nextEffect()
	n.out.Objects = append(n.out.Objects, sm.ObjectOp{ID: n.gc.listID, Kind: sm.ObjList, Prefix: sm.SegmentsPrefix, After: n.gc.after, Limit: gcListPage})
}

// gcEnd ends the pass: candidates it did not see are gone (deleted, or
// deleted by someone else) and forgotten; the next pass starts an interval
// from now.
func (n *Node) gcEnd(completed bool) {
	if completed {
		n.gc.stats.Passes++
		maps.DeleteFunc(n.gc.candidates, func(_ string, c gcSighting) bool { return c.pass != n.gc.pass })
	}
	n.gc.active, n.gc.after, n.gc.more = false, "", false
	n.gc.nextAt = n.now.Add(n.gcInterval())
}

// onObjectDone completes one of the collector's operations; anything else
// (a previous tenure's, a previous process's) is ignored.
func (n *Node) onObjectDone(d sm.ObjectDone) {
	switch {
	case d.ID != 0 && d.ID == n.gc.listID:
		n.onGCListed(d)
	case n.gc.deletes[d.ID] != "":
		n.onGCDeleted(d)
	}
}

func (n *Node) onGCListed(d sm.ObjectDone) {
	n.gc.listID = 0
	if d.Outcome != sm.OutcomeOK {
		n.gc.stats.ListErrors++
		n.gcEnd(false)
		return
	}
	n.gc.stats.Listed += uint64(len(d.Objects))
	if len(d.Objects) == 0 {
		n.gcEnd(true)
		return
	}
	page, more := d.Objects, d.More
	if len(page) > gcListPage { // a store that ignored the limit: take what was asked
		page, more = page[:gcListPage], true
	}
	last := page[len(page)-1].Name
	if last <= n.gc.after {
		more = false // a store that lists backwards would never end the pass
	}
	n.gc.page = slices.Clone(page)
	n.gc.more = more
	n.gc.after = last
	// The read round must start after the page arrived: see the comment
	// at the top of this file.
	n.readSeqLast++
	n.gc.readSeq, n.gc.readConfirmed, n.gc.readIndex = n.readSeqLast, false, 0
	n.rn.ReadIndex(binary.LittleEndian.AppendUint64(nil, n.readSeqLast))
}

// gcOnReadState takes raft's answer to the collector's read round; false
// when seq is not the collector's.
func (n *Node) gcOnReadState(seq, index uint64) bool {
	if seq == 0 || seq != n.gc.readSeq {
		return false
	}
	n.gc.readConfirmed, n.gc.readIndex = true, index
	return true
}

// gcAfterApply classifies the page once its read round is confirmed and
// applied, and issues the deletes due.
func (n *Node) gcAfterApply() {
	if n.gc.readSeq == 0 || !n.gc.readConfirmed || n.gc.readIndex > n.md.applied {
		return
	}
	page := n.gc.page
	n.gc.page, n.gc.readSeq, n.gc.readConfirmed = nil, 0, false
	byID := n.md.topicsByID()
	grace := n.gcGrace()
	for _, o := range page {
		switch n.md.gcClassify(o.Name, byID) {
		case gcForeign:
			n.gc.stats.Unparseable++
		case gcKeep:
			delete(n.gc.candidates, o.Name)
		case gcCollectable:
			c, seen := n.gc.candidates[o.Name]
			if !seen {
				if len(n.gc.candidates) >= gcCandidatesMax {
					continue
				}
				c.since = n.now
			}
			c.pass = n.gc.pass
			if n.gc.candidates == nil {
				n.gc.candidates = map[string]gcSighting{}
			}
			n.gc.candidates[o.Name] = c
			if n.now.Sub(c.since) >= grace {
				n.gc.queue = append(n.gc.queue, o.Name)
			}
		}
	}
	n.gcProceed()
}

// gcProceed issues queued deletes within the limit and, once the page is
// done, lists the next one or ends the pass.
func (n *Node) gcProceed() {
	for len(n.gc.queue) > 0 && len(n.gc.deletes) < gcDeletesInflightMax {
		name := n.gc.queue[0]
		n.gc.queue = n.gc.queue[1:]
		id := n.nextEffect()
		if n.gc.deletes == nil {
			n.gc.deletes = map[sm.EffectID]string{}
		}
		n.gc.deletes[id] = name
		n.out.Objects = append(n.out.Objects, sm.ObjectOp{ID: id, Kind: sm.ObjDelete, Name: name})
	}
	if len(n.gc.queue) > 0 || len(n.gc.deletes) > 0 || n.gc.readSeq != 0 || n.gc.listID != 0 || !n.gc.active {
		return
	}
	if n.gc.more {
		n.gcList()
		return
	}
	n.gcEnd(true)
}

func (n *Node) onGCDeleted(d sm.ObjectDone) {
	name := n.gc.deletes[d.ID]
	delete(n.gc.deletes, d.ID)
	if d.Outcome == sm.OutcomeOK { // removed, or already gone
		n.gc.stats.Deleted++
		delete(n.gc.candidates, name)
		n.probe(sm.ProbeOrphanCollected)
	} else {
		n.gc.stats.DeleteErrors++ // it stays a candidate: the next pass tries again
	}
	n.gcProceed()
}

// topicsByID indexes the live topics by ID.
func (md *metadata) topicsByID() map[sm.TopicID]*topicEntry {
	byID := make(map[sm.TopicID]*topicEntry, len(md.topics))
	for _, t := range md.topics { // building an index: order does not matter
		byID[t.info.ID] = t
	}
	return byID
}

// gcClassify decides one listed object against the applied state (see the
// top of this file); byID is md.topicsByID().
func (md *metadata) gcClassify(name string, byID map[sm.TopicID]*topicEntry) gcVerdict {
	on, err := sm.ParseObjectName(name)
	if err != nil {
		return gcForeign
	}
	t := byID[on.TopicID]
	if t == nil || int(on.Partition) >= len(t.partitions) {
		return gcCollectable // the topic is gone (the read round proved it), or never had it
	}
	p := t.partitions[on.Partition]
	switch st := &p.state; {
	case p.refers(name, on.Base):
		return gcKeep
	case on.Epoch < st.LeaderEpoch, on.Base < st.Remote.End:
		return gcCollectable
	}
	return gcKeep
}

// checkGC: the collector's state is the leader's, within its limits, and
// consistent.
func (n *Node) checkGC() error {
	g := &n.gc
	if n.leaderTerm == 0 && (g.active || g.listID != 0 || g.readSeq != 0 || len(g.page) > 0 || len(g.queue) > 0 || len(g.deletes) > 0 || len(g.candidates) > 0) {
		return fmt.Errorf("controller: %v not leader with a collection pass (active %v, list %d, read %d, %d listed, %d queued, %d deleting, %d candidates)",
			n.cfg.ID, g.active, g.listID, g.readSeq, len(g.page), len(g.queue), len(g.deletes), len(g.candidates))
	}
	if !n.cfg.Tiering.GC && (g.active || len(g.candidates) > 0) {
		return fmt.Errorf("controller: %v collects with the collector off", n.cfg.ID)
	}
	switch {
	case len(g.deletes) > gcDeletesInflightMax:
		return fmt.Errorf("controller: %v has %d deletes in flight above limit %d", n.cfg.ID, len(g.deletes), gcDeletesInflightMax)
	case len(g.candidates) > gcCandidatesMax:
		return fmt.Errorf("controller: %v holds %d candidates above limit %d", n.cfg.ID, len(g.candidates), gcCandidatesMax)
	case len(g.page) > gcListPage || len(g.queue) > gcListPage:
		return fmt.Errorf("controller: %v holds %d listed and %d queued names, above the page of %d", n.cfg.ID, len(g.page), len(g.queue), gcListPage)
	case (g.listID != 0 || g.readSeq != 0 || len(g.queue) > 0) && !g.active:
		return fmt.Errorf("controller: %v has collector work outside a pass", n.cfg.ID)
	case g.listID != 0 && (g.readSeq != 0 || len(g.page) > 0):
		return fmt.Errorf("controller: %v lists while a page waits", n.cfg.ID)
	case g.readSeq > n.readSeqLast || g.listID > n.effectLast:
		return fmt.Errorf("controller: %v collector read %d or list %d not issued (last %d, %d)", n.cfg.ID, g.readSeq, g.listID, n.readSeqLast, n.effectLast)
	}
	for _, c := range g.candidates { // any order finds whether one is bad
		if c.since > n.now || c.pass > g.pass {
			return fmt.Errorf("controller: %v candidate first seen at %v (pass %d) after now %v (pass %d)", n.cfg.ID, c.since, c.pass, n.now, g.pass)
		}
	}
	return nil
}
