package sdk

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirmq/weir/sm"
)

var (
	orders0 = sm.TopicPartition{Topic: "orders", Partition: 0}
	orders1 = sm.TopicPartition{Topic: "orders", Partition: 1}
)

// The first bootstrap address swallows packets; the client gives up on it
// after DialTimeout and connects through the second.
func TestBootstrapSkipsUnreachableAddress(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("orders", 2, 101)
	cfg := f.clientConfig(blackHole(t), f.brokers[101].addr)
	cfg.DialTimeout = 300 * time.Millisecond
	t0 := time.Now()
	c := f.newClient(cfg)
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("bootstrap took %v", d)
	}
	if c.ID() < clientIDMin {
		t.Fatalf("client id %d below %d", uint64(c.ID()), uint64(clientIDMin))
	}
	topics, err := c.Topics(testCtx(t))
	if err != nil || !slices.Equal(topics, []string{"orders"}) {
		t.Fatalf("Topics = %v, %v", topics, err)
	}
	parts, err := c.Partitions(testCtx(t), "orders")
	if err != nil || len(parts) != 2 || parts[1].TP != orders1 || parts[1].Leader != 101 || parts[1].LeaderEpoch != 1 {
		t.Fatalf("Partitions = %+v, %v", parts, err)
	}
	if _, err := c.Partitions(testCtx(t), "nope"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("Partitions(nope) = %v, want ErrUnknownTopic", err)
	}
}

// A broker without metadata answers NOT_LEADER; bootstrap keeps trying with
// backoff until it has some.
func TestBootstrapWaitsForMetadata(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.noMetadata[101] = true
	go func() {
		time.Sleep(100 * time.Millisecond)
		f.mu.Lock()
		f.noMetadata[101] = false
		f.mu.Unlock()
	}()
	f.newClient(f.clientConfig())
	if n := f.metadataRequests(); n < 2 {
		t.Fatalf("%d metadata requests, want retries", n)
	}
	if n := f.brokers[101].tr.Stats().Conns; n != 1 {
		t.Fatalf("the broker has %d connections: rounds reconnected instead of reusing", n)
	}
}

// With nothing reachable, NewClient gives up when its context ends and says
// why.
func TestBootstrapGivesUpWithContext(t *testing.T) {
	f := newFakeCluster(t)
	cfg := f.clientConfig(blackHole(t))
	cfg.DialTimeout = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	c, err := NewClient(ctx, cfg)
	if c != nil || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("NewClient = %v, %v", c, err)
	}
}

func TestConfigValidation(t *testing.T) {
	f := newFakeCluster(t, 101)
	good := f.clientConfig("127.0.0.1:1")
	brokerTLS, err := TLSFromDir(f.certDir, "broker-101")
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	for name, mutate := range map[string]func(*Config){
		"no brokers":  func(c *Config) { c.Brokers = nil },
		"no tls":      func(c *Config) { c.TLS = nil },
		"server id":   func(c *Config) { c.ClientID = 101 },
		"broker cert": func(c *Config) { c.TLS = brokerTLS },
	} {
		cfg := good
		mutate(&cfg)
		if _, err := NewClient(ctx, cfg); err == nil {
			t.Errorf("%s: NewClient succeeded", name)
		} else if name == "broker cert" && !strings.Contains(err.Error(), `named "broker-101"; clients must use a certificate named "client-<label>"`) {
			t.Errorf("broker cert: %v", err)
		}
	}
	if _, err := TLSFromDir(t.TempDir(), "client-x"); err == nil {
		t.Error("TLSFromDir of an empty directory succeeded")
	}
}

func TestSendAtEachAckLevel(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("orders", 1, 101)
	c := f.newClient(f.clientConfig())
	levels := []struct {
		acks *sm.Acks
		want sm.Acks
	}{
		{nil, sm.Acks{Kind: sm.AckAll}},
		{AckLevel(sm.AckNone), sm.Acks{Kind: sm.AckNone}},
		{AckLevel(sm.AckLeader), sm.Acks{Kind: sm.AckLeader}},
		{AckLevel(sm.AckMajority), sm.Acks{Kind: sm.AckMajority}},
		{AckLevel(sm.AckAll), sm.Acks{Kind: sm.AckAll}},
		{AckCustom(2), sm.Acks{Kind: sm.AckCustom, N: 2}},
	}
	for i, l := range levels {
		p := newProducer(t, c, ProducerConfig{Acks: l.acks, AckTimeout: 3 * time.Second})
		r, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Key: []byte("k"), Value: []byte(fmt.Sprint(i))})
		if err != nil || r != (Result{Topic: "orders", Partition: 0, Offset: sm.Offset(i)}) {
			t.Fatalf("acks %v: Send = %+v, %v", l.want, r, err)
		}
		seen := f.producesSeen()
		if got := seen[len(seen)-1].req; got.Acks != l.want || got.Timeout != 3*sm.Second {
			t.Fatalf("acks %v: request had acks %v, timeout %v", l.want, got.Acks, got.Timeout)
		}
		if err := p.Close(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
}

// Many SendAsync calls within Linger become one request, records in order,
// and callbacks report consecutive offsets in order.
func TestBatchingWithinLinger(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("orders", 1, 101)
	c := f.newClient(f.clientConfig())
	p := newProducer(t, c, ProducerConfig{Linger: 200 * time.Millisecond})
	defer p.Close(testCtx(t))
	var mu sync.Mutex
	var got []sm.Offset
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		p.SendAsync(Message{Topic: "orders", Partition: 0, Value: []byte(fmt.Sprint(i))}, func(r Result, err error) {
			defer wg.Done()
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			got = append(got, r.Offset)
			mu.Unlock()
		})
	}
	wg.Wait()
	if seen := f.producesSeen(); len(seen) != 1 || len(seen[0].req.Records) != 100 {
		t.Fatalf("%d produce requests, want one of 100 records", len(seen))
	}
	for i, off := range got {
		if off != sm.Offset(i) {
			t.Fatalf("callback %d reported offset %d", i, off)
		}
	}
	for i, r := range f.logOf(orders0) {
		if string(r.Value) != fmt.Sprint(i) {
			t.Fatalf("offset %d holds %q", i, r.Value)
		}
	}
}

// BatchRecords and BatchBytes split batches; order holds across them.
func TestBatchLimits(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("orders", 1, 101)
	c := f.newClient(f.clientConfig())
	for _, cfg := range []ProducerConfig{
		{Linger: time.Hour, BatchRecords: 10},
		{Linger: time.Hour, BatchBytes: batchHeaderBytes + 10*(recordOverhead+2)}, // ten 2-byte records
	} {
		f.mu.Lock()
		f.produces, f.logs = nil, map[sm.TopicPartition][]sm.Batch{}
		f.mu.Unlock()
		p := newProducer(t, c, cfg)
		for i := range 95 {
			p.SendAsync(Message{Topic: "orders", Partition: 0, Value: fmt.Appendf(nil, "%02d", i)}, nil)
		}
		if err := p.Close(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		seen := f.producesSeen()
		if len(seen) != 10 || len(seen[0].req.Records) != 10 || len(seen[9].req.Records) != 5 {
			t.Fatalf("%+v: %d requests", cfg, len(seen))
		}
		for i, r := range f.logOf(orders0) {
			if string(r.Value) != fmt.Sprintf("%02d", i) {
				t.Fatalf("%+v: offset %d holds %q", cfg, i, r.Value)
			}
		}
	}
}

// Murmur2 matches Kafka's test vectors (UtilsTest.testMurmur2), so keys land
// where Kafka's default partitioner puts them.
func TestMurmur2MatchesKafka(t *testing.T) {
	for key, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		if got := Murmur2([]byte(key)); got != want {
			t.Errorf("Murmur2(%q) = %d, want %d", key, got, want)
		}
	}
	kp := KeyHashPartitioner{}
	if got := kp.Partition("t", []byte("foobar"), 4); got != int32((-790332482&0x7fffffff)%4) {
		t.Errorf("foobar on 4 partitions: %d", got)
	}
	if got := kp.Partition("t", nil, 4); got >= 0 {
		t.Errorf("keyless record got partition %d, want no preference", got)
	}
}

// Keyed records go where the key hash says, every time; keyless records
// stick to one partition per batch.
func TestKeyHashPartitioning(t *testing.T) {
	f := newFakeCluster(t, 101, 102)
	f.createTopic("orders", 4, 101, 102)
	c := f.newClient(f.clientConfig())
	p := newProducer(t, c, ProducerConfig{})
	defer p.Close(testCtx(t))
	for round := range 2 {
		for i := range 20 {
			key := fmt.Appendf(nil, "user-%d", i)
			r, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: AnyPartition, Key: key, Value: []byte{byte(round)}})
			want := int32(uint32(Murmur2(key)&0x7fffffff) % 4)
			if err != nil || r.Partition != want {
				t.Fatalf("key %s: Send = %+v, %v; want partition %d", key, r, err, want)
			}
		}
	}
	for part := range int32(4) {
		tp := sm.TopicPartition{Topic: "orders", Partition: part}
		for _, rec := range f.logOf(tp) {
			if got := int32(uint32(Murmur2(rec.Key)&0x7fffffff) % 4); got != part {
				t.Fatalf("key %s stored in partition %d, hashes to %d", rec.Key, part, got)
			}
		}
	}

	sticky := newProducer(t, c, ProducerConfig{Linger: time.Hour})
	before := len(f.producesSeen())
	for range 20 {
		sticky.SendAsync(Message{Topic: "orders", Partition: AnyPartition, Value: []byte("x")}, nil)
	}
	if err := sticky.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if seen := f.producesSeen()[before:]; len(seen) != 1 || len(seen[0].req.Records) != 20 {
		t.Fatalf("20 keyless records in %d requests, want one sticky batch", len(seen))
	}
}

// Leadership moved after the client loaded metadata: the old leader says
// NOT_LEADER, the client refreshes and retries on the new one.
func TestNotLeaderRefreshesAndRetries(t *testing.T) {
	f := newFakeCluster(t, 101, 102)
	f.createTopic("orders", 1, 101)
	c := f.newClient(f.clientConfig())
	f.moveLeader(orders0, 102)
	before := f.metadataRequests()
	p := newProducer(t, c, ProducerConfig{})
	defer p.Close(testCtx(t))
	r, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: []byte("v")})
	if err != nil || r.Offset != 0 {
		t.Fatalf("Send = %+v, %v", r, err)
	}
	seen := f.producesSeen()
	if len(seen) != 2 || seen[0].broker != 101 || seen[1].broker != 102 {
		t.Fatalf("produces went to %v", seen)
	}
	if f.metadataRequests() == before {
		t.Fatal("no metadata refresh after NOT_LEADER")
	}
	if parts, _ := c.Partitions(testCtx(t), "orders"); parts[0].Leader != 102 || parts[0].LeaderEpoch != 2 {
		t.Fatalf("metadata after refresh: %+v", parts[0])
	}
}

// When metadata still names the node that refused, its leader hint is
// tried next.
func TestNotLeaderHintFollowedWhenMetadataIsStale(t *testing.T) {
	f := newFakeCluster(t, 101, 102)
	f.createTopic("orders", 1, 101)
	c := f.newClient(f.clientConfig())
	f.setOnProduce(func(self sm.NodeID, req sm.ProduceRequest) (sm.Message, bool) {
		if self == 101 {
			return sm.ProduceResponse{ReqID: req.ReqID, TP: req.TP, Code: sm.CodeNotLeader, LeaderHint: 102}, true
		}
		return sm.ProduceResponse{ReqID: req.ReqID, TP: req.TP, BaseOffset: 7}, true
	})
	p := newProducer(t, c, ProducerConfig{})
	defer p.Close(testCtx(t))
	r, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: []byte("v")})
	if err != nil || r.Offset != 7 {
		t.Fatalf("Send = %+v, %v", r, err)
	}
	if seen := f.producesSeen(); len(seen) != 2 || seen[1].broker != 102 {
		t.Fatalf("produces went to %v", seen)
	}
}

// Retriable refusals are retried until they stop.
func TestRetriableCodesAreRetried(t *testing.T) {
	for _, code := range []sm.Code{sm.CodeNotEnoughReplicas, sm.CodeLeaderNotAvailable, sm.CodeStorageError, sm.CodeUnknownLeaderEpoch, sm.CodeFencedLeaderEpoch} {
		f := newFakeCluster(t, 101)
		f.createTopic("orders", 1, 101)
		c := f.newClient(f.clientConfig())
		refusals := 0
		f.setOnProduce(func(self sm.NodeID, req sm.ProduceRequest) (sm.Message, bool) {
			if refusals < 2 {
				refusals++
				return sm.ProduceResponse{ReqID: req.ReqID, TP: req.TP, Code: code}, true
			}
			return nil, false
		})
		p := newProducer(t, c, ProducerConfig{})
		if _, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: []byte("v")}); err != nil {
			t.Fatalf("%v: %v", code, err)
		}
		if n := len(f.producesSeen()); n != 3 {
			t.Fatalf("%v: %d requests, want 3", code, n)
		}
		p.Close(testCtx(t))
	}
}

// Codes whose outcome is unknown, and a reply that never comes, are
// surfaced as *OutcomeUnknownError matching ErrTimeout, and never retried.
func TestUnknownOutcomeIsSurfacedNotRetried(t *testing.T) {
	for _, code := range []sm.Code{sm.CodeTimeout, sm.CodeLeadershipLost, sm.CodeNotEnoughReplicasAfterAppend, 0} {
		f := newFakeCluster(t, 101)
		f.createTopic("orders", 1, 101)
		cfg := f.clientConfig()
		cfg.RequestTimeout = 300 * time.Millisecond
		c := f.newClient(cfg)
		f.setOnProduce(func(self sm.NodeID, req sm.ProduceRequest) (sm.Message, bool) {
			if code == 0 {
				return nil, true // no answer at all
			}
			return sm.ProduceResponse{ReqID: req.ReqID, TP: req.TP, Code: code, Message: "m"}, true
		})
		p := newProducer(t, c, ProducerConfig{})
		_, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: []byte("v")})
		var unknown *OutcomeUnknownError
		if !errors.Is(err, ErrTimeout) || !errors.As(err, &unknown) || unknown.TP != orders0 {
			t.Fatalf("%v: err %v, want an *OutcomeUnknownError", code, err)
		}
		var be *BrokerError
		if code != 0 && (!errors.As(err, &be) || be.Code != code || be.Broker != 101 || be.Message != "m") {
			t.Fatalf("%v: err %v does not carry the broker's answer", code, err)
		}
		if !strings.Contains(err.Error(), "may or may not have been written") {
			t.Fatalf("%v: %q does not say the outcome is unknown", code, err)
		}
		time.Sleep(50 * time.Millisecond)
		if n := len(f.producesSeen()); n != 1 {
			t.Fatalf("%v: %d requests, want exactly 1 (no retry)", code, n)
		}
		p.Close(testCtx(t))
	}
}

// Every refusal matches its sentinel with errors.Is; retriable ones come
// back only after DeliveryTimeout, having been retried.
func TestErrorsIsSentinels(t *testing.T) {
	for _, tc := range []struct {
		code     sm.Code
		sentinel error
		retried  bool
	}{
		{sm.CodeMessageTooLarge, ErrMessageTooLarge, false},
		{sm.CodeUnknownTopic, ErrUnknownTopic, false},
		{sm.CodeInvalidRequest, ErrInvalidRequest, false},
		{sm.CodeNotLeader, ErrNotLeader, true},
		{sm.CodeFencedLeaderEpoch, ErrNotLeader, true},
		{sm.CodeNotEnoughReplicas, ErrNotEnoughReplicas, true},
		{sm.CodeLeaderNotAvailable, ErrLeaderNotAvailable, true},
	} {
		f := newFakeCluster(t, 101)
		f.createTopic("orders", 1, 101)
		c := f.newClient(f.clientConfig())
		f.setOnProduce(func(self sm.NodeID, req sm.ProduceRequest) (sm.Message, bool) {
			return sm.ProduceResponse{ReqID: req.ReqID, TP: req.TP, Code: tc.code, Message: "because"}, true
		})
		p := newProducer(t, c, ProducerConfig{DeliveryTimeout: 200 * time.Millisecond})
		_, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: []byte("v")})
		var be *BrokerError
		if !errors.Is(err, tc.sentinel) || !errors.As(err, &be) || be.Code != tc.code || be.Broker != 101 || be.TP != orders0 {
			t.Fatalf("%v: err %v, want a *BrokerError matching %v", tc.code, err, tc.sentinel)
		}
		if errors.Is(err, ErrTimeout) {
			t.Fatalf("%v: a certain refusal matches ErrTimeout", tc.code)
		}
		if n := len(f.producesSeen()); (n > 1) != tc.retried {
			t.Fatalf("%v: %d requests (retried: want %v)", tc.code, n, tc.retried)
		}
		p.Close(testCtx(t))
	}
}

func TestBrokerErrorIs(t *testing.T) {
	all := []error{ErrClosed, ErrTimeout, ErrNotLeader, ErrLeaderNotAvailable, ErrMessageTooLarge, ErrNotEnoughReplicas, ErrUnknownTopic, ErrOffsetOutOfRange, ErrInvalidRequest, ErrUnreachable}
	want := map[sm.Code]error{
		sm.CodeNotLeader: ErrNotLeader, sm.CodeUnknownLeaderEpoch: ErrNotLeader, sm.CodeFencedLeaderEpoch: ErrNotLeader,
		sm.CodeLeaderNotAvailable: ErrLeaderNotAvailable, sm.CodeMessageTooLarge: ErrMessageTooLarge,
		sm.CodeNotEnoughReplicas: ErrNotEnoughReplicas, sm.CodeUnknownTopic: ErrUnknownTopic,
		sm.CodeOffsetOutOfRange: ErrOffsetOutOfRange, sm.CodeInvalidRequest: ErrInvalidRequest,
		sm.CodeTimeout: ErrTimeout, sm.CodeLeadershipLost: ErrTimeout, sm.CodeNotEnoughReplicasAfterAppend: ErrTimeout,
	}
	for code := sm.CodeOK; code <= sm.CodeLeadershipLost; code++ {
		err := error(&BrokerError{Code: code, Broker: 101, TP: orders0})
		for _, s := range all {
			if got := errors.Is(err, s); got != (want[code] == s) {
				t.Errorf("errors.Is(%v, %v) = %v", code, s, got)
			}
		}
	}
	if s := (&BrokerError{Code: sm.CodeNotLeader, Message: "m", Broker: 101, TP: orders0}).Error(); s != "sdk: orders/0: NOT_LEADER from broker b101: m" {
		t.Errorf("Error() = %q", s)
	}
}

// A record above MaxRecordBytes is refused before anything is sent.
func TestMessageTooLargeRejectedLocally(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("orders", 1, 101)
	c := f.newClient(f.clientConfig())
	p := newProducer(t, c, ProducerConfig{MaxRecordBytes: 100})
	defer p.Close(testCtx(t))
	_, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Key: []byte("k"), Value: make([]byte, 100)})
	var unknown *OutcomeUnknownError
	if !errors.Is(err, ErrMessageTooLarge) || errors.As(err, &unknown) {
		t.Fatalf("Send = %v, want ErrMessageTooLarge", err)
	}
	called := false
	p.SendAsync(Message{Topic: "orders", Partition: 0, Value: make([]byte, 101)}, func(_ Result, err error) {
		called = errors.Is(err, ErrMessageTooLarge)
	})
	if !called {
		t.Fatal("SendAsync did not report ErrMessageTooLarge before returning")
	}
	if n := len(f.producesSeen()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
	if _, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: make([]byte, 100)}); err != nil {
		t.Fatalf("a record of exactly MaxRecordBytes: %v", err)
	}
	for _, m := range []Message{{Partition: 0}, {Topic: "orders", Partition: -2}} {
		if _, err := p.Send(testCtx(t), m); !errors.Is(err, ErrInvalidRequest) {
			t.Fatalf("Send(%+v) = %v, want ErrInvalidRequest", m, err)
		}
	}
	if _, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 5}); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("partition 5 of 1: %v, want ErrUnknownTopic", err)
	}
}

// A topic created after the client loaded metadata is found by a refresh,
// while metadata answers that have not seen it yet count against
// UnknownTopicRetries; records queued meanwhile keep their order.
func TestTopicResolution(t *testing.T) {
	f := newFakeCluster(t, 101)
	c := f.newClient(f.clientConfig())
	p := newProducer(t, c, ProducerConfig{UnknownTopicRetries: 1000, DeliveryTimeout: time.Hour})
	defer p.Close(testCtx(t))
	time.AfterFunc(50*time.Millisecond, func() { f.createTopic("late", 1, 101) })
	var wg sync.WaitGroup
	results := make([]Result, 5)
	for i := range results {
		wg.Add(1)
		p.SendAsync(Message{Topic: "late", Partition: AnyPartition, Key: []byte("k"), Value: []byte{byte(i)}}, func(r Result, err error) {
			defer wg.Done()
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.Offset != sm.Offset(i) {
			t.Fatalf("record %d at %+v: order lost while waiting for metadata", i, r)
		}
	}
}

// A Send to a topic metadata does not know fails with ErrUnknownTopic after
// UnknownTopicRetries more answers, not after the (here one hour)
// DeliveryTimeout: it used to wait the whole DeliveryTimeout.
func TestUnknownTopicFailsFast(t *testing.T) {
	f := newFakeCluster(t, 101)
	c := f.newClient(f.clientConfig())
	for _, retries := range []int{0, -1, 3} {
		p := newProducer(t, c, ProducerConfig{DeliveryTimeout: time.Hour, UnknownTopicRetries: retries})
		before := f.metadataRequests()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a bound on a hang
		_, err := p.Send(ctx, Message{Topic: "nope", Partition: AnyPartition, Value: []byte("x")})
		cancel()
		var berr *BrokerError
		if !errors.Is(err, ErrUnknownTopic) || !errors.As(err, &berr) || !strings.Contains(err.Error(), "create it first") {
			t.Fatalf("retries %d: Send to a missing topic = %v, want ErrUnknownTopic", retries, err)
		}
		want := map[int]int{0: 5, -1: 1, 3: 4}[retries] // answers asked for: 1 + retries (default 4)
		if got := f.metadataRequests() - before; got != want {
			t.Errorf("retries %d: %d metadata requests, want %d", retries, got, want)
		}
		p.Close(testCtx(t))
	}
}

// NewProducer and NewConsumer on a nil *Client (NewClient failed, its
// error unchecked) return ErrNoClient instead of panicking.
func TestNilClient(t *testing.T) {
	var c *Client
	if p, err := c.NewProducer(ProducerConfig{}); p != nil || !errors.Is(err, ErrNoClient) {
		t.Fatalf("NewProducer on nil = %v, %v", p, err)
	}
	if k, err := c.NewConsumer(ConsumerConfig{}); k != nil || !errors.Is(err, ErrNoClient) {
		t.Fatalf("NewConsumer on nil = %v, %v", k, err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close on nil = %v", err)
	}
}

// Metadata older than MetadataMaxAge is refreshed on use.
func TestMetadataMaxAge(t *testing.T) {
	f := newFakeCluster(t, 101)
	cfg := f.clientConfig()
	cfg.MetadataMaxAge = 50 * time.Millisecond
	c := f.newClient(cfg)
	f.createTopic("orders", 1, 101)
	if topics, _ := c.Topics(testCtx(t)); len(topics) != 0 {
		t.Fatalf("fresh metadata already shows %v", topics)
	}
	time.Sleep(100 * time.Millisecond)
	if topics, _ := c.Topics(testCtx(t)); !slices.Equal(topics, []string{"orders"}) {
		t.Fatalf("stale metadata not refreshed: %v", topics)
	}
}

// Concurrent senders on one producer: every record is written once, and each
// partition's offsets are dense.
func TestConcurrentSends(t *testing.T) {
	f := newFakeCluster(t, 101, 102)
	f.createTopic("orders", 3, 101, 102)
	c := f.newClient(f.clientConfig())
	p := newProducer(t, c, ProducerConfig{Linger: time.Millisecond})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if _, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: AnyPartition, Key: fmt.Appendf(nil, "%d-%d", g, i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := p.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	total := 0
	for part := range int32(3) {
		total += len(f.logOf(sm.TopicPartition{Topic: "orders", Partition: part}))
	}
	if total != 400 {
		t.Fatalf("%d records written, want 400", total)
	}
}

func TestConsumerAcrossPartitionsAndEpochs(t *testing.T) {
	f := newFakeCluster(t, 101, 102)
	f.createTopic("orders", 2, 101, 102) // orders/0 on 101, orders/1 on 102
	pc := f.newClient(f.clientConfig())
	p := newProducer(t, pc, ProducerConfig{})
	defer p.Close(testCtx(t))
	produce := func(tp sm.TopicPartition, values ...string) {
		t.Helper()
		for _, v := range values {
			if _, err := p.Send(testCtx(t), Message{Topic: tp.Topic, Partition: tp.Partition, Value: []byte(v)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(orders0, "a0", "a1", "a2", "a3", "a4")
	produce(orders1, "b0", "b1", "b2", "b3", "b4")

	c := f.newClient(f.clientConfig()) // a second client: its metadata goes stale
	k := newConsumer(t, c, ConsumerConfig{MaxRecords: 2, PollInterval: 10 * time.Millisecond})
	if tps, err := k.AssignTopic(testCtx(t), "orders"); err != nil || !slices.Equal(tps, []sm.TopicPartition{orders0, orders1}) {
		t.Fatalf("AssignTopic = %v, %v", tps, err)
	}
	got := map[sm.TopicPartition][]string{}
	for len(got[orders0])+len(got[orders1]) < 10 {
		recs, err := k.Poll(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if want := sm.Offset(len(got[r.TP])); r.Offset != want || r.LeaderEpoch != 1 {
				t.Fatalf("record %+v, want offset %d epoch 1", r, want)
			}
			got[r.TP] = append(got[r.TP], string(r.Value))
		}
	}
	if !slices.Equal(got[orders0], []string{"a0", "a1", "a2", "a3", "a4"}) || !slices.Equal(got[orders1], []string{"b0", "b1", "b2", "b3", "b4"}) {
		t.Fatalf("consumed %v", got)
	}
	if pos, ok := k.Position(orders1); !ok || pos != 5 {
		t.Fatalf("Position = %d, %v", pos, ok)
	}

	// Seek and SeekToBeginning reposition single partitions.
	if err := k.Seek(orders0, 3); err != nil {
		t.Fatal(err)
	}
	recs := pollN(t, k, 2)
	if recs[0].TP != orders0 || recs[0].Offset != 3 || string(recs[1].Value) != "a4" {
		t.Fatalf("after Seek: %+v", recs)
	}
	k.SeekToBeginning(orders1)
	if recs := pollN(t, k, 5); recs[0].TP != orders1 || recs[0].Offset != 0 || string(recs[4].Value) != "b4" {
		t.Fatalf("after SeekToBeginning: %+v", recs)
	}

	// Leadership of orders/0 moves to 102 in epoch 2. The consumer's client
	// still thinks 101 leads: it gets NOT_LEADER, refreshes, and reads from
	// 102 naming epoch 2; one LEADER_NOT_AVAILABLE on the way is retried.
	f.moveLeader(orders0, 102)
	produce(orders0, "a5", "a6")
	f.mu.Lock()
	lna := false
	f.onFetch = func(self sm.NodeID, req sm.FetchRequest) (sm.Message, bool) {
		if self == 102 && req.TP == orders0 && !lna {
			lna = true
			return sm.FetchResponse{ReqID: req.ReqID, TP: req.TP, Code: sm.CodeLeaderNotAvailable, LeaderEpoch: 2}, true
		}
		return nil, false
	}
	f.fetches = nil
	f.mu.Unlock()
	recs = pollN(t, k, 2)
	if recs[0].Offset != 5 || recs[0].LeaderEpoch != 2 || string(recs[1].Value) != "a6" {
		t.Fatalf("after the leader change: %+v", recs)
	}
	var to101, to102 int
	for _, fe := range f.fetchesSeen() {
		if fe.req.TP != orders0 {
			continue
		}
		switch fe.broker {
		case 101:
			to101++
		case 102:
			to102++
			if fe.req.CurrentLeaderEpoch != 2 {
				t.Fatalf("fetch to the new leader named epoch %d", fe.req.CurrentLeaderEpoch)
			}
		}
	}
	if to101 == 0 || to102 < 2 {
		t.Fatalf("fetches of orders/0: %d to the old leader, %d to the new", to101, to102)
	}

	// Past the end: OFFSET_OUT_OF_RANGE, position kept.
	if err := k.Seek(orders1, 100); err != nil {
		t.Fatal(err)
	}
	_, err := k.Poll(testCtx(t))
	var be *BrokerError
	if !errors.Is(err, ErrOffsetOutOfRange) || !errors.As(err, &be) || be.TP != orders1 || be.Broker != 102 {
		t.Fatalf("Poll past the end = %v", err)
	}
	if pos, _ := k.Position(orders1); pos != 100 {
		t.Fatalf("position moved to %d", pos)
	}

	// SeekToEnd: only new records from now on.
	if err := k.SeekToEnd(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if p0, _ := k.Position(orders0); p0 != 7 {
		t.Fatalf("SeekToEnd put orders/0 at %d, want 7", p0)
	}
	if p1, _ := k.Position(orders1); p1 != 5 {
		t.Fatalf("SeekToEnd put orders/1 at %d, want 5", p1)
	}
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if recs, err := k.Poll(short); len(recs) != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Poll at the end = %v, %v", recs, err)
	}
	if err := k.Seek(sm.TopicPartition{Topic: "other"}, 0); err == nil {
		t.Fatal("Seek of an unassigned partition succeeded")
	}
}

// pollN polls until n records arrived.
func pollN(t *testing.T, k *Consumer, n int) []Record {
	t.Helper()
	var out []Record
	for len(out) < n {
		recs, err := k.Poll(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recs...)
	}
	if len(out) != n {
		t.Fatalf("polled %d records, want %d: %+v", len(out), n, out)
	}
	return out
}

// Producer.Close delivers lingering records, then refuses new ones.
func TestProducerCloseFlushes(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("orders", 1, 101)
	c := f.newClient(f.clientConfig())
	p := newProducer(t, c, ProducerConfig{Linger: time.Hour})
	var errs []error
	var mu sync.Mutex
	for range 3 {
		p.SendAsync(Message{Topic: "orders", Partition: 0}, func(_ Result, err error) {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		})
	}
	if err := p.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if len(errs) != 3 || errors.Join(errs...) != nil {
		t.Fatalf("outcomes after Close: %v", errs)
	}
	if n := len(f.producesSeen()); n != 1 {
		t.Fatalf("%d requests", n)
	}
	if _, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close = %v", err)
	}
	if err := p.Close(testCtx(t)); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

// Flush sends lingering records at once and waits for their outcomes.
func TestFlush(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("orders", 2, 101)
	c := f.newClient(f.clientConfig())
	p := newProducer(t, c, ProducerConfig{Linger: time.Hour})
	defer p.Close(testCtx(t))
	var done atomic.Int32
	for i := range 10 {
		p.SendAsync(Message{Topic: "orders", Partition: int32(i % 2)}, func(Result, error) { done.Add(1) })
	}
	if err := p.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if done.Load() != 10 || len(f.producesSeen()) != 2 {
		t.Fatalf("after Flush: %d outcomes, %d requests", done.Load(), len(f.producesSeen()))
	}
}

// Send's context withdraws a record not yet sent: certainly not written.
func TestSendContextWithdrawsQueuedRecord(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("orders", 1, 101)
	c := f.newClient(f.clientConfig())
	p := newProducer(t, c, ProducerConfig{Linger: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := p.Send(ctx, Message{Topic: "orders", Partition: 0})
	var unknown *OutcomeUnknownError
	if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &unknown) {
		t.Fatalf("Send = %v, want a plain context error", err)
	}
	if err := p.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(f.producesSeen()); n != 0 {
		t.Fatalf("the withdrawn record was sent (%d requests)", n)
	}
}

// Close with a request stuck in flight: Producer.Close gives up when its
// context ends; the stuck record's outcome is unknown, the one queued
// behind it was not written.
func TestProducerCloseAbandons(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("orders", 1, 101)
	cfg := f.clientConfig()
	cfg.RequestTimeout = time.Minute
	c := f.newClient(cfg)
	f.setOnProduce(func(sm.NodeID, sm.ProduceRequest) (sm.Message, bool) { return nil, true })
	p := newProducer(t, c, ProducerConfig{})
	errs := make(chan error, 2)
	p.SendAsync(Message{Topic: "orders", Partition: 0}, func(_ Result, err error) { errs <- err })
	eventually(t, "the first request", func() bool { return len(f.producesSeen()) == 1 })
	p.SendAsync(Message{Topic: "orders", Partition: 0}, func(_ Result, err error) { errs <- err })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v", err)
	}
	var first, second error
	for range 2 {
		err := <-errs
		var unknown *OutcomeUnknownError
		if errors.As(err, &unknown) {
			first = err
		} else {
			second = err
		}
	}
	if !errors.Is(first, ErrClosed) || !errors.Is(first, ErrTimeout) {
		t.Fatalf("in-flight record: %v", first)
	}
	if !errors.Is(second, ErrClosed) || errors.Is(second, ErrTimeout) {
		t.Fatalf("queued record: %v", second)
	}
}

// Client.Close stops everything made from it and leaks no goroutines.
func TestClientClose(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("orders", 1, 101)
	time.Sleep(50 * time.Millisecond) // let the brokers' goroutines settle
	before := runtime.NumGoroutine()
	cfg := f.clientConfig()
	cfg.RequestTimeout = time.Minute
	ctx := testCtx(t)
	c, err := NewClient(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.setOnProduce(func(sm.NodeID, sm.ProduceRequest) (sm.Message, bool) { return nil, true })
	p := newProducer(t, c, ProducerConfig{})
	k := newConsumer(t, c, ConsumerConfig{})
	k.Assign(orders0)
	sendErr := make(chan error, 1)
	go func() {
		_, err := p.Send(ctx, Message{Topic: "orders", Partition: 0})
		sendErr <- err
	}()
	pollErr := make(chan error, 1)
	go func() {
		_, err := k.Poll(ctx)
		pollErr <- err
	}()
	eventually(t, "the request", func() bool { return len(f.producesSeen()) == 1 })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-sendErr; !errors.Is(err, ErrClosed) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("Send in flight at Close = %v, want an unknown outcome wrapping ErrClosed", err)
	}
	if err := <-pollErr; !errors.Is(err, ErrClosed) {
		t.Fatalf("Poll at Close = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := c.Topics(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Topics after Close = %v", err)
	}
	if _, err := c.NewProducer(ProducerConfig{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewProducer after Close = %v", err)
	}
	if _, err := c.NewConsumer(ConsumerConfig{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewConsumer after Close = %v", err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Producer.Close after Client.Close = %v", err)
	}
	eventually(t, "the client's goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// A partition with a backlog is read with several fetches in flight, of
// consecutive ranges the size of the last answer; answers that fall short
// (a gap) or fail are not reported and not skipped: the consumer reads every
// record once, in order. At the log's end it fetches one range at a time.
func TestConsumerPipelinesBacklog(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("orders", 1, 101)
	pc := f.newClient(f.clientConfig())
	p := newProducer(t, pc, ProducerConfig{})
	defer p.Close(testCtx(t))
	const n = 120
	for i := range n {
		if _, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: fmt.Appendf(nil, "v%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Rounds read [0], then three ranges of 10: [10 20 30], [40 50 60], ….
	// The range at 50 is answered short (one record): the round ends at
	// 51, and the next reads [51 61 71]; the range at 61 fails once with
	// NOT_LEADER: that round ends at 61.
	f.mu.Lock()
	failed := false
	f.onFetch = func(self sm.NodeID, req sm.FetchRequest) (sm.Message, bool) {
		switch {
		case req.Offset == 50:
			resp := f.fetchLocked(self, req)
			resp.Batches = resp.Batches[:1]
			return resp, true
		case req.Offset == 61 && !failed:
			failed = true
			return sm.FetchResponse{ReqID: req.ReqID, TP: req.TP, Code: sm.CodeNotLeader, LeaderEpoch: 1, LeaderHint: 101}, true
		}
		return nil, false
	}
	f.mu.Unlock()
	c := f.newClient(f.clientConfig())
	k := newConsumer(t, c, ConsumerConfig{MaxRecords: 10, FetchesInFlight: 3, PollInterval: 10 * time.Millisecond})
	k.Assign(orders0)
	var got []Record
	for len(got) < n {
		recs, err := k.Poll(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, recs...)
	}
	for i, r := range got {
		if r.Offset != sm.Offset(i) || string(r.Value) != fmt.Sprintf("v%d", i) {
			t.Fatalf("record %d: offset %d value %q", i, r.Offset, r.Value)
		}
	}
	if len(got) != n {
		t.Fatalf("consumed %d records, want %d", len(got), n)
	}
	// Ranges ahead of the position were asked for (offsets no answer had
	// reached yet), and the short and failed ones were read again.
	ahead, at := 0, map[sm.Offset]int{}
	var reached sm.Offset
	for _, s := range f.fetchesSeen() {
		if s.req.Offset > reached {
			ahead++
		}
		at[s.req.Offset]++
		reached = max(reached, s.req.Offset+1)
	}
	if ahead == 0 {
		t.Fatalf("no fetch read ahead of the position: %+v", f.fetchesSeen())
	}
	if at[51] == 0 || at[61] < 2 {
		t.Fatalf("the gap after the short answer at 50 (fetches at 51: %d) or the failed range at 61 (%d fetches) was not read again: %+v", at[51], at[61], f.fetchesSeen())
	}
	// At the end: one fetch per round.
	before := len(f.fetchesSeen())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if recs, err := k.Poll(ctx); len(recs) != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Poll at the end = %d records, %v", len(recs), err)
	}
	for _, s := range f.fetchesSeen()[before:] {
		if s.req.Offset != n {
			t.Fatalf("at the log's end a fetch asked for %d", s.req.Offset)
		}
	}
}

// Goal: Pause stops a partition's records until Resume, which continues
// from where it was paused; Poll keeps serving the other partitions; every
// partition paused makes Poll wait (until ctx ends); pausing a partition
// not assigned is refused and pauses nothing.
func TestConsumerPauseResume(t *testing.T) {
	f := newFakeCluster(t, 101, 102)
	f.createTopic("orders", 2, 101, 102)
	pc := f.newClient(f.clientConfig())
	p := newProducer(t, pc, ProducerConfig{})
	defer p.Close(testCtx(t))
	for i := range 4 {
		for _, tp := range []sm.TopicPartition{orders0, orders1} {
			if _, err := p.Send(testCtx(t), Message{Topic: tp.Topic, Partition: tp.Partition, Value: []byte(fmt.Sprintf("%d-%d", tp.Partition, i))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	k := newConsumer(t, f.newClient(f.clientConfig()), ConsumerConfig{MaxRecords: 2, PollInterval: 10 * time.Millisecond})
	if _, err := k.AssignTopic(testCtx(t), "orders"); err != nil {
		t.Fatal(err)
	}
	if err := k.Pause(orders1, sm.TopicPartition{Topic: "nope", Partition: 0}); err == nil || !strings.Contains(err.Error(), "not assigned") {
		t.Fatalf("Pause of an unassigned partition: %v", err)
	}
	if len(k.Paused()) != 0 {
		t.Fatalf("a refused Pause paused %v", k.Paused())
	}
	if err := k.Pause(orders1); err != nil || !slices.Equal(k.Paused(), []sm.TopicPartition{orders1}) {
		t.Fatalf("Pause: %v, paused %v", err, k.Paused())
	}
	var got []Record
	for len(got) < 4 {
		recs, err := k.Poll(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, recs...)
	}
	for _, r := range got {
		if r.TP != orders0 {
			t.Fatalf("a paused partition's record came back: %+v", r)
		}
	}
	if err := k.Pause(); err != nil { // everything
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
	recs, err := k.Poll(ctx)
	cancel()
	if len(recs) != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Poll with everything paused: %v, %v", recs, err)
	}
	if err := k.Resume(orders1); err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for len(got) < 4 {
		recs, err := k.Poll(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, recs...)
	}
	for i, r := range got {
		if r.TP != orders1 || r.Offset != sm.Offset(i) {
			t.Fatalf("after Resume: %+v, want orders/1 from offset 0", got)
		}
	}
}

// Goal: Client.Stats counts what the client did: connections made and live,
// requests and the bytes they took, metadata refreshes, and a request that
// timed out as an error followed by a reconnect.
func TestClientStats(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("orders", 1, 101)
	cfg := f.clientConfig()
	cfg.RequestTimeout = 200 * time.Millisecond
	c := f.newClient(cfg)
	p := newProducer(t, c, ProducerConfig{})
	defer p.Close(testCtx(t))
	if _, err := p.Send(testCtx(t), Message{Topic: "orders", Partition: 0, Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	s := c.Stats()
	if s.ActiveConnections != 1 || s.TotalConnections < 1 || s.Requests < 2 || s.MetadataRefreshes < 1 || s.BytesSent == 0 || s.BytesReceived == 0 || s.Errors != 0 {
		t.Fatalf("after one produce: %+v", s)
	}
	// The broker stops answering fetches: the request times out (an error)
	// and the next one dials again (a reconnect).
	f.mu.Lock()
	f.onFetch = func(self sm.NodeID, req sm.FetchRequest) (sm.Message, bool) { return nil, true }
	f.mu.Unlock()
	k := newConsumer(t, c, ConsumerConfig{})
	k.Assign(orders0)
	k.SeekToBeginning()
	ctx, cancel := context.WithTimeout(testCtx(t), time.Second)
	_, _ = k.Poll(ctx)
	cancel()
	if s := c.Stats(); s.Errors == 0 || s.ReconnectAttempts == 0 {
		t.Fatalf("after timeouts: %+v", s)
	}
}

// Goal: headers, a create timestamp and compression go through the
// producer and come back from the consumer as they were sent, for every
// codec (the fake keeps create times, as a create_time topic does);
// records without one show the batch's time.
func TestProduceHeadersTimestampsCompression(t *testing.T) {
	f := newFakeCluster(t, 101)
	f.createTopic("t", 1, 101)
	c := f.newClient(f.clientConfig(f.brokers[101].addr))
	ctx := context.Background()
	at := time.UnixMilli(1_764_720_000_123)
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		p, err := c.NewProducer(ProducerConfig{Compression: codec})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Send(ctx, Message{Topic: "t", Partition: 0, Value: []byte("v-" + codec), Headers: []Header{{Key: "codec", Value: []byte(codec)}}, Timestamp: at}); err != nil {
			t.Fatalf("%s: %v", codec, err)
		}
		if _, err := p.Send(ctx, Message{Topic: "t", Partition: 0, Value: []byte("plain-" + codec)}); err != nil {
			t.Fatalf("%s: %v", codec, err)
		}
		p.Close(ctx)
	}
	if _, err := c.NewProducer(ProducerConfig{Compression: "brotli"}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("unknown codec: %v", err)
	}
	if _, err := func() (Result, error) {
		p, _ := c.NewProducer(ProducerConfig{})
		defer p.Close(ctx)
		return p.Send(ctx, Message{Topic: "t", Partition: 0, Value: []byte("x"), Headers: []Header{{Key: "\xff"}}})
	}(); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("a header key that is not UTF-8: %v", err)
	}
	cons, _ := c.NewConsumer(ConsumerConfig{})
	tp := TopicPartition{Topic: "t"}
	cons.Assign(tp)
	cons.SeekToBeginning(tp)
	var got []Record
	for len(got) < 10 {
		recs, err := cons.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, recs...)
	}
	for i, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		r, plain := got[2*i], got[2*i+1]
		if string(r.Value) != "v-"+codec || len(r.Headers) != 1 || string(r.Headers[0].Value) != codec || !r.Timestamp.Equal(at) || !r.CreateTime {
			t.Errorf("%s: got %+v", codec, r)
		}
		if string(plain.Value) != "plain-"+codec || plain.Headers != nil || plain.CreateTime {
			t.Errorf("%s: plain record %+v", codec, plain)
		}
	}
}
