package main

import (
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
	"text/tabwriter"
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

// api calls the admin API and decodes data into out (when not nil).
func (g *globals) api(method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	u := strings.TrimRight(g.apiURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("bad --api-url %q: %w", g.apiURL, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("cannot reach the controller at %s: %v\nhint: is `weir dev` running? (or pass --api-url)", g.apiURL, err)
	}
	defer resp.Body.Close()
	var env envelope
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&env); err != nil {
		return fmt.Errorf("controller at %s answered %s with a body that is not the admin envelope: %v", g.apiURL, resp.Status, err)
	}
	if !env.Success {
		msg := resp.Status
		if env.Error != nil {
			msg = *env.Error
		}
		if resp.StatusCode == http.StatusServiceUnavailable && env.LeaderHint != nil {
			msg += fmt.Sprintf(" (leader: %v; retry, or point --api-url at it)", env.LeaderHint)
		}
		return errors.New(msg)
	}
	if out != nil && len(env.Data) > 0 {
		return json.Unmarshal(env.Data, out)
	}
	return nil
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
				return err
			}
			fmt.Println(msg)
			return nil
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
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var ts []topicSummary
			if err := g.api(http.MethodGet, "/api/v1/topics", nil, &ts); err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tPARTITIONS\tREPLICATION")
			for _, t := range ts {
				fmt.Fprintf(w, "%s\t%d\t%d\n", t.Name, t.Partitions, t.ReplicationFactor)
			}
			return w.Flush()
		},
	}
}

type topicDetail struct {
	Name              string `json:"name"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
	Assignments       []struct {
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
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t topicDetail
			if err := g.api(http.MethodGet, "/api/v1/topics/"+url.PathEscape(args[0]), nil, &t); err != nil {
				return err
			}
			fmt.Printf("topic %s: %d partitions, replication factor %d\n", t.Name, t.Partitions, t.ReplicationFactor)
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "PARTITION\tLEADER\tEPOCH\tREPLICAS\tIN-SYNC")
			for _, p := range t.Assignments {
				leader := "none"
				if p.Leader != nil {
					leader = *p.Leader
				}
				fmt.Fprintf(w, "%d\t%s\t%d\t%s\t%s\n", p.Partition, leader, p.LeaderEpoch, strings.Join(p.Replicas, ","), strings.Join(p.ISR, ","))
			}
			return w.Flush()
		},
	}
}

func newDeleteTopic(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete-topic NAME",
		Short: "Delete a topic and all its data",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var msg string
			if err := g.api(http.MethodDelete, "/api/v1/topics/"+url.PathEscape(args[0]), nil, &msg); err != nil {
				return err
			}
			fmt.Println(msg)
			return nil
		},
	}
}
