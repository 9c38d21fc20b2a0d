package codec

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/weirmq/weir/sm"
)

var all = []sm.Codec{sm.CodecGzip, sm.CodecSnappy, sm.CodecLZ4, sm.CodecZstd}

// Property: every codec round-trips any block, deterministically (the same
// input compresses to the same bytes), and its output is Plausible.
func TestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		block := rapid.SliceOfN(rapid.Byte(), 0, 4096).Draw(t, "block")
		if rapid.Bool().Draw(t, "compressible") {
			block = bytes.Repeat(block, 8)
		}
		c := rapid.SampledFrom(all).Draw(t, "codec")
		var cs Codecs
		out, err := cs.Compress(c, block)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := cs.Compress(c, block)
		if !bytes.Equal(out, again) {
			t.Fatalf("%v: compressing twice gave different bytes", c)
		}
		if err := cs.Plausible(c, out); err != nil {
			t.Fatalf("%v: own output not plausible: %v", c, err)
		}
		back, err := cs.Decompress(c, out, len(block))
		if err != nil || !bytes.Equal(back, block) {
			t.Fatalf("%v: %d bytes back, %v", c, len(back), err)
		}
	})
}

// Goal: decompression stops at the limit (a small payload that inflates
// hugely is refused, not allocated), garbage is refused with the codec
// named, and Plausible refuses what lacks the codec's magic.
func TestLimitsAndGarbage(t *testing.T) {
	var cs Codecs
	big := bytes.Repeat([]byte("a"), 1<<20)
	for _, c := range all {
		out, err := cs.Compress(c, big)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) >= len(big)/10 {
			t.Errorf("%v: 1 MiB of one byte compressed to %d bytes", c, len(out))
		}
		if _, err := cs.Decompress(c, out, 1000); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%v: decompressing past the limit: %v", c, err)
		}
		garbage := []byte("this is not compressed data at all, not even close")
		if _, err := cs.Decompress(c, garbage, 1<<20); err == nil || !strings.Contains(err.Error(), c.String()) {
			t.Errorf("%v: garbage: %v", c, err)
		}
		if c != sm.CodecSnappy {
			if err := cs.Plausible(c, garbage); err == nil {
				t.Errorf("%v: garbage is plausible", c)
			}
		}
		cut := out[:len(out)/2]
		if _, err := cs.Decompress(c, cut, 1<<21); err == nil {
			t.Errorf("%v: a cut payload decompressed", c)
		}
	}
	if _, err := cs.Compress(sm.CodecNone, big); err == nil {
		t.Error("compressing with none")
	}
}

// BenchmarkCompress: each codec on compressible JSON records against
// copying the block (the baseline), with the ratio reported.
func BenchmarkCompress(b *testing.B) {
	var recs []sm.Record
	for i := range 1000 {
		recs = append(recs, sm.Record{Value: []byte(fmt.Sprintf(`{"id":%d,"user":"user-%d","event":"page_view","path":"/products/%d","ok":true}`, i, i%97, i%13))})
	}
	block := sm.EncodeRecords(nil, recs)
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(int64(len(block)))
		for range b.N {
			_ = bytes.Clone(block)
		}
	})
	var cs Codecs
	for _, c := range all {
		b.Run(c.String(), func(b *testing.B) {
			b.SetBytes(int64(len(block)))
			var out []byte
			for range b.N {
				out, _ = cs.Compress(c, block)
			}
			b.ReportMetric(float64(len(block))/float64(len(out)), "ratio")
		})
	}
}
