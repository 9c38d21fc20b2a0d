package gcs

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
)

// Benchmarks of the store beside the raw storage client doing the same
// work against the same in-process fake-gcs-server in the same run:
//
//	go test ./cloud/gcs -run '^$' -bench . -benchtime 40x
//
// Each benchmark alternates a raw op and a store op, so the ratio
// (store-%-of-raw, the target is ≥ 80) holds up on a loaded machine.
// Upload: create-only puts of segment-sized objects, one request each
// (below MultipartThreshold) and resumable (above it). Read: 1 MiB ranged
// reads of a 16 MiB object at varying offsets.

func rawClient(b *testing.B, s *Store) *storage.Client {
	c, err := storage.NewClient(ctx, option.WithEndpoint(s.cfg.Endpoint+"/storage/v1/"), option.WithoutAuthentication(), storage.WithJSONReads())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// pair times raw and store doing the same work, interleaved iteration by
// iteration so that load from elsewhere on the machine hits both alike, and
// reports each one's throughput and the store's as a percentage of raw's:
// the median of the iterations' ratios, which a burst of load on one
// iteration does not move.
func pair(b *testing.B, bytesPerOp int64, raw, store func(i int)) {
	var tRaw, tStore time.Duration
	ratios := make([]float64, 0, b.N)
	b.SetBytes(2 * bytesPerOp)
	for i := range b.N {
		start := time.Now()
		raw(i)
		mid := time.Now()
		store(i)
		r, s := mid.Sub(start), time.Since(mid)
		tRaw += r
		tStore += s
		ratios = append(ratios, 100*r.Seconds()/s.Seconds())
	}
	slices.Sort(ratios)
	mb := float64(bytesPerOp) * float64(b.N) / 1e6
	b.ReportMetric(mb/tRaw.Seconds(), "raw-MB/s")
	b.ReportMetric(mb/tStore.Seconds(), "store-MB/s")
	b.ReportMetric(ratios[len(ratios)/2], "store-%-of-raw")
}

func BenchmarkUpload(b *testing.B) {
	for _, size := range []int{4 << 20, 24 << 20} {
		srv := newFake(b, "")
		cfg := testConfig(srv)
		cfg.Prefix = ""
		cfg.OpTimeout = 0
		cfg.AttemptTimeout = 0
		s := openStore(b, cfg)
		raw := rawClient(b, s).Bucket(testBucket)
		data := pattern(size, 7)
		kind := "single"
		chunk := 0
		if int64(size) >= s.cfg.MultipartThreshold {
			kind, chunk = "resumable", s.cfg.ChunkSize
		}
		del := func(b *testing.B, name string) {
			b.StopTimer()
			if err := srv.Backend().DeleteObject(testBucket, name); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.Run(fmt.Sprintf("%s-%dMiB", kind, size>>20), func(b *testing.B) {
			pair(b, int64(size), func(i int) {
				name := fmt.Sprintf("raw-%d", i)
				w := raw.Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
				w.ChunkSize = chunk
				if _, err := w.Write(data); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				del(b, name)
			}, func(i int) {
				name := fmt.Sprintf("store-%d", i)
				if _, err := s.Put(ctx, name, bytes.NewReader(data), int64(size), true); err != nil {
					b.Fatal(err)
				}
				del(b, name)
			})
		})
	}
}

func BenchmarkRangedRead(b *testing.B) {
	srv := newFake(b, "")
	cfg := testConfig(srv)
	cfg.Prefix = ""
	s := openStore(b, cfg)
	raw := rawClient(b, s).Bucket(testBucket)
	const size, n = 16 << 20, 1 << 20
	mustPut(b, s, "obj", pattern(size, 8), true)
	off := func(i int) int64 { return int64(i*7919*4096) % (size - n) }
	b.Run("1MiB", func(b *testing.B) {
		pair(b, n, func(i int) {
			r, err := raw.Object("obj").NewRangeReader(ctx, off(i), n)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, r.Remain())
			if _, err := io.ReadFull(r, buf); err != nil {
				b.Fatal(err)
			}
			r.Close()
		}, func(i int) {
			if _, err := s.Get(ctx, "obj", off(i), n); err != nil {
				b.Fatal(err)
			}
		})
	})
}
