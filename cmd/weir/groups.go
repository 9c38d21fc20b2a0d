package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sm"
)

// weir groups: consumer groups through the brokers (their coordinators),
// like kafka-consumer-groups.

func newGroups(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "groups",
		Short: "List, describe, delete consumer groups and reset their offsets",
		Long: `Consumer groups, as their coordinators (the brokers leading the partitions
of __consumer_offsets) hold them: list, describe (members, assignment,
committed offsets and lag per partition), delete (a group without members,
with its offsets), reset-offsets (of a group without members).`,
	}
	cmd.AddCommand(newGroupsList(g), newGroupsDescribe(g), newGroupsDelete(g), newGroupsReset(g))
	return cmd
}

func newGroupsList(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List consumer groups",
		Long:  `List consumer groups with their state. Formats: table; json and yaml; csv (group, state, protocol_type).`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, closeSession, err := g.session()
			if err != nil {
				return err
			}
			defer closeSession()
			ls, err := c.ListGroups(ctx)
			if err != nil && len(ls) == 0 {
				return err
			}
			type listing struct {
				Group        string `json:"group"`
				State        string `json:"state"`
				ProtocolType string `json:"protocol_type"`
			}
			data := []listing{}
			r := view{table: table{header: []string{"GROUP", "STATE", "PROTOCOL-TYPE"}}, csv: [][]string{{"group", "state", "protocol_type"}}}
			for _, l := range ls {
				data = append(data, listing{l.GroupID, l.State, l.ProtocolType})
				row := []string{l.GroupID, l.State, l.ProtocolType}
				r.table.rows = append(r.table.rows, row)
				r.csv = append(r.csv, row)
			}
			r.data = data
			if err != nil {
				fmt.Fprintf(os.Stderr, "warning: not every broker answered; the list may be incomplete: %v\n", err)
			}
			return g.print(r)
		},
	}
}

// partitionLag is one partition of a group's describe.
type partitionLag struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is -1 when the group has no offset for the partition.
	Committed     int64  `json:"committed_offset"`
	HighWatermark int64  `json:"high_watermark"`
	Lag           *int64 `json:"lag"`
	Member        string `json:"member,omitempty"`
	ClientID      string `json:"client_id,omitempty"`
	Host          string `json:"host,omitempty"`
}

type groupDescribe struct {
	Group        string         `json:"group"`
	State        string         `json:"state"`
	ProtocolType string         `json:"protocol_type"`
	Protocol     string         `json:"protocol"`
	Generation   int32          `json:"generation"`
	Leader       string         `json:"leader"`
	Coordinator  string         `json:"coordinator"`
	Members      []groupMember  `json:"members"`
	Partitions   []partitionLag `json:"partitions"`
}

type groupMember struct {
	MemberID   string   `json:"member_id"`
	InstanceID string   `json:"instance_id,omitempty"`
	ClientID   string   `json:"client_id"`
	Host       string   `json:"host"`
	Assignment []string `json:"assignment"`
}

func newGroupsDescribe(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP",
		Short: "Show a group's members, assignment, committed offsets and lag",
		Long: `Show a group: its state, generation and members, then one row per partition
it has a committed offset for or assigns: the committed offset (the next
record the group reads), the partition's high watermark, the lag between
them, and the member that owns it. Formats: table; json and yaml; csv (one
row per partition).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, closeSession, err := g.session()
			if err != nil {
				return err
			}
			defer closeSession()
			d, err := describeGroup(ctx, c, args[0])
			if err != nil {
				return err
			}
			r := view{data: d, preface: []string{
				fmt.Sprintf("group %s: %s, protocol %s/%s, generation %d, leader %s, coordinator %s, %d members",
					d.Group, d.State, orDash(d.ProtocolType), orDash(d.Protocol), d.Generation, orDash(d.Leader), d.Coordinator, len(d.Members)),
			}}
			r.table.header = []string{"TOPIC", "PARTITION", "COMMITTED", "HIGH-WATERMARK", "LAG", "MEMBER", "CLIENT-ID", "HOST"}
			r.csv = [][]string{{"topic", "partition", "committed_offset", "high_watermark", "lag", "member", "client_id", "host"}}
			for _, p := range d.Partitions {
				lag := "-"
				if p.Lag != nil {
					lag = strconv.FormatInt(*p.Lag, 10)
				}
				committed := "-"
				if p.Committed >= 0 {
					committed = strconv.FormatInt(p.Committed, 10)
				}
				hw := "-"
				if p.HighWatermark >= 0 {
					hw = strconv.FormatInt(p.HighWatermark, 10)
				}
				row := []string{p.Topic, strconv.Itoa(int(p.Partition)), committed, hw, lag, orDash(p.Member), orDash(p.ClientID), orDash(p.Host)}
				r.table.rows = append(r.table.rows, row)
				r.csv = append(r.csv, row)
			}
			return g.print(r)
		},
	}
}

// describeGroup gathers a group's description, committed offsets and the
// high watermarks of their partitions.
func describeGroup(ctx context.Context, c *sdk.Client, id string) (groupDescribe, error) {
	desc, err := c.DescribeGroup(ctx, id)
	if err != nil {
		return groupDescribe{}, err
	}
	committed, err := c.CommittedOffsets(ctx, id)
	if err != nil {
		return groupDescribe{}, fmt.Errorf("committed offsets of group %q: %w", id, err)
	}
	d := groupDescribe{Group: desc.GroupID, State: desc.State, ProtocolType: desc.ProtocolType, Protocol: desc.Protocol,
		Generation: desc.Generation, Leader: desc.Leader, Coordinator: desc.Coordinator.String(), Members: []groupMember{}, Partitions: []partitionLag{}}
	owner := map[sdk.TopicPartition]sdk.GroupMemberDescription{}
	for _, m := range desc.Members {
		gm := groupMember{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, Host: m.ClientHost, Assignment: []string{}}
		for _, tp := range m.Assignment {
			owner[tp] = m
			gm.Assignment = append(gm.Assignment, tp.String())
		}
		d.Members = append(d.Members, gm)
	}
	tps := map[sdk.TopicPartition]bool{}
	for tp := range committed {
		tps[tp] = true
	}
	for tp := range owner {
		tps[tp] = true
	}
	hw := map[sdk.TopicPartition]sm.Offset{}
	topics := map[string]bool{}
	for tp := range tps {
		topics[tp.Topic] = true
	}
	for _, t := range slices.Sorted(maps.Keys(topics)) {
		octx, cancel := context.WithTimeout(ctx, offsetsWait)
		offs, _ := c.ListOffsets(octx, t) // a partition without a leader shows no lag
		cancel()
		for _, o := range offs {
			if o.Leader != sm.NoNode {
				hw[o.TP] = o.HighWatermark
			}
		}
	}
	for _, tp := range slices.SortedFunc(maps.Keys(tps), sm.CompareTP) {
		p := partitionLag{Topic: tp.Topic, Partition: tp.Partition, Committed: -1, HighWatermark: -1}
		if o, ok := committed[tp]; ok {
			p.Committed = int64(o)
		}
		if h, ok := hw[tp]; ok {
			p.HighWatermark = int64(h)
			if p.Committed >= 0 {
				lag := max(int64(h)-p.Committed, 0)
				p.Lag = &lag
			}
		}
		if m, ok := owner[tp]; ok {
			p.Member, p.ClientID, p.Host = m.MemberID, m.ClientID, m.ClientHost
		}
		d.Partitions = append(d.Partitions, p)
	}
	return d, nil
}

func newGroupsDelete(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete GROUP",
		Short: "Delete a consumer group without members, with its committed offsets",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, closeSession, err := g.session()
			if err != nil {
				return err
			}
			defer closeSession()
			if err := c.DeleteGroup(ctx, args[0]); err != nil {
				if errors.Is(err, sdk.ErrGroupNotEmpty) {
					return fmt.Errorf("%w\nhint: stop the group's consumers first (weir groups describe %s lists them)", err, args[0])
				}
				return err
			}
			fmt.Fprintf(os.Stderr, "deleted group %s\n", args[0])
			return nil
		},
	}
}

func newGroupsReset(g *globals) *cobra.Command {
	var topic, toDatetime string
	var partition int32
	var toEarliest, toLatest, dryRun bool
	var toOffset int64
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP --topic T (--to-earliest | --to-latest | --to-offset N | --to-datetime T)",
		Short: "Set a group's committed offsets (the group must have no members)",
		Long: `Set the committed offsets of a group that has no active members, for every
partition of --topic (or only --partition): to the log start
(--to-earliest), the high watermark (--to-latest), an offset (--to-offset N,
clamped to the partition's log start and high watermark), or the first
record stamped at or after a time (--to-datetime, RFC 3339 or Unix ms; the
high watermark where no record is that recent). --dry-run prints the plan
and changes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := 0
			for _, set := range []bool{toEarliest, toLatest, cmd.Flags().Changed("to-offset"), cmd.Flags().Changed("to-datetime")} {
				if set {
					n++
				}
			}
			if n != 1 {
				return errors.New("say where to reset to with exactly one of --to-earliest, --to-latest, --to-offset N, --to-datetime T")
			}
			if topic == "" {
				return errors.New("--topic is required: the topic whose partitions to reset")
			}
			if cmd.Flags().Changed("to-offset") && toOffset < 0 {
				return fmt.Errorf("--to-offset %d: want an offset ≥ 0", toOffset)
			}
			var at time.Time
			if cmd.Flags().Changed("to-datetime") {
				t, err := parseTimeFlag(toDatetime)
				if err != nil {
					return fmt.Errorf("--to-datetime %q: %w", toDatetime, err)
				}
				at = t
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
			np, err := checkTopic(ctx, c, topic)
			if err != nil {
				return err
			}
			if err := checkPartition(topic, part, np); err != nil {
				return err
			}
			offs, err := c.ListOffsets(ctx, topic)
			if err != nil {
				return fmt.Errorf("offsets of %s: %w", topic, err)
			}
			before, err := c.CommittedOffsets(ctx, args[0])
			if err != nil {
				return err
			}
			plan := map[sdk.TopicPartition]sm.Offset{}
			for _, o := range offs {
				if part >= 0 && o.TP.Partition != part {
					continue
				}
				var to sm.Offset
				switch {
				case toEarliest:
					to = o.LogStart
				case toLatest:
					to = o.HighWatermark
				case !at.IsZero():
					r, err := c.OffsetForTime(ctx, o.TP, at)
					if err != nil {
						return fmt.Errorf("finding %v's first record from %s: %w", o.TP, at.UTC().Format(time.RFC3339Nano), err)
					}
					to = r.Offset
				default:
					to = min(max(sm.Offset(toOffset), o.LogStart), o.HighWatermark)
				}
				plan[o.TP] = to
			}
			type row struct {
				Topic     string `json:"topic"`
				Partition int32  `json:"partition"`
				Before    *int64 `json:"committed_before"`
				After     int64  `json:"committed_after"`
			}
			var rows []row
			r := view{table: table{header: []string{"TOPIC", "PARTITION", "BEFORE", "AFTER"}}, csv: [][]string{{"topic", "partition", "committed_before", "committed_after"}}}
			for _, tp := range slices.SortedFunc(maps.Keys(plan), sm.CompareTP) {
				rw := row{Topic: tp.Topic, Partition: tp.Partition, After: int64(plan[tp])}
				b := "-"
				if o, ok := before[tp]; ok {
					v := int64(o)
					rw.Before, b = &v, strconv.FormatInt(v, 10)
				}
				rows = append(rows, rw)
				cells := []string{tp.Topic, strconv.Itoa(int(tp.Partition)), b, strconv.FormatInt(rw.After, 10)}
				r.table.rows = append(r.table.rows, cells)
				r.csv = append(r.csv, cells)
			}
			r.data = rows
			if dryRun {
				r.preface = []string{"dry run: nothing changed"}
				return g.print(r)
			}
			if err := c.ResetOffsets(ctx, args[0], plan); err != nil {
				if errors.Is(err, sdk.ErrGroupNotEmpty) {
					return fmt.Errorf("%w\nhint: a group's offsets can be reset only while it has no members; stop its consumers first", err)
				}
				return err
			}
			return g.print(r)
		},
	}
	f := cmd.Flags()
	f.StringVar(&topic, "topic", "", "the topic whose partitions to reset (required)")
	f.Int32Var(&partition, "partition", -1, "only this partition (default: all)")
	f.BoolVar(&toEarliest, "to-earliest", false, "reset to each partition's log start")
	f.BoolVar(&toLatest, "to-latest", false, "reset to each partition's high watermark")
	f.Int64Var(&toOffset, "to-offset", 0, "reset to this offset (clamped to each partition's range)")
	f.StringVar(&toDatetime, "to-datetime", "", "reset to the first record stamped at or after this time (RFC 3339, or Unix ms)")
	f.BoolVar(&dryRun, "dry-run", false, "print the new offsets without setting them")
	return cmd
}

// groupConsumerFlags refuses consume flags that a group decides itself.
func groupConsumerFlags(cmd *cobra.Command) error {
	for _, name := range []string{"partition", "offset", "from-time"} {
		if cmd.Flags().Changed(name) {
			return fmt.Errorf("--%s with --group: the group assigns partitions and resumes from its committed offsets (reset them with weir groups reset-offsets)", name)
		}
	}
	return nil
}

// consumeGroup reads topic as a member of group, committing each batch of
// records once it is written out: a record is committed only after it was
// printed, so a consumer killed at any moment loses nothing (it may print
// some records again after a restart: at least once).
func consumeGroup(ctx context.Context, c *sdk.Client, topic, group string, fromBeginning bool, session time.Duration, w *recordWriter, maxN int) error {
	start := sdk.StartLatest
	if fromBeginning {
		start = sdk.StartEarliest
	}
	cons, err := c.NewConsumer(sdk.ConsumerConfig{Group: group, Topics: []string{topic}, StartOffset: start,
		SessionTimeout: session, Assignor: "cooperative-sticky"})
	if err != nil {
		return err
	}
	defer cons.Close() // leaves the group: its partitions move at once
	return consumeRecords(ctx, cons, w, maxN, func(next map[sdk.TopicPartition]sm.Offset) {
		if err := cons.Commit(ctx, next); err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(os.Stderr, "warning: committing %s: %v (the records may be read again)\n", formatOffsets(next), err)
		}
	})
}

func formatOffsets(m map[sdk.TopicPartition]sm.Offset) string {
	var parts []string
	for _, tp := range slices.SortedFunc(maps.Keys(m), sm.CompareTP) {
		parts = append(parts, fmt.Sprintf("%v@%d", tp, m[tp]))
	}
	return strings.Join(parts, " ")
}
