package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/weirmq/weir/sm"
)

// ParsePeerURLs reads "ID@http://host:port" entries.
func ParsePeerURLs(list []string) (map[sm.NodeID]string, error) {
	out := map[sm.NodeID]string{}
	for _, e := range list {
		idStr, raw, ok := strings.Cut(e, "@")
		n, err := strconv.ParseUint(strings.TrimPrefix(idStr, "controller-"), 10, 64)
		if !ok || err != nil || n < 1 || n > 99 {
			return nil, fmt.Errorf("entry %q: want ID@http://host:port with ID in 1..99", e)
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("entry %q: want an http:// or https:// URL", e)
		}
		out[sm.NodeID(n)] = strings.TrimRight(raw, "/")
	}
	return out, nil
}

// Controller is controller.toml: the reference's sections where they apply.
type Controller struct {
	Controller struct {
		// NodeID is this controller's raft ID, 1..99.
		NodeID     uint64 `toml:"node_id"`
		RaftListen string `toml:"raft_listen"`
		RPCListen  string `toml:"rpc_listen"`
		HTTPListen string `toml:"http_listen"`
		// DataDir holds the raft log and hard state (pebble).
		DataDir string `toml:"data_dir"`
	} `toml:"controller"`
	Raft struct {
		// Peers are "ID@host:port" raft addresses of every controller,
		// this one included.
		Peers               []string `toml:"peers"`
		ElectionTimeoutMs   int64    `toml:"election_timeout_ms"`
		HeartbeatIntervalMs int64    `toml:"heartbeat_interval_ms"`
	} `toml:"raft"`
	Admin   Admin `toml:"admin"`
	Cluster struct {
		// SessionTimeoutMs fences a broker silent this long.
		SessionTimeoutMs  int64 `toml:"session_timeout_ms"`
		MinInSyncReplicas int32 `toml:"min_in_sync_replicas"`
		MaxPartitions     int32 `toml:"max_partitions"`
	} `toml:"cluster"`
	Network NetworkLimits `toml:"network"`
	TLS     TLS           `toml:"tls"`
	Log     Log           `toml:"log"`
}

// Admin is the controller's [admin] section.
type Admin struct {
	// Port is the reference's admin port; controller.http_listen, which
	// names the address, wins when both are set.
	Port int `toml:"port"`
	// PeerURLs are "ID@http://host:port" admin addresses of the other
	// controllers, so a follower can forward requests to the leader;
	// without them a follower answers 503 with the leader's ID.
	PeerURLs []string `toml:"peer_urls"`
	// RequestTimeoutMs bounds each admin request.
	RequestTimeoutMs      int64        `toml:"request_timeout_ms"`
	HealthCheckIntervalMs int64        `toml:"health_check_interval_ms"`
	HealthTimeoutMs       int64        `toml:"health_timeout_ms"`
	EnableCORS            bool         `toml:"enable_cors"`
	LogRequests           bool         `toml:"log_requests"`
	RateLimiting          RateLimiting `toml:"rate_limiting"`
}

// RateLimiting is [admin.rate_limiting]; the environment names follow the
// reference (WEIR_ADMIN_GLOBAL_BURST_SIZE, …) as well as the section path.
type RateLimiting struct {
	Enabled                bool                     `toml:"enabled" env:"WEIR_ADMIN_RATE_LIMITING_ENABLED"`
	GlobalBurstSize        int                      `toml:"global_burst_size" env:"WEIR_ADMIN_GLOBAL_BURST_SIZE"`
	GlobalRefillRate       int                      `toml:"global_refill_rate" env:"WEIR_ADMIN_GLOBAL_REFILL_RATE"`
	PerIPBurstSize         int                      `toml:"per_ip_burst_size" env:"WEIR_ADMIN_PER_IP_BURST_SIZE"`
	PerIPRefillRate        int                      `toml:"per_ip_refill_rate" env:"WEIR_ADMIN_PER_IP_REFILL_RATE"`
	CleanupIntervalSeconds int64                    `toml:"cleanup_interval_seconds" env:"WEIR_ADMIN_CLEANUP_INTERVAL_SECONDS"`
	TrustedProxies         []string                 `toml:"trusted_proxies" env:"WEIR_ADMIN_TRUSTED_PROXIES"`
	Endpoints              map[string]EndpointLimit `toml:"endpoints"`
}

// EndpointLimit is one [admin.rate_limiting.endpoints] entry.
type EndpointLimit struct {
	BurstSize  int `toml:"burst_size"`
	RefillRate int `toml:"refill_rate"`
}

// DefaultController is a single-node controller on loopback.
func DefaultController() Controller {
	var c Controller
	c.Controller.NodeID = 1
	c.Controller.RaftListen = "127.0.0.1:9095"
	c.Controller.RPCListen = "127.0.0.1:9094"
	c.Controller.HTTPListen = "127.0.0.1:9642"
	c.Controller.DataDir = "./weir-data/controller-1"
	c.Raft.Peers = []string{"1@127.0.0.1:9095"}
	c.Raft.ElectionTimeoutMs = 5000
	c.Raft.HeartbeatIntervalMs = 1000
	c.Admin.Port = 9642
	c.Admin.RequestTimeoutMs = 10000
	c.Admin.HealthCheckIntervalMs = 15000
	c.Admin.HealthTimeoutMs = 30000
	c.Admin.EnableCORS = true
	c.Admin.LogRequests = true
	c.Admin.RateLimiting = RateLimiting{Enabled: true, GlobalBurstSize: 1000, GlobalRefillRate: 60,
		PerIPBurstSize: 100, PerIPRefillRate: 30, CleanupIntervalSeconds: 3600}
	c.Cluster.SessionTimeoutMs = 30000
	c.Cluster.MinInSyncReplicas = 2
	c.Cluster.MaxPartitions = 10000
	c.Network = DefaultNetworkLimits()
	c.Log = Log{Level: "info", Format: "console"}
	return c
}

// Validate names every bad key.
func (c *Controller) Validate() error {
	var p Problems
	p.Add(c.Controller.NodeID < 1 || c.Controller.NodeID > 99, "controller.node_id", "must be in 1..99 (got %d)", c.Controller.NodeID)
	p.Add(!validAddr(c.Controller.RaftListen), "controller.raft_listen", "want host:port (got %q)", c.Controller.RaftListen)
	p.Add(!validAddr(c.Controller.RPCListen), "controller.rpc_listen", "want host:port (got %q)", c.Controller.RPCListen)
	p.Add(!validAddr(c.Controller.HTTPListen), "controller.http_listen", "want host:port (got %q)", c.Controller.HTTPListen)
	p.Add(c.Controller.DataDir == "", "controller.data_dir", "must be set")
	peers, err := ParseEndpoints(c.Raft.Peers)
	if err != nil {
		p.Add(true, "raft.peers", "%v", err)
	} else {
		found := false
		for _, e := range peers {
			found = found || uint64(e.ID) == c.Controller.NodeID
		}
		p.Add(!found, "raft.peers", "must include this controller's node_id %d", c.Controller.NodeID)
	}
	p.Add(c.Raft.HeartbeatIntervalMs <= 0, "raft.heartbeat_interval_ms", "must be > 0 (got %d)", c.Raft.HeartbeatIntervalMs)
	p.Add(c.Raft.ElectionTimeoutMs <= c.Raft.HeartbeatIntervalMs, "raft.election_timeout_ms", "must be > raft.heartbeat_interval_ms (got %d <= %d)", c.Raft.ElectionTimeoutMs, c.Raft.HeartbeatIntervalMs)
	_, err = ParsePeerURLs(c.Admin.PeerURLs)
	p.Add(err != nil, "admin.peer_urls", "%v", err)
	p.Add(c.Admin.RequestTimeoutMs <= 0, "admin.request_timeout_ms", "must be > 0 (got %d)", c.Admin.RequestTimeoutMs)
	p.Add(c.Admin.HealthCheckIntervalMs <= 0, "admin.health_check_interval_ms", "must be > 0 (got %d)", c.Admin.HealthCheckIntervalMs)
	p.Add(c.Admin.HealthTimeoutMs <= c.Admin.HealthCheckIntervalMs, "admin.health_timeout_ms", "must be > admin.health_check_interval_ms (got %d <= %d)", c.Admin.HealthTimeoutMs, c.Admin.HealthCheckIntervalMs)
	rl := c.Admin.RateLimiting
	p.Add(rl.GlobalBurstSize < 1, "admin.rate_limiting.global_burst_size", "must be >= 1 (got %d)", rl.GlobalBurstSize)
	p.Add(rl.GlobalRefillRate <= 0, "admin.rate_limiting.global_refill_rate", "must be > 0 (got %d)", rl.GlobalRefillRate)
	p.Add(rl.PerIPBurstSize < 1, "admin.rate_limiting.per_ip_burst_size", "must be >= 1 (got %d)", rl.PerIPBurstSize)
	p.Add(rl.PerIPRefillRate <= 0, "admin.rate_limiting.per_ip_refill_rate", "must be > 0 (got %d)", rl.PerIPRefillRate)
	p.Add(rl.CleanupIntervalSeconds < 1, "admin.rate_limiting.cleanup_interval_seconds", "must be >= 1 (got %d)", rl.CleanupIntervalSeconds)
	for path, e := range rl.Endpoints {
		p.Add(e.BurstSize < 1 || e.RefillRate <= 0, "admin.rate_limiting.endpoints."+path, "burst_size must be >= 1 and refill_rate > 0 (got %d, %d)", e.BurstSize, e.RefillRate)
	}
	p.Add(c.Cluster.SessionTimeoutMs <= 0, "cluster.session_timeout_ms", "must be > 0 (got %d)", c.Cluster.SessionTimeoutMs)
	p.Add(c.Cluster.MinInSyncReplicas < 1, "cluster.min_in_sync_replicas", "must be >= 1 (got %d)", c.Cluster.MinInSyncReplicas)
	p.Add(c.Cluster.MaxPartitions < 1, "cluster.max_partitions", "must be >= 1 (got %d)", c.Cluster.MaxPartitions)
	validateNetwork(&p, c.Network)
	validateTLS(&p, c.TLS)
	validateLog(&p, c.Log)
	return p.Err("controller")
}
