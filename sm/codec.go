package sm

import "fmt"

// Codec is a batch's compression codec (Kafka's numbering, so Kafka record
// batches map one to one). The values are part of the batch format and the
// wire protocol: append only.
type Codec uint8

// Codecs.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
	codecEnd    Codec = 5
)

// Valid reports whether c names a codec this build knows.
func (c Codec) Valid() bool { return c < codecEnd }

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

// ParseCodec reads a codec's name (none, gzip, snappy, lz4, zstd).
func ParseCodec(s string) (Codec, error) {
	for c := CodecNone; c < codecEnd; c++ {
		if c.String() == s {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown compression %q: want none, gzip, snappy, lz4 or zstd", s)
}

// Compressor compresses and decompresses records blocks. State machines
// hold no codec of their own (compression libraries may start goroutines);
// io/codec is the implementation, handed in through configuration. Both
// directions must be deterministic for given input.
type Compressor interface {
	// Compress returns block compressed with c (c != CodecNone).
	Compress(c Codec, block []byte) ([]byte, error)
	// Decompress returns data decompressed with c, refusing (with an error
	// naming the codec and the problem) anything that does not decode or
	// would decode to more than limit bytes.
	Decompress(c Codec, data []byte, limit int) ([]byte, error)
	// Plausible reports, without decompressing, whether data starts as c's
	// output does (its magic or frame header), so a broker refuses an
	// obviously garbage payload before storing it.
	Plausible(c Codec, data []byte) error
}
