package main

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sm"
)

type benchOpts struct {
	topic       string
	records     int
	size        int
	acks        string
	concurrency int
	rate        float64
	duration    time.Duration
	inflight    int
	linger      time.Duration
}

func newBench(g *globals) *cobra.Command {
	o := &benchOpts{}
	cmd := &cobra.Command{Use: "bench", Short: "Measure produce or consume throughput and latency"}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.topic, "topic", "bench", "topic (must exist)")
	pf.IntVar(&o.records, "records", 100000, "records to send or read")
	pf.IntVar(&o.size, "size", 1024, "record size in bytes")
	pf.StringVar(&o.acks, "acks", "leader", "ack level for produce")
	pf.IntVar(&o.concurrency, "concurrency", 64, "records in flight (produce)")
	pf.Float64Var(&o.rate, "rate", 0, "target records per second (0: as fast as possible)")
	pf.IntVar(&o.inflight, "max-inflight", 1, "produce requests in flight per partition (more than 1 may reorder retried batches)")
	pf.DurationVar(&o.linger, "linger", time.Millisecond, "how long a batch may wait for more records")
	cmd.AddCommand(&cobra.Command{
		Use: "produce", Short: "Send records and report msg/s, MB/s and latency percentiles",
		RunE: func(cmd *cobra.Command, args []string) error { return benchProduce(g, o) },
	}, &cobra.Command{
		Use: "consume", Short: "Read records from the beginning and report msg/s and MB/s",
		RunE: func(cmd *cobra.Command, args []string) error { return benchConsume(g, o) },
	})
	return cmd
}

// progress prints a one-line running count to stderr until stop is closed.
func progress(what string, done *atomic.Int64, total int, stop chan struct{}) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	start := time.Now()
	for {
		select {
		case <-stop:
			fmt.Fprintf(os.Stderr, "\r%*s\r", 70, "")
			return
		case <-t.C:
			n := done.Load()
			fmt.Fprintf(os.Stderr, "\r%s %d/%d (%.0f msg/s)   ", what, n, total, float64(n)/time.Since(start).Seconds())
		}
	}
}

func benchProduce(g *globals, o *benchOpts) error {
	acks, err := sm.ParseAcks(o.acks)
	if err != nil {
		return err
	}
	ctx, c, closeSession, err := g.session()
	if err != nil {
		return err
	}
	defer closeSession()
	p := c.NewProducer(sdk.ProducerConfig{Acks: &acks, Linger: o.linger, MaxInflightPerPartition: o.inflight})
	payload := make([]byte, o.size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	var limiter *rate.Limiter
	if o.rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(o.rate), max(1, int(o.rate/100)))
	}
	lat := make([]time.Duration, o.records)
	var done, failed atomic.Int64
	var firstErr error
	var mu sync.Mutex
	sem := make(chan struct{}, max(1, o.concurrency))
	stop := make(chan struct{})
	go progress("produced", &done, o.records, stop)
	start := time.Now()
	for i := 0; i < o.records; i++ {
		if limiter != nil {
			if err := limiter.Wait(ctx); err != nil {
				break
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		i, t0 := i, time.Now()
		p.SendAsync(sdk.Message{Topic: o.topic, Partition: -1, Value: payload}, func(_ sdk.Result, err error) {
			lat[i] = time.Since(t0)
			if err != nil {
				failed.Add(1)
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
			done.Add(1)
			<-sem
		})
	}
	if err := p.Close(ctx); err != nil {
		close(stop)
		return err
	}
	elapsed := time.Since(start)
	close(stop)
	n := int(done.Load())
	report("produce", n, o.size, elapsed, lat[:n])
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d of %d records failed; first error: %w", f, n, firstErr)
	}
	return nil
}

func benchConsume(g *globals, o *benchOpts) error {
	ctx, c, closeSession, err := g.session()
	if err != nil {
		return err
	}
	defer closeSession()
	cons := c.NewConsumer(sdk.ConsumerConfig{})
	tps, err := cons.AssignTopic(ctx, o.topic)
	if err != nil {
		return err
	}
	cons.SeekToBeginning(tps...)
	var done atomic.Int64
	stop := make(chan struct{})
	go progress("consumed", &done, o.records, stop)
	start := time.Now()
	bytes := 0
	for int(done.Load()) < o.records {
		recs, err := cons.Poll(ctx)
		if err != nil {
			close(stop)
			return err
		}
		for _, r := range recs {
			bytes += len(r.Value)
		}
		done.Add(int64(len(recs)))
	}
	elapsed := time.Since(start)
	close(stop)
	n := int(done.Load())
	fmt.Printf("consume: %d records, %.1f MB in %v: %.0f msg/s, %.1f MB/s\n", n, float64(bytes)/1e6, elapsed.Round(time.Millisecond),
		float64(n)/elapsed.Seconds(), float64(bytes)/1e6/elapsed.Seconds())
	return nil
}

func report(what string, n, size int, elapsed time.Duration, lat []time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	mb := float64(n*size) / 1e6
	fmt.Printf("%s: %d records of %d B in %v: %.0f msg/s, %.1f MB/s; latency p50 %v p99 %v p999 %v max %v\n",
		what, n, size, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), mb/elapsed.Seconds(),
		pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), pct(0.999).Round(time.Microsecond), pct(1).Round(time.Microsecond))
}
