package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
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
	create      bool
	partitions  int
	rf          int
	compression string
	payload     string
	idempotent  bool
	// acksSet and inflightSet: --acks and --max-inflight were given.
	acksSet, inflightSet bool
}

func newBench(g *globals) *cobra.Command {
	o := &benchOpts{}
	cmd := &cobra.Command{Use: "bench", Short: "Measure produce or consume throughput and latency"}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.topic, "topic", "bench", "topic (must exist, or pass --create)")
	pf.IntVar(&o.records, "records", 100000, "records to send, or at most to read (consume stops at the end of the data)")
	pf.IntVar(&o.size, "size", 1024, "record size in bytes")
	pf.StringVar(&o.acks, "acks", "leader", "ack level for produce")
	pf.IntVar(&o.concurrency, "concurrency", 64, "records in flight (produce)")
	pf.Float64Var(&o.rate, "rate", 0, "target records per second (0: as fast as possible)")
	pf.IntVar(&o.inflight, "max-inflight", 1, "produce requests in flight per partition (more than 1 may reorder retried batches)")
	pf.DurationVar(&o.linger, "linger", time.Millisecond, "how long a batch may wait for more records")
	pf.StringVar(&o.compression, "compression", "none", "compress each produced batch: none, gzip, snappy, lz4 or zstd")
	pf.StringVar(&o.payload, "payload", "text", "record values: text (one repeated pattern) or json (distinct JSON events, compressible as real ones are)")
	produce := &cobra.Command{
		Use: "produce", Short: "Send records and report msg/s, MB/s and latency percentiles",
		Long: `Send --records records of --size bytes and report msg/s, MB/s and latency
percentiles of the records written. The run stops at the first record that
fails (after the SDK's retries) and reports failed records apart.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.acksSet, o.inflightSet = cmd.Flag("acks").Changed, cmd.Flag("max-inflight").Changed
			return benchProduce(g, o)
		},
	}
	produce.Flags().BoolVar(&o.idempotent, "idempotent", false, "produce with the idempotent producer (acks all, up to 5 requests in flight per partition; --acks defaults to all and --max-inflight to 5)")
	produce.Flags().BoolVar(&o.create, "create", false, "create --topic first if it does not exist")
	produce.Flags().IntVar(&o.partitions, "partitions", 1, "partitions of the topic --create makes")
	produce.Flags().IntVar(&o.rf, "replication-factor", 1, "replication factor of the topic --create makes")
	cmd.AddCommand(produce, &cobra.Command{
		Use: "consume", Short: "Read records from the beginning and report msg/s and MB/s",
		Long: `Read --records records from the beginning of --topic, or every record it
holds when that is fewer, and report msg/s and MB/s.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return benchConsume(g, o) },
	})
	return cmd
}

// check refuses values the run cannot use.
func (o *benchOpts) check() error {
	switch {
	case o.records < 1:
		return fmt.Errorf("--records %d: want at least 1", o.records)
	case o.size < 0:
		return fmt.Errorf("--size %d: want a record size in bytes ≥ 0", o.size)
	case o.concurrency < 1:
		return fmt.Errorf("--concurrency %d: want at least 1", o.concurrency)
	case o.rate < 0:
		return fmt.Errorf("--rate %v: want records per second ≥ 0 (0: as fast as possible)", o.rate)
	case o.inflight < 1:
		return fmt.Errorf("--max-inflight %d: want at least 1", o.inflight)
	case o.linger < 0:
		return fmt.Errorf("--linger %v: want a duration ≥ 0", o.linger)
	case o.payload != "text" && o.payload != "json":
		return fmt.Errorf("--payload %q: want text or json", o.payload)
	}
	if _, err := sm.ParseCodec(o.compression); err != nil {
		return fmt.Errorf("--compression: %w", err)
	}
	return nil
}

// progress prints a one-line running count to stderr until stop is closed.
func progress(what string, done, failed *atomic.Int64, total int, stop chan struct{}) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	start := time.Now()
	shown := false
	for {
		select {
		case <-stop:
			if shown {
				fmt.Fprintf(os.Stderr, "\r%*s\r", 79, "")
			}
			return
		case <-t.C:
			shown = true
			n := done.Load()
			line := fmt.Sprintf("%s %d/%d (%.0f msg/s)", what, n, total, float64(n)/time.Since(start).Seconds())
			if failed != nil {
				if f := failed.Load(); f > 0 {
					line += fmt.Sprintf(", %d failed", f)
				}
			}
			fmt.Fprintf(os.Stderr, "\r%s   ", line)
		}
	}
}

// createBenchTopic creates o.topic unless it exists.
func createBenchTopic(g *globals, o *benchOpts) error {
	body := map[string]any{"name": o.topic, "partitions": o.partitions, "replication_factor": o.rf}
	err := g.api(http.MethodPost, "/api/v1/topics", body, nil)
	if ae, ok := errors.AsType[*apiError](err); ok && ae.status == http.StatusConflict {
		return nil // it exists: use it
	}
	if err != nil {
		return fmt.Errorf("--create: %w", topicHint(err, o.topic))
	}
	fmt.Fprintf(os.Stderr, "created topic %q (partitions %d, replication factor %d)\n", o.topic, o.partitions, o.rf)
	return nil
}

func benchProduce(g *globals, o *benchOpts) error {
	if o.idempotent {
		if !o.acksSet {
			o.acks = "all"
		}
		switch {
		case !o.inflightSet:
			o.inflight = 5
		case o.inflight > 5:
			return fmt.Errorf("--idempotent allows --max-inflight 5 at most, not %d (the batches a leader remembers per producer)", o.inflight)
		}
	}
	acks, err := parseAcks(o.acks)
	if err != nil {
		return err
	}
	if o.idempotent && acks.Kind != sm.AckAll {
		return fmt.Errorf("--idempotent needs --acks all, not %s", acks)
	}
	if err := o.check(); err != nil {
		return err
	}
	if o.create {
		if err := createBenchTopic(g, o); err != nil {
			return err
		}
	}
	ctx, c, closeSession, err := g.session()
	if err != nil {
		return err
	}
	defer closeSession()
	hint := fmt.Sprintf("pass --create to create it, or create it with `weir create-topic %s PARTITIONS REPLICATION_FACTOR`", o.topic)
	if _, err := checkTopicHint(ctx, c, o.topic, hint); err != nil {
		return err
	}
	p, err := c.NewProducer(sdk.ProducerConfig{Acks: &acks, Linger: o.linger, MaxInflightPerPartition: o.inflight, Compression: o.compression, Idempotent: o.idempotent})
	if err != nil {
		return err
	}
	payload := make([]byte, o.size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	var limiter *rate.Limiter
	if o.rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(o.rate), max(1, int(o.rate/100)))
	}
	var ok, failed atomic.Int64
	var mu sync.Mutex // guards lat and firstErr
	lat := make([]time.Duration, 0, o.records)
	var firstErr error
	sem := make(chan struct{}, o.concurrency)
	stop := make(chan struct{})
	go progress("produced", &ok, &failed, o.records, stop)
	start := time.Now()
	sent := 0
	for ; sent < o.records && failed.Load() == 0; sent++ { // a failure stops the run
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
		t0 := time.Now()
		value := payload
		if o.payload == "json" {
			value = jsonPayload(sent, o.size)
		}
		p.SendAsync(sdk.Message{Topic: o.topic, Partition: sdk.AnyPartition, Value: value}, func(_ sdk.Result, err error) {
			d := time.Since(t0)
			mu.Lock()
			if err != nil {
				failed.Add(1)
				if firstErr == nil {
					firstErr = err
				}
			} else {
				ok.Add(1)
				lat = append(lat, d)
			}
			mu.Unlock()
			<-sem
		})
	}
	closeErr := p.Close(ctx)
	elapsed := time.Since(start)
	close(stop)
	if closeErr != nil {
		return closeErr
	}
	mu.Lock()
	defer mu.Unlock()
	f := failed.Load()
	report("produce", int(ok.Load()), int(f), o.size, elapsed, lat)
	if o.idempotent {
		s := c.Stats()
		fmt.Printf("idempotent: %d producer IDs, %d duplicates answered, %d out-of-order retries, %d sequence resets\n",
			s.ProducerIDs, s.DuplicatesAnswered, s.OutOfOrderRetries, s.SequenceResets)
	}
	if offs, err := c.ListOffsets(ctx, o.topic); err == nil {
		var stored int64
		for _, po := range offs {
			stored += po.LocalBytes
		}
		fmt.Printf("stored: %d bytes on the leaders' disks for %s (all of the topic's data; --compression %s)\n", stored, o.topic, o.compression)
	}
	if f > 0 {
		return fmt.Errorf("%d of %d records sent failed (the run stops at the first failure; %d of --records %d were sent); first error: %w", f, sent, sent, o.records, firstErr)
	}
	return nil
}

func benchConsume(g *globals, o *benchOpts) error {
	if err := o.check(); err != nil {
		return err
	}
	ctx, c, closeSession, err := g.session()
	if err != nil {
		return err
	}
	defer closeSession()
	hint := fmt.Sprintf("`weir bench produce --topic %s --create` creates it and writes records to read", o.topic)
	if _, err := checkTopicHint(ctx, c, o.topic, hint); err != nil {
		return err
	}
	cons, err := c.NewConsumer(sdk.ConsumerConfig{})
	if err != nil {
		return err
	}
	tps, err := cons.AssignTopic(ctx, o.topic)
	if err != nil {
		return err
	}
	target, err := benchTarget(ctx, cons, tps, o)
	if err != nil {
		return err
	}
	cons.SeekToBeginning(tps...)
	var done atomic.Int64
	stop := make(chan struct{})
	go progress("consumed", &done, nil, int(target), stop)
	start := time.Now()
	bytes := 0
	for done.Load() < target {
		recs, err := cons.Poll(ctx)
		if err != nil {
			close(stop)
			return err
		}
		recs = recs[:min(int64(len(recs)), target-done.Load())]
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

// benchTarget is how many records bench consume reads: --records, or every
// record the topic holds now (the sum of its high watermarks) when that is
// fewer, so the run ends at the end of the data.
func benchTarget(ctx context.Context, cons *sdk.Consumer, tps []sdk.TopicPartition, o *benchOpts) (int64, error) {
	if err := cons.SeekToEnd(ctx, tps...); err != nil {
		return 0, fmt.Errorf("finding the end of %s: %w", o.topic, err)
	}
	var held int64
	for _, tp := range tps {
		pos, _ := cons.Position(tp)
		held += int64(pos)
	}
	switch {
	case held == 0:
		return 0, fmt.Errorf("topic %q holds no records\nhint: `weir bench produce --topic %s` writes some", o.topic, o.topic)
	case held < int64(o.records):
		fmt.Fprintf(os.Stderr, "topic %q holds %d records, fewer than --records %d: reading them all\n", o.topic, held, o.records)
		return held, nil
	}
	return int64(o.records), nil
}

func report(what string, n, failed, size int, elapsed time.Duration, lat []time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	mb := float64(n*size) / 1e6
	fmt.Printf("%s: %d records of %d B in %v: %.0f msg/s, %.1f MB/s; latency p50 %v p99 %v p999 %v max %v",
		what, n, size, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), mb/elapsed.Seconds(),
		pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), pct(0.999).Round(time.Microsecond), pct(1).Round(time.Microsecond))
	if failed > 0 {
		fmt.Printf("; %d failed (not counted)", failed)
	}
	fmt.Println()
}

// jsonPayload is record i as a JSON event of about size bytes: fields that
// vary from record to record, as real events do, and free text of words
// drawn pseudo-randomly from a small vocabulary, so codecs find about what
// they find in production (zstd about 4x), not one repeated pattern.
func jsonPayload(i, size int) []byte {
	users := []string{"ada", "grace", "edsger", "barbara", "ken", "dennis", "leslie", "frances"}
	events := []string{"page_view", "add_to_cart", "checkout", "search", "login"}
	words := strings.Fields(`the a of to and in is it you that he was for on are with as his they be at one have this from or had by hot
		word but what some we can out other were all there when up use your how said an each she which do their time if will way about many
		then them write would like so these her long make thing see him two has look more day could go come did number sound no most people`)
	b := fmt.Appendf(nil, `{"id":%d,"ts":%d,"user":"%s-%d","event":"%s","path":"/products/%d","session":"s%08x","ok":%t,"text":"`,
		i, 1764720000000+int64(i)*37, users[i%len(users)], i%997, events[i%len(events)], i%311, uint32(i)*2654435761, i%7 != 0)
	x := uint64(i)*6364136223846793005 + 1442695040888963407
	for len(b) < size-2 {
		x = x*6364136223846793005 + 1442695040888963407
		b = append(b, words[(x>>33)%uint64(len(words))]...)
		b = append(b, ' ')
	}
	return append(b[:max(size-2, 0)], '"', '}')
}
