package itest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/weirmq/weir/linearizability"
	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sm"
)

// TestNoAckedLoss: acks=all producers write to a 3-broker, 3-controller
// cluster while the leader broker of a partition and then the controller
// leader are killed with SIGKILL (and restarted). Every operation is
// recorded with its wall-clock invoke and return times, and the claimed-
// order checker from linearizability/ must find no acknowledged record
// lost, duplicated or reordered.
func TestNoAckedLoss(t *testing.T) {
	const topic, partitions = "noloss", 3
	c := startCluster(t, topic, partitions)

	tlsConf, err := sdk.TLSFromDir(c.certs, "client-itest")
	if err != nil {
		t.Fatal(err)
	}
	var brokers []string
	for id := 101; id <= 103; id++ {
		brokers = append(brokers, fmt.Sprintf("127.0.0.1:%d", c.brkPorts[id]))
	}
	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	h := &linearizability.History{}
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	acked := make([]int, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			cl, err := sdk.NewClient(ctx, sdk.Config{Brokers: brokers, TLS: tlsConf, RequestTimeout: 5 * time.Second})
			if err != nil {
				t.Errorf("producer %d: %v", g, err)
				return
			}
			defer cl.Close()
			p, err := cl.NewProducer(sdk.ProducerConfig{Acks: sdk.AckLevel(sm.AckAll)})
			if err != nil {
				t.Errorf("producer %d: %v", g, err)
				return
			}
			defer p.Close(ctx)
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				part := int32(n % partitions)
				value := fmt.Sprintf("p%d-%d", g, n)
				op := linearizability.Op{Client: g, Kind: linearizability.Produce, TP: fmt.Sprintf("%s/%d", topic, part),
					Values: []string{value}, Durable: true, Call: now()}
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				res, err := p.Send(sctx, sdk.Message{Topic: topic, Partition: part, Value: []byte(value)})
				cancel()
				op.Return = now()
				switch {
				case err == nil:
					op.Outcome, op.Offset = linearizability.OK, int64(res.Offset)
					acked[g]++
				case definite(err):
					op.Outcome, op.Err = linearizability.Failed, err.Error()
					time.Sleep(50 * time.Millisecond)
				default:
					op.Outcome, op.Err = linearizability.Unknown, err.Error()
					time.Sleep(50 * time.Millisecond)
				}
				mu.Lock()
				h.Add(op)
				mu.Unlock()
			}
		}()
	}

	time.Sleep(3 * time.Second)
	parts, err := c.describe(topic)
	if err != nil {
		t.Fatal(err)
	}
	victim := *parts[0].Leader
	c.kill(victim)
	time.Sleep(4 * time.Second)
	c.start(victim)
	time.Sleep(2 * time.Second)
	ctl, err := c.controllerLeader()
	if err != nil {
		t.Fatal(err)
	}
	c.kill(ctl)
	time.Sleep(4 * time.Second)
	c.start(ctl)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	c.waitFor("full ISR after the faults", 60*time.Second, func() error { return fullISR(c, topic) })

	// Final reads: every partition from offset 0 to its end.
	readAll(t, brokers, tlsConf, topic, partitions, h, now)
	rep := linearizability.CheckLog(h)
	t.Logf("%d ops, acked per producer %v; %s", len(h.Ops), acked, rep)
	if !rep.OK() {
		t.Fatalf("history check failed: %s", rep)
	}
	total := 0
	for _, n := range acked {
		total += n
	}
	if total == 0 || rep.DurableVerified == 0 {
		t.Fatalf("nothing acknowledged or verified (acked %d, verified %d)", total, rep.DurableVerified)
	}
}

// definite reports an error that says the produce certainly did nothing.
func definite(err error) bool {
	var unknown *sdk.OutcomeUnknownError
	if errors.As(err, &unknown) {
		return false
	}
	return errors.Is(err, sdk.ErrNotLeader) || errors.Is(err, sdk.ErrNotEnoughReplicas) ||
		errors.Is(err, sdk.ErrLeaderNotAvailable) || errors.Is(err, sdk.ErrUnknownTopic)
}

// readAll reads each partition from the start until two empty polls in a
// row, and records the reads as Final fetches with HW = end read.
func readAll(t *testing.T, brokers []string, tlsConf *tls.Config, topic string, partitions int, h *linearizability.History, now func() int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := sdk.NewClient(ctx, sdk.Config{Brokers: brokers, TLS: tlsConf})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for p := range partitions {
		tp := sdk.TopicPartition{Topic: topic, Partition: int32(p)}
		cons, err := cl.NewConsumer(sdk.ConsumerConfig{PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		cons.Assign(tp)
		cons.SeekToBeginning(tp)
		op := linearizability.Op{Client: 99, Kind: linearizability.Fetch, TP: fmt.Sprintf("%s/%d", topic, p), Final: true, Call: now()}
		empty := 0
		for empty < 5 {
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			recs, err := cons.Poll(pctx)
			pcancel()
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				empty++ // nothing new for a second
				continue
			}
			if err != nil {
				t.Fatalf("final read of %v: %v", tp, err)
			}
			if len(recs) == 0 {
				empty++
				continue
			}
			empty = 0
			for _, r := range recs {
				op.Records = append(op.Records, linearizability.Rec{Offset: int64(r.Offset), Value: string(r.Value)})
			}
		}
		op.Return, op.Outcome = now(), linearizability.OK
		op.HW = int64(len(op.Records))
		if n := len(op.Records); n > 0 {
			op.HW = op.Records[n-1].Offset + 1
		}
		h.Add(op)
		_ = cons.Close()
	}
}
