package gcs

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
)

// Benchmarks of the store beside the raw storage client doing the same
// work against the same in-process fake-gcs-server in the same run:
//
//	go test ./cloud/gcs -run '^$' -bench . -benchtime 40x
//
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
		b.Run(fmt.Sprintf("%s-%dMiB/raw", kind, size>>20), func(b *testing.B) {
			b.SetBytes(int64(size))
			for i := range b.N {
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
			}
		})
		b.Run(fmt.Sprintf("%s-%dMiB/store", kind, size>>20), func(b *testing.B) {
			b.SetBytes(int64(size))
			for i := range b.N {
				name := fmt.Sprintf("store-%d", i)
				if _, err := s.Put(ctx, name, bytes.NewReader(data), int64(size), true); err != nil {
					b.Fatal(err)
				}
				del(b, name)
			}
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
	b.Run("raw", func(b *testing.B) {
		b.SetBytes(n)
		for i := range b.N {
			r, err := raw.Object("obj").NewRangeReader(ctx, off(i), n)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, r.Remain())
			if _, err := io.ReadFull(r, buf); err != nil {
				b.Fatal(err)
			}
			r.Close()
		}
	})
	b.Run("store", func(b *testing.B) {
		b.SetBytes(n)
		for i := range b.N {
			if _, err := s.Get(ctx, "obj", off(i), n); err != nil {
				b.Fatal(err)
			}
		}
	})
}
