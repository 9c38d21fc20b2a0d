package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sm"
)

// envelope is the admin API's reply shape.
type envelope struct {
	Success    bool            `json:"success"`
	Data       json.RawMessage `json:"data"`
	Error      *string         `json:"error"`
	LeaderHint any             `json:"leader_hint"`
}

// apiError is an admin API answer other than a success: its HTTP status
// and the envelope's error.
type apiError struct {
	method, path string
	status       int
	msg          string
}

func (e *apiError) Error() string { return e.msg }

// httpReply is one admin API exchange.
type httpReply struct {
	status int
	header http.Header
	body   []byte
}

// replyBytesMax bounds an admin API answer.
const replyBytesMax = 16 << 20

// retryAfterMax bounds how long a command waits, on a 429 (rate limited),
// for the Retry-After the controller asks for before its one retry: a
// person at a terminal waits that long, a longer wait is theirs to decide.
const retryAfterMax = 10 * time.Second

// do sends one request to the admin API; with --verbose it traces the
// exchange to stderr. An error means no answer. A 429 whose Retry-After is
// at most retryAfterMax is retried once, after it (the rate limiter refused
// it before it did anything, so a retry is safe for every method);
// rejection says when to retry otherwise.
func (g *globals) do(method, path string, body any) (httpReply, error) {
	r, err := g.doOnce(method, path, body)
	if err != nil || r.status != http.StatusTooManyRequests {
		return r, err
	}
	wait, ok := retryAfter(r.header, time.Now())
	if !ok || wait > retryAfterMax {
		return r, nil
	}
	fmt.Fprintf(os.Stderr, "rate limited by the controller at %s; retrying in %v\n", g.apiURL, wait)
	time.Sleep(wait)
	return g.doOnce(method, path, body)
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date
// (RFC 9110, 10.2.3), rounded up to whole seconds.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(s) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(0, at.Sub(now).Round(time.Second)), true
	}
	return 0, false
}

// adminClient is the HTTP client for the admin API: for an https
// --api-url it trusts the cluster CA and presents the client certificate
// (--certs, --cert-name), whose principal the controller checks against
// the ACLs; the bearer token, when there is one, is sent as well.
func (g *globals) adminClient() (*http.Client, error) {
	if !strings.HasPrefix(g.apiURL, "https://") {
		return http.DefaultClient, nil
	}
	dir := g.certs
	if dir == "" {
		dir = filepath.Join(g.dataDir, "certs")
	}
	tc, err := sdk.TLSFromDir(dir, g.cert)
	if err != nil {
		return nil, fmt.Errorf("loading client certificate %q from %s for the https admin API: %w\nhint: pass --certs and --cert-name, or an http:// --api-url", g.cert, dir, err)
	}
	tc = tc.Clone()
	tc.NextProtos = nil // HTTP's ALPN, not the brokers' QUIC protocol
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}, nil
}

// adminToken is the admin API's bearer token: --token-file's, else
// $WEIR_ADMIN_TOKEN, else <data>/admin-token when it exists ("" for none).
func (g *globals) adminToken() (string, error) {
	path := g.tokenFile
	if path == "" {
		if tok := strings.TrimSpace(os.Getenv("WEIR_ADMIN_TOKEN")); tok != "" {
			return tok, nil
		}
		path = filepath.Join(g.dataDir, "admin-token")
		if _, err := os.Stat(path); err != nil {
			return "", nil
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (g *globals) doOnce(method, path string, body any) (httpReply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return httpReply{}, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	u := strings.TrimRight(g.apiURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return httpReply{}, fmt.Errorf("bad --api-url %q: %w", g.apiURL, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok, err := g.adminToken(); err != nil {
		return httpReply{}, err
	} else if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	hc, err := g.adminClient()
	if err != nil {
		return httpReply{}, err
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		g.trace(method, u, "error: "+err.Error(), start)
		return httpReply{}, fmt.Errorf("cannot reach the controller at %s: %v\nhint: is `weir dev` running? (or pass --api-url)", g.apiURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, replyBytesMax))
	g.trace(method, u, resp.Status, start)
	if err != nil {
		return httpReply{}, fmt.Errorf("reading the answer of the controller at %s to %s %s: %v; retry", g.apiURL, method, path, err)
	}
	return httpReply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func (g *globals) trace(method, u, outcome string, start time.Time) {
	if g.verbose {
		fmt.Fprintf(os.Stderr, "%s %s -> %s (%v)\n", method, u, outcome, time.Since(start).Round(10*time.Microsecond))
	}
}

// api calls the admin API and decodes data into out (when not nil). A
// rejection is an *apiError.
func (g *globals) api(method, path string, body any, out any) error {
	r, err := g.do(method, path, body)
	if err != nil {
		return err
	}
	var env envelope
	if err := json.Unmarshal(r.body, &env); err != nil {
		if r.status == http.StatusBadRequest && strings.Contains(string(r.body), "HTTP request to an HTTPS server") {
			return fmt.Errorf("the controller at %s serves its admin API over HTTPS ([admin] tls)\nhint: pass --api-url %s (weir presents its client certificate, --certs and --cert-name)",
				g.apiURL, "https://"+strings.TrimPrefix(g.apiURL, "http://"))
		}
		return fmt.Errorf("the controller at %s answered %s %s with status %d and a body that is not the admin envelope: %v\nhint: does --api-url point at a Weir controller's admin API?", g.apiURL, method, path, r.status, err)
	}
	if !env.Success {
		return g.rejection(method, path, r, env)
	}
	if out != nil && len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return fmt.Errorf("the controller at %s answered %s %s with data this CLI does not understand: %v\nhint: the controller may run another Weir version than this CLI", g.apiURL, method, path, err)
		}
	}
	return nil
}

// rejection turns a failed envelope into an *apiError with a next step.
func (g *globals) rejection(method, path string, r httpReply, env envelope) error {
	status := r.status
	msg := http.StatusText(status)
	if env.Error != nil {
		msg = *env.Error
	}
	switch {
	case status == http.StatusTooManyRequests:
		if wait, ok := retryAfter(r.header, time.Now()); ok {
			msg += fmt.Sprintf(" (rate limited by the controller at %s; retry in %v)", g.apiURL, wait)
		} else {
			msg += fmt.Sprintf(" (rate limited by the controller at %s; retry later)", g.apiURL)
		}
	case status == http.StatusServiceUnavailable && env.LeaderHint != nil:
		msg += fmt.Sprintf(" (leader: %v; retry, or point --api-url at it)", env.LeaderHint)
	case status == http.StatusNotFound && strings.HasPrefix(msg, "no such endpoint"),
		status == http.StatusMethodNotAllowed:
		msg = fmt.Sprintf("the controller at %s does not serve %s %s (%s)\nhint: it may run an older Weir than this CLI; upgrade it, or check --api-url", g.apiURL, method, path, msg)
	}
	return &apiError{method: method, path: path, status: status, msg: msg}
}

// topicHint adds the next step to a topic command's error.
func topicHint(err error, name string) error {
	ae, ok := errors.AsType[*apiError](err)
	if !ok {
		return err
	}
	switch ae.status {
	case http.StatusNotFound:
		if !strings.Contains(ae.msg, "\nhint:") {
			return fmt.Errorf("%w\nhint: `weir list-topics` lists the topics", err)
		}
	case http.StatusConflict:
		return fmt.Errorf("%w\nhint: `weir describe-topic %s` shows it", err, name)
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return fmt.Errorf("%w\nhint: `weir describe-topic %s` shows whether it happened", err, name)
	}
	return err
}

// topicResult is a create's or a delete's output in json, yaml and csv.
type topicResult struct {
	Topic   string `json:"topic"`
	Action  string `json:"action"`
	Message string `json:"message"`
}

func (g *globals) printResult(r topicResult) error {
	return g.print(view{
		data:    r,
		preface: []string{r.Message},
		csv:     [][]string{{"topic", "action", "message"}, {r.Topic, r.Action, r.Message}},
	})
}

func newCreateTopic(g *globals) *cobra.Command {
	var minISR int
	var unclean bool
	var settings configFlags
	var compressionType, timestampType string
	cmd := &cobra.Command{
		Use:   "create-topic NAME PARTITIONS REPLICATION_FACTOR",
		Short: "Create a topic",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			parts, err := strconv.Atoi(args[1])
			if err != nil {
				return fmt.Errorf("PARTITIONS %q: want a number", args[1])
			}
			rf, err := strconv.Atoi(args[2])
			if err != nil {
				return fmt.Errorf("REPLICATION_FACTOR %q: want a number", args[2])
			}
			body := map[string]any{"name": args[0], "partitions": parts, "replication_factor": rf}
			cfg := map[string]any{}
			if minISR > 0 {
				cfg["min_in_sync_replicas"] = minISR
			}
			if unclean {
				cfg["unclean_leader_election"] = true
			}
			for k, v := range settings.given(cmd) {
				cfg[k] = v
			}
			if cmd.Flags().Changed("compression-type") {
				cfg["compression_type"] = compressionType
			}
			if cmd.Flags().Changed("message-timestamp-type") {
				cfg["message_timestamp_type"] = timestampType
			}
			if len(cfg) > 0 {
				body["config"] = cfg
			}
			var msg string
			if err := g.api(http.MethodPost, "/api/v1/topics", body, &msg); err != nil {
				return topicHint(err, args[0])
			}
			return g.printResult(topicResult{Topic: args[0], Action: "created", Message: msg})
		},
	}
	cmd.Flags().IntVar(&minISR, "min-insync-replicas", 0, "min_in_sync_replicas for acks=all (default: the cluster's)")
	cmd.Flags().BoolVar(&unclean, "unclean-leader-election", false, "allow an out-of-sync replica to lead (may lose data)")
	cmd.Flags().StringVar(&compressionType, "compression-type", "producer", "how batches are stored: producer (as sent), none, gzip, snappy, lz4 or zstd (recompressed by the leader)")
	cmd.Flags().StringVar(&timestampType, "message-timestamp-type", "log_append_time", "record timestamps: log_append_time (the leader's) or create_time (the producer's; retention and time lookups go by it)")
	settings.add(cmd)
	return cmd
}

// configFlags are the alterable topic settings as flags, shared by
// create-topic and alter-topic.
type configFlags struct {
	retentionMs, retentionBytes, segmentBytes, segmentMs int64
	localRetentionMs, localRetentionBytes                int64
}

// configFlagKeys maps each flag to the admin API's config key.
var configFlagKeys = []struct{ flag, key string }{
	{"retention-ms", "retention_ms"},
	{"retention-bytes", "retention_bytes"},
	{"segment-bytes", "segment_bytes"},
	{"segment-ms", "segment_ms"},
	{"local-retention-ms", "local_retention_ms"},
	{"local-retention-bytes", "local_retention_bytes"},
}

func (c *configFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Int64Var(&c.retentionMs, "retention-ms", 0, "delete data older than this many ms (-1: forever, 0: unset)")
	f.Int64Var(&c.retentionBytes, "retention-bytes", 0, "delete a partition's oldest data beyond this many bytes (-1: unlimited, 0: unset)")
	f.Int64Var(&c.segmentBytes, "segment-bytes", 0, "roll a partition's segment at this size, 1 MiB..16 GiB (0: the broker's wal.segment_size_bytes)")
	f.Int64Var(&c.segmentMs, "segment-ms", 0, "roll a partition's segment this many ms after its first record, 1 s..365 d (0: the broker's wal.segment_ms)")
	f.Int64Var(&c.localRetentionMs, "local-retention-ms", 0, "with tiered storage, keep uploaded data on the brokers' disks this many ms (-1: until retention deletes it, 0: the broker's object_storage.local_retention_ms)")
	f.Int64Var(&c.localRetentionBytes, "local-retention-bytes", 0, "with tiered storage, keep at most this many bytes of uploaded data per partition on disk (-1: unbounded, 0: the broker's object_storage.local_retention_bytes)")
}

// given returns the config keys of the flags set on the command line, with
// their values; the controller validates them.
func (c *configFlags) given(cmd *cobra.Command) map[string]any {
	values := map[string]int64{"retention-ms": c.retentionMs, "retention-bytes": c.retentionBytes, "segment-bytes": c.segmentBytes, "segment-ms": c.segmentMs,
		"local-retention-ms": c.localRetentionMs, "local-retention-bytes": c.localRetentionBytes}
	out := map[string]any{}
	for _, fk := range configFlagKeys {
		if cmd.Flags().Changed(fk.flag) {
			out[fk.key] = values[fk.flag]
		}
	}
	return out
}

func newAlterTopic(g *globals) *cobra.Command {
	var settings configFlags
	cmd := &cobra.Command{
		Use:   "alter-topic NAME",
		Short: "Change a topic's retention and segment settings",
		Long: `Change a topic's retention and segment settings: only the flags given
change (0 sets one back to unset), the others keep their values. The
controller replicates the change, and every broker applies it from its next
metadata update.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := settings.given(cmd)
			if len(body) == 0 {
				return fmt.Errorf("nothing to change: give at least one of --retention-ms, --retention-bytes, --segment-bytes, --segment-ms, --local-retention-ms, --local-retention-bytes")
			}
			var msg string
			if err := g.api(http.MethodPatch, "/api/v1/topics/"+url.PathEscape(args[0]), body, &msg); err != nil {
				return topicHint(err, args[0])
			}
			return g.printResult(topicResult{Topic: args[0], Action: "altered", Message: msg})
		},
	}
	settings.add(cmd)
	return cmd
}

type topicSummary struct {
	Name              string `json:"name"`
	TopicID           string `json:"topic_id"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
}

func newListTopics(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list-topics",
		Short: "List topics",
		Long: `List topics. Formats: table; json and yaml (the API's list of topics);
csv (name, partitions, replication_factor, topic_id).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw json.RawMessage
			if err := g.api(http.MethodGet, "/api/v1/topics", nil, &raw); err != nil {
				return err
			}
			var ts []topicSummary
			if err := json.Unmarshal(raw, &ts); err != nil {
				return fmt.Errorf("the controller's list of topics is not one this CLI understands: %v\nhint: the controller may run another Weir version than this CLI", err)
			}
			r := view{
				data:  raw,
				table: table{header: []string{"NAME", "PARTITIONS", "REPLICATION", "TOPIC-ID"}},
				csv:   [][]string{{"name", "partitions", "replication_factor", "topic_id"}},
			}
			for _, t := range ts {
				row := []string{t.Name, strconv.Itoa(t.Partitions), strconv.Itoa(t.ReplicationFactor), t.TopicID}
				r.table.rows = append(r.table.rows, row)
				r.csv = append(r.csv, row)
			}
			return g.print(r)
		},
	}
}

type topicDetail struct {
	Name              string `json:"name"`
	TopicID           string `json:"topic_id"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
	Config            struct {
		MinInSyncReplicas     *int   `json:"min_in_sync_replicas"`
		UncleanLeaderElection *bool  `json:"unclean_leader_election"`
		RetentionMs           *int64 `json:"retention_ms"`
		RetentionBytes        *int64 `json:"retention_bytes"`
		SegmentBytes          *int64 `json:"segment_bytes"`
		SegmentMs             *int64 `json:"segment_ms"`
		LocalRetentionMs      *int64 `json:"local_retention_ms"`
		LocalRetentionBytes   *int64 `json:"local_retention_bytes"`
	} `json:"config"`
	Assignments []struct {
		Partition   int      `json:"partition"`
		Leader      *string  `json:"leader"`
		Replicas    []string `json:"replicas"`
		ISR         []string `json:"in_sync_replicas"`
		LeaderEpoch int64    `json:"leader_epoch"`
	} `json:"partition_assignments"`
}

// offsetsWait bounds describe-topic's offsets query: the partition leaders
// answer from memory, so a leader that has not answered by then is down or
// moving, and the description is worth printing without its offsets.
const offsetsWait = 5 * time.Second

func newDescribeTopic(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "describe-topic NAME",
		Short: "Show a topic's partitions, leaders, in-sync replicas and offsets",
		Long: `Show a topic's ID, settings, partitions, leaders, in-sync replicas and, from
each partition's leader (through --bootstrap), its log start offset (older
records were deleted by retention), high watermark (the end of what consumers
can read) and log end offset, and the tiers: the leader's local log start
(records below it are served from the object store), the end of the uploaded
range, the bytes on the leader's disk and the bytes uploaded (one copy).
Formats: table (one row per partition; a
partition without a leader in red, one whose in-sync replicas are fewer than
its replicas in yellow); json and yaml (the API's whole topic, config
included, with log_start_offset, high_watermark, log_end_offset,
local_start_offset, local_bytes and uploaded {start_offset, end_offset, bytes,
segments} added to each partition, null when its leader did not answer); csv
(one row per partition: topic, partition, leader (empty when none),
leader_epoch, replicas, in_sync_replicas, the last two comma-separated, then
log_start_offset, high_watermark, log_end_offset, local_start_offset,
uploaded_end_offset, local_bytes, uploaded_bytes, empty when unknown). When no broker answers,
the offsets are left out with a warning on stderr.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw json.RawMessage
			if err := g.api(http.MethodGet, "/api/v1/topics/"+url.PathEscape(args[0]), nil, &raw); err != nil {
				return topicHint(err, args[0])
			}
			var t topicDetail
			if err := json.Unmarshal(raw, &t); err != nil {
				return fmt.Errorf("the controller's description of topic %q is not one this CLI understands: %v\nhint: the controller may run another Weir version than this CLI", args[0], err)
			}
			offs := g.topicOffsets(t.Name)
			data, err := withOffsets(raw, offs)
			if err != nil {
				return fmt.Errorf("the controller's description of topic %q is not one this CLI understands: %v", args[0], err)
			}
			r := view{
				data:    data,
				preface: describeHead(&t),
				table:   table{header: []string{"PARTITION", "LEADER", "EPOCH", "REPLICAS", "IN-SYNC", "LOG-START", "HIGH-WATERMARK", "LOG-END", "LOCAL-START", "UPLOADED-END", "LOCAL-BYTES", "UPLOADED-BYTES"}},
				csv:     [][]string{{"topic", "partition", "leader", "leader_epoch", "replicas", "in_sync_replicas", "log_start_offset", "high_watermark", "log_end_offset", "local_start_offset", "uploaded_end_offset", "local_bytes", "uploaded_bytes"}},
			}
			for _, p := range t.Assignments {
				leader := ""
				if p.Leader != nil {
					leader = *p.Leader
				}
				part, epoch := strconv.Itoa(p.Partition), strconv.FormatInt(p.LeaderEpoch, 10)
				replicas, isr := strings.Join(p.Replicas, ","), strings.Join(p.ISR, ",")
				shown := leader
				if shown == "" {
					shown = "none"
				}
				var start, hw, end, local, upEnd, localBytes, upBytes string
				if o, ok := offs[int32(p.Partition)]; ok {
					f := func(v int64) string { return strconv.FormatInt(v, 10) }
					start, hw, end = f(int64(o.LogStart)), f(int64(o.HighWatermark)), f(int64(o.LogEnd))
					local, upEnd, localBytes, upBytes = f(int64(o.LocalStart)), f(int64(o.Remote.End)), f(o.LocalBytes), f(o.Remote.Bytes)
				}
				r.table.rows = append(r.table.rows, []string{part, shown, epoch, replicas, isr, orDash(start), orDash(hw), orDash(end),
					orDash(local), orDash(upEnd), orDash(localBytes), orDash(upBytes)})
				r.csv = append(r.csv, []string{t.Name, part, leader, epoch, replicas, isr, start, hw, end, local, upEnd, localBytes, upBytes})
			}
			r.table.paint = func(row, col int) string {
				p := t.Assignments[row]
				switch {
				case col == 1 && p.Leader == nil:
					return sgrRed
				case col == 4 && len(p.ISR) < len(p.Replicas):
					return sgrYellow
				}
				return ""
			}
			return g.print(r)
		},
	}
}

// describeHead is describe-topic's first lines: the topic, its ID and the
// settings that are set.
func describeHead(t *topicDetail) []string {
	head := fmt.Sprintf("topic %s: %d partitions, replication factor %d", t.Name, t.Partitions, t.ReplicationFactor)
	if c := t.Config.MinInSyncReplicas; c != nil {
		head += fmt.Sprintf(", min in-sync replicas %d", *c)
	}
	if c := t.Config.UncleanLeaderElection; c != nil && *c {
		head += ", unclean leader election allowed"
	}
	lines := []string{head}
	if t.TopicID != "" {
		lines = append(lines, "topic id "+t.TopicID)
	}
	var set []string
	for _, c := range []struct {
		key string
		v   *int64
	}{{"retention_ms", t.Config.RetentionMs}, {"retention_bytes", t.Config.RetentionBytes}, {"segment_bytes", t.Config.SegmentBytes}, {"segment_ms", t.Config.SegmentMs},
		{"local_retention_ms", t.Config.LocalRetentionMs}, {"local_retention_bytes", t.Config.LocalRetentionBytes}} {
		if c.v != nil {
			set = append(set, fmt.Sprintf("%s %d", c.key, *c.v))
		}
	}
	if len(set) > 0 {
		lines = append(lines, "config: "+strings.Join(set, ", "))
	}
	return lines
}

// topicOffsets asks the partitions' leaders for their offsets, by
// partition; the partitions that did not answer are missing, with a
// warning on stderr (the description is still worth printing).
func (g *globals) topicOffsets(topic string) map[int32]sdk.PartitionOffsets {
	ctx, cancel := context.WithTimeout(context.Background(), offsetsWait)
	defer cancel()
	c, err := g.connect(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "warning: offsets unavailable: %v\n", err)
		return nil
	}
	defer c.Close()
	offs, err := c.ListOffsets(ctx, topic)
	// The brokers learn a topic a heartbeat or two after the controller.
	for errors.Is(err, sdk.ErrUnknownTopic) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		offs, err = c.ListOffsets(ctx, topic)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "warning: offsets of some partitions unavailable: %v\n", err)
	}
	out := map[int32]sdk.PartitionOffsets{}
	for _, o := range offs {
		if o.Leader != sm.NoNode {
			out[o.TP.Partition] = o
		}
	}
	return out
}

// withOffsets adds log_start_offset, high_watermark and log_end_offset to
// each partition of the API's topic description (null for a partition
// without offsets), keeping every key where the API put it.
// uploadedRange is a partition's uploaded range in describe-topic's json and
// yaml: segments holding [start_offset, end_offset), bytes in the bucket.
type uploadedRange struct {
	Start    int64 `json:"start_offset"`
	End      int64 `json:"end_offset"`
	Bytes    int64 `json:"bytes"`
	Segments int64 `json:"segments"`
}

func withOffsets(raw json.RawMessage, offs map[int32]sdk.PartitionOffsets) (json.RawMessage, error) {
	top, err := objectFields(raw)
	if err != nil {
		return nil, err
	}
	for i := range top {
		if top[i].key != "partition_assignments" {
			continue
		}
		var parts []json.RawMessage
		if err := json.Unmarshal(top[i].val, &parts); err != nil {
			return nil, fmt.Errorf("partition_assignments: %w", err)
		}
		for j, p := range parts {
			fs, err := objectFields(p)
			if err != nil {
				return nil, fmt.Errorf("partition_assignments[%d]: %w", j, err)
			}
			var head struct {
				Partition int32 `json:"partition"`
			}
			if err := json.Unmarshal(p, &head); err != nil {
				return nil, fmt.Errorf("partition_assignments[%d]: %w", j, err)
			}
			null := json.RawMessage("null")
			start, hw, end, local, localBytes, remote := null, null, null, null, null, null
			if o, ok := offs[head.Partition]; ok {
				num := func(v int64) json.RawMessage { return json.RawMessage(strconv.FormatInt(v, 10)) }
				start, hw, end = num(int64(o.LogStart)), num(int64(o.HighWatermark)), num(int64(o.LogEnd))
				local, localBytes = num(int64(o.LocalStart)), num(o.LocalBytes)
				remote, _ = json.Marshal(uploadedRange{Start: int64(o.Remote.Start), End: int64(o.Remote.End), Bytes: o.Remote.Bytes, Segments: int64(o.Remote.Segments)})
			}
			fs = append(fs, jsonField{"log_start_offset", start}, jsonField{"high_watermark", hw}, jsonField{"log_end_offset", end},
				jsonField{"local_start_offset", local}, jsonField{"local_bytes", localBytes}, jsonField{"uploaded", remote})
			parts[j] = encodeFields(fs)
		}
		b, err := json.Marshal(parts)
		if err != nil {
			return nil, err
		}
		top[i].val = b
	}
	return encodeFields(top), nil
}

// jsonField is one key of a JSON object, its value as it came.
type jsonField struct {
	key string
	val json.RawMessage
}

// objectFields splits a JSON object into its fields, in order.
func objectFields(raw []byte) ([]jsonField, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("want a JSON object")
	}
	var out []jsonField
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, jsonField{key, v})
	}
	return out, nil
}

// encodeFields joins fields back into a JSON object.
func encodeFields(fs []jsonField) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(f.val)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// errNotATerminal is delete-topic's refusal to prompt.
var errNotATerminal = errors.New("refusing to prompt: stdin is not a terminal; pass --force to delete")

func newDeleteTopic(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete-topic NAME",
		Short: "Delete a topic and all its data",
		Long: `Delete a topic and all its data. It asks for confirmation on the terminal
unless --force; when stdin is not a terminal (a script, a pipe) it refuses to
prompt and needs --force.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !force {
				ok, err := confirm(fmt.Sprintf("Delete topic %q and all its data?", name))
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("topic %q not deleted: not confirmed (answer y, or pass --force)", name)
				}
			}
			var msg string
			if err := g.api(http.MethodDelete, "/api/v1/topics/"+url.PathEscape(name), nil, &msg); err != nil {
				return topicHint(err, name)
			}
			return g.printResult(topicResult{Topic: name, Action: "deleted", Message: msg})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "delete without asking")
	return cmd
}

// confirm asks a yes/no question on the terminal (the question on
// stderr, so that stdout stays the command's output); the default is no.
// It refuses when stdin is not a terminal.
func confirm(question string) (bool, error) {
	if !isTerminal(os.Stdin) {
		return false, errNotATerminal
	}
	fmt.Fprint(os.Stderr, question+" [y/N] ")
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		fmt.Fprintln(os.Stderr) // end the prompt's line after Ctrl-D
		if !errors.Is(err, io.EOF) {
			return false, fmt.Errorf("reading the answer: %w", err)
		}
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}
