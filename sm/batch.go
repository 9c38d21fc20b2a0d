package sm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
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
const (
	// FrameHeaderBytes is the size of a frame holding no records: every
	// frame's fixed part.
	FrameHeaderBytes = 4 + 4 + 8 + 8 + 8 + 4
	frameHeaderBytes = FrameHeaderBytes
	// BatchFrameMax bounds one encoded frame; decoders refuse larger ones
	// before allocating.
	BatchFrameMax = 64 << 20
)

// Decoding errors.
var (
	ErrShortFrame   = errors.New("sm: short batch frame")
	ErrCorruptFrame = errors.New("sm: batch frame checksum mismatch")
	ErrBadFrame     = errors.New("sm: malformed batch frame")
)

// BatchCRC computes the CRC32C that protects b.
func BatchCRC(b *Batch) uint32 {
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

func appendBatchBody(dst []byte, b *Batch) []byte {
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
	count := binary.LittleEndian.Uint32(body[24:])
	p := body[28:]
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
