package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sm"
)

// dirBytes is the size of the files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func offsetsOf(t *testing.T, c *sdk.Client, topic string) sdk.PartitionOffsets {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := c.ListOffsets(ctx, topic)
	if err != nil || len(offs) != 1 {
		t.Fatalf("list offsets of %s: %v %+v", topic, err, offs)
	}
	return offs[0]
}

// Issue 9's promise at process level, on weir dev's configuration: with
// retention, the WAL directory stays near the retained amount however much
// is written; the log start moves up; a consumer asking below it is told
// where it is, and one starting at the beginning starts there; after a
// restart — which reads no sealed segment — the log start and end are the
// same, and everything retained reads back from disk.
func TestRetentionBoundsDiskAcrossRestart(t *testing.T) {
	r := newLossRig(t)
	walDir := ""
	mutate := func(b *config.Broker) {
		b.WAL.RetentionCheckIntervalMs = 100
		b.Cache.WriteCacheSizeBytes = 1 << 20
		walDir = b.WAL.Path
	}
	r.startBroker(mutate)
	const segment, retained = 1 << 20, 4 << 20
	body := fmt.Sprintf(`{"name":"ret","partitions":1,"replication_factor":1,"config":{"retention_bytes":%d,"segment_bytes":%d}}`, retained, segment)
	if code, resp := r.admin(http.MethodPost, "/api/v1/topics", body); code/100 != 2 {
		t.Fatalf("create: %d %s", code, resp)
	}
	c, p := r.producer()
	value := bytes.Repeat([]byte("r"), 16<<10)
	const records = 24 << 20 / (16 << 10) // 24 MiB, six times what is retained
	for i := range records {
		if _, err := send(p, "ret", value); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	var o sdk.PartitionOffsets
	deadline := time.Now().Add(20 * time.Second)
	for {
		o = offsetsOf(t, c, "ret")
		if used := dirBytes(t, walDir); o.LogStart > 0 && used <= retained+3*segment {
			t.Logf("after %d MiB written: %d bytes on disk, log [%d, %d)", records*len(value)>>20, used, o.LogStart, o.LogEnd)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention did not bound the WAL: %d bytes under %s, offsets %+v", dirBytes(t, walDir), walDir, o)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if o.HighWatermark != records || o.LogEnd != records {
		t.Fatalf("offsets %+v, want %d records", o, records)
	}

	cons, err := c.NewConsumer(sdk.ConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tp := sdk.TopicPartition{Topic: "ret", Partition: 0}
	cons.Assign(tp)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cons.Seek(tp, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := cons.Poll(ctx); !errors.Is(err, sdk.ErrOffsetOutOfRange) || !strings.Contains(err.Error(), fmt.Sprintf("log start %d", o.LogStart)) {
		t.Fatalf("poll at 0 below log start %d: %v", o.LogStart, err)
	}
	cons.SeekToBeginning()
	recs, err := cons.Poll(ctx)
	// Retention may have moved on since the offsets were read.
	if now := offsetsOf(t, c, "ret"); err != nil || len(recs) == 0 || recs[0].Offset < o.LogStart || recs[0].Offset > now.LogStart {
		first := sm.Offset(-1)
		if len(recs) > 0 {
			first = recs[0].Offset
		}
		t.Fatalf("poll from the beginning: %v, first offset %d, want the log start (%d, then %d)", err, first, o.LogStart, now.LogStart)
	}
	o = offsetsOf(t, c, "ret")

	r.stopBroker()
	start := time.Now()
	r.startBroker(mutate)
	t.Logf("restart with %d bytes retained: %v", dirBytes(t, walDir), time.Since(start))
	if again := offsetsOf(t, c, "ret"); again.LogStart < o.LogStart || again.LogEnd != o.LogEnd || again.HighWatermark != o.HighWatermark {
		t.Fatalf("after restart %+v, before %+v", again, o)
	}
	cons.SeekToBeginning()
	got := 0
	for next := o.LogStart; next < o.LogEnd; {
		recs, err := cons.Poll(ctx)
		if err != nil {
			t.Fatalf("read back at %d after restart: %v", next, err)
		}
		for _, rec := range recs {
			if rec.Offset < next || !bytes.Equal(rec.Value, value) {
				t.Fatalf("read back %d: offset %d, %d bytes", next, rec.Offset, len(rec.Value))
			}
			next = rec.Offset + 1
			got++
		}
	}
	if got == 0 {
		t.Fatal("nothing read back")
	}
}

// rssBytes is the process's resident set size (Linux; 0 elsewhere).
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// heapBytes is the live heap after a collection.
func heapBytes() int64 {
	goruntime.GC()
	var m goruntime.MemStats
	goruntime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkBrokerMemory writes 10 × the broker's cache size
// ([cache] write_cache_size_bytes, 16 MiB here) through one broker (and
// its controller, in this process) and reports the live heap and resident
// size after 1×, 5× and 10×, beside the same figures for the idle cluster
// before the first record. Flat means the broker's memory does not grow
// with the data that flowed through it.
//
//	go test ./cmd/internal/server -run '^$' -bench BrokerMemory -benchtime 1x
func BenchmarkBrokerMemory(b *testing.B) {
	for range b.N {
		const cache = 16 << 20
		r := newLossRig(b)
		r.startBroker(func(c *config.Broker) { c.Cache.WriteCacheSizeBytes = cache })
		r.createTopic("mem")
		_, p := r.producer()
		value := bytes.Repeat([]byte("m"), 64<<10)
		b.ReportMetric(float64(heapBytes())/(1<<20), "heap-MiB-idle")
		b.ReportMetric(float64(rssBytes())/(1<<20), "rss-MiB-idle")
		written := 0
		for _, x := range []int{1, 5, 10} {
			for ; written < x*cache; written += len(value) {
				if _, err := send(p, "mem", value); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(heapBytes())/(1<<20), fmt.Sprintf("heap-MiB-%dx", x))
			b.ReportMetric(float64(rssBytes())/(1<<20), fmt.Sprintf("rss-MiB-%dx", x))
		}
	}
}
