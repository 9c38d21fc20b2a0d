package sdk

import (
	"fmt"
	"testing"
	"time"

	"github.com/weirmq/weir/sm"
)

// Goal: keyless records spread over the partitions even when the producer
// outruns the brokers. Every produce request is held until all 1000
// records are queued, so each partition that got a batch has a request in
// flight while the rest arrive; the sticky partition must still move on
// (its batch is complete once it has lingered, Linger being 0 here), instead
// of piling every later record into one partition's waiting batch.
func TestKeylessRecordsSpreadWhilePartitionsAreBusy(t *testing.T) {
	const records, partitions = 1000, 3
	f := newFakeCluster(t, 101)
	f.createTopic("orders", partitions, 101)
	c := f.newClient(f.clientConfig())
	gate := make(chan struct{})
	f.setOnProduce(func(sm.NodeID, sm.ProduceRequest) (sm.Message, bool) {
		<-gate // holds the fake cluster's lock: every broker answer waits
		return nil, false
	})
	p := newProducer(t, c, ProducerConfig{})
	for i := range records {
		p.SendAsync(Message{Topic: "orders", Partition: AnyPartition, Value: fmt.Appendf(nil, "%d", i)}, func(_ Result, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	close(gate)
	if err := p.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	counts, total := spread(f, "orders", partitions)
	if total != records {
		t.Fatalf("%d records stored, want %d", total, records)
	}
	// A uniform spread gives each about 333; a pile-up leaves one or two
	// near zero.
	for part, n := range counts {
		if n < records/partitions/2 {
			t.Errorf("partition %d holds %d of %d keyless records (spread %v); want at least %d", part, n, records, counts, records/partitions/2)
		}
	}
}

// Goal: with a linger, keyless records still fill one sticky batch (the
// point of sticky partitioning: fewer, larger requests), and move on once
// that batch is full.
func TestKeylessRecordsStickUntilBatchComplete(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("orders", 4, 101)
	c := f.newClient(f.clientConfig())
	p := newProducer(t, c, ProducerConfig{Linger: time.Hour, BatchRecords: 10})
	for i := range 40 {
		p.SendAsync(Message{Topic: "orders", Partition: AnyPartition, Value: fmt.Appendf(nil, "%02d", i)}, nil)
	}
	if err := p.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	// Requests of different partitions may reach the broker in any order:
	// place each batch by its first record.
	seen := f.producesSeen()
	if len(seen) != 4 {
		t.Fatalf("40 keyless records with BatchRecords 10 in %d requests, want 4", len(seen))
	}
	partOf := make([]int32, 4)
	for _, s := range seen {
		recs := s.req.Records
		first := 0
		fmt.Sscanf(string(recs[0].Value), "%d", &first)
		if len(recs) != 10 || first%10 != 0 || string(recs[9].Value) != fmt.Sprintf("%02d", first+9) {
			t.Fatalf("request to %v holds %d records from %s: want a full batch of 10 consecutive records", s.req.TP, len(recs), recs[0].Value)
		}
		partOf[first/10] = s.req.TP.Partition
	}
	for i := 1; i < 4; i++ {
		if partOf[i] == partOf[i-1] {
			t.Errorf("batches %d and %d both went to partition %d: the sticky partition did not move after a full batch", i-1, i, partOf[i])
		}
	}
}

// spread counts the records stored in each partition of topic.
func spread(f *fakeCluster, topic string, partitions int32) ([]int, int) {
	counts := make([]int, partitions)
	total := 0
	for part := range partitions {
		counts[part] = len(f.logOf(sm.TopicPartition{Topic: topic, Partition: part}))
		total += counts[part]
	}
	return counts, total
}
