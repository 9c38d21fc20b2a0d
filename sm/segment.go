package sm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Segments, indexes and manifests: the on-disk shape of a partition log that
// every log store (io/wal, the simulator's disk, the test kit's disk) keeps
// and the partition state machine reasons about without holding the bytes.
//
// A partition log is a sequence of segments. Each holds consecutive
// EncodeBatch frames with dense offsets from its Base; the next segment's
// Base is this one's Next. Every segment but the last is sealed: the state
// machine decided it was full (LogOp.Roll), and the store made it durable in
// full and wrote its index beside it. The log start offset is the first
// segment's Base; retention deletes whole sealed segments from the front
// (LogTrim). A log that was reset (LogReset) starts with an empty segment at
// the reset offset.
//
// Indexes are derived data: every store builds them with IndexBuilder, the
// one rule, so the index a store rebuilds from a segment whose index file is
// missing or corrupt is exactly the one the state machine built while it
// appended.

// IndexIntervalBytes is how far apart index entries are: an entry for a
// segment's first batch, for the first batch of every epoch, and for the
// first batch that starts at least this many bytes after the previous
// entry. A read positioned by the index reads at most this many bytes it
// does not need, and every epoch start has a known position (a truncation
// to it needs one).
const IndexIntervalBytes = 32 << 10

// IndexEntry locates one batch in its segment file.
type IndexEntry struct {
	// Offset is the batch's base offset.
	Offset Offset
	// Pos is the byte position of its frame in the segment file.
	Pos int64
	// MaxTimestamp is the largest Batch.Timestamp of the segment's batches up
	// to and including this one: the first entry whose MaxTimestamp reaches
	// t bounds where the first batch at or after t can be (it lies after
	// the previous entry). It may be larger than the batches bear out (a
	// replica that truncated into batches it no longer held in memory keeps
	// the old maximum), never smaller: readers treat it as an upper bound.
	MaxTimestamp int64
}

// EpochStart is where a leader epoch's batches begin: one entry of the
// leader-epoch cache that the divergence check (KIP-320/595) consults.
type EpochStart struct {
	Epoch Epoch
	Start Offset
}

// SegmentIndex describes one segment without its bytes.
type SegmentIndex struct {
	// Base is the offset of the segment's first batch (its file's name);
	// Next the offset after its last one (Base for an empty segment).
	Base, Next Offset
	// Bytes is the size of its frames: the file's length.
	Bytes int64
	// MaxTimestamp is the largest batch timestamp in it (0 when empty).
	MaxTimestamp int64
	// Sealed segments no longer change; only the last segment is active.
	Sealed bool
	// Entries are in offset order; the first is the first batch's.
	Entries []IndexEntry
	// Epochs lists the first offset of every epoch whose batches begin in
	// this segment or continue into it: the first batch's epoch always has
	// an entry, at Base.
	Epochs []EpochStart
	// Producers holds the segment's idempotent batches in offset order, at
	// least the last ProducerBatchesKept of each producer (older ones are
	// dropped as the list grows, see IndexBuilder.Add). It is the
	// producer state a replica recovers without reading the log (Kafka's
	// producer snapshot, kept with the index).
	Producers []ProducerBatch
}

// ProducerBatchesKept is how many of a producer's latest batches a
// partition remembers (Kafka's five): an idempotent producer keeps at most
// this many batches in flight per partition, so every retry it can send
// is one of them.
const ProducerBatchesKept = 5

// ProducerBatch is one idempotent batch of a segment: its producer, the
// sequence numbers of its first and last records, and their offsets.
type ProducerBatch struct {
	ProducerID        int64
	Epoch             int16
	FirstSeq, LastSeq int32
	Base, Last        Offset
}

// SeqAdd is seq advanced by n records: sequence numbers wrap from
// MaxInt32 to 0 (Kafka's rule).
func SeqAdd(seq int32, n int64) int32 {
	return int32((int64(seq) + n) % (1 << 31))
}

// CutProducers is ps without the batches at or after off (a truncation).
func CutProducers(ps []ProducerBatch, off Offset) []ProducerBatch {
	i := len(ps)
	for i > 0 && ps[i-1].Base >= off {
		i--
	}
	return ps[:i:i]
}

// TrimProducers keeps, of ps (in offset order), the last
// ProducerBatchesKept batches of each producer, in a new slice.
func TrimProducers(ps []ProducerBatch) []ProducerBatch {
	seen := make(map[int64]int, len(ps)/ProducerBatchesKept+1)
	keep := make([]bool, len(ps))
	n := 0
	for i := len(ps) - 1; i >= 0; i-- {
		if seen[ps[i].ProducerID] < ProducerBatchesKept {
			seen[ps[i].ProducerID]++
			keep[i] = true
			n++
		}
	}
	out := make([]ProducerBatch, 0, n)
	for i, k := range keep {
		if k {
			out = append(out, ps[i])
		}
	}
	return out
}

// BatchMeta is what a segment index records of one appended batch.
type BatchMeta struct {
	Base, Next Offset
	Epoch      Epoch
	Timestamp  int64
	FrameBytes int
	// ProducerID is -1 for a batch of no idempotent producer.
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
}

// MetaOf is b's BatchMeta, its frame frameBytes long. Only format-2
// batches carry a producer.
func MetaOf(b *Batch, frameBytes int) BatchMeta {
	m := BatchMeta{Base: b.BaseOffset, Next: b.NextOffset(), Epoch: b.Epoch, Timestamp: b.Timestamp, FrameBytes: frameBytes, ProducerID: -1}
	if b.V2 && b.ProducerID >= 0 {
		m.ProducerID, m.ProducerEpoch, m.BaseSequence = b.ProducerID, b.ProducerEpoch, b.BaseSequence
	}
	return m
}

// Locate returns the index entry at or below off: where a read for off
// starts. ok is false when off is below the segment's first entry.
func (s *SegmentIndex) Locate(off Offset) (IndexEntry, bool) {
	lo, hi := 0, len(s.Entries)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.Entries[m].Offset <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return IndexEntry{}, false
	}
	return s.Entries[lo-1], true
}

// IndexBuilder builds a SegmentIndex as batches are appended, by the one
// rule every store and the state machine share.
type IndexBuilder struct {
	idx  SegmentIndex
	last int64 // position of the latest entry
	// trimmed is len(idx.Producers) after its last trim: the list is
	// trimmed again once it has doubled, so a trim costs O(1) per batch.
	trimmed int
}

// producerTrimMin is the shortest Producers list the builder trims.
const producerTrimMin = 64

// NewIndexBuilder starts the index of an empty segment at base.
func NewIndexBuilder(base Offset) IndexBuilder {
	return IndexBuilder{idx: SegmentIndex{Base: base, Next: base}}
}

// ResumeIndex continues building idx (an active segment's index) with later
// appends. The entries are shared with idx until the next Add copies them.
func ResumeIndex(idx SegmentIndex) IndexBuilder {
	b := IndexBuilder{idx: idx}
	b.idx.Entries = idx.Entries[:len(idx.Entries):len(idx.Entries)]
	b.idx.Epochs = idx.Epochs[:len(idx.Epochs):len(idx.Epochs)]
	b.idx.Producers = idx.Producers[:len(idx.Producers):len(idx.Producers)]
	b.trimmed = len(idx.Producers)
	b.idx.Sealed = false
	if n := len(idx.Entries); n > 0 {
		b.last = idx.Entries[n-1].Pos
	}
	return b
}

// Add records the batch m, whose frame is appended at the end of the
// segment. The caller has checked that its base is the segment's Next and
// its epoch does not go back. An idempotent batch joins Producers, which
// is trimmed to the last ProducerBatchesKept of each producer whenever it
// has doubled since the last trim (at least producerTrimMin long).
func (b *IndexBuilder) Add(m BatchMeta) {
	base, next, epoch, timestamp, frameBytes := m.Base, m.Next, m.Epoch, m.Timestamp, m.FrameBytes
	if m.ProducerID >= 0 {
		b.idx.Producers = append(b.idx.Producers, ProducerBatch{
			ProducerID: m.ProducerID, Epoch: m.ProducerEpoch,
			FirstSeq: m.BaseSequence, LastSeq: SeqAdd(m.BaseSequence, int64(next-base-1)),
			Base: base, Last: next - 1,
		})
		if n := len(b.idx.Producers); n >= producerTrimMin && n >= 2*b.trimmed {
			b.idx.Producers = TrimProducers(b.idx.Producers)
			b.trimmed = len(b.idx.Producers)
		}
	}
	pos := b.idx.Bytes
	b.idx.MaxTimestamp = max(b.idx.MaxTimestamp, timestamp)
	newEpoch := len(b.idx.Epochs) == 0 || epoch > b.idx.Epochs[len(b.idx.Epochs)-1].Epoch
	if newEpoch {
		b.idx.Epochs = append(b.idx.Epochs, EpochStart{Epoch: epoch, Start: base})
	}
	if newEpoch || pos-b.last >= IndexIntervalBytes {
		b.idx.Entries = append(b.idx.Entries, IndexEntry{Offset: base, Pos: pos, MaxTimestamp: b.idx.MaxTimestamp})
		b.last = pos
	}
	b.idx.Next = next
	b.idx.Bytes += int64(frameBytes)
}

// LastEpoch is the epoch of the latest batch added (0 when none).
func (b *IndexBuilder) LastEpoch() Epoch {
	if n := len(b.idx.Epochs); n > 0 {
		return b.idx.Epochs[n-1].Epoch
	}
	return 0
}

// Index returns the index so far. It shares memory with the builder; Add
// never changes entries it returned.
func (b *IndexBuilder) Index() SegmentIndex {
	idx := b.idx
	idx.Entries = idx.Entries[:len(idx.Entries):len(idx.Entries)]
	idx.Epochs = idx.Epochs[:len(idx.Epochs):len(idx.Epochs)]
	idx.Producers = idx.Producers[:len(idx.Producers):len(idx.Producers)]
	return idx
}

// ScanError says where and why a segment's bytes stop being a valid log.
type ScanError struct {
	// Pos is the byte position of the first frame that is not valid.
	Pos int64
	// Reason is what is wrong with it.
	Reason string
	// Torn is set when the bytes at Pos are a frame cut short by the end of
	// the data (what an interrupted write leaves), as opposed to a frame
	// that is complete but wrong.
	Torn bool
}

func (e *ScanError) Error() string { return fmt.Sprintf("byte %d: %s", e.Pos, e.Reason) }

// ScanSegment decodes a segment's bytes from the start, checking every
// frame's checksum, that offsets run on densely from base, that no batch
// is empty, and that epochs never go back (from minEpoch, the previous
// segment's last epoch). It returns the index of the valid prefix and, if
// the bytes do not end there, why.
func ScanSegment(data []byte, base Offset, minEpoch Epoch) (SegmentIndex, *ScanError) {
	b := NewIndexBuilder(base)
	pos := 0
	last := minEpoch
	for pos < len(data) {
		bt, n, err := DecodeBatch(data[pos:])
		switch {
		case err != nil:
			return b.Index(), &ScanError{Pos: int64(pos), Reason: err.Error(), Torn: errors.Is(err, ErrShortFrame)}
		case bt.BaseOffset != b.idx.Next:
			return b.Index(), &ScanError{Pos: int64(pos), Reason: fmt.Sprintf("batch at offset %d, expected %d", bt.BaseOffset, b.idx.Next)}
		case bt.Len() == 0:
			return b.Index(), &ScanError{Pos: int64(pos), Reason: fmt.Sprintf("empty batch at offset %d", bt.BaseOffset)}
		case bt.Epoch < last || bt.Epoch < 0:
			return b.Index(), &ScanError{Pos: int64(pos), Reason: fmt.Sprintf("batch at offset %d has epoch %d after epoch %d", bt.BaseOffset, bt.Epoch, last)}
		}
		last = bt.Epoch
		b.Add(MetaOf(&bt, n))
		pos += n
	}
	return b.Index(), nil
}

// LogManifest is what a log store found for one partition log at start: its
// segments with their indexes, not their bytes. The store has validated it
// (torn tails cut, damage reported in Durable.Damaged): the state machine
// treats every offset in it as durable.
type LogManifest struct {
	// TopicID is the topic incarnation the log was created for (zero for
	// logs written before topic IDs).
	TopicID TopicID
	// Segments are in offset order, contiguous; all but the last are
	// sealed. A log always has at least one segment.
	Segments []SegmentIndex
}

// Start is the log start offset.
func (m *LogManifest) Start() Offset {
	if len(m.Segments) == 0 {
		return 0
	}
	return m.Segments[0].Base
}

// End is the log end offset.
func (m *LogManifest) End() Offset {
	if len(m.Segments) == 0 {
		return 0
	}
	return m.Segments[len(m.Segments)-1].Next
}

// Bytes is the size of every segment together.
func (m *LogManifest) Bytes() int64 {
	var n int64
	for i := range m.Segments {
		n += m.Segments[i].Bytes
	}
	return n
}

// Check reports the first way m is not a valid manifest: segments out of
// order or with a gap, a sealed last segment or an unsealed earlier one,
// indexes that disagree with their segment, epochs going back.
func (m *LogManifest) Check() error {
	if len(m.Segments) == 0 {
		return errors.New("manifest has no segment")
	}
	last := Epoch(-1)
	for i := range m.Segments {
		s := &m.Segments[i]
		switch {
		case i > 0 && s.Base != m.Segments[i-1].Next:
			return fmt.Errorf("segment %d starts at %d, previous ends at %d", i, s.Base, m.Segments[i-1].Next)
		case s.Next < s.Base || s.Bytes < 0:
			return fmt.Errorf("segment at %d ends at %d with %d bytes", s.Base, s.Next, s.Bytes)
		case s.Sealed == (i == len(m.Segments)-1):
			return fmt.Errorf("segment at %d: sealed %v, but it is segment %d of %d", s.Base, s.Sealed, i+1, len(m.Segments))
		case (s.Next == s.Base) != (len(s.Entries) == 0) || (s.Next == s.Base) != (s.Bytes == 0):
			return fmt.Errorf("segment at %d: %d records, %d bytes, %d index entries", s.Base, s.Next-s.Base, s.Bytes, len(s.Entries))
		case len(s.Entries) > 0 && (s.Entries[0].Offset != s.Base || s.Entries[0].Pos != 0):
			return fmt.Errorf("segment at %d: first index entry is offset %d at byte %d", s.Base, s.Entries[0].Offset, s.Entries[0].Pos)
		case (len(s.Epochs) == 0) != (s.Next == s.Base) || len(s.Epochs) > 0 && s.Epochs[0].Start != s.Base:
			return fmt.Errorf("segment at %d: epochs %v", s.Base, s.Epochs)
		}
		for j := 1; j < len(s.Entries); j++ {
			if e, p := s.Entries[j], s.Entries[j-1]; e.Offset <= p.Offset || e.Pos <= p.Pos || e.MaxTimestamp < p.MaxTimestamp || e.Offset >= s.Next || e.Pos >= s.Bytes {
				return fmt.Errorf("segment at %d: index entry %d (offset %d, byte %d) after (offset %d, byte %d)", s.Base, j, e.Offset, e.Pos, p.Offset, p.Pos)
			}
		}
		for _, e := range s.Epochs {
			if e.Epoch < last || e.Start < s.Base || e.Start >= s.Next {
				return fmt.Errorf("segment at %d: epoch %d at %d after epoch %d", s.Base, e.Epoch, e.Start, last)
			}
			last = e.Epoch
		}
	}
	return nil
}

// ---- index files ------------------------------------------------------------

// Index file layout (little endian), written beside a sealed segment:
//
//	u32 magic "WIX1"
//	u32 crc         CRC32C of everything after this field
//	i64 base, i64 next, i64 bytes, i64 maxTimestamp
//	u32 entries, entries × { i64 offset, i64 pos, i64 maxTimestamp }
//	u32 epochs,  epochs  × { i64 epoch, i64 start }
const indexMagic = 0x31584957 // "WIX1"

// ErrBadIndex is wrapped by DecodeSegmentIndex for any index file that cannot
// be trusted; stores rebuild the index from the segment.
var ErrBadIndex = errors.New("sm: bad segment index")

// EncodeSegmentIndex appends idx's index file to dst.
func EncodeSegmentIndex(dst []byte, idx *SegmentIndex) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, indexMagic)
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	for _, v := range []int64{int64(idx.Base), int64(idx.Next), idx.Bytes, idx.MaxTimestamp} {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(v))
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(idx.Entries)))
	for _, e := range idx.Entries {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(e.Offset))
		dst = binary.LittleEndian.AppendUint64(dst, uint64(e.Pos))
		dst = binary.LittleEndian.AppendUint64(dst, uint64(e.MaxTimestamp))
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(idx.Epochs)))
	for _, e := range idx.Epochs {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(e.Epoch))
		dst = binary.LittleEndian.AppendUint64(dst, uint64(e.Start))
	}
	if len(idx.Producers) > 0 {
		// Index files written before producers end after the epochs.
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(idx.Producers)))
		for _, pb := range idx.Producers {
			dst = binary.LittleEndian.AppendUint64(dst, uint64(pb.ProducerID))
			dst = binary.LittleEndian.AppendUint16(dst, uint16(pb.Epoch))
			dst = binary.LittleEndian.AppendUint32(dst, uint32(pb.FirstSeq))
			dst = binary.LittleEndian.AppendUint32(dst, uint32(pb.LastSeq))
			dst = binary.LittleEndian.AppendUint64(dst, uint64(pb.Base))
			dst = binary.LittleEndian.AppendUint64(dst, uint64(pb.Last))
		}
	}
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(dst[start+8:], castagnoli))
	return dst
}

// DecodeSegmentIndex reads an index file written by EncodeSegmentIndex. The
// result is sealed. Any defect — a short or long file, a bad checksum, an
// index that is not valid for a segment of its own bounds — is ErrBadIndex.
func DecodeSegmentIndex(buf []byte) (SegmentIndex, error) {
	bad := func(format string, args ...any) (SegmentIndex, error) {
		return SegmentIndex{}, fmt.Errorf("%w: %s", ErrBadIndex, fmt.Sprintf(format, args...))
	}
	if len(buf) < 8+32+8 {
		return bad("%d bytes", len(buf))
	}
	if m := binary.LittleEndian.Uint32(buf); m != indexMagic {
		return bad("magic %#x", m)
	}
	if crc32.Checksum(buf[8:], castagnoli) != binary.LittleEndian.Uint32(buf[4:]) {
		return bad("checksum mismatch")
	}
	p := buf[8:]
	i64 := func() int64 { v := int64(binary.LittleEndian.Uint64(p)); p = p[8:]; return v }
	idx := SegmentIndex{Base: Offset(i64()), Next: Offset(i64()), Bytes: i64(), MaxTimestamp: i64(), Sealed: true}
	n := binary.LittleEndian.Uint32(p)
	p = p[4:]
	if uint64(n)*24+4 > uint64(len(p)) {
		return bad("%d entries in %d bytes", n, len(p))
	}
	idx.Entries = make([]IndexEntry, n)
	for i := range idx.Entries {
		idx.Entries[i] = IndexEntry{Offset: Offset(i64()), Pos: i64(), MaxTimestamp: i64()}
	}
	n = binary.LittleEndian.Uint32(p)
	p = p[4:]
	if uint64(n)*16 > uint64(len(p)) || uint64(n)*16 != uint64(len(p)) && uint64(n)*16+4 > uint64(len(p)) {
		return bad("%d epochs in %d bytes", n, len(p))
	}
	idx.Epochs = make([]EpochStart, n)
	for i := range idx.Epochs {
		idx.Epochs[i] = EpochStart{Epoch: Epoch(i64()), Start: Offset(i64())}
	}
	if len(p) > 0 {
		const size = 8 + 2 + 4 + 4 + 8 + 8
		n = binary.LittleEndian.Uint32(p)
		p = p[4:]
		if n == 0 || uint64(n)*size != uint64(len(p)) {
			return bad("%d producer batches in %d bytes", n, len(p))
		}
		idx.Producers = make([]ProducerBatch, n)
		for i := range idx.Producers {
			pb := &idx.Producers[i]
			pb.ProducerID = int64(binary.LittleEndian.Uint64(p))
			pb.Epoch = int16(binary.LittleEndian.Uint16(p[8:]))
			pb.FirstSeq = int32(binary.LittleEndian.Uint32(p[10:]))
			pb.LastSeq = int32(binary.LittleEndian.Uint32(p[14:]))
			p = p[18:]
			pb.Base, pb.Last = Offset(i64()), Offset(i64())
			switch {
			case pb.ProducerID < 0 || pb.Last < pb.Base || pb.Base < idx.Base || pb.Last >= idx.Next:
				return bad("producer batch %d: producer %d at [%d, %d] in a segment of [%d, %d)", i, pb.ProducerID, pb.Base, pb.Last, idx.Base, idx.Next)
			case i > 0 && pb.Base <= idx.Producers[i-1].Last:
				return bad("producer batch %d at %d overlaps the one before, ending at %d", i, pb.Base, idx.Producers[i-1].Last)
			}
		}
	}
	// A lone sealed segment must pass the manifest's checks (with an active
	// segment after it).
	m := LogManifest{Segments: []SegmentIndex{idx, {Base: idx.Next, Next: idx.Next}}}
	if err := m.Check(); err != nil {
		return bad("%v", err)
	}
	if idx.Next == idx.Base {
		return bad("empty sealed segment at %d", idx.Base)
	}
	return idx, nil
}
