package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// nodeName is a node's name in the admin API: "broker-101" in the
// reference's shapes; a bare number is taken too.
type nodeName string

func (n *nodeName) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*n = nodeName(s)
		return nil
	}
	var num json.Number
	if err := json.Unmarshal(b, &num); err != nil {
		return fmt.Errorf("want a name or a number, got %s", b)
	}
	*n = nodeName(num.String())
	return nil
}

// brokerInfo is one element of GET /api/v1/brokers' data (and of
// GET /api/v1/cluster's brokers). A port or the rack may be null (Weir
// brokers serve everything on their QUIC port, so port_rpc is null).
type brokerInfo struct {
	ID       nodeName `json:"id"`
	Host     string   `json:"host"`
	PortQUIC *int     `json:"port_quic"`
	PortRPC  *int     `json:"port_rpc"`
	RackID   *string  `json:"rack_id"`
	Online   bool     `json:"online"`
}

// readPath is path, with ?stale=true for a stale read.
func readPath(path string, stale bool) string {
	if stale {
		return path + "?stale=true"
	}
	return path
}

// orDash is the table's text for an absent value.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func portText(p *int) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(*p)
}

const staleHelp = "read this controller's view, which may lag the leader's (default: ask the leader)"

func newListBrokers(g *globals) *cobra.Command {
	var stale bool
	cmd := &cobra.Command{
		Use:   "list-brokers",
		Short: "List the cluster's brokers and whether they are online",
		Long: `List the cluster's brokers (GET /api/v1/brokers) and whether they are online.
Formats: table (ONLINE green or red on a terminal); json and yaml (the API's
list of brokers); csv (id, host, port_quic, port_rpc, rack_id, online; an
absent port or rack is empty, "-" in the table).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw json.RawMessage
			if err := g.api(http.MethodGet, readPath("/api/v1/brokers", stale), nil, &raw); err != nil {
				return err
			}
			var bs []brokerInfo
			if err := json.Unmarshal(raw, &bs); err != nil {
				return fmt.Errorf("the controller's list of brokers is not one this CLI understands: %v\nhint: the controller may run another Weir version than this CLI", err)
			}
			r := view{
				data:  raw,
				table: table{header: []string{"ID", "HOST", "QUIC PORT", "RPC PORT", "RACK", "ONLINE"}},
				csv:   [][]string{{"id", "host", "port_quic", "port_rpc", "rack_id", "online"}},
			}
			for _, b := range bs {
				rack := ""
				if b.RackID != nil {
					rack = *b.RackID
				}
				quic, rpc := portText(b.PortQUIC), portText(b.PortRPC)
				r.table.rows = append(r.table.rows, []string{string(b.ID), orDash(b.Host), orDash(quic), orDash(rpc), orDash(rack), yesNo(b.Online)})
				r.csv = append(r.csv, []string{string(b.ID), b.Host, quic, rpc, rack, strconv.FormatBool(b.Online)})
			}
			r.table.paint = func(row, col int) string {
				if col == 5 {
					return goodBad(bs[row].Online)
				}
				return ""
			}
			return g.print(r)
		},
	}
	cmd.Flags().BoolVar(&stale, "stale", false, staleHelp)
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func goodBad(good bool) string {
	if good {
		return sgrGreen
	}
	return sgrRed
}

// clusterInfo is GET /api/v1/cluster's data.
type clusterInfo struct {
	Brokers []brokerInfo      `json:"brokers"`
	Topics  []json.RawMessage `json:"topics"`
	Leader  *nodeName         `json:"leader"`
	Term    uint64            `json:"term"`
	Healthy bool              `json:"healthy"`
}

// healthInfo is GET /health's answer (not enveloped in the reference).
// Status is "ok" (as in the reference; older Weir controllers said
// "healthy"), "degraded" (a leader, but not enough brokers online) or
// "unhealthy" (no leader).
type healthInfo struct {
	Status        string `json:"status"`
	Version       string `json:"version"`
	UptimeSeconds int64  `json:"uptime_seconds"`
	IsLeader      bool   `json:"is_leader"`
	RaftTerm      uint64 `json:"raft_term"`
}

// clusterHealth is cluster-health's output in json and yaml.
type clusterHealth struct {
	Healthy        bool    `json:"healthy"`
	Leader         *string `json:"leader"`
	Term           uint64  `json:"term"`
	Brokers        int     `json:"brokers"`
	BrokersOnline  int     `json:"brokers_online"`
	BrokersOffline int     `json:"brokers_offline"`
	Topics         int     `json:"topics"`
	// Stale is whether the cluster's figures are the --api-url
	// controller's own view rather than the leader's (--stale, or no
	// leader to ask).
	Stale      bool             `json:"stale"`
	Controller controllerHealth `json:"controller"`
}

// controllerHealth is GET /health of the controller at --api-url.
type controllerHealth struct {
	URL string `json:"url"`
	healthInfo
}

func newClusterHealth(g *globals) *cobra.Command {
	var failUnhealthy, stale bool
	cmd := &cobra.Command{
		Use:   "cluster-health",
		Short: "Show whether the cluster is healthy: controller leader, term, brokers, topics",
		Long: `Show whether the cluster is healthy (GET /api/v1/cluster), with the controller
leader and its term, how many brokers are online and offline and how many
topics there are, and the state of the controller at --api-url (GET /health).
"Healthy" is the controller's verdict: a leader exists and enough brokers are
online. The figures are the leader's; when no leader can answer, they are
the --api-url controller's own view, and the output says so (stale).

Formats: table (a key/value list; healthy green, unhealthy and offline
brokers red on a terminal); json and yaml (healthy, leader, term, brokers,
brokers_online, brokers_offline, topics, stale, controller{url, status,
version, uptime_seconds, is_leader, raft_term}); csv (a header and one row,
the controller's fields prefixed controller_).

The exit status is 0 whenever the health was read, healthy or not, so that
scripts can parse the output. With --fail-unhealthy an unhealthy cluster
exits 2 (after printing), for monitoring checks; 1 still means an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var c clusterInfo
			err := g.api(http.MethodGet, readPath("/api/v1/cluster", stale), nil, &c)
			if ae, ok := errors.AsType[*apiError](err); ok && ae.status == http.StatusServiceUnavailable && !stale {
				// No leader answered: this controller's view tells more
				// about an unhealthy cluster than the error does.
				stale = true
				err = g.api(http.MethodGet, readPath("/api/v1/cluster", stale), nil, &c)
			}
			if err != nil {
				return err
			}
			h, err := g.health()
			if err != nil {
				return err
			}
			out := clusterHealth{
				Healthy:    c.Healthy,
				Term:       c.Term,
				Brokers:    len(c.Brokers),
				Topics:     len(c.Topics),
				Stale:      stale,
				Controller: controllerHealth{URL: g.apiURL, healthInfo: h},
			}
			if c.Leader != nil {
				out.Leader = new(string(*c.Leader))
			}
			for _, b := range c.Brokers {
				if b.Online {
					out.BrokersOnline++
				}
			}
			out.BrokersOffline = out.Brokers - out.BrokersOnline
			if err := g.print(healthView(out)); err != nil {
				return err
			}
			if failUnhealthy && !out.Healthy {
				return &exitError{code: 2, err: unhealthyError(out)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&failUnhealthy, "fail-unhealthy", false, "exit with status 2 when the cluster is unhealthy (default: 0, the output says)")
	cmd.Flags().BoolVar(&stale, "stale", false, staleHelp)
	return cmd
}

// unhealthyError says why the cluster is unhealthy, as far as the summary
// tells, and what to look at next.
func unhealthyError(h clusterHealth) error {
	var why []string
	if h.Leader == nil {
		why = append(why, "no controller leader")
	}
	if h.BrokersOffline > 0 || h.Brokers == 0 {
		why = append(why, fmt.Sprintf("%d of %d brokers online", h.BrokersOnline, h.Brokers))
	}
	msg := "the cluster is unhealthy"
	if len(why) > 0 {
		msg += " (" + strings.Join(why, ", ") + ")"
	}
	return errors.New(msg + "\nhint: `weir list-brokers` shows which brokers are offline; the controllers' logs say more")
}

func healthView(h clusterHealth) view {
	leader := "none"
	if h.Leader != nil {
		leader = *h.Leader
	}
	ctl := h.Controller
	role := "follower"
	if ctl.IsLeader {
		role = "leader"
	}
	ctlText := fmt.Sprintf("%s: %s, %s", ctl.URL, orDash(ctl.Status), role)
	if ctl.Version != "" {
		ctlText += ", version " + ctl.Version
	}
	ctlText += ", up " + (time.Duration(ctl.UptimeSeconds) * time.Second).String()
	rows := [][]string{
		{"HEALTHY", yesNo(h.Healthy)},
		{"LEADER", leader},
		{"TERM", strconv.FormatUint(h.Term, 10)},
		{"BROKERS", fmt.Sprintf("%d online, %d offline", h.BrokersOnline, h.BrokersOffline)},
		{"TOPICS", strconv.Itoa(h.Topics)},
		{"CONTROLLER", ctlText},
	}
	if h.Stale {
		rows = append(rows, []string{"VIEW", "stale: the figures are " + ctl.URL + "'s own view, not the leader's"})
	}
	csvLeader := ""
	if h.Leader != nil {
		csvLeader = *h.Leader
	}
	return view{
		data: h,
		table: table{rows: rows, keys: true, paint: func(row, col int) string {
			switch {
			case col != 1:
			case row == 0:
				return goodBad(h.Healthy)
			case row == 1 && h.Leader == nil, row == 3 && h.BrokersOffline > 0:
				return sgrRed
			case row == 5:
				switch ctl.Status {
				case "ok", "healthy":
					return sgrGreen
				case "degraded":
					return sgrYellow
				}
				return sgrRed
			case row == 6:
				return sgrYellow
			}
			return ""
		}},
		csv: [][]string{
			{"healthy", "leader", "term", "brokers", "brokers_online", "brokers_offline", "topics", "stale",
				"controller_url", "controller_status", "controller_version", "controller_uptime_seconds", "controller_is_leader", "controller_raft_term"},
			{strconv.FormatBool(h.Healthy), csvLeader, strconv.FormatUint(h.Term, 10), strconv.Itoa(h.Brokers),
				strconv.Itoa(h.BrokersOnline), strconv.Itoa(h.BrokersOffline), strconv.Itoa(h.Topics), strconv.FormatBool(h.Stale),
				ctl.URL, ctl.Status, ctl.Version, strconv.FormatInt(ctl.UptimeSeconds, 10), strconv.FormatBool(ctl.IsLeader), strconv.FormatUint(ctl.RaftTerm, 10)},
		},
	}
}

// health reads GET /health: the reference's plain object, or the same in
// the admin envelope.
func (g *globals) health() (healthInfo, error) {
	const path = "/health"
	r, err := g.do(http.MethodGet, path, nil)
	if err != nil {
		return healthInfo{}, err
	}
	var probe struct {
		Success *bool   `json:"success"`
		Status  *string `json:"status"`
	}
	if err := json.Unmarshal(r.body, &probe); err != nil || probe.Success == nil && probe.Status == nil {
		return healthInfo{}, fmt.Errorf("the controller at %s answered GET %s with status %d and a body that is not a health report\nhint: does --api-url point at a Weir controller's admin API?", g.apiURL, path, r.status)
	}
	var h healthInfo
	body := r.body
	if probe.Success != nil {
		var env envelope
		if err := json.Unmarshal(r.body, &env); err != nil {
			return healthInfo{}, fmt.Errorf("the controller at %s answered GET %s with a malformed envelope: %v", g.apiURL, path, err)
		}
		if !env.Success {
			return healthInfo{}, g.rejection(http.MethodGet, path, r, env)
		}
		body = env.Data
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return healthInfo{}, fmt.Errorf("the controller's health report is not one this CLI understands: %v\nhint: the controller may run another Weir version than this CLI", err)
	}
	return h, nil
}
