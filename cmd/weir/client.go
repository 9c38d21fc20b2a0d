package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sm"
)

// addClientCommands adds produce, consume and bench, which talk to brokers
// through the SDK.
func addClientCommands(root *cobra.Command, g *globals) {
	root.PersistentFlags().StringSliceVar(&g.bootstrap, "bootstrap", []string{envOr("WEIR_BOOTSTRAP", "127.0.0.1:9092")}, "broker QUIC addresses to bootstrap from")
	root.AddCommand(newProduce(g), newConsume(g), newBench(g), newGroups(g))
}

// checkTopic fails fast, with a hint, when topic does not exist (the SDK
// itself would wait up to its delivery timeout for it to appear, as Kafka
// clients do), and returns its partition count. Brokers learn new topics
// within a heartbeat or two of the controller, so a topic created a moment
// ago gets a few seconds.
func checkTopic(ctx context.Context, c *sdk.Client, topic string) (int32, error) {
	return checkTopicHint(ctx, c, topic, fmt.Sprintf("create it with `weir create-topic %s PARTITIONS REPLICATION_FACTOR`", topic))
}

func checkTopicHint(ctx context.Context, c *sdk.Client, topic, hint string) (int32, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		parts, err := c.Partitions(ctx, topic)
		switch {
		case err == nil:
			return int32(len(parts)), nil
		case !errors.Is(err, sdk.ErrUnknownTopic):
			return 0, err
		case time.Now().After(deadline):
			return 0, fmt.Errorf("unknown topic %q\nhint: %s", topic, hint)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checkPartition refuses a partition the topic does not have.
func checkPartition(topic string, partition, partitions int32) error {
	if partition >= partitions {
		return fmt.Errorf("partition %d is out of range: topic %q has %d partitions (0-%d)\nhint: `weir describe-topic %s` lists them", partition, topic, partitions, partitions-1, topic)
	}
	return nil
}

// partitionFlag reads --partition: -1 (its default) when not given, else a
// partition number, never negative.
func partitionFlag(cmd *cobra.Command, partition int32) (int32, error) {
	if !cmd.Flags().Changed("partition") {
		return sdk.AnyPartition, nil
	}
	if partition < 0 {
		return 0, fmt.Errorf("--partition %d: want a partition number ≥ 0 (leave --partition out for all partitions, or to place records by key)", partition)
	}
	return partition, nil
}

// customAcksRE is the custom(N) ack level.
var customAcksRE = regexp.MustCompile(`^custom\((-?[0-9]+)\)$`)

// parseAcks reads an --acks value. custom(N) needs N ≥ 1: it counts the
// replicas a record must be committed and durable on.
func parseAcks(s string) (sm.Acks, error) {
	if m := customAcksRE.FindStringSubmatch(s); m != nil {
		n, err := strconv.ParseInt(m[1], 10, 32)
		if err != nil || n < 1 {
			return sm.Acks{}, fmt.Errorf("--acks %s: N must be at least 1 (custom(N): committed and durable on N replicas)", s)
		}
		return sm.Acks{Kind: sm.AckCustom, N: int32(n)}, nil
	}
	if !strings.HasPrefix(s, "custom") {
		if a, err := sm.ParseAcks(s); err == nil {
			return a, nil
		}
	}
	return sm.Acks{}, fmt.Errorf("--acks %q: unknown ack level (want none, leader, majority, all or custom(N))", s)
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
	var acksFlag, key, delimFlag, compression string
	var headerFlags []string
	var partition int32
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Send each line of stdin as a record",
		Long: `Send each line of stdin as a record, byte for byte (a \r before the newline
is part of the record; pass --delimiter '\r\n' for CRLF text). --delimiter
splits on another byte string instead, e.g. '\0' for NUL-separated input.
Records without --key and --partition spread over the partitions.
--header k=v (repeatable) gives every record that header; --compression
compresses each batch (gzip, snappy, lz4 or zstd).

The summary goes to stderr (table format) or, with --format json or yaml, to
stdout: records written, records failed, and how many went to each partition.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.format == formatCSV {
				return fmt.Errorf("--format csv: produce prints one summary, not rows; use table (the default), json or yaml")
			}
			acks, err := parseAcks(acksFlag)
			if err != nil {
				return err
			}
			delim, err := parseDelimiter(delimFlag)
			if err != nil {
				return err
			}
			part, err := partitionFlag(cmd, partition)
			if err != nil {
				return err
			}
			headers, err := parseHeaders(headerFlags)
			if err != nil {
				return err
			}
			if _, err := sm.ParseCodec(compression); err != nil {
				return fmt.Errorf("--compression: %w", err)
			}
			ctx, c, closeSession, err := g.session()
			if err != nil {
				return err
			}
			defer closeSession()
			n, err := checkTopic(ctx, c, args[0])
			if err != nil {
				return err
			}
			if err := checkPartition(args[0], part, n); err != nil {
				return err
			}
			tmpl := sdk.Message{Topic: args[0], Partition: part, Key: []byte(key), Headers: headers}
			sum, firstErr, err := produceRecords(ctx, c, os.Stdin, delim, tmpl, sdk.ProducerConfig{Acks: &acks, Compression: compression})
			if err != nil {
				return err
			}
			if g.format == formatTable {
				fmt.Fprintf(os.Stderr, "produced %d records to %s (acks=%v%s)\n", sum.Records, args[0], acks, sum.spread())
			} else if err := g.print(view{data: sum}); err != nil {
				return err
			}
			if firstErr != nil {
				return fmt.Errorf("%d of %d records failed; first error: %w", sum.Failed, sum.Records+sum.Failed, firstErr)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&acksFlag, "acks", "all", "ack level: none, leader, majority, all, custom(N)")
	cmd.Flags().StringVar(&key, "key", "", "record key (records with one key go to one partition)")
	cmd.Flags().Int32Var(&partition, "partition", -1, "partition (default: by key, or spread)")
	cmd.Flags().StringVar(&delimFlag, "delimiter", `\n`, `what ends a record on stdin, with Go escapes (\n, \r\n, \t, \0, \x1e)`)
	cmd.Flags().StringArrayVar(&headerFlags, "header", nil, "a header every record carries, as key=value (repeat for more)")
	cmd.Flags().StringVar(&compression, "compression", "none", "compress each batch: none, gzip, snappy, lz4 or zstd")
	return cmd
}

// parseHeaders reads --header key=value flags.
func parseHeaders(flags []string) ([]sdk.Header, error) {
	var hs []sdk.Header
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("--header %q: want key=value", f)
		case k == "":
			return nil, fmt.Errorf("--header %q: the key is empty", f)
		case !utf8.ValidString(k):
			return nil, fmt.Errorf("--header %q: the key is not UTF-8", f)
		}
		hs = append(hs, sdk.Header{Key: k, Value: []byte(v)})
	}
	return hs, nil
}

// produceSummary is what produce reports: records written and failed, and
// how many were written to each partition (by partition number).
type produceSummary struct {
	Topic      string         `json:"topic"`
	Acks       string         `json:"acks"`
	Records    int            `json:"records"`
	Failed     int            `json:"failed"`
	Partitions map[string]int `json:"partitions"`
}

// spread is the per-partition counts for the table summary, when the
// records went to more than one partition.
func (s produceSummary) spread() string {
	if len(s.Partitions) < 2 {
		return ""
	}
	keys := slices.SortedFunc(maps.Keys(s.Partitions), func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	var b strings.Builder
	b.WriteString("; per partition")
	for _, k := range keys {
		fmt.Fprintf(&b, " %s:%d", k, s.Partitions[k])
	}
	return b.String()
}

// produceRecords sends every delim-terminated record of in as tmpl's value
// and waits for all of them. err is a failure to read in; firstErr the
// first record's failure.
func produceRecords(ctx context.Context, c *sdk.Client, in io.Reader, delim []byte, tmpl sdk.Message, pc sdk.ProducerConfig) (sum produceSummary, firstErr error, err error) {
	sum = produceSummary{Topic: tmpl.Topic, Acks: pc.Acks.String(), Partitions: map[string]int{}}
	if len(tmpl.Key) == 0 {
		tmpl.Key = nil
	}
	p, err := c.NewProducer(pc)
	if err != nil {
		return sum, nil, err
	}
	var mu sync.Mutex // callbacks run on the producer's goroutines
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 64<<20) // the producer, not the scanner, enforces record limits
	sc.Split(splitOn(delim))
	for sc.Scan() {
		msg := tmpl
		msg.Value = bytes.Clone(sc.Bytes()) // the scanner reuses its buffer; the producer keeps the value
		if msg.Value == nil {
			msg.Value = []byte{}
		}
		p.SendAsync(msg, func(r sdk.Result, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				sum.Failed++
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			sum.Records++
			sum.Partitions[strconv.Itoa(int(r.Partition))]++
		})
	}
	if err := sc.Err(); err != nil {
		p.Close(ctx)
		if errors.Is(err, bufio.ErrTooLong) {
			return sum, nil, fmt.Errorf("reading stdin: a record is longer than 64 MiB (no --delimiter %q in it?)", delim)
		}
		return sum, nil, fmt.Errorf("reading stdin: %w", err)
	}
	if err := p.Close(ctx); err != nil {
		return sum, nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	return sum, firstErr, nil
}

func newConsume(g *globals) *cobra.Command {
	var fromBeginning, printKey, printOffset, printHeaders bool
	var partition int32
	var offset int64
	var maxN int
	var delimFlag, fromTime, group string
	var session time.Duration
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records of a topic",
		Long: `Print records of a topic: those produced from now on (the default, as
kafka-console-consumer does), --from-beginning, from --offset N in every
assigned partition, or from --from-time T: the first record each partition
stamped at or after T (RFC 3339, e.g. 2026-12-03T10:00:00Z, or Unix
milliseconds; records are stamped with their leader's append time).

With --group G the consumer joins consumer group G: the group shares the
topic's partitions among its members, and each record is committed once it
is printed, so a consumer that stops (or is killed) resumes where it
stopped, and another member takes its partitions over. Partitions the group
has no committed offset for start at the end, or at the first record with
--from-beginning.

Formats: table (the default) prints each value as it is, followed by
--delimiter (a newline); --print-offset and --print-key put the
PARTITION:OFFSET and the key before it, tab-separated, as kcat does. json
prints one object per line (topic, partition, offset, leader_epoch, key,
value; a key or value that is not UTF-8 comes as key_base64 or value_base64
instead, with key or value null); yaml one document per record; csv a header
then one row per record (topic, partition, offset, key, value).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := consumeFlags(cmd, g.format, fromBeginning, offset, maxN, delimFlag)
			if err != nil {
				return err
			}
			var since time.Time
			if cmd.Flags().Changed("from-time") {
				if fromBeginning || cmd.Flags().Changed("offset") {
					return errors.New("--from-time, --offset and --from-beginning each say where to start: give one")
				}
				if since, err = parseTimeFlag(fromTime); err != nil {
					return fmt.Errorf("--from-time %q: %w", fromTime, err)
				}
			}
			o.printKey, o.printOffset, o.printHeaders = printKey, printOffset, printHeaders
			if group == "" && cmd.Flags().Changed("session-timeout") {
				return errors.New("--session-timeout is a group member's: give --group too")
			}
			if group != "" {
				if session < time.Second {
					return fmt.Errorf("--session-timeout %v: want at least 1s (the brokers' minimum, groups.min_session_timeout_ms)", session)
				}
				if err := groupConsumerFlags(cmd); err != nil {
					return err
				}
				ctx, c, closeSession, err := g.session()
				if err != nil {
					return err
				}
				defer closeSession()
				if _, err := checkTopic(ctx, c, args[0]); err != nil {
					return err
				}
				return consumeGroup(ctx, c, args[0], group, fromBeginning, session, newRecordWriter(os.Stdout, g.format, o), maxN)
			}
			part, err := partitionFlag(cmd, partition)
			if err != nil {
				return err
			}
			ctx, c, closeSession, err := g.session()
			if err != nil {
				return err
			}
			defer closeSession()
			n, err := checkTopic(ctx, c, args[0])
			if err != nil {
				return err
			}
			if err := checkPartition(args[0], part, n); err != nil {
				return err
			}
			cons, err := c.NewConsumer(sdk.ConsumerConfig{})
			if err != nil {
				return err
			}
			tps, err := assign(ctx, c, cons, args[0], part)
			if err != nil {
				return err
			}
			switch {
			case cmd.Flags().Changed("offset"):
				for _, tp := range tps {
					if err := cons.Seek(tp, sm.Offset(offset)); err != nil {
						return err
					}
				}
			case fromBeginning:
				cons.SeekToBeginning(tps...)
			case !since.IsZero():
				if err := cons.SeekToTime(ctx, since, tps...); err != nil {
					if errors.Is(err, context.Canceled) {
						return nil
					}
					return fmt.Errorf("finding where %s's records from %s begin: %w", args[0], since.UTC().Format(time.RFC3339Nano), err)
				}
			default:
				if err := cons.SeekToEnd(ctx, tps...); err != nil {
					if errors.Is(err, context.Canceled) {
						return nil
					}
					return fmt.Errorf("finding the end of %s: %w", args[0], err)
				}
			}
			return consumeRecords(ctx, cons, newRecordWriter(os.Stdout, g.format, o), maxN, nil)
		},
	}
	cmd.Flags().BoolVar(&fromBeginning, "from-beginning", false, "start at the first record (default: the end, records produced from now on)")
	cmd.Flags().Int32Var(&partition, "partition", -1, "only this partition (default: all)")
	cmd.Flags().Int64Var(&offset, "offset", -1, "start at this offset in every partition read")
	cmd.Flags().StringVar(&fromTime, "from-time", "", "start at the first record stamped at or after this time (RFC 3339, or Unix ms)")
	cmd.Flags().IntVar(&maxN, "max", 0, "stop after N records (default: run until Ctrl-C)")
	cmd.Flags().StringVar(&group, "group", "", "consume as a member of this consumer group, committing as it goes")
	cmd.Flags().DurationVar(&session, "session-timeout", 10*time.Second, "with --group: how long the group keeps this consumer's partitions after it stops heartbeating (killed, frozen)")
	cmd.Flags().BoolVar(&printKey, "print-key", false, "print each record's key before its value (table format)")
	cmd.Flags().BoolVar(&printOffset, "print-offset", false, "print each record's PARTITION:OFFSET before it (table format)")
	cmd.Flags().BoolVar(&printHeaders, "print-headers", false, "print each record's headers (k=v,k2=v2) before its key and value (table format)")
	cmd.Flags().StringVar(&delimFlag, "delimiter", `\n`, `what follows each record (table format), with Go escapes (\n, \0, \x1e)`)
	return cmd
}

// parseTimeFlag reads a time given as RFC 3339 (with or without fractional
// seconds; a zone is required) or as Unix milliseconds.
func parseTimeFlag(v string) (time.Time, error) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		if ms < 0 {
			return time.Time{}, errors.New("want Unix milliseconds ≥ 0")
		}
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, errors.New("want an RFC 3339 time with a zone (2026-12-03T10:00:00Z, 2026-12-03T11:00:00+01:00) or Unix milliseconds")
	}
	return t, nil
}

// consumeFlags checks consume's flags before anything connects.
func consumeFlags(cmd *cobra.Command, format string, fromBeginning bool, offset int64, maxN int, delimFlag string) (recordFormat, error) {
	f := cmd.Flags()
	var o recordFormat
	switch {
	case f.Changed("offset") && offset < 0:
		return o, fmt.Errorf("--offset %d: want an offset ≥ 0 (--from-beginning reads from the first record)", offset)
	case f.Changed("offset") && fromBeginning:
		return o, errors.New("--offset and --from-beginning both say where to start: give one")
	case maxN < 0:
		return o, fmt.Errorf("--max %d: want a number of records ≥ 1 (leave it out to run until Ctrl-C)", maxN)
	}
	if format != formatTable {
		for _, name := range []string{"print-key", "print-offset", "print-headers", "delimiter"} {
			if f.Changed(name) {
				return o, fmt.Errorf("--%s shapes the table format's plain output; --format %s always has every field of a record", name, format)
			}
		}
	}
	delim, err := parseDelimiter(delimFlag)
	o.delim = delim
	return o, err
}

// consumeRecords polls until maxN records (0: no bound) or Ctrl-C.
// printed, when set, is told after each flush where every partition
// printed from continues (the offset after its last record printed).
func consumeRecords(ctx context.Context, cons *sdk.Consumer, w *recordWriter, maxN int, printed func(next map[sdk.TopicPartition]sm.Offset)) error {
	n := 0
	for maxN <= 0 || n < maxN {
		recs, err := cons.Poll(ctx)
		if errors.Is(err, context.Canceled) {
			return w.flush()
		}
		if err != nil {
			w.flush()
			return err
		}
		next := map[sdk.TopicPartition]sm.Offset{}
		for _, r := range recs {
			if err := w.write(r); err != nil {
				return err
			}
			next[r.TP] = r.Offset + 1
			n++
			if maxN > 0 && n >= maxN {
				break
			}
		}
		if err := w.flush(); err != nil {
			return err
		}
		if printed != nil && len(next) > 0 {
			printed(next)
		}
	}
	return nil
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
