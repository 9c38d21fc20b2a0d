package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sm"
)

// addClientCommands adds produce, consume and bench, which talk to brokers
// through the SDK.
func addClientCommands(root *cobra.Command, g *globals) {
	root.PersistentFlags().StringSliceVar(&g.bootstrap, "bootstrap", []string{envOr("WEIR_BOOTSTRAP", "127.0.0.1:9092")}, "broker QUIC addresses to bootstrap from")
	root.AddCommand(newProduce(g), newConsume(g), newBench(g))
}

// checkTopic fails fast, with a hint, when topic does not exist (the SDK
// itself would wait up to its delivery timeout for it to appear, as Kafka
// clients do). Brokers learn new topics within a heartbeat or two of the
// controller, so a topic created a moment ago gets a few seconds.
func checkTopic(ctx context.Context, c *sdk.Client, topic string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.Partitions(ctx, topic)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, sdk.ErrUnknownTopic):
			return err
		case time.Now().After(deadline):
			return fmt.Errorf("unknown topic %q\nhint: create it with `weir create-topic %s PARTITIONS REPLICATION_FACTOR`", topic, topic)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// connect builds an SDK client from the global flags.
func (g *globals) connect(ctx context.Context) (*sdk.Client, error) {
	dir := g.certs
	if dir == "" {
		dir = filepath.Join(g.dataDir, "certs")
	}
	tlsConf, err := sdk.TLSFromDir(dir, g.cert)
	if err != nil {
		return nil, fmt.Errorf("loading client certificate %q from %s: %w\nhint: `weir dev` creates them on first start; or pass --certs and --cert-name", g.cert, dir, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := sdk.NewClient(cctx, sdk.Config{Brokers: g.bootstrap, TLS: tlsConf})
	if err != nil {
		return nil, fmt.Errorf("cannot reach the broker at %v: %w\nhint: is `weir dev` running? (or pass --bootstrap)", g.bootstrap, err)
	}
	return c, nil
}

// session connects for a command that runs until done or Ctrl-C; done
// closes the client and releases the signal handler.
func (g *globals) session() (context.Context, *sdk.Client, func(), error) {
	ctx, cancel := signalContext()
	c, err := g.connect(ctx)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return ctx, c, func() { c.Close(); cancel() }, nil
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt)
}

func newProduce(g *globals) *cobra.Command {
	var acksFlag, key string
	var partition int32
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Send each line of stdin as a record",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			acks, err := sm.ParseAcks(acksFlag)
			if err != nil {
				return err
			}
			ctx, c, closeSession, err := g.session()
			if err != nil {
				return err
			}
			defer closeSession()
			if err := checkTopic(ctx, c, args[0]); err != nil {
				return err
			}
			p := c.NewProducer(sdk.ProducerConfig{Acks: &acks})
			var firstErr error
			n, failed := 0, 0
			sc := bufio.NewScanner(os.Stdin)
			sc.Buffer(make([]byte, 64<<10), 64<<20) // the producer, not the scanner, enforces record limits
			for sc.Scan() {
				msg := sdk.Message{Topic: args[0], Partition: partition, Value: []byte(sc.Text())}
				if key != "" {
					msg.Key = []byte(key)
				}
				n++
				p.SendAsync(msg, func(_ sdk.Result, err error) {
					if err != nil {
						failed++
						if firstErr == nil {
							firstErr = err
						}
					}
				})
			}
			if err := sc.Err(); err != nil {
				return fmt.Errorf("reading stdin: %w", err)
			}
			if err := p.Close(ctx); err != nil {
				return err
			}
			if firstErr != nil {
				return fmt.Errorf("%d of %d records failed; first error: %w", failed, n, firstErr)
			}
			fmt.Fprintf(os.Stderr, "produced %d records to %s (acks=%v)\n", n, args[0], acks)
			return nil
		},
	}
	cmd.Flags().StringVar(&acksFlag, "acks", "all", "ack level: none, leader, majority, all, custom(N)")
	cmd.Flags().StringVar(&key, "key", "", "record key (records with one key go to one partition)")
	cmd.Flags().Int32Var(&partition, "partition", -1, "partition (default: by key, or spread)")
	return cmd
}

func newConsume(g *globals) *cobra.Command {
	var fromBeginning bool
	var partition int32
	var offset int64
	var maxN int
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records of a topic",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, closeSession, err := g.session()
			if err != nil {
				return err
			}
			defer closeSession()
			if err := checkTopic(ctx, c, args[0]); err != nil {
				return err
			}
			cons := c.NewConsumer(sdk.ConsumerConfig{})
			tps, err := assign(ctx, c, cons, args[0], partition)
			if err != nil {
				return err
			}
			for _, tp := range tps {
				switch {
				case offset >= 0:
					cons.Seek(tp, sm.Offset(offset))
				case fromBeginning:
					cons.SeekToBeginning(tp)
				}
			}
			out := bufio.NewWriter(os.Stdout)
			defer out.Flush()
			n := 0
			for maxN <= 0 || n < maxN {
				recs, err := cons.Poll(ctx)
				if errors.Is(err, context.Canceled) {
					return nil
				}
				if err != nil {
					return err
				}
				for _, r := range recs {
					fmt.Fprintf(out, "%s\n", r.Value)
					n++
					if maxN > 0 && n >= maxN {
						break
					}
				}
				out.Flush()
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&fromBeginning, "from-beginning", false, "start at the first record (default: the end)")
	cmd.Flags().Int32Var(&partition, "partition", -1, "only this partition")
	cmd.Flags().Int64Var(&offset, "offset", -1, "start at this offset")
	cmd.Flags().IntVar(&maxN, "max", 0, "stop after N records (default: run until Ctrl-C)")
	return cmd
}

// assign gives the consumer one partition or all of the topic's.
func assign(ctx context.Context, c *sdk.Client, cons *sdk.Consumer, topic string, partition int32) ([]sdk.TopicPartition, error) {
	if partition >= 0 {
		tp := sdk.TopicPartition{Topic: topic, Partition: partition}
		cons.Assign(tp)
		return []sdk.TopicPartition{tp}, nil
	}
	return cons.AssignTopic(ctx, topic)
}
