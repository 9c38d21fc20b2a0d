package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/cmd/internal/dev"
	"github.com/weirmq/weir/cmd/internal/server"
	"github.com/weirmq/weir/cmd/internal/testnet"
	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sm"
)

// lossRig is one controller and one broker with weir dev's configuration
// on free ports, started and restarted by the test, and a client.
type lossRig struct {
	t    testing.TB
	o    dev.Options
	ctl  *server.Controller
	brk  *server.Broker   // broker 101
	brks []*server.Broker // every broker, by index (101 + i)
	logs *syncBuffer      // the brokers' logs, every start
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newLossRig(t testing.TB) *lossRig { return newLossRigN(t, 1) }

func newLossRigN(t testing.TB, brokers int) *lossRig {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a controller and a broker; skipped with -short")
	}
	o := dev.DefaultOptions()
	o.AdminToken = false // storage tests talk to an open admin API
	o.Dir = t.TempDir()
	o.ControllerPort, o.RaftPort, o.HTTPPort, o.BrokerPort = testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t)
	o.MetricsPort = testnet.FreePort(t)
	o.NoRateLimit = true
	o.Brokers = brokers
	if _, err := dev.EnsureCerts(o); err != nil {
		t.Fatal(err)
	}
	r := &lossRig{t: t, o: o, logs: &syncBuffer{}, brks: make([]*server.Broker, brokers)}
	ctl, err := server.StartController(dev.ControllerConfig(o), zerolog.New(r.logs).Level(zerolog.InfoLevel))
	if err != nil {
		t.Fatal(err)
	}
	r.ctl = ctl
	t.Cleanup(func() {
		for _, b := range r.brks {
			if b != nil {
				_ = b.Shutdown()
			}
		}
		_ = r.ctl.Shutdown()
	})
	return r
}

// startBroker starts broker 101, with mutate applied to its configuration.
func (r *lossRig) startBroker(mutate func(*config.Broker)) {
	r.t.Helper()
	r.startBrokerN(0, mutate)
}

// startBrokerN starts broker 101+i and waits until the controller counts
// every broker of the rig that runs.
func (r *lossRig) startBrokerN(i int, mutate func(*config.Broker)) {
	r.t.Helper()
	cfg := dev.BrokerConfig(r.o, i)
	cfg.Metrics.Listen = "127.0.0.1:0"
	if mutate != nil {
		mutate(&cfg)
	}
	log := zerolog.New(r.logs).Level(zerolog.InfoLevel)
	brk, err := server.StartBroker(cfg, log)
	if err != nil {
		r.t.Fatal(err)
	}
	r.brks[i] = brk
	if i == 0 {
		r.brk = brk
	}
	running := 0
	for _, b := range r.brks {
		if b != nil {
			running++
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.ctl.WaitReady(ctx, running); err != nil {
		r.t.Fatal(err)
	}
}

func (r *lossRig) stopBroker() {
	r.t.Helper()
	r.stopBrokerN(0)
}

func (r *lossRig) stopBrokerN(i int) {
	r.t.Helper()
	if err := r.brks[i].Shutdown(); err != nil {
		r.t.Fatal(err)
	}
	r.brks[i] = nil
	if i == 0 {
		r.brk = nil
	}
}

func (r *lossRig) admin(method, path, body string) (int, string) {
	r.t.Helper()
	req, _ := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", r.o.HTTPPort, path), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (r *lossRig) createTopic(name string) { r.createTopicRF(name, 1) }

func (r *lossRig) createTopicRF(name string, rf int) {
	r.t.Helper()
	if code, body := r.admin(http.MethodPost, "/api/v1/topics", fmt.Sprintf(`{"name":%q,"partitions":1,"replication_factor":%d,"config":{"min_in_sync_replicas":%d}}`, name, rf, max(rf-1, 1))); code/100 != 2 {
		r.t.Fatalf("create %s: %d %s", name, code, body)
	}
}

func (r *lossRig) producer() (*sdk.Client, *sdk.Producer) {
	r.t.Helper()
	return r.producerOn()
}

// producerOn connects to the brokers of the given indexes (all when none).
func (r *lossRig) producerOn(only ...int) (*sdk.Client, *sdk.Producer) {
	r.t.Helper()
	tlsConf, err := sdk.TLSFromDir(dev.CertDir(r.o.Dir), dev.ClientCertName)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var addrs []string
	for i := range r.o.Brokers {
		if len(only) == 0 || slices.Contains(only, i) {
			addrs = append(addrs, dev.BrokerConfig(r.o, i).Network.QUICListen)
		}
	}
	c, err := sdk.NewClient(ctx, sdk.Config{Brokers: addrs, TLS: tlsConf,
		Log: zerolog.New(r.logs).Level(zerolog.InfoLevel)})
	if err != nil {
		r.t.Fatal(err)
	}
	p, err := c.NewProducer(sdk.ProducerConfig{Acks: sdk.AckLevel(sm.AckAll), DeliveryTimeout: 3 * time.Second})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = c.Close() })
	return c, p
}

func send(p *sdk.Producer, topic string, v []byte) (sdk.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.Send(ctx, sdk.Message{Topic: topic, Partition: 0, Value: v})
}

// Issue 7 item 3: a full WAL used to kill the broker (exit 3, and a
// supervisor restarted it into the same wall). Now produce gets the
// retriable STORAGE_ERROR naming the broker and how full its WAL is, the
// broker stays up, the refusals show in its metrics, and deleting a topic
// frees the space: produce works again without a restart.
func TestFullWALRefusesAndRecovers(t *testing.T) {
	r := newLossRig(t)
	r.startBroker(func(b *config.Broker) { b.WAL.CapacityBytes = 64 << 10 })
	r.createTopic("fill")
	r.createTopic("after")
	_, p := r.producer()
	value := bytes.Repeat([]byte("x"), 1024)
	var err error
	for i := 0; i < 200 && err == nil; i++ {
		_, err = send(p, "fill", value)
	}
	var be *sdk.BrokerError
	if !errors.As(err, &be) || be.Code != sm.CodeStorageError || !strings.Contains(be.Message, "broker 101") || !strings.Contains(be.Message, "capacity_bytes 65536") {
		t.Fatalf("produce into a full WAL: %v", err)
	}
	select {
	case <-waitDone(r.brk):
		t.Fatalf("the broker stopped: %v", r.brk.Wait())
	case <-time.After(500 * time.Millisecond):
	}
	metrics := httpGet(t, "http://"+r.brk.MetricsAddr+"/metrics")
	if !strings.Contains(metrics, "weir_wal_appends_refused_total") || strings.Contains(metrics, "weir_wal_appends_refused_total 0\n") {
		t.Fatalf("metrics do not count the refusals:\n%s", grepLines(metrics, "wal_"))
	}
	if code, body := r.admin(http.MethodDelete, "/api/v1/topics/fill", ""); code/100 != 2 {
		t.Fatalf("delete: %d %s", code, body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err = send(p, "after", value)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("produce after the topic was deleted: %v", err)
	}
}

// Issue 7 item 2: a bit flip in a partition's last batch used to be cut as
// a torn tail, dropping acknowledged records and reusing their offsets. Now
// the broker names the file and byte, keeps the file as it is and, holding
// the only copy, leaves the partition offline rather than serve a shorter
// log; --accept-data-loss is the explicit way on, losing exactly the
// damaged batch.
func TestDamagedLastBatchIsNotCut(t *testing.T) {
	r := newLossRig(t)
	r.startBroker(nil)
	r.createTopic("t")
	_, p := r.producer()
	const n = 20
	for i := range n {
		if _, err := send(p, "t", fmt.Appendf(nil, "record-%d", i)); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	r.stopBroker()
	seg := filepath.Join(dev.BrokerConfig(r.o, 0).WAL.Path, "t-0", fmt.Sprintf("%020d.log", 0))
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	last := 0 // byte where the last frame starts
	for pos := 0; pos < len(data); {
		_, size, err := sm.DecodeBatch(data[pos:])
		if err != nil {
			t.Fatalf("segment before the flip: %v", err)
		}
		last, pos = pos, pos+size
	}
	data[len(data)-3] ^= 0x04
	if err := os.WriteFile(seg, data, 0o644); err != nil {
		t.Fatal(err)
	}

	r.startBroker(nil)
	want := fmt.Sprintf("wal: corrupt record in %s at byte %d: checksum mismatch below the synced mark", seg, last)
	waitFor(t, "the damage logged", func() bool { return strings.Contains(r.logs.String(), want) })
	if !strings.Contains(r.logs.String(), "--accept-data-loss") {
		t.Fatalf("the log does not say how to accept the loss:\n%s", r.logs.String())
	}
	waitFor(t, "partition t/0 offline", func() bool {
		_, body := r.admin(http.MethodGet, "/api/v1/topics/t", "")
		return strings.Contains(body, `"leader":null`) && strings.Contains(body, `"in_sync_replicas":[]`)
	})
	if got, _ := os.ReadFile(seg); !bytes.Equal(got, data) {
		t.Fatal("the damaged segment was changed")
	}
	if _, err := send(p, "t", []byte("while offline")); err == nil {
		t.Fatal("produce accepted by a partition whose last copy is damaged")
	}

	r.stopBroker()
	r.startBroker(func(b *config.Broker) { b.AcceptDataLoss = true })
	waitFor(t, "partition t/0 led again", func() bool {
		_, body := r.admin(http.MethodGet, "/api/v1/topics/t", "")
		return strings.Contains(body, `"leader":"broker-101"`) || strings.Contains(body, `"leader":101`)
	})
	got := readAll(t, r, 0, n-1)
	if len(got) != n-1 || got[n-2] != fmt.Sprintf("record-%d", n-2) {
		t.Fatalf("after accepting the loss: %d records %q, want the %d before the damaged batch", len(got), got, n-1)
	}
}

func waitDone(b *server.Broker) <-chan struct{} {
	ch := make(chan struct{})
	go func() { _ = b.Wait(); close(ch) }()
	return ch
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what) // the rig's logs are in the failing test's output
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpGet(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Issue 7 item 12: a broker restarted on an empty disk (same ID, lost WAL)
// used to exit 3 "fenced by a newer incarnation", and its supervisor looped.
// It now registers as a new incarnation, is not elected for data it no
// longer has, rebuilds its replica from the leader and rejoins the ISR: the
// records are all there when the other two brokers are gone.
func TestBrokerWithLostDiskRebuilds(t *testing.T) {
	r := newLossRigN(t, 3)
	for i := range 3 {
		r.startBrokerN(i, nil)
	}
	r.createTopicRF("t", 3)
	fullISR := func() bool {
		_, body := r.admin(http.MethodGet, "/api/v1/topics/t", "")
		return strings.Contains(body, `"in_sync_replicas":["broker-101","broker-102","broker-103"]`)
	}
	waitFor(t, "full ISR", fullISR)
	c, p := r.producer()
	const n = 50
	for i := range n {
		if _, err := send(p, "t", fmt.Appendf(nil, "record-%d", i)); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	lost := dev.BrokerConfig(r.o, 1).WAL.Path
	r.stopBrokerN(1)
	if err := os.RemoveAll(filepath.Dir(lost)); err != nil {
		t.Fatal(err)
	}
	r.startBrokerN(1, nil)
	// The ISR may still name the old incarnation: wait until the new one
	// holds the records, then until it is in the ISR.
	r.waitHolds("the rebuilt replica caught up", 1, n)
	waitFor(t, "the rebuilt broker back in the ISR", fullISR)
	select {
	case <-waitDone(r.brks[1]):
		t.Fatalf("the broker with a lost disk stopped: %v", r.brks[1].Wait())
	default:
	}
	_ = c.Close()
	r.stopBrokerN(0)
	r.stopBrokerN(2)
	// Once the controller has fenced the other two, the rebuilt replica
	// leads. (The SDK is only asked afterwards: a client whose metadata
	// still names a dead leader keeps dialling it until its next refresh.)
	r.waitLeadsAlone(1)
	got := readAll(t, r, 1, n)
	if len(got) != n || got[n-1] != fmt.Sprintf("record-%d", n-1) {
		_, body := r.admin(http.MethodGet, "/api/v1/topics/t", "")
		t.Fatalf("read from the rebuilt broker alone: %d records, want %d (topic %s)\n%s\n%s", len(got), n, body,
			grepLines(httpGet(t, "http://"+r.brks[1].MetricsAddr+"/metrics"), "weir_partition"), r.logs.String())
	}
}

// Issue 7 item 2 with replicas: a follower whose last acknowledged batch is
// damaged does not come back serving a shorter log. It leaves the ISR (the
// controller takes it out at registration), cuts the damage only once
// another replica leads, refetches, and rejoins; alone it then serves every
// acknowledged record.
func TestDamagedReplicaRebuildsFromLeader(t *testing.T) {
	r := newLossRigN(t, 3)
	for i := range 3 {
		r.startBrokerN(i, nil)
	}
	r.createTopicRF("t", 3)
	isr := func(want string) func() bool {
		return func() bool {
			_, body := r.admin(http.MethodGet, "/api/v1/topics/t", "")
			return strings.Contains(body, `"in_sync_replicas":`+want)
		}
	}
	waitFor(t, "full ISR", isr(`["broker-101","broker-102","broker-103"]`))
	c, p := r.producer()
	const n = 30
	for i := range n {
		if _, err := send(p, "t", fmt.Appendf(nil, "record-%d", i)); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	_ = c.Close()
	// Let every replica sync what it holds, then stop 102 and flip a byte
	// of its last batch.
	r.waitHolds("broker-102 holds every record", 1, n)
	r.stopBrokerN(1)
	seg := filepath.Join(dev.BrokerConfig(r.o, 1).WAL.Path, "t-0", fmt.Sprintf("%020d.log", 0))
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-3] ^= 0x04
	if err := os.WriteFile(seg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r.startBrokerN(1, nil)
	waitFor(t, "the damage logged", func() bool {
		return strings.Contains(r.logs.String(), "wal: corrupt record in "+seg)
	})
	r.waitHolds("the repaired replica caught up", 1, n)
	waitFor(t, "the repaired replica back in the ISR", isr(`["broker-101","broker-102","broker-103"]`))
	r.stopBrokerN(0)
	r.stopBrokerN(2)
	r.waitLeadsAlone(1)
	got := readAll(t, r, 1, n)
	if len(got) != n || got[n-1] != fmt.Sprintf("record-%d", n-1) {
		t.Fatalf("read from the repaired broker alone: %d records, want %d", len(got), n)
	}
}

// readAll reads partition t/0 from the beginning through broker index i
// until it has want records or 30 s pass.
func readAll(t *testing.T, r *lossRig, i, want int) []string {
	t.Helper()
	c, _ := r.producerOn(i)
	cons, err := c.NewConsumer(sdk.ConsumerConfig{PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tp := sdk.TopicPartition{Topic: "t", Partition: 0}
	cons.Assign(tp)
	cons.SeekToBeginning(tp)
	var got []string
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		// Longer than the SDK's 5 s dial timeout (see TestBrokerWithLostDiskRebuilds).
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		recs, _ := cons.Poll(ctx)
		cancel()
		for _, rec := range recs {
			got = append(got, string(rec.Value))
		}
	}
	return got
}

// waitHolds waits until broker index i's replica of t/0 ends at offset n,
// as its metrics show.
func (r *lossRig) waitHolds(what string, i, n int) {
	r.t.Helper()
	want := fmt.Sprintf(`weir_partition_log_end_offset{partition="0",topic="t"} %d`, n)
	waitFor(r.t, what, func() bool {
		return strings.Contains(httpGet(r.t, "http://"+r.brks[i].MetricsAddr+"/metrics"), want)
	})
}

// waitLeadsAlone waits until broker index i leads t/0 with an ISR of itself
// (the controller has fenced the others).
func (r *lossRig) waitLeadsAlone(i int) {
	r.t.Helper()
	name := fmt.Sprintf("broker-%d", 101+i)
	waitFor(r.t, name+" leads alone", func() bool {
		_, body := r.admin(http.MethodGet, "/api/v1/topics/t", "")
		return strings.Contains(body, `"leader":"`+name+`"`) && strings.Contains(body, `"in_sync_replicas":["`+name+`"]`)
	})
}
