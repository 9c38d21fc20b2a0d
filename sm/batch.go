package sm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"unicode/utf8"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Batch frame layout (little endian), shared by every log store:
//
//	u32 frameLen   bytes after this field
//	u32 crc        CRC32C of everything after this field
//	i64 baseOffset
//	i64 epoch
//	i64 timestamp  Unix ms (Batch.Timestamp)
//	u32 count
//	count × { u32 keyLen, key, u32 valueLen, value }
//
// Format 2 (Batch.V2) keeps that fixed part, so log stores walk headers
// alike (FrameCount masks the mark), and marks itself with the count's top
// bit (a format-1 decoder then refuses it rather than misreading it):
//
//	u32 count | 1<<31
//	u8  attributes     bits 0-2 the codec (Codec), bit 3 create time (Batch.CreateTime), others 0
//	i64 producerID     (-1: none)
//	i16 producerEpoch
//	i32 baseSequence
//	u32 blockCRC       CRC32C of block as stored (the producer's)
//	u32 blockLen
//	block              the records, Codec compressed (CodecNone: as they are):
//	                   count × { i64 timestamp (the producer's create time, Unix ms; 0: none),
//	                             u32 keyLen, key, u32 valueLen, value,
//	                             u32 headers, headers × { u32 keyLen, key, u32 valueLen, value } }
//
// The frame CRC covers the block as stored, so a broker checks a compressed
// batch without decompressing it.
const (
	// FrameHeaderBytes is the size of a frame holding no records: every
	// frame's fixed part.
	FrameHeaderBytes = 4 + 4 + 8 + 8 + 8 + 4
	frameHeaderBytes = FrameHeaderBytes
	// BatchFrameMax bounds one encoded frame; decoders refuse larger ones
	// before allocating.
	BatchFrameMax = 64 << 20
	// FrameV2HeaderBytes is a format-2 frame's fixed part.
	FrameV2HeaderBytes = FrameHeaderBytes + 1 + 8 + 2 + 4 + 4 + 4
	// countV2 marks a format-2 frame in its count field.
	countV2 = 1 << 31
	// Format-2 attribute bits.
	attrCodec      = 0x07
	attrCreateTime = 0x08
)

// FrameCount reads a frame's count field: the records, and whether the
// frame is format 2.
func FrameCount(field uint32) (count uint32, v2 bool) {
	return field &^ countV2, field&countV2 != 0
}

// Decoding errors.
var (
	ErrShortFrame   = errors.New("sm: short batch frame")
	ErrCorruptFrame = errors.New("sm: batch frame checksum mismatch")
	ErrBadFrame     = errors.New("sm: malformed batch frame")
)

// BatchCRC computes the CRC32C that protects b.
func BatchCRC(b *Batch) uint32 {
	if b.V2 {
		var hdr [FrameV2HeaderBytes - 8]byte
		v2Header(hdr[:0], b)
		return crc32.Update(crc32.Update(0, castagnoli, hdr[:]), castagnoli, b.Block)
	}
	// The checksum of appendBatchBody's bytes, computed piece by piece
	// instead of over an encoded copy: a partition verifies every batch it
	// takes in, and the copies were most of the produce path's garbage.
	var hdr [28]byte
	binary.LittleEndian.PutUint64(hdr[0:], uint64(b.BaseOffset))
	binary.LittleEndian.PutUint64(hdr[8:], uint64(b.Epoch))
	binary.LittleEndian.PutUint64(hdr[16:], uint64(b.Timestamp))
	binary.LittleEndian.PutUint32(hdr[24:], uint32(len(b.Records)))
	crc := crc32.Update(0, castagnoli, hdr[:])
	var n [4]byte
	for _, r := range b.Records {
		binary.LittleEndian.PutUint32(n[:], uint32(len(r.Key)))
		crc = crc32.Update(crc, castagnoli, n[:])
		crc = crc32.Update(crc, castagnoli, r.Key)
		binary.LittleEndian.PutUint32(n[:], uint32(len(r.Value)))
		crc = crc32.Update(crc, castagnoli, n[:])
		crc = crc32.Update(crc, castagnoli, r.Value)
	}
	return crc
}

// Seal sets b.CRC from its contents. The leader seals a batch once, when it
// assigns offsets; everyone after verifies.
func (b *Batch) Seal() { b.CRC = BatchCRC(b) }

// Verify reports whether b.CRC matches its contents.
func (b *Batch) Verify() bool { return b.CRC == BatchCRC(b) }

// v2Header appends a format-2 frame's fields after the CRC, up to the block.
func v2Header(dst []byte, b *Batch) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(b.BaseOffset))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(b.Epoch))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(b.Timestamp))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(b.Count)|countV2)
	attrs := byte(b.Codec)
	if b.CreateTime {
		attrs |= attrCreateTime
	}
	dst = append(dst, attrs)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(b.ProducerID))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(b.ProducerEpoch))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(b.BaseSequence))
	dst = binary.LittleEndian.AppendUint32(dst, b.BlockCRC)
	return binary.LittleEndian.AppendUint32(dst, uint32(len(b.Block)))
}

func appendBatchBody(dst []byte, b *Batch) []byte {
	if b.V2 {
		return append(v2Header(dst, b), b.Block...)
	}
	dst = binary.LittleEndian.AppendUint64(dst, uint64(b.BaseOffset))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(b.Epoch))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(b.Timestamp))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(b.Records)))
	for _, r := range b.Records {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(r.Key)))
		dst = append(dst, r.Key...)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(r.Value)))
		dst = append(dst, r.Value...)
	}
	return dst
}

// EncodeBatch appends b's frame to dst. The frame carries b.CRC as sealed, not
// a recomputed one, so corruption in memory is carried to disk and caught on
// read.
func EncodeBatch(dst []byte, b *Batch) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, 8)...)
	dst = appendBatchBody(dst, b)
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	binary.LittleEndian.PutUint32(dst[start+4:], b.CRC)
	return dst
}

// DecodeBatch reads one frame from the front of buf and returns the batch and
// the frame's length. ErrShortFrame means buf ends inside the frame (a torn
// tail); ErrCorruptFrame means the checksum does not match. Records alias buf.
func DecodeBatch(buf []byte) (Batch, int, error) {
	if len(buf) < 8 {
		return Batch{}, 0, ErrShortFrame
	}
	n := binary.LittleEndian.Uint32(buf)
	if n < frameHeaderBytes-4 || n > BatchFrameMax {
		return Batch{}, 0, fmt.Errorf("%w: length %d", ErrBadFrame, n)
	}
	if uint64(len(buf)) < 4+uint64(n) {
		return Batch{}, 0, ErrShortFrame
	}
	frame := buf[:4+n]
	crc := binary.LittleEndian.Uint32(frame[4:])
	body := frame[8:]
	if crc32.Checksum(body, castagnoli) != crc {
		return Batch{}, 0, ErrCorruptFrame
	}
	b := Batch{
		BaseOffset: Offset(binary.LittleEndian.Uint64(body)),
		Epoch:      Epoch(binary.LittleEndian.Uint64(body[8:])),
		Timestamp:  int64(binary.LittleEndian.Uint64(body[16:])),
		CRC:        crc,
	}
	count, v2 := FrameCount(binary.LittleEndian.Uint32(body[24:]))
	p := body[28:]
	if v2 {
		if err := decodeV2(&b, count, p); err != nil {
			return Batch{}, 0, err
		}
		return b, len(frame), nil
	}
	if uint64(count) > uint64(len(p))/8 {
		return Batch{}, 0, fmt.Errorf("%w: %d records in %d bytes", ErrBadFrame, count, len(p))
	}
	b.Records = make([]Record, count)
	for i := range b.Records {
		var ok bool
		if b.Records[i].Key, p, ok = takeBytes(p); !ok {
			return Batch{}, 0, fmt.Errorf("%w: record %d key", ErrBadFrame, i)
		}
		if b.Records[i].Value, p, ok = takeBytes(p); !ok {
			return Batch{}, 0, fmt.Errorf("%w: record %d value", ErrBadFrame, i)
		}
	}
	if len(p) != 0 {
		return Batch{}, 0, fmt.Errorf("%w: %d trailing bytes", ErrBadFrame, len(p))
	}
	return b, len(frame), nil
}

// decodeV2 reads a format-2 frame's fields after the count; p is the rest
// of the frame (checked by its CRC already).
func decodeV2(b *Batch, count uint32, p []byte) error {
	if len(p) < FrameV2HeaderBytes-FrameHeaderBytes {
		return fmt.Errorf("%w: format 2 header cut at %d bytes", ErrBadFrame, len(p))
	}
	b.V2, b.Count = true, int32(count)
	if p[0]&^(attrCodec|attrCreateTime) != 0 {
		return fmt.Errorf("%w: unknown attributes %#02x", ErrBadFrame, p[0])
	}
	b.Codec, b.CreateTime = Codec(p[0]&attrCodec), p[0]&attrCreateTime != 0
	b.ProducerID = int64(binary.LittleEndian.Uint64(p[1:]))
	b.ProducerEpoch = int16(binary.LittleEndian.Uint16(p[9:]))
	b.BaseSequence = int32(binary.LittleEndian.Uint32(p[11:]))
	b.BlockCRC = binary.LittleEndian.Uint32(p[15:])
	n := binary.LittleEndian.Uint32(p[19:])
	p = p[23:]
	switch {
	case !b.Codec.Valid():
		return fmt.Errorf("%w: unknown codec %d", ErrBadFrame, uint8(b.Codec))
	case uint64(n) != uint64(len(p)):
		return fmt.Errorf("%w: block of %d bytes in %d", ErrBadFrame, n, len(p))
	case crc32.Checksum(p, castagnoli) != b.BlockCRC:
		return fmt.Errorf("%w: records block checksum mismatch", ErrCorruptFrame)
	}
	b.Block = p[:n:n]
	if b.Codec != CodecNone {
		if count == 0 || uint64(count) > uint64(BatchFrameMax) {
			return fmt.Errorf("%w: %d records", ErrBadFrame, count)
		}
		return nil
	}
	recs, err := DecodeRecords(b.Block, int(count))
	if err != nil {
		return err
	}
	b.Records = recs
	return nil
}

// recordBlockMin is the smallest record in a records block: timestamp,
// key and value lengths, header count.
const recordBlockMin = 8 + 4 + 4 + 4

// EncodeRecords appends recs as a format-2 records block, uncompressed.
func EncodeRecords(dst []byte, recs []Record) []byte {
	for _, r := range recs {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(r.Timestamp))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(r.Key)))
		dst = append(dst, r.Key...)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(r.Value)))
		dst = append(dst, r.Value...)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(r.Headers)))
		for _, h := range r.Headers {
			dst = binary.LittleEndian.AppendUint32(dst, uint32(len(h.Key)))
			dst = append(dst, h.Key...)
			dst = binary.LittleEndian.AppendUint32(dst, uint32(len(h.Value)))
			dst = append(dst, h.Value...)
		}
	}
	return dst
}

// NeedsV2 reports whether recs carry what only format 2 stores: headers or
// create timestamps.
func NeedsV2(recs []Record) bool {
	for _, r := range recs {
		if len(r.Headers) > 0 || r.Timestamp != 0 {
			return true
		}
	}
	return false
}

// RecordBytes is a record's size as limits count it: key, value, and
// every header's key and value.
func RecordBytes(r Record) int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// RecordsBlockBytes is the size of EncodeRecords' block for recs.
func RecordsBlockBytes(recs []Record) int {
	n := 0
	for _, r := range recs {
		n += recordBlockMin + len(r.Key) + len(r.Value)
		for _, h := range r.Headers {
			n += 8 + len(h.Key) + len(h.Value)
		}
	}
	return n
}

// DecodeRecords reads an uncompressed records block of count records
// (keys, values and header values alias block). It refuses a block that is
// cut, has bytes left over, or has a header key that is not UTF-8, naming
// the record.
func DecodeRecords(block []byte, count int) ([]Record, error) {
	if count <= 0 || count > len(block)/recordBlockMin {
		return nil, fmt.Errorf("%w: %d records in a block of %d bytes", ErrBadFrame, count, len(block))
	}
	recs := make([]Record, count)
	p := block
	for i := range recs {
		var ok bool
		if len(p) < 8 {
			return nil, fmt.Errorf("%w: record %d timestamp", ErrBadFrame, i)
		}
		recs[i].Timestamp = int64(binary.LittleEndian.Uint64(p))
		p = p[8:]
		if recs[i].Key, p, ok = takeBytes(p); !ok {
			return nil, fmt.Errorf("%w: record %d key", ErrBadFrame, i)
		}
		if recs[i].Value, p, ok = takeBytes(p); !ok {
			return nil, fmt.Errorf("%w: record %d value", ErrBadFrame, i)
		}
		if len(p) < 4 {
			return nil, fmt.Errorf("%w: record %d header count", ErrBadFrame, i)
		}
		nh := binary.LittleEndian.Uint32(p)
		p = p[4:]
		if uint64(nh) > uint64(len(p))/8 {
			return nil, fmt.Errorf("%w: record %d: %d headers in %d bytes", ErrBadFrame, i, nh, len(p))
		}
		if nh > 0 {
			recs[i].Headers = make([]Header, nh)
		}
		for j := range recs[i].Headers {
			var k []byte
			if k, p, ok = takeBytes(p); !ok {
				return nil, fmt.Errorf("%w: record %d header %d key", ErrBadFrame, i, j)
			}
			if !utf8.Valid(k) {
				return nil, fmt.Errorf("%w: record %d header %d key %q is not UTF-8", ErrBadFrame, i, j, k)
			}
			recs[i].Headers[j].Key = string(k)
			if recs[i].Headers[j].Value, p, ok = takeBytes(p); !ok {
				return nil, fmt.Errorf("%w: record %d header %d value", ErrBadFrame, i, j)
			}
		}
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last record of the block", ErrBadFrame, len(p))
	}
	return recs, nil
}

// BlockChecksum is the CRC32C a producer puts in BlockCRC.
func BlockChecksum(block []byte) uint32 { return crc32.Checksum(block, castagnoli) }

// NewBatchV2 is a format-2 batch of recs, uncompressed (offsets, epoch and
// timestamp are the leader's to set, then Seal). ProducerID is -1.
func NewBatchV2(recs []Record) Batch {
	block := EncodeRecords(make([]byte, 0, RecordsBlockBytes(recs)), recs)
	return Batch{V2: true, Records: recs, Count: int32(len(recs)), Block: block, BlockCRC: BlockChecksum(block),
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
}

// Decode returns the batch's records, decompressing a compressed block
// with cmp (at most limit bytes).
func (b *Batch) Decode(cmp Compressor, limit int) ([]Record, error) {
	if !b.V2 || b.Codec == CodecNone || b.Records != nil {
		return b.Records, nil
	}
	if cmp == nil {
		return nil, fmt.Errorf("sm: batch at offset %d is %v compressed and no decompressor was given", b.BaseOffset, b.Codec)
	}
	block, err := cmp.Decompress(b.Codec, b.Block, limit)
	if err != nil {
		return nil, fmt.Errorf("batch at offset %d: %w", b.BaseOffset, err)
	}
	recs, err := DecodeRecords(block, int(b.Count))
	if err != nil {
		return nil, fmt.Errorf("batch at offset %d (%v): %w", b.BaseOffset, b.Codec, err)
	}
	return recs, nil
}

// FrameSize is the size of b's EncodeBatch frame.
func (b *Batch) FrameSize() int {
	if b.V2 {
		return FrameV2HeaderBytes + len(b.Block)
	}
	return FrameBytes(b.Records)
}

// Truncated is b cut to its first k records (0 < k < b.Len()), resealed,
// for an answer that must end at a high watermark inside it; ok false for
// a compressed batch, which cannot be cut without recompressing it.
func (b Batch) Truncated(k int) (Batch, bool) {
	if b.V2 && b.Codec != CodecNone {
		return b, false
	}
	b.Records = b.Records[:k:k]
	if b.V2 {
		b.Count = int32(k)
		b.Block = EncodeRecords(nil, b.Records)
		b.BlockCRC = BlockChecksum(b.Block)
	}
	b.Seal()
	return b, true
}

func takeBytes(p []byte) ([]byte, []byte, bool) {
	if len(p) < 4 {
		return nil, p, false
	}
	n := binary.LittleEndian.Uint32(p)
	if uint64(n) > uint64(len(p)-4) {
		return nil, p, false
	}
	v := p[4 : 4+n : 4+n]
	if n == 0 {
		v = nil
	}
	return v, p[4+n:], true
}

// DecodeLog decodes consecutive frames. It stops at the first frame that is
// torn or corrupt and returns the batches before it and the byte length they
// cover; err says why it stopped (nil at a clean end).
func DecodeLog(buf []byte) ([]Batch, int, error) {
	var out []Batch
	pos := 0
	for pos < len(buf) {
		b, n, err := DecodeBatch(buf[pos:])
		if err != nil {
			return out, pos, err
		}
		out = append(out, b)
		pos += n
	}
	return out, pos, nil
}

// FrameBytes is the size of the EncodeBatch frame of a batch holding recs.
func FrameBytes(recs []Record) int {
	n := FrameHeaderBytes
	for _, r := range recs {
		n += 8 + len(r.Key) + len(r.Value)
	}
	return n
}
