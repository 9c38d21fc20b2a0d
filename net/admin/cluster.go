package admin

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weirmq/weir/sm"
)

// The operator endpoints: GET /health, /api/v1/cluster, /api/v1/brokers and
// /api/v1/brokers/{id}/health, in the reference's shapes.

// /health's status values.
const (
	// statusHealthy: a controller leader is known and the cluster is
	// Healthy (ClusterStatus.Healthy). "ok", as the reference answers, so
	// that its clients and probes that match the word read Weir's too.
	statusHealthy = "ok"
	// statusDegraded: a leader is known, so the cluster serves writes,
	// but it is not Healthy (too few brokers online, for example).
	statusDegraded = "degraded"
	// statusUnhealthy: this controller knows no leader, so nothing can be
	// written, or it could not report at all (then the HTTP status is 503).
	statusUnhealthy = "unhealthy"
)

// healthBody is GET /health's answer: the reference's bare object, not an
// envelope, so that probes and the reference's clients read it as is.
type healthBody struct {
	Status        string          `json:"status"`
	Version       string          `json:"version"`
	UptimeSeconds int64           `json:"uptime_seconds"`
	IsLeader      bool            `json:"is_leader"`
	RaftTerm      uint64          `json:"raft_term"`
	RateLimiting  json.RawMessage `json:"rate_limiting"`
}

// RateLimiting is the rate_limiting block of GET /health, as the reference
// shapes it. Config.RateLimitStats may return one.
type RateLimiting struct {
	Enabled         bool   `json:"enabled"`
	ActiveLimiters  int    `json:"active_limiters"`
	TotalRequests   uint64 `json:"total_requests"`
	BlockedRequests uint64 `json:"blocked_requests"`
	// LastCleanup is when idle limiters were last dropped; nil (null)
	// before the first cleanup.
	LastCleanup *time.Time `json:"last_cleanup"`
}

// clusterData is GET /api/v1/cluster's data: the reference's ClusterStatus
// plus Weir's raft positions, which say how far behind a stale answer may be.
type clusterData struct {
	Brokers      []brokerSummary `json:"brokers"`
	Topics       []topicSummary  `json:"topics"`
	Leader       *string         `json:"leader"` // "controller-<id>", null if none known
	Term         uint64          `json:"term"`
	Healthy      bool            `json:"healthy"`
	CommitIndex  uint64          `json:"commit_index"`
	AppliedIndex uint64          `json:"applied_index"`
}

// brokerSummary is one broker of GET /api/v1/brokers (and of the cluster's
// brokers), the reference's BrokerInfo.
type brokerSummary struct {
	ID   string `json:"id"` // "broker-<id>"
	Host string `json:"host"`
	// PortQUIC is the port of the broker's advertised "host:port"; null if
	// the broker advertised no port.
	PortQUIC *uint16 `json:"port_quic"`
	// PortRPC is the port the broker serves its internal RPCs on
	// (replication, controller traffic), which the reference's brokers
	// serve apart on network.rpc_listen. A Weir broker serves every RPC on
	// its one QUIC address (config refuses network.rpc_listen), so this is
	// PortQUIC: the port a reference client would dial for RPCs.
	PortRPC *uint16 `json:"port_rpc"`
	RackID  string  `json:"rack_id"` // "" when the broker has no rack
	Online  bool    `json:"online"`
}

// brokerHealthData is GET /api/v1/brokers/{id}/health's data: the
// broker's component health as of its last report. Healthy is the broker
// online and its WAL, cache, network and (when configured) object storage
// healthy; replication lag is reported, not judged.
type brokerHealthData struct {
	ID             string            `json:"id"`
	Online         bool              `json:"online"`
	Healthy        bool              `json:"healthy"`
	LastReport     *string           `json:"last_report"` // RFC 3339, null if never
	WAL            walJSON           `json:"wal"`
	Cache          cacheJSON         `json:"cache"`
	ObjectStorage  objectStorageJSON `json:"object_storage"`
	Network        networkJSON       `json:"network"`
	ReplicationLag replicationJSON   `json:"replication_lag"`
	ResourceUsage  resourceJSON      `json:"resource_usage"`
}

type walJSON struct {
	Healthy       bool   `json:"healthy"`
	Backend       string `json:"backend"`
	UsedBytes     int64  `json:"used_bytes"`
	CapacityBytes int64  `json:"capacity_bytes"`
}

type cacheJSON struct {
	Healthy       bool  `json:"healthy"`
	UsedBytes     int64 `json:"used_bytes"`
	CapacityBytes int64 `json:"capacity_bytes"` // 0: unbounded
}

type objectStorageJSON struct {
	Healthy    bool `json:"healthy"`
	Configured bool `json:"configured"`
}

type networkJSON struct {
	Healthy     bool `json:"healthy"`
	Connections int  `json:"connections"`
}

type replicationJSON struct {
	MaxLagRecords             int64 `json:"max_lag_records"`
	UnderReplicatedPartitions int   `json:"under_replicated_partitions"`
}

type resourceJSON struct {
	MemoryBytes uint64   `json:"memory_bytes"`
	Goroutines  int      `json:"goroutines"`
	CPUPercent  *float64 `json:"cpu_percent"` // null if not a finite number
}

// onHealth answers GET /health about this controller, from its applied
// state: it needs no leader. The HTTP status says whether this controller
// could report (200) or not (503); the status field says how the cluster
// is, so a liveness probe should check the code and a readiness check the
// field.
func (s *Server) onHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	st, err := s.b.ClusterStatus(ctx, true)
	body := healthBody{Version: s.cfg.Version, UptimeSeconds: s.uptimeSeconds(), RateLimiting: s.rateLimiting()}
	code := http.StatusOK
	if err != nil {
		// The body's shape is the reference's, with no room for the reason.
		s.logf("admin: GET /health: cluster status unavailable: %v", err)
		body.Status, code = statusUnhealthy, http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	} else {
		body.Status, body.IsLeader, body.RaftTerm = healthStatus(st), st.IsLeader, st.Term
	}
	data, err := json.Marshal(body)
	if err != nil {
		panic(fmt.Sprintf("admin: encoding health: %v", err)) // plain fields only
	}
	writeJSON(w, code, append(data, '\n'))
}

// healthStatus is /health's status for st (see the status constants).
func healthStatus(st ClusterStatus) string {
	switch {
	case st.Leader == sm.NoNode:
		return statusUnhealthy
	case !st.Healthy:
		return statusDegraded
	}
	return statusHealthy
}

// uptimeSeconds is whole seconds since Config.Started, never negative.
func (s *Server) uptimeSeconds() int64 {
	return max(0, int64(s.cfg.Now().Sub(s.cfg.Started)/time.Second))
}

// rateLimiting is /health's rate_limiting block: RateLimitStats' answer, or
// a disabled RateLimiting. An answer that is not a JSON object is a wiring
// bug: logged, and reported as null rather than as disabled.
func (s *Server) rateLimiting() json.RawMessage {
	var v any
	if s.cfg.RateLimitStats != nil {
		v = s.cfg.RateLimitStats()
	}
	if v == nil {
		v = RateLimiting{}
	}
	data, err := json.Marshal(v)
	if string(data) == "null" {
		data, err = json.Marshal(RateLimiting{}) // a nil pointer in v
	}
	if err != nil || len(data) == 0 || data[0] != '{' {
		s.logf("admin: rate limit stats (%T) do not encode as a JSON object (error: %v); /health reports rate_limiting null", v, err)
		return nil
	}
	return data
}

// onCluster answers GET /api/v1/cluster.
func (s *Server) onCluster(w http.ResponseWriter, r *http.Request) {
	st, ok := s.clusterStatus(w, r)
	if !ok {
		return
	}
	succeed(w, http.StatusOK, clusterData{
		Brokers:      brokerSummaries(st.Brokers),
		Topics:       topicSummaries(st.Metadata.Topics),
		Leader:       leaderHint(st.Leader),
		Term:         st.Term,
		Healthy:      st.Healthy,
		CommitIndex:  st.CommitIndex,
		AppliedIndex: st.AppliedIndex,
	}, st.Leader)
}

// onListBrokers answers GET /api/v1/brokers.
func (s *Server) onListBrokers(w http.ResponseWriter, r *http.Request) {
	st, ok := s.clusterStatus(w, r)
	if !ok {
		return
	}
	succeed(w, http.StatusOK, brokerSummaries(st.Brokers), st.Leader)
}

// onBrokerHealth answers GET /api/v1/brokers/{id}/health; {id} is
// "broker-<n>", as the listing names brokers, or "<n>".
func (s *Server) onBrokerHealth(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("id")
	id, ok := parseBrokerID(raw)
	if !ok {
		_, leader := s.b.Leader()
		fail(w, http.StatusBadRequest, fmt.Sprintf("%s is not a broker ID (want broker-<n> or <n>, n >= 1)", quoteBounded(raw)), leader)
		return
	}
	st, ok := s.clusterStatus(w, r)
	if !ok {
		return
	}
	i := slices.IndexFunc(st.Brokers, func(b BrokerStatus) bool { return b.Info.ID == id })
	if i < 0 {
		fail(w, http.StatusNotFound, fmt.Sprintf("broker %s is not registered", brokerName(id)), st.Leader)
		return
	}
	succeed(w, http.StatusOK, brokerHealthOf(st.Brokers[i]), st.Leader)
}

// clusterStatus gets the cluster's status for an operator read:
// linearizable, unless the query says stale=true. When it cannot, it has
// answered the request (forwarded it to the leader, or failed it) and
// returns false.
func (s *Server) clusterStatus(w http.ResponseWriter, r *http.Request) (ClusterStatus, bool) {
	stale, err := staleParam(r)
	if err != nil {
		_, leader := s.b.Leader()
		fail(w, http.StatusBadRequest, err.Error(), leader)
		return ClusterStatus{}, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	st, err := s.b.ClusterStatus(ctx, stale)
	if nl, ok := notLeader(err); ok && !stale {
		s.routeRead(w, r, nl.Leader)
		return ClusterStatus{}, false
	}
	switch {
	case err != nil:
		_, leader := s.b.Leader()
		fail(w, http.StatusServiceUnavailable, fmt.Sprintf("cluster status unavailable: %v; retry", err), leader)
		return ClusterStatus{}, false
	case !st.Metadata.Full:
		s.logf("admin: backend returned partial metadata (versions %d..%d) for %s %s", st.Metadata.FromVersion, st.Metadata.ToVersion, r.Method, r.URL.Path)
		fail(w, http.StatusInternalServerError, "internal error: partial metadata (logged by the controller)", st.Leader)
		return ClusterStatus{}, false
	}
	return st, true
}

// staleParam reads ?stale: absent means false, present without a value
// true, otherwise a boolean.
func staleParam(r *http.Request) (bool, error) {
	q := r.URL.Query()
	if !q.Has("stale") {
		return false, nil
	}
	v := q.Get("stale")
	if v == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("stale: want true or false (got %s)", quoteBounded(v))
	}
	return b, nil
}

// parseBrokerID reads "broker-<n>" or "<n>", n >= 1.
func parseBrokerID(s string) (sm.NodeID, bool) {
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "broker-"), 10, 64)
	if err != nil || sm.NodeID(n) == sm.NoNode {
		return sm.NoNode, false
	}
	return sm.NodeID(n), true
}

// brokerSummaries lists brokers by ID, without reordering the Backend's
// slice; never nil, so an empty list encodes as [].
func brokerSummaries(brokers []BrokerStatus) []brokerSummary {
	sorted := slices.SortedFunc(slices.Values(brokers), func(a, b BrokerStatus) int { return cmp.Compare(a.Info.ID, b.Info.ID) })
	out := make([]brokerSummary, 0, len(sorted))
	for _, b := range sorted {
		host, port := splitHostPort(b.Info.Host)
		out = append(out, brokerSummary{ID: brokerName(b.Info.ID), Host: host, PortQUIC: port, PortRPC: port, RackID: b.Info.Rack, Online: b.Online})
	}
	return out
}

// splitHostPort splits an advertised "host:port" ("[::1]:9092" included);
// an address without a valid port is all host.
func splitHostPort(addr string) (string, *uint16) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, nil
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return host, nil
	}
	return host, new(uint16(p))
}

func brokerHealthOf(b BrokerStatus) brokerHealthData {
	h := b.Health
	d := brokerHealthData{
		ID:     brokerName(b.Info.ID),
		Online: b.Online,
		Healthy: b.Online && !b.LastReport.IsZero() && h.WAL.Healthy && h.Cache.Healthy && h.Network.Healthy &&
			(h.ObjectStorage.Healthy || !h.ObjectStorage.Configured),
		WAL:            walJSON{Healthy: h.WAL.Healthy, Backend: h.WAL.Backend, UsedBytes: h.WAL.UsedBytes, CapacityBytes: h.WAL.CapacityBytes},
		Cache:          cacheJSON{Healthy: h.Cache.Healthy, UsedBytes: h.Cache.UsedBytes, CapacityBytes: h.Cache.CapacityBytes},
		ObjectStorage:  objectStorageJSON{Healthy: h.ObjectStorage.Healthy, Configured: h.ObjectStorage.Configured},
		Network:        networkJSON{Healthy: h.Network.Healthy, Connections: h.Network.Connections},
		ReplicationLag: replicationJSON{MaxLagRecords: h.Replication.MaxLagRecords, UnderReplicatedPartitions: h.Replication.UnderReplicatedPartitions},
		ResourceUsage:  resourceJSON{MemoryBytes: h.Resources.MemoryBytes, Goroutines: h.Resources.Goroutines},
	}
	if !b.LastReport.IsZero() {
		d.LastReport = new(b.LastReport.UTC().Format(time.RFC3339))
	}
	if c := h.Resources.CPUPercent; !math.IsNaN(c) && !math.IsInf(c, 0) {
		d.ResourceUsage.CPUPercent = new(c)
	}
	return d
}
