package dev

// Benchmarks of tiered storage on the in-process dev cluster (issue 10;
// docs/performance.md "Tiered storage"). They start clusters and move tens
// of megabytes, so they run only with -bench:
//
//	go test ./cmd/internal/dev -run '^$' -bench TierColdFetch -benchtime 3x
//	go test ./cmd/internal/dev -run '^$' -bench TierProduce -benchtime 3x
//
// Nothing is asserted on timing: figures are reported beside a baseline
// measured in the same iteration.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"

	"github.com/weirmq/weir/cloud/local"
	"github.com/weirmq/weir/cmd/internal/testnet"
	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sm"
)

// benchCluster is a dev cluster of a benchmark, restartable on the same
// directory and ports.
type benchCluster struct {
	b *testing.B
	o Options
	c *Cluster
}

func startBenchCluster(b *testing.B, o Options) *benchCluster {
	b.Helper()
	bc := &benchCluster{b: b, o: o}
	bc.start()
	b.Cleanup(func() { bc.stop() })
	return bc
}

func benchOptions(b *testing.B, brokers int) Options {
	o := DefaultOptions()
	o.Dir, o.Brokers, o.NoRateLimit, o.MetricsPort = b.TempDir(), brokers, true, 0
	o.ControllerPort, o.RaftPort, o.HTTPPort = testnet.FreePort(b), testnet.FreePort(b), testnet.FreePort(b)
	o.BrokerPort = testnet.FreePort(b)
	return o
}

func (bc *benchCluster) start() {
	bc.b.Helper()
	c, err := Start(bc.o, zerolog.Nop())
	if err != nil {
		bc.b.Fatal(err)
	}
	bc.c = c
}

func (bc *benchCluster) stop() {
	if bc.c != nil {
		_ = bc.c.Shutdown()
		bc.c = nil
	}
}

// restart stops every node and starts them again on the same data: fresh
// broker processes as far as their memory goes (an empty cold cache).
func (bc *benchCluster) restart() {
	bc.stop()
	bc.start()
}

func (bc *benchCluster) api(method, path string, body any) (json.RawMessage, error) {
	var rd io.Reader
	if body != nil {
		js, _ := json.Marshal(body)
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, "http://"+bc.c.Node().HTTPAddr+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, raw)
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	return env.Data, json.Unmarshal(raw, &env)
}

type benchPartition struct {
	Leader   *string  `json:"leader"`
	ISR      []string `json:"in_sync_replicas"`
	Uploaded struct {
		End      int64 `json:"end_offset"`
		Bytes    int64 `json:"bytes"`
		Segments int32 `json:"segments"`
	} `json:"uploaded"`
}

func (bc *benchCluster) describe(topic string) ([]benchPartition, error) {
	data, err := bc.api(http.MethodGet, "/api/v1/topics/"+topic, nil)
	if err != nil {
		return nil, err
	}
	var t struct {
		Assignments []benchPartition `json:"partition_assignments"`
	}
	return t.Assignments, json.Unmarshal(data, &t)
}

// createTopic creates a one-partition topic of replication factor rf with
// body's extra keys, and waits for its leader and full ISR.
func (bc *benchCluster) createTopic(name string, rf int, extra map[string]any) {
	bc.b.Helper()
	body := map[string]any{"name": name, "partitions": 1, "replication_factor": rf}
	for k, v := range extra {
		body[k] = v
	}
	if _, err := bc.api(http.MethodPost, "/api/v1/topics", body); err != nil {
		bc.b.Fatal(err)
	}
	bc.waitLed(name, rf)
}

func (bc *benchCluster) waitLed(topic string, isr int) {
	bc.b.Helper()
	bc.waitFor(topic+" led with a full ISR", 60*time.Second, func() error {
		ps, err := bc.describe(topic)
		if err != nil {
			return err
		}
		if len(ps) == 0 || ps[0].Leader == nil || len(ps[0].ISR) < isr {
			return fmt.Errorf("partitions %+v", ps)
		}
		return nil
	})
}

func (bc *benchCluster) waitFor(what string, d time.Duration, cond func() error) {
	bc.b.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	bc.b.Fatalf("%s: not within %v: %v", what, d, err)
}

func (bc *benchCluster) client() *sdk.Client {
	bc.b.Helper()
	tlsConf, err := sdk.TLSFromDir(CertDir(bc.o.Dir), ClientCertName)
	if err != nil {
		bc.b.Fatal(err)
	}
	cl, err := sdk.NewClient(context.Background(), sdk.Config{Brokers: bc.c.BrokerAddrs(), TLS: tlsConf})
	if err != nil {
		bc.b.Fatal(err)
	}
	return cl
}

// walBytes is the size of the files under every broker's WAL directory.
func (bc *benchCluster) walBytes() int64 {
	var n int64
	for i := range bc.o.Brokers {
		n += treeBytes(bc.b, BrokerConfig(bc.o, i).WAL.Path)
	}
	return n
}

// treeBytes is the size of the files under dir (0 if it does not exist).
func treeBytes(b *testing.B, dir string) int64 {
	b.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walk
			}
			return err
		}
		if !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// dropPageCache writes back and evicts every file under dirs from the page
// cache, so the next read of them comes from the disk (as far as the guest
// goes: a VM's host may still cache it).
func dropPageCache(b *testing.B, dirs ...string) {
	b.Helper()
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return nil // removed meanwhile
			}
			defer f.Close()
			_ = unix.Fdatasync(int(f.Fd()))
			return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// produceResult is one produce run's outcome.
type produceResult struct {
	n                  int
	elapsed            time.Duration
	p50, p99, p999, mx time.Duration
}

func (r produceResult) msgPerSec() float64 { return float64(r.n) / r.elapsed.Seconds() }

// produce sends n records of size bytes to partition 0 of topic as weir
// bench produce does: up to concurrency records in flight, at most perSec
// records a second (0: as fast as possible), latency from SendAsync to its
// callback. Every record must be acknowledged.
func produce(b *testing.B, cl *sdk.Client, topic string, acks sm.AckKind, n, size, concurrency int, perSec float64) produceResult {
	b.Helper()
	ctx := context.Background()
	p, err := cl.NewProducer(sdk.ProducerConfig{Acks: sdk.AckLevel(acks), Linger: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	payload := bytes.Repeat([]byte{'v'}, size)
	var limiter *rate.Limiter
	if perSec > 0 {
		limiter = rate.NewLimiter(rate.Limit(perSec), max(1, int(perSec/100)))
	}
	var mu sync.Mutex
	var firstErr error
	lat := make([]time.Duration, 0, n)
	sem := make(chan struct{}, concurrency)
	start := time.Now()
	for range n {
		if limiter != nil {
			_ = limiter.Wait(ctx)
		}
		sem <- struct{}{}
		t0 := time.Now()
		p.SendAsync(sdk.Message{Topic: topic, Partition: 0, Value: payload}, func(_ sdk.Result, err error) {
			d := time.Since(t0)
			mu.Lock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			lat = append(lat, d)
			mu.Unlock()
			<-sem
		})
	}
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		b.Fatalf("produce to %s: %v", topic, firstErr)
	}
	slices.Sort(lat)
	pct := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	return produceResult{n: len(lat), elapsed: elapsed, p50: pct(0.50), p99: pct(0.99), p999: pct(0.999), mx: lat[len(lat)-1]}
}

// consumeAll reads partition 0 of topic from offset 0 up to (not
// including) end with a fresh consumer, checking offsets are dense, and
// returns the record bytes read.
func consumeAll(b *testing.B, cl *sdk.Client, topic string, end sm.Offset) int64 {
	b.Helper()
	cons, err := cl.NewConsumer(sdk.ConsumerConfig{PollInterval: 10 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	tp := sdk.TopicPartition{Topic: topic, Partition: 0}
	cons.Assign(tp)
	cons.SeekToBeginning(tp)
	var bytes int64
	next := sm.Offset(0)
	for next < end {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		recs, err := cons.Poll(ctx)
		cancel()
		if err != nil {
			b.Fatalf("consuming %s at %d: %v", topic, next, err)
		}
		for _, r := range recs {
			if r.Offset != next {
				b.Fatalf("consuming %s: offset %d, want %d", topic, r.Offset, next)
			}
			next++
			bytes += int64(len(r.Value))
		}
	}
	return bytes
}

// rawGetAll reads every object under prefix of the store at dir with
// Store.Get in chunk-byte ranges, one after another (one in flight, as one
// partition's cold fetches are), and returns the bytes read.
func rawGetAll(b *testing.B, dir, prefix string, chunk int64) int64 {
	b.Helper()
	st, err := local.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	var total int64
	after := ""
	for {
		objs, more, err := st.List(ctx, prefix, after, 0)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range objs {
			for off := int64(0); off < o.Size; off += chunk {
				data, err := st.Get(ctx, o.Name, off, chunk)
				if err != nil {
					b.Fatal(err)
				}
				total += int64(len(data))
			}
			after = o.Name
		}
		if !more {
			return total
		}
	}
}

// BenchmarkTierColdFetch: one broker with a local object store and a tiny
// local window (1 ms, 1 byte: every uploaded segment is deleted from disk
// at the next retention check). 64 MiB of 1 KiB records go to a topic of
// 1 MiB segments ("cold"), all of it uploaded and gone from the WAL, and
// the same to a topic that keeps its segments on disk too ("hot",
// local_retention -1). Each iteration, with the page cache of the objects
// and the WAL dropped before each pass:
//
//   - raw: every object of the cold topic read with cloud/local Store.Get
//     in 1 MiB ranges, one after another (the baseline);
//   - cold: the cluster restarted (fresh brokers: an empty cold cache), the
//     cold topic consumed from offset 0 with the SDK;
//   - hot: the hot topic consumed from offset 0 with the SDK (the local read
//     path, for scale: what the SDK and transport reach without the store).
//
// Throughputs are the objects' bytes (raw) and the records' bytes (cold,
// hot) per second; cold/raw is the ratio of the two passes' times over the
// same objects (the objects hold the records' frames and indexes, a few
// percent more than the values).
func BenchmarkTierColdFetch(b *testing.B) {
	const (
		segBytes = 1 << 20
		size     = 1024
		records  = 64 << 10 // 64 MiB of values
	)
	o := benchOptions(b, 1)
	o.LocalRetentionMs, o.LocalRetentionBytes, o.UploadIntervalMs = 1, 1, 1000
	bc := startBenchCluster(b, o)
	bc.createTopic("cold", 1, map[string]any{"segment_bytes": segBytes})
	bc.createTopic("hot", 1, map[string]any{"segment_bytes": segBytes, "local_retention_ms": -1, "local_retention_bytes": -1})
	cl := bc.client()
	for _, topic := range []string{"cold", "hot"} {
		produce(b, cl, topic, sm.AckLeader, records, size, 256, 0)
	}
	// The upload interval rolls each active segment at the next append.
	time.Sleep(1100 * time.Millisecond)
	for _, topic := range []string{"cold", "hot"} {
		produce(b, cl, topic, sm.AckLeader, 1, size, 1, 0)
	}
	cl.Close()
	var uploaded benchPartition
	bc.waitFor("the cold topic uploaded", 120*time.Second, func() error {
		ps, err := bc.describe("cold")
		if err != nil {
			return err
		}
		// The active segment (at most one segment's records) may stay local.
		if uploaded = ps[0]; uploaded.Uploaded.End < records-2*segBytes/size {
			return fmt.Errorf("uploaded up to %d of %d", uploaded.Uploaded.End, records)
		}
		return nil
	})
	coldDir := filepath.Join(BrokerConfig(o, 0).WAL.Path, "cold-0")
	bc.waitFor("the cold topic deleted locally", 60*time.Second, func() error {
		if n := treeBytes(b, coldDir); n > 4*segBytes {
			return fmt.Errorf("the cold partition's WAL directory holds %d bytes", n)
		}
		return nil
	})
	// Both passes read what is in the object store: the records below the
	// uploaded end.
	end := sm.Offset(uploaded.Uploaded.End)
	prefix := bc.partitionPrefix("cold")
	b.Logf("cold topic: %d objects, %d bytes uploaded up to offset %d; its WAL directory holds %d bytes",
		uploaded.Uploaded.Segments, uploaded.Uploaded.Bytes, uploaded.Uploaded.End, treeBytes(b, coldDir))

	var rawT, coldT, hotT time.Duration
	var objBytes, coldBytes, hotBytes int64
	for b.Loop() {
		dropPageCache(b, o.ObjectsDir(), BrokerConfig(o, 0).WAL.Path)
		t0 := time.Now()
		objBytes = rawGetAll(b, o.ObjectsDir(), prefix, 1<<20)
		raw := time.Since(t0)
		rawT += raw

		b.StopTimer()
		bc.restart()
		bc.waitLed("cold", 1)
		bc.waitLed("hot", 1)
		cl := bc.client()
		dropPageCache(b, o.ObjectsDir(), BrokerConfig(o, 0).WAL.Path)
		b.StartTimer()
		stopProfile := profileCold(b)
		t0 = time.Now()
		coldBytes = consumeAll(b, cl, "cold", end)
		cold := time.Since(t0)
		coldT += cold
		stopProfile()

		b.StopTimer()
		dropPageCache(b, o.ObjectsDir(), BrokerConfig(o, 0).WAL.Path)
		b.StartTimer()
		t0 = time.Now()
		hotBytes = consumeAll(b, cl, "hot", end)
		hot := time.Since(t0)
		hotT += hot
		cl.Close()
		b.Logf("raw %.0f MB/s, cold %.1f MB/s, hot %.1f MB/s: cold/raw %.1f %%, cold/hot %.1f %%",
			float64(objBytes)/1e6/raw.Seconds(), float64(coldBytes)/1e6/cold.Seconds(), float64(hotBytes)/1e6/hot.Seconds(),
			100*raw.Seconds()/cold.Seconds(), 100*hot.Seconds()/cold.Seconds())
	}
	n := float64(b.N)
	b.ReportMetric(float64(objBytes)*n/1e6/rawT.Seconds(), "raw-MB/s")
	b.ReportMetric(float64(coldBytes)*n/1e6/coldT.Seconds(), "cold-MB/s")
	b.ReportMetric(float64(hotBytes)*n/1e6/hotT.Seconds(), "hot-MB/s")
	b.ReportMetric(100*rawT.Seconds()/coldT.Seconds(), "cold/raw-%")
	b.ReportMetric(float64(objBytes)/1e6, "object-MB")
}

// profileCold starts a CPU profile of the cold pass alone when
// WEIR_BENCH_COLD_PROFILE names a file (one per iteration, suffixed with
// its number: go test's -cpuprofile would mix in the set-up's produce);
// the returned func stops it.
func profileCold(b *testing.B) func() {
	coldProfiles++
	return profileTo(b, "WEIR_BENCH_COLD_PROFILE", strconv.Itoa(coldProfiles))
}

// profileTo starts a CPU profile to the file the environment variable env
// names, suffixed with "."+suffix, when it is set; the returned func stops
// it. (WEIR_BENCH_PRODUCE_PROFILE profiles BenchmarkTierProduce's measured
// produce of each mode apart.)
func profileTo(b *testing.B, env, suffix string) func() {
	path := os.Getenv(env)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path + "." + suffix)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

var coldProfiles int

// partitionPrefix is the object-name prefix of topic's partition 0 (the
// admin API's topic_id is the ID's base64url form, as in object names).
func (bc *benchCluster) partitionPrefix(topic string) string {
	bc.b.Helper()
	data, err := bc.api(http.MethodGet, "/api/v1/topics/"+topic, nil)
	if err != nil {
		bc.b.Fatal(err)
	}
	var t struct {
		TopicID string `json:"topic_id"`
	}
	if err := json.Unmarshal(data, &t); err != nil || t.TopicID == "" {
		bc.b.Fatalf("describe %s: no topic_id (%v): %s", topic, err, data)
	}
	return sm.SegmentsPrefix + t.TopicID + "/0/"
}

// BenchmarkTierProduce: the same produce workload on two fresh 3-broker
// dev clusters per iteration, one after the other: "tiered" (a local
// object store, 1 MiB segments, upload interval 1 s, a local window of
// 1 ms / 1 byte, so the leader uploads a segment about every 1 MiB and
// every replica deletes it at the next retention check) and "none"
// (--no-object-store: nothing uploaded or deleted). A topic of one
// partition at RF 3, acks=all, 1 KiB records, 64 in flight; "rate=1000"
// sends 1,000 records a second (well below the peak even on a loaded
// machine: 3,000–9,000 here), "peak" as
// fast as the cluster takes them; 3,000 records of warm-up before each
// (not measured), and the order of the two modes alternates between
// iterations.
//
// WEIR_BENCH_OBJECTS_DIR puts the tiered cluster's object store under that
// directory (another volume than the WALs', e.g. /dev/shm).
//
// Reported per mode: p50 and p99 of the records' produce latency (median
// over iterations), records a second, and for rate=1000 the bytes stored
// per byte produced once the tiered cluster's uploads and deletes settled:
// every broker's WAL directory (and, tiered, the objects) over the
// records' values.
func BenchmarkTierProduce(b *testing.B) {
	for _, w := range []struct {
		name    string
		records int
		perSec  float64
	}{{"rate=1000", 15000, 1000}, {"peak", 30000, 0}} {
		b.Run(w.name, func(b *testing.B) {
			const size = 1024
			type agg struct{ p50, p99, mps []float64 }
			res := map[string]*agg{"tiered": {}, "none": {}}
			var stored = map[string]float64{}
			for i := 0; b.Loop(); i++ {
				modes := []string{"tiered", "none"}
				if i%2 == 1 { // alternate, so drift in the machine's load hits both
					slices.Reverse(modes)
				}
				for _, mode := range modes {
					b.StopTimer()
					o := benchOptions(b, 3)
					o.NoObjects = mode == "none"
					if d := os.Getenv("WEIR_BENCH_OBJECTS_DIR"); d != "" && !o.NoObjects {
						// The store on another volume (e.g. /dev/shm): the
						// uploads' fsyncs off the WALs' disk.
						o.Objects = filepath.Join(d, fmt.Sprintf("weir-bench-objects-%d-%d", os.Getpid(), i))
						b.Cleanup(func() { os.RemoveAll(o.Objects) })
					}
					o.LocalRetentionMs, o.LocalRetentionBytes, o.UploadIntervalMs = 1, 1, 1000
					bc := startBenchCluster(b, o)
					bc.createTopic("p", 3, map[string]any{"segment_bytes": 1 << 20})
					cl := bc.client()
					// A warm-up, not measured: the first records after the
					// topic's creation wait for the followers' first fetches.
					const warm = 3000
					produce(b, cl, "p", sm.AckAll, warm, size, 64, w.perSec)
					b.StartTimer()
					stopProfile := profileTo(b, "WEIR_BENCH_PRODUCE_PROFILE", w.name+"-"+mode)
					r := produce(b, cl, "p", sm.AckAll, w.records, size, 64, w.perSec)
					stopProfile()
					a := res[mode]
					a.p50 = append(a.p50, float64(r.p50.Microseconds())/1000)
					a.p99 = append(a.p99, float64(r.p99.Microseconds())/1000)
					a.mps = append(a.mps, r.msgPerSec())
					b.Logf("%s %s: %d records in %v: %.0f msg/s, p50 %v p99 %v p999 %v max %v", w.name, mode, r.n,
						r.elapsed.Round(time.Millisecond), r.msgPerSec(), r.p50, r.p99, r.p999, r.mx)
					if w.perSec > 0 {
						b.StopTimer()
						produced := float64((warm + w.records) * size)
						if mode == "tiered" {
							// Roll the last segment, let it upload and every
							// replica delete what is uploaded.
							time.Sleep(1100 * time.Millisecond)
							produce(b, cl, "p", sm.AckAll, 1, size, 1, 0)
							bc.waitFor("uploads", 60*time.Second, func() error {
								ps, err := bc.describe("p")
								if err != nil {
									return err
								}
								if ps[0].Uploaded.End < int64(warm+w.records) {
									return fmt.Errorf("uploaded up to %d of %d", ps[0].Uploaded.End, warm+w.records)
								}
								return nil
							})
							bc.waitFor("local deletes", 60*time.Second, func() error {
								if n := bc.walBytes(); n > 3*(4<<20) {
									return fmt.Errorf("the WALs hold %d bytes", n)
								}
								return nil
							})
							objs := treeBytes(b, o.ObjectsDir())
							wal := bc.walBytes()
							stored["tiered-wal"] = float64(wal) / produced
							stored["tiered-objects"] = float64(objs) / produced
							b.Logf("tiered: produced %.1f MB of values; WALs %d bytes, objects %d bytes", produced/1e6, wal, objs)
						} else {
							wal := bc.walBytes()
							stored["none-wal"] = float64(wal) / produced
							b.Logf("none: produced %.1f MB of values; WALs %d bytes", produced/1e6, wal)
						}
					}
					b.StopTimer()
					cl.Close()
					bc.stop()
					b.StartTimer()
				}
			}
			med := func(v []float64) float64 { s := slices.Clone(v); slices.Sort(s); return s[len(s)/2] }
			for _, mode := range []string{"tiered", "none"} {
				a := res[mode]
				b.ReportMetric(med(a.p50), mode+"-p50-ms")
				b.ReportMetric(med(a.p99), mode+"-p99-ms")
				b.ReportMetric(med(a.mps), mode+"-msg/s")
			}
			b.ReportMetric(100*(med(res["tiered"].p99)/med(res["none"].p99)-1), "p99-rise-%")
			for k, v := range stored {
				b.ReportMetric(v, k+"-B/B")
			}
		})
	}
}
