package itest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sm"
)

// TestTieredBrokerRebuildsFromTail: three brokers and three controllers on
// one local object store. 100 MB is produced to a partition of RF 3 and
// uploaded; the brokers keep everything locally too (no local window), so
// a replica that copied the log would hold all of it. Broker 103 is killed
// with SIGKILL, its data directory deleted, and it is restarted: it must
// rebuild only the tail above the uploaded range (its WAL holds a fraction
// of the log), rejoin the ISR, and — once it leads, the two others killed
// and one of them back — serve every record from offset 0 again, the old
// ones from the object store.
func TestTieredBrokerRebuildsFromTail(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes; skipped with -short")
	}
	const topic = "tiered"
	c := newCluster(t, 3, 3)
	c.objects = filepath.Join(c.dir, "objects")
	c.walExtra = "upload_interval_ms = 1000\n"
	c.brokerObjects = "local_retention_ms = -1\nlocal_retention_bytes = -1\n"
	for id := 1; id <= 3; id++ {
		c.start(fmt.Sprintf("controller-%d", id))
	}
	for id := 101; id <= 103; id++ {
		c.start(fmt.Sprintf("broker-%d", id))
	}
	c.waitFor("topic created", 30*time.Second, func() error {
		_, err := c.api(http.MethodPost, "/api/v1/topics", fmt.Sprintf(`{"name":%q,"partitions":1,"replication_factor":3,"segment_bytes":1048576,"config":{"min_in_sync_replicas":2}}`, topic))
		if err != nil && !isExists(err) {
			return err
		}
		return nil
	})
	c.waitFor("full ISR", 30*time.Second, func() error { return fullISR(c, topic) })

	tlsConf, err := sdk.TLSFromDir(c.certs, "client-itest")
	if err != nil {
		t.Fatal(err)
	}
	brokers := func(ids ...int) []string {
		var out []string
		for _, id := range ids {
			out = append(out, fmt.Sprintf("127.0.0.1:%d", c.brkPorts[id]))
		}
		return out
	}
	ctx := context.Background()
	cl, err := sdk.NewClient(ctx, sdk.Config{Brokers: brokers(101, 102, 103), TLS: tlsConf})
	if err != nil {
		t.Fatal(err)
	}
	p, err := cl.NewProducer(sdk.ProducerConfig{Acks: sdk.AckLevel(sm.AckAll)})
	if err != nil {
		t.Fatal(err)
	}
	const n, size = 100_000, 1000
	value := func(i int) []byte { return fmt.Appendf(make([]byte, 0, size), "%08d-%0*d", i, size-9, 0) }
	// In batches of 200 in flight; a record whose outcome is unknown (the
	// ISR shrank under the burst) is sent again, so the log may hold a
	// value twice but must hold every one.
	for from := 0; from < n; from += 200 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var retry []int
		for i := from; i < min(from+200, n); i++ {
			wg.Add(1)
			p.SendAsync(sdk.Message{Topic: topic, Partition: 0, Value: value(i)}, func(_ sdk.Result, err error) {
				defer wg.Done()
				if err != nil {
					mu.Lock()
					retry = append(retry, i)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for _, i := range retry {
			sendRetrying(t, ctx, p, topic, value(i))
		}
	}
	// The upload interval rolls the last segment at the next append.
	time.Sleep(1500 * time.Millisecond)
	sendRetrying(t, ctx, p, topic, value(n))
	p.Close(ctx)
	cl.Close()
	var uploaded int64
	c.waitFor("log uploaded", 60*time.Second, func() error {
		ps, err := c.describe(topic)
		if err != nil {
			return err
		}
		if uploaded = ps[0].Uploaded.End; uploaded < n {
			return fmt.Errorf("uploaded up to %d of %d", uploaded, n)
		}
		return nil
	})
	total := dirBytes(t, filepath.Join(c.dir, "broker-101", "wal"))

	c.kill("broker-103")
	if err := os.RemoveAll(filepath.Join(c.dir, "broker-103")); err != nil {
		t.Fatal(err)
	}
	c.start("broker-103")
	// It registers as having lost its disk (out of the ISR), then hosts the
	// replica (its directory appears), rebuilds and rejoins the ISR.
	c.waitFor("the rebuilt broker back in the ISR", 60*time.Second, func() error {
		if _, err := os.Stat(filepath.Join(c.dir, "broker-103", "wal", topic+"-0")); err != nil {
			return err
		}
		return fullISR(c, topic)
	})
	rebuilt := dirBytes(t, filepath.Join(c.dir, "broker-103", "wal"))
	t.Logf("uploaded end %d; broker-101's WAL %d bytes, the rebuilt broker-103's %d bytes", uploaded, total, rebuilt)
	if rebuilt*4 > total {
		t.Fatalf("the rebuilt broker holds %d bytes, a quarter or more of the leader's %d: it copied the log instead of the tail", rebuilt, total)
	}

	// The rebuilt broker leads (the two others killed; one comes back so the
	// ISR reaches min_in_sync_replicas again) and serves everything.
	c.kill("broker-101")
	c.kill("broker-102")
	c.waitFor("broker-103 leading", 60*time.Second, func() error {
		ps, err := c.describe(topic)
		if err != nil {
			return err
		}
		if ps[0].Leader == nil || *ps[0].Leader != "broker-103" {
			return fmt.Errorf("leader %v", ps[0].Leader)
		}
		return nil
	})
	c.start("broker-102")
	c.waitFor("two in-sync replicas", 60*time.Second, func() error {
		ps, err := c.describe(topic)
		if err != nil {
			return err
		}
		if len(ps[0].ISR) < 2 || ps[0].Leader == nil || *ps[0].Leader != "broker-103" {
			return fmt.Errorf("leader %v, isr %v", ps[0].Leader, ps[0].ISR)
		}
		return nil
	})
	cl, err = sdk.NewClient(ctx, sdk.Config{Brokers: brokers(103), TLS: tlsConf})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cons, err := cl.NewConsumer(sdk.ConsumerConfig{PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tp := sdk.TopicPartition{Topic: topic, Partition: 0}
	cons.Assign(tp)
	cons.SeekToBeginning(tp)
	seen := map[string]bool{}
	next := sm.Offset(0)
	deadline := time.Now().Add(60 * time.Second)
	for len(seen) <= n && time.Now().Before(deadline) {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		recs, err := cons.Poll(pctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			continue
		}
		if err != nil {
			t.Fatalf("reading back at %d: %v", next, err)
		}
		for _, r := range recs {
			if r.Offset != next {
				t.Fatalf("read offset %d, want %d: a gap", r.Offset, next)
			}
			next++
			seen[string(r.Value)] = true
		}
	}
	for i := 0; i <= n; i++ {
		if !seen[string(value(i))] {
			t.Fatalf("record %d missing from the rebuilt broker's log (read %d offsets, %d distinct values)", i, next, len(seen))
		}
	}
}

// sendRetrying sends value until it is acknowledged.
func sendRetrying(t *testing.T, ctx context.Context, p *sdk.Producer, topic string, value []byte) {
	t.Helper()
	var err error
	for range 20 {
		if _, err = p.Send(ctx, sdk.Message{Topic: topic, Partition: 0, Value: value}); err == nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("sending %.8s: %v", value, err)
}

// dirBytes is the size of the files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
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
		t.Fatal(err)
	}
	return n
}
