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
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
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
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
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
	return cmd
}

type topicSummary struct {
	Name              string `json:"name"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
}

func newListTopics(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list-topics",
		Short: "List topics",
		Long: `List topics. Formats: table; json and yaml (the API's list of topics);
csv (name, partitions, replication_factor).`,
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
				table: table{header: []string{"NAME", "PARTITIONS", "REPLICATION"}},
				csv:   [][]string{{"name", "partitions", "replication_factor"}},
			}
			for _, t := range ts {
				row := []string{t.Name, strconv.Itoa(t.Partitions), strconv.Itoa(t.ReplicationFactor)}
				r.table.rows = append(r.table.rows, row)
				r.csv = append(r.csv, row)
			}
			return g.print(r)
		},
	}
}

type topicDetail struct {
	Name              string `json:"name"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
	Config            struct {
		MinInSyncReplicas     *int  `json:"min_in_sync_replicas"`
		UncleanLeaderElection *bool `json:"unclean_leader_election"`
	} `json:"config"`
	Assignments []struct {
		Partition   int      `json:"partition"`
		Leader      *string  `json:"leader"`
		Replicas    []string `json:"replicas"`
		ISR         []string `json:"in_sync_replicas"`
		LeaderEpoch int64    `json:"leader_epoch"`
	} `json:"partition_assignments"`
}

func newDescribeTopic(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "describe-topic NAME",
		Short: "Show a topic's partitions, leaders and in-sync replicas",
		Long: `Show a topic's partitions, leaders and in-sync replicas. Formats: table
(one row per partition; a partition without a leader in red, one whose
in-sync replicas are fewer than its replicas in yellow); json and yaml (the
API's whole topic, config included); csv (one row per partition: topic,
partition, leader (empty when none), leader_epoch, replicas, in_sync_replicas,
the last two comma-separated).`,
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
			head := fmt.Sprintf("topic %s: %d partitions, replication factor %d", t.Name, t.Partitions, t.ReplicationFactor)
			if c := t.Config.MinInSyncReplicas; c != nil {
				head += fmt.Sprintf(", min in-sync replicas %d", *c)
			}
			if c := t.Config.UncleanLeaderElection; c != nil && *c {
				head += ", unclean leader election allowed"
			}
			r := view{
				data:    raw,
				preface: []string{head},
				table:   table{header: []string{"PARTITION", "LEADER", "EPOCH", "REPLICAS", "IN-SYNC"}},
				csv:     [][]string{{"topic", "partition", "leader", "leader_epoch", "replicas", "in_sync_replicas"}},
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
				r.table.rows = append(r.table.rows, []string{part, shown, epoch, replicas, isr})
				r.csv = append(r.csv, []string{t.Name, part, leader, epoch, replicas, isr})
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
