// Package codec compresses and decompresses format-2 records blocks
// (sm.Batch.Block) with the four codecs of Kafka record batches: gzip
// (klauspost/compress/gzip), snappy (klauspost/compress/snappy, the block
// format), lz4 (pierrec/lz4/v4, the frame format) and zstd
// (klauspost/compress/zstd). It implements sm.Compressor, which the
// broker's state machine is handed for topics that force a codec, and
// which the SDK uses on both sides.
//
// Output is deterministic for given input (the simulator replays it):
// gzip writes no name or time, zstd and lz4 run single-threaded with fixed
// levels. Decompression is bounded: every codec refuses output beyond the
// caller's limit before producing it all.
package codec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/weirmq/weir/sm"
)

// Codecs is the sm.Compressor of this package. The zero value is ready.
type Codecs struct{}

var _ sm.Compressor = Codecs{}

// ErrTooLarge says decompressed data would pass the caller's limit.
var ErrTooLarge = errors.New("codec: decompressed data above the limit")

var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdDec  *zstd.Decoder
	zstdErr  error
)

func zstdCodecs() (*zstd.Encoder, *zstd.Decoder, error) {
	zstdOnce.Do(func() {
		zstdEnc, zstdErr = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithZeroFrames(true))
		if zstdErr != nil {
			return
		}
		zstdDec, zstdErr = zstd.NewReader(nil, zstd.WithDecoderMaxMemory(uint64(sm.BatchFrameMax)))
	})
	return zstdEnc, zstdDec, zstdErr
}

// Compress returns block compressed with c.
func (Codecs) Compress(c sm.Codec, block []byte) ([]byte, error) {
	switch c {
	case sm.CodecGzip:
		var buf bytes.Buffer
		w, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(block); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case sm.CodecSnappy:
		return snappy.Encode(nil, block), nil
	case sm.CodecLZ4:
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		if err := w.Apply(lz4.ConcurrencyOption(1), lz4.ChecksumOption(true)); err != nil {
			return nil, err
		}
		if _, err := w.Write(block); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case sm.CodecZstd:
		enc, _, err := zstdCodecs()
		if err != nil {
			return nil, err
		}
		return enc.EncodeAll(block, nil), nil
	}
	return nil, fmt.Errorf("codec: cannot compress with %v", c)
}

// Decompress returns data decompressed with c, at most limit bytes.
func (Codecs) Decompress(c sm.Codec, data []byte, limit int) ([]byte, error) {
	out, err := decompress(c, data, limit)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", c, err)
	}
	return out, nil
}

func decompress(c sm.Codec, data []byte, limit int) ([]byte, error) {
	switch c {
	case sm.CodecGzip:
		r, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		return readLimited(r, limit)
	case sm.CodecSnappy:
		n, err := snappy.DecodedLen(data)
		if err != nil {
			return nil, err
		}
		if n > limit {
			return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, limit)
		}
		return snappy.Decode(nil, data)
	case sm.CodecLZ4:
		r := lz4.NewReader(bytes.NewReader(data))
		if err := r.Apply(lz4.ConcurrencyOption(1)); err != nil {
			return nil, err
		}
		return readLimited(r, limit)
	case sm.CodecZstd:
		_, dec, err := zstdCodecs()
		if err != nil {
			return nil, err
		}
		// DecodeAll has no output bound of its own beyond the decoder's
		// max memory: check the frame's declared size first, then the
		// output.
		var h zstd.Header
		if err := h.Decode(data); err == nil && h.HasFCS && h.FrameContentSize > uint64(limit) {
			return nil, fmt.Errorf("%w: frame declares %d bytes, limit %d", ErrTooLarge, h.FrameContentSize, limit)
		}
		out, err := dec.DecodeAll(data, nil)
		if err != nil {
			return nil, err
		}
		if len(out) > limit {
			return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(out), limit)
		}
		return out, nil
	}
	return nil, fmt.Errorf("codec: cannot decompress %v", c)
}

func readLimited(r io.Reader, limit int) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return out, nil
}

// Plausible checks that data starts as c's output does: gzip's and lz4's
// and zstd's magic numbers, snappy's decoded-length preamble.
func (Codecs) Plausible(c sm.Codec, data []byte) error {
	var magic []byte
	switch c {
	case sm.CodecGzip:
		magic = []byte{0x1f, 0x8b}
	case sm.CodecLZ4:
		magic = []byte{0x04, 0x22, 0x4d, 0x18}
	case sm.CodecZstd:
		magic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	case sm.CodecSnappy:
		if _, err := snappy.DecodedLen(data); err != nil {
			return fmt.Errorf("snappy: %w", err)
		}
		return nil
	default:
		return fmt.Errorf("codec: %v is not a compression codec", c)
	}
	if !bytes.HasPrefix(data, magic) {
		return fmt.Errorf("%v: the payload does not start with %v's magic number % x", c, c, magic)
	}
	return nil
}
