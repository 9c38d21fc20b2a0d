package sim

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/broker"
	"github.com/weirmq/weir/sm/controller"
	"github.com/weirmq/weir/sm/partition"
)

// Cluster-wide invariants, checked every invariantInterval of virtual time
// on top of each node's own CheckInvariants after every step:
//
//   - no two brokers lead one partition in the same leader epoch;
//   - committed data never changes: every replica's records below its high
//     watermark agree with the cluster's committed log of that partition,
//     which only grows;
//   - a running replica never drops records below its high watermark;
//   - raft: at most one controller leads a term, and a committed entry never
//     changes (every controller's committed entries agree, by index, with
//     the cluster's committed raft log, which only grows). With compaction a
//     controller holds only the entries after its snapshot (and a few
//     before): those it holds are compared, and the snapshot stands for the
//     rest — its index and term must be the committed entry's;
//   - controllers that applied the same index hold the same metadata,
//     whether they replayed the log or restored a snapshot (the encoded
//     metadata is compared, across controllers and over time);
//   - GC safety: every uploaded segment the newest controller metadata
//     records is in the object store, whole and as committed
//     (checkGCSafety); and in the liveness phase every orphan object is
//     collected within the garbage collector's grace (objectLiveness).
const invariantInterval = 100 * sm.Millisecond

type replicaKey struct {
	broker sm.NodeID
	inc    uint64
	tp     sm.TopicPartition
}

type invariants struct {
	committed map[sm.TopicPartition][]string // values by offset, committed
	verified  map[replicaKey]sm.Offset       // replica checked below this
	// raft is the cluster's committed raft log by index; raftLeaders the
	// controller seen leading each term; raftVerified how far each
	// controller process was checked.
	raft         map[uint64]raftEntry
	raftLeaders  map[uint64]sm.NodeID
	raftVerified map[replicaKey]uint64
	// raftStates is the encoded metadata some controller held at an applied
	// index (the newest raftStatesMax indexes); raftStateSeen the applied
	// index each controller process was last compared at.
	raftStates    map[uint64]raftState
	raftStateSeen map[replicaKey]uint64
	// objVerified is how far each recorded segment object was verified
	// (checkGCSafety); orphanSince when each orphan object was first seen
	// one (trackOrphans).
	objVerified map[string]objChecked
	// objNames caches parsed segment object names (nil: not a segment
	// object's name) for trackOrphans, which looks at every object often.
	objNames    map[string]*sm.ObjectName
	orphanSince map[string]sm.Time
	// appliedMax is the highest applied index any controller was seen at.
	appliedMax uint64
}

// raftState is the metadata a controller held at an applied index.
type raftState struct {
	digest   string
	by       sm.NodeID
	restored bool // by had restored a snapshot (at start or from the leader)
}

// raftStatesMax bounds invariants.raftStates.
const raftStatesMax = 256

// raftEntry is what identifies a committed raft entry.
type raftEntry struct {
	term uint64
	data string
}

func (w *World) startInvariants() {
	w.inv = invariants{committed: map[sm.TopicPartition][]string{}, verified: map[replicaKey]sm.Offset{},
		raft: map[uint64]raftEntry{}, raftLeaders: map[uint64]sm.NodeID{}, raftVerified: map[replicaKey]uint64{},
		raftStates: map[uint64]raftState{}, raftStateSeen: map[replicaKey]uint64{}}
	var tick func()
	tick = func() {
		w.checkCluster()
		w.after(invariantInterval, tick)
	}
	w.after(invariantInterval, tick)
}

func (w *World) checkCluster() {
	for _, id := range w.controllerIDs() {
		w.checkRaft(id)
	}
	w.checkObjects()
	unclean := map[string]bool{}
	for _, t := range w.cfg.Topics {
		unclean[t.Name] = t.Unclean
	}
	// One status listing per broker per check: a seed may run hundreds of
	// partitions.
	brokers := w.brokerIDs()
	replicas := map[sm.NodeID]map[sm.TopicPartition]broker.PartitionStatus{}
	for _, id := range brokers {
		if b := w.brokerNode(id); b != nil {
			replicas[id] = statusByTP(b)
		}
	}
	for _, tp := range w.workloadTPs() {
		w.checkLeaders(tp, brokers, replicas)
		if !unclean[tp.Topic] {
			for _, id := range brokers {
				if st, ok := replicas[id][tp]; ok {
					w.checkCommitted(id, tp, st)
				}
			}
		}
	}
}

func (w *World) checkLeaders(tp sm.TopicPartition, brokers []sm.NodeID, replicas map[sm.NodeID]map[sm.TopicPartition]broker.PartitionStatus) {
	leaders := map[sm.Epoch]sm.NodeID{}
	for _, id := range brokers {
		st, ok := replicas[id][tp]
		if !ok || st.Role != partition.RoleLeader {
			continue
		}
		if other, dup := leaders[st.LeaderEpoch]; dup {
			w.fail("%v: %v and %v both lead epoch %d", tp, other, id, st.LeaderEpoch)
			return
		}
		leaders[st.LeaderEpoch] = id
	}
}

// checkCommitted compares the new part of one replica's committed prefix
// (st is its status) with the cluster's committed log.
// unverified marks an offset of the cluster's committed log whose value no
// check has read (retention deleted it first). No produced value equals it.
const unverified = "\x00unverified"

func (w *World) checkCommitted(id sm.NodeID, tp sm.TopicPartition, st broker.PartitionStatus) {
	key := replicaKey{id, w.hosts[id].incarnation, tp}
	from := w.inv.verified[key]
	if st.LEO < from {
		w.fail("%v on %v: log end %d fell below checked committed offset %d", tp, id, st.LEO, from)
		return
	}
	if st.HW <= from {
		return
	}
	ref := w.inv.committed[tp]
	// The oracle stops at a frame it cannot read (a bit flipped at rest):
	// only what it read is verified, and the next check starts there.
	log := w.diskBatches(id, tp, from)
	checked := from
	i := sort.Search(len(log), func(i int) bool { return log[i].NextOffset() > from })
	for ; i < len(log) && log[i].BaseOffset < st.HW; i++ {
		for j, r := range decoded(&log[i]) {
			off := log[i].BaseOffset + sm.Offset(j)
			if off < from || off >= st.HW {
				continue
			}
			checked = off + 1
			if int(off) > len(ref) && (off == st.LogStart || off == st.LocalStart) {
				// Retention deleted what lies below this replica's log start
				// before any check read it, or the local window deleted what
				// only the object store holds now (the GC-safety check
				// compares those): those offsets stay unverified here.
				for int(off) > len(ref) {
					ref = append(ref, unverified)
				}
			}
			switch {
			case int(off) < len(ref) && ref[off] == unverified:
				ref[off] = string(r.Value)
			case int(off) < len(ref):
				if ref[off] != string(r.Value) {
					w.fail("%v on %v: committed offset %d holds %q, cluster committed %q", tp, id, off, r.Value, ref[off])
					return
				}
			case int(off) == len(ref):
				ref = append(ref, string(r.Value))
			default:
				w.fail("%v on %v: committed offset %d beyond a gap at %d", tp, id, off, len(ref))
				return
			}
		}
	}
	w.inv.committed[tp] = ref
	w.inv.verified[key] = checked
}

// checkRaft checks one controller against raft's two promises: one leader
// per term, and committed entries never change.
func (w *World) checkRaft(id sm.NodeID) {
	c := w.controllerNode(id)
	if c == nil {
		return
	}
	if c.IsLeader() {
		term := c.Term()
		if other, ok := w.inv.raftLeaders[term]; ok && other != id {
			w.fail("raft: %v and %v both lead term %d", other, id, term)
			return
		}
		w.inv.raftLeaders[term] = id
	}
	key := replicaKey{broker: id, inc: w.hosts[id].incarnation}
	from := w.inv.raftVerified[key] + 1
	ents := c.CommittedEntries(from)
	for _, e := range ents {
		i := e.GetIndex()
		got := raftEntry{term: e.GetTerm(), data: string(e.GetData())}
		if ref, ok := w.inv.raft[i]; !ok {
			w.inv.raft[i] = got
		} else if ref != got {
			w.fail("raft: %v holds committed entry %d as term %d (%d bytes); the cluster committed term %d (%d bytes)",
				id, i, got.term, len(got.data), ref.term, len(ref.data))
			return
		}
	}
	if n := len(ents); n > 0 {
		w.inv.raftVerified[key] = ents[n-1].GetIndex()
	}
	w.checkRaftSnapshot(id, c, key)
}

// checkRaftSnapshot checks what a controller's snapshot summarises: the
// snapshot names a committed entry (index and term), and the metadata at
// the controller's applied index is the one every other controller held at
// that index.
func (w *World) checkRaftSnapshot(id sm.NodeID, c *controller.Node, key replicaKey) {
	if si := c.SnapshotIndex(); si > 1 {
		if ref, ok := w.inv.raft[si]; ok && ref.term != c.SnapshotTerm() {
			w.fail("raft: %v holds a snapshot at %d of term %d; the cluster committed term %d there", id, si, c.SnapshotTerm(), ref.term)
			return
		}
	}
	applied := c.AppliedIndex()
	if seen, ok := w.inv.raftStateSeen[key]; ok && seen == applied {
		return // compared at this index already
	}
	w.inv.raftStateSeen[key] = applied
	got := raftState{digest: string(c.MetadataDigest()), by: id, restored: c.Restored()}
	ref, ok := w.inv.raftStates[applied]
	if !ok {
		w.inv.raftStates[applied] = got
		for len(w.inv.raftStates) > raftStatesMax {
			delete(w.inv.raftStates, slices.Min(slices.Collect(maps.Keys(w.inv.raftStates))))
		}
		return
	}
	if ref.digest != got.digest {
		w.fail("raft: %v's metadata at applied index %d (snapshot at %d, restored from a snapshot: %v) differs from %v's at that index (restored: %v):\n%s\n%s",
			id, applied, c.SnapshotIndex(), got.restored, ref.by, ref.restored, got.digest, ref.digest)
		return
	}
	if got.restored != ref.restored {
		w.stats.reach("restored metadata matches replayed")
	}
}

// diskBatches is what the cluster invariants read of a replica's log: the
// disk oracle's batches (diskLog), since no replica holds its log in
// memory; from the segment holding offset from on at least.
func (w *World) diskBatches(id sm.NodeID, tp sm.TopicPartition, from sm.Offset) []sm.Batch {
	log, _ := w.diskLog(id, tp, from)
	return log
}

// diskLog is the disk oracle: broker id's log of tp as its disk's page cache
// holds it now — every segment's frames, decoded — skipping the segments
// that end at or below from. It stops at the first frame that does not
// decode (a torn tail recovery has not cut yet, a bit flipped at rest) or
// does not continue the log, with an error naming the file and byte.
func (w *World) diskLog(id sm.NodeID, tp sm.TopicPartition, from sm.Offset) ([]sm.Batch, error) {
	return w.hosts[id].disk.logBatches(tp, from)
}

// ---- tiered storage: GC safety and orphan collection -----------------------

// remoteRecords is what the tiered-storage checkers read of a controller:
// the uploaded segments its applied metadata records, by partition
// ((*controller.Node).RemoteSegments). A controller without it records no
// segments, and the checkers have nothing to check.
type remoteRecords interface {
	RemoteSegments() map[sm.TopicPartition][]sm.RemoteSegment
	AppliedIndex() uint64
	Metadata() sm.MetadataDelta
}

// objChecked is how far the GC-safety check has verified one object.
type objChecked struct {
	gen int64
	// compared is the offset below which its records were compared with
	// the cluster's committed log (which may not have reached them yet).
	compared sm.Offset
}

// recordsView is the newest applied segment records among the running
// controllers: the controller with the highest applied index (its
// RemoteSegments and Metadata), and ok false when no controller records
// segments. Any
// controller's applied state is a prefix of the committed history, and the
// garbage collector deletes only objects no later entry can record again
// (committability only shrinks), so the newest state is the one the object
// store must agree with; newest says that no controller was ever seen
// further (a lagging controller may still record a segment that a later
// drop removed and the collector deleted, and is checked only for
// orphans, where that errs on the safe side).
func (w *World) recordsView() (c remoteRecords, by sm.NodeID, newest, ok bool) {
	var best remoteRecords
	for _, id := range w.controllerIDs() {
		h := w.hosts[id]
		if !h.up {
			continue
		}
		if a, ok := h.node.(interface{ AppliedIndex() uint64 }); ok {
			w.inv.appliedMax = max(w.inv.appliedMax, a.AppliedIndex())
		}
		if c, has := h.node.(remoteRecords); has && (best == nil || c.AppliedIndex() > best.AppliedIndex()) {
			best, by = c, id
		}
	}
	if best == nil {
		return nil, 0, false, false
	}
	return best, by, best.AppliedIndex() >= w.inv.appliedMax, true
}

// checkObjects runs both tiered-storage checks on the newest records.
func (w *World) checkObjects() {
	c, by, newest, ok := w.recordsView()
	if !ok {
		return
	}
	recs := c.RemoteSegments()
	if newest {
		w.checkGCSafety(recs, by)
	}
	if w.failure == nil {
		w.trackOrphans(recs, c.Metadata)
	}
}

// checkGCSafety is GC safety: every segment the records refer to is in the
// object store, and, once per object (and again as the committed log
// grows), its bytes are what the record says — DataBytes of whole frames
// whose CRC32C holds, offsets dense over [Base, Next), then IndexBytes of
// a segment index of the same range — and its records agree with the
// cluster's committed log of the partition.
func (w *World) checkGCSafety(recs map[sm.TopicPartition][]sm.RemoteSegment, by sm.NodeID) {
	if w.inv.objVerified == nil {
		w.inv.objVerified = map[string]objChecked{}
	}
	workload := map[sm.TopicPartition]bool{}
	for _, tp := range w.workloadTPs() {
		workload[tp] = true
	}
	for _, tp := range slices.SortedFunc(maps.Keys(recs), sm.CompareTP) {
		for i := range recs[tp] {
			seg := &recs[tp][i]
			var data []byte
			var gen int64
			exists := false
			if w.objects != nil {
				data, exists = w.objects.Get(seg.Name)
				gen = w.objects.model.Generation(seg.Name)
			}
			if !exists {
				w.fail("gc safety: %v segment [%d, %d) %s, recorded in %v's metadata, is not in the object store", tp, seg.Base, seg.Next, seg.Name, by)
				return
			}
			done, seen := w.inv.objVerified[seg.Name]
			if seen && done.gen == gen && (done.compared >= seg.Next || !workload[tp] || done.compared >= sm.Offset(len(w.inv.committed[tp]))) {
				continue
			}
			if !seen || done.gen != gen {
				done = objChecked{gen: gen, compared: seg.Base}
			}
			if err := w.verifySegmentObject(tp, seg, data, workload[tp], &done); err != "" {
				w.fail("gc safety: %v segment [%d, %d) %s, recorded in %v's metadata: %s", tp, seg.Base, seg.Next, seg.Name, by, err)
				return
			}
			w.inv.objVerified[seg.Name] = done
		}
	}
}

// verifySegmentObject checks one recorded segment's object bytes (see
// checkGCSafety), comparing records from done.compared on with the
// committed log when compare, and advances done.compared.
func (w *World) verifySegmentObject(tp sm.TopicPartition, seg *sm.RemoteSegment, data []byte, compare bool, done *objChecked) string {
	if int64(len(data)) != seg.Bytes() || seg.DataBytes < 0 || seg.IndexBytes < 0 {
		return fmt.Sprintf("object holds %d bytes, the record says %d of frames and %d of index", len(data), seg.DataBytes, seg.IndexBytes)
	}
	frames := data[:seg.DataBytes]
	// The object holds a whole local segment, which may start below the
	// record's Base (a new leader whose segment straddled the uploaded end
	// uploads it whole; readers never serve below Base): its index trailer
	// says where its frames start.
	trailer, err := sm.DecodeSegmentIndex(data[seg.DataBytes:])
	if err != nil {
		return fmt.Sprintf("index trailer does not decode: %v", err)
	}
	if trailer.Base > seg.Base || trailer.Next != seg.Next || trailer.Bytes != seg.DataBytes {
		return fmt.Sprintf("index trailer covers [%d, %d) in %d bytes, the record [%d, %d) in %d", trailer.Base, trailer.Next, trailer.Bytes, seg.Base, seg.Next, seg.DataBytes)
	}
	idx, serr := sm.ScanSegment(frames, trailer.Base, 0)
	switch {
	case serr != nil:
		return fmt.Sprintf("frames do not decode: %v", serr)
	case idx.Next != seg.Next:
		return fmt.Sprintf("frames hold offsets [%d, %d)", trailer.Base, idx.Next)
	}
	if seg.Base > trailer.Base {
		if _, ok := frameStartingAt(frames, seg.Base); !ok {
			return fmt.Sprintf("no batch of the object starts at the record's base %d", seg.Base)
		}
	}
	if !compare {
		done.compared = seg.Next
		return ""
	}
	ref := w.inv.committed[tp]
	for pos := 0; pos < len(frames); {
		b, n, _ := sm.DecodeBatch(frames[pos:])
		pos += n
		for j, r := range decoded(&b) {
			off := b.BaseOffset + sm.Offset(j)
			if off < done.compared {
				continue
			}
			if int(off) >= len(ref) {
				return "" // the committed log has not reached it yet: later
			}
			switch ref[off] {
			case unverified:
				ref[off] = string(r.Value) // below every replica's log start: the object is the only copy
			case string(r.Value):
			default:
				return fmt.Sprintf("offset %d holds %q, the cluster committed %q", off, r.Value, ref[off])
			}
			done.compared = off + 1
		}
	}
	return ""
}

// frameStartingAt finds the frame of frames whose batch starts at off.
func frameStartingAt(frames []byte, off sm.Offset) (int, bool) {
	for pos := 0; pos < len(frames); {
		b, n, err := sm.DecodeBatch(frames[pos:])
		if err != nil || b.BaseOffset > off {
			return 0, false
		}
		if b.BaseOffset == off {
			return pos, true
		}
		pos += n
	}
	return 0, false
}

// trackOrphans notes since when each segment object has been an orphan the
// garbage collector must delete: referenced by no record and never
// committable any more — its topic ID is gone, its partition does not
// exist, its epoch is below the partition's leader epoch, or its base below
// the uploaded end (the controller's GC rule, sm/controller/gc.go). Names
// under segments/ that are not segment object names are not the
// collector's: it leaves them alone, and so does the check.
func (w *World) trackOrphans(recs map[sm.TopicPartition][]sm.RemoteSegment, metadata func() sm.MetadataDelta) {
	if w.objects == nil {
		return
	}
	names := w.objects.Names(sm.SegmentsPrefix)
	if len(names) == 0 && len(w.inv.orphanSince) == 0 {
		return // nothing to track: skip building the metadata
	}
	md := metadata()
	if w.inv.orphanSince == nil {
		w.inv.orphanSince = map[string]sm.Time{}
	}
	referenced := map[string]bool{}
	for _, segs := range recs {
		for _, s := range segs {
			referenced[s.Name] = true
		}
	}
	topics := map[sm.TopicID]string{}
	for _, t := range md.Topics {
		topics[t.ID] = t.Name
	}
	parts := map[sm.TopicPartition]sm.PartitionState{}
	for _, p := range md.Partitions {
		parts[p.TP] = p
	}
	live := make(map[string]bool, len(names))
	for _, name := range names {
		live[name] = true
		if referenced[name] || !collectable(w.parseObjectName(name), topics, parts) {
			delete(w.inv.orphanSince, name)
			continue
		}
		if _, ok := w.inv.orphanSince[name]; !ok {
			w.inv.orphanSince[name] = w.now
		}
	}
	for name := range w.inv.objNames {
		if !live[name] {
			delete(w.inv.objNames, name)
		}
	}
	for name := range w.inv.orphanSince {
		if !live[name] {
			delete(w.inv.orphanSince, name) // collected
			w.stats.reach("orphan object collected")
		}
	}
}

// parseObjectName is sm.ParseObjectName, cached (nil: not a segment
// object's name).
func (w *World) parseObjectName(name string) *sm.ObjectName {
	if w.inv.objNames == nil {
		w.inv.objNames = map[string]*sm.ObjectName{}
	}
	n, ok := w.inv.objNames[name]
	if !ok {
		if p, err := sm.ParseObjectName(name); err == nil {
			n = &p
		}
		w.inv.objNames[name] = n
	}
	return n
}

// collectable reports whether the collector may delete an unreferenced
// segment object named n (nil: a name that is not a segment object's, which
// the collector leaves alone): it can never be recorded — no live topic
// has its topic ID, the partition does not exist, its epoch is below the
// partition's leader epoch, or its base below the uploaded end.
func collectable(n *sm.ObjectName, topics map[sm.TopicID]string, parts map[sm.TopicPartition]sm.PartitionState) bool {
	if n == nil {
		return false
	}
	topic, ok := topics[n.TopicID]
	if !ok {
		return true
	}
	st, ok := parts[sm.TopicPartition{Topic: topic, Partition: n.Partition}]
	return !ok || n.Epoch < st.LeaderEpoch || n.Base < st.Remote.End
}

// orphanAllowance is how long an orphan may outlive its becoming one: the
// controllers' grace, then up to a collection interval before the pass that
// finds it past its grace and another of slack, and the list and delete
// round trips of that pass (object ops take at most ObjectLatencyMax once
// the faults are healed; a pass pages through a partition's objects).
func (w *World) orphanAllowance() sm.Duration {
	return w.cfg.GCGrace + 3*w.cfg.GCInterval + 4*w.cfg.ObjectLatencyMax + 2*invariantInterval
}

// overdueOrphans lists the orphans older than orphanAllowance.
func (w *World) overdueOrphans() []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(w.inv.orphanSince)) {
		if w.now.Sub(w.inv.orphanSince[name]) > w.orphanAllowance() {
			out = append(out, name)
		}
	}
	return out
}

// objectLiveness is the liveness phase's orphan check: with the faults
// healed, the garbage collector deletes every orphan within its allowance.
// It runs the world until no orphan is left and no object op is in flight
// (a late put may still land and leave one) — at most one allowance, and
// not at all when the store is empty — then fails the run for any orphan
// older than its allowance. Objects still referenced or still committable
// may stay.
func (w *World) objectLiveness() error {
	if _, _, _, ok := w.recordsView(); !ok || w.objects == nil {
		return nil
	}
	w.checkObjects()
	settled := func() bool { return len(w.inv.orphanSince) == 0 && w.objects.pending == 0 }
	if !settled() {
		w.runUntil(w.now.Add(w.orphanAllowance()+invariantInterval), settled)
		if w.failure != nil {
			return w.failure
		}
		w.checkObjects()
	}
	if late := w.overdueOrphans(); len(late) > 0 {
		return fmt.Errorf("t=%v: liveness: %d orphan objects not collected within %v (gc grace %v, interval %v), first %s, an orphan since %v",
			w.now, len(late), w.orphanAllowance(), w.cfg.GCGrace, w.cfg.GCInterval, late[0], w.inv.orphanSince[late[0]])
	}
	return w.failure
}
