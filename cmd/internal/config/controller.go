package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/weirmq/weir/net/admin/ratelimit"
	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/controller"
)

// ParsePeerURLs reads "ID@http://host:port" entries.
func ParsePeerURLs(list []string) (map[sm.NodeID]string, error) {
	out := map[sm.NodeID]string{}
	for _, e := range list {
		idStr, raw, ok := strings.Cut(e, "@")
		n, err := strconv.ParseUint(strings.TrimPrefix(idStr, "controller-"), 10, 64)
		if !ok || err != nil || !sm.NodeID(n).IsController() {
			return nil, fmt.Errorf("entry %q: want ID@http://host:port with ID in %d..%d", e, sm.ControllerIDMin, sm.ControllerIDMax)
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
		// NodeID is this controller's raft ID, in the controller range 1..99
		// (sm.ControllerIDMin..sm.ControllerIDMax).
		NodeID     uint64 `toml:"node_id"`
		RaftListen string `toml:"raft_listen"`
		RPCListen  string `toml:"rpc_listen"`
		HTTPListen string `toml:"http_listen"`
		// DataDir holds the raft log and hard state (pebble).
		DataDir string `toml:"data_dir"`
		// SnapshotEntries is the raft log compaction interval: after this
		// many applied entries the controller snapshots its metadata and
		// the store deletes the entries the snapshot covers
		// (controller.Config.SnapshotEntries). The reference has no key
		// for it.
		SnapshotEntries uint64 `toml:"snapshot_entries"`
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
	// ObjectStorage is the brokers' object store, where the controller
	// leader's garbage collector deletes orphaned segments.
	ObjectStorage ControllerObjectStorage `toml:"object_storage"`
	TLS           TLS                     `toml:"tls"`
	Log           Log                     `toml:"log"`
	Security      Security                `toml:"security"`
}

// Admin is the controller's [admin] section.
type Admin struct {
	// Port is the reference's admin REST API port. The API listens on
	// controller.http_listen, which names host and port, so Port, when set
	// (non-zero), must be that address's port: the reference's
	// configuration, which sets both to 9642, loads as it is, and a Port
	// that says otherwise is refused rather than ignored.
	Port int `toml:"port"`
	// PeerURLs are "ID@http://host:port" admin addresses of the other
	// controllers, so a follower can forward requests to the leader;
	// without them a follower answers 503 with the leader's ID.
	PeerURLs []string `toml:"peer_urls"`
	// RequestTimeoutMs bounds each admin request.
	RequestTimeoutMs int64 `toml:"request_timeout_ms"`
	// CADir is a CA directory (weir ca init's: ca.pem and ca-key.pem,
	// mode 0600) whose key signs the CRL the admin API serves (GET
	// /api/v1/certs/crl); empty serves none (501). The key stays on this
	// host; nothing of it enters the raft log.
	CADir string `toml:"ca_dir"`
	// AuthTokenFile, when set, names a file (mode 0600) holding a bearer
	// token (Authorization: Bearer <token>) that authenticates a request
	// as the operator, allowed everything; every controller of a cluster
	// uses the same.
	AuthTokenFile string `toml:"auth_token_file"`
	// TLS serves the admin API over HTTPS with the controller's [tls]
	// certificate and authenticates callers by client certificates of the
	// cluster CA (admin or client role), whose principals the ACLs then
	// check (cluster describe for reads, alter for writes, the topic's
	// permission for topic routes). On by default. Peer URLs must then be
	// https://.
	TLS bool `toml:"tls"`
	// AllowUnauthenticated serves requests that bring neither the token
	// nor a certificate, as the operator. Without it, a controller with
	// neither auth_token_file nor tls refuses to start.
	AllowUnauthenticated  bool  `toml:"allow_unauthenticated"`
	HealthCheckIntervalMs int64 `toml:"health_check_interval_ms"`
	HealthTimeoutMs       int64 `toml:"health_timeout_ms"`
	// EnableCORS lets the web pages of AllowedOrigins call the API from a
	// browser. Off by default: a browser lends its client certificate to
	// every page, so any page could otherwise drive the API. On, it needs
	// AllowedOrigins; "*" is refused.
	EnableCORS bool `toml:"enable_cors"`
	// AllowedOrigins are the origins ("https://console.example.com",
	// "http://localhost:3000") whose pages may call the API when
	// EnableCORS is on. Whatever CORS says, a browser request from any
	// other origin cannot change state (see ratelimit.CORS).
	AllowedOrigins []string     `toml:"allowed_origins"`
	LogRequests    bool         `toml:"log_requests"`
	RateLimiting   RateLimiting `toml:"rate_limiting"`
}

// CORSOrigins is the origins to give ratelimit.CORS, canonical: none when
// EnableCORS is off. Call it on a validated configuration.
func (a *Admin) CORSOrigins() []string {
	if !a.EnableCORS {
		return nil
	}
	out := make([]string, 0, len(a.AllowedOrigins))
	for _, o := range a.AllowedOrigins {
		if c, err := ratelimit.ParseOrigin(o); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// validateCORS checks enable_cors and allowed_origins together.
func (a *Admin) validateCORS(p *Problems) {
	p.Add(a.EnableCORS && len(a.AllowedOrigins) == 0, "admin.enable_cors",
		"is true but admin.allowed_origins is empty: list the origins whose web pages may call the admin API (e.g. allowed_origins = [\"http://localhost:3000\"]); \"*\" is not allowed, as the API has no authentication")
	p.Add(!a.EnableCORS && len(a.AllowedOrigins) > 0, "admin.allowed_origins",
		"is set but admin.enable_cors is false, so it would change nothing: set enable_cors = true, or remove allowed_origins")
	p.Add(len(a.AllowedOrigins) > ratelimit.OriginsMax, "admin.allowed_origins", "must have at most %d entries (got %d)", ratelimit.OriginsMax, len(a.AllowedOrigins))
	for i, o := range a.AllowedOrigins {
		_, err := ratelimit.ParseOrigin(o)
		p.Add(err != nil, fmt.Sprintf("admin.allowed_origins[%d]", i), "%v", err)
	}
}

// validatePort checks admin.port against controller.http_listen.
func (c *Controller) validatePort(p *Problems) {
	port := c.Admin.Port
	if port == 0 {
		return
	}
	if port < 0 || port > 65535 {
		p.Add(true, "admin.port", "must be in 1..65535, or 0 for the port of controller.http_listen (got %d)", port)
		return
	}
	host, lp, err := net.SplitHostPort(c.Controller.HTTPListen)
	if err != nil {
		return // controller.http_listen's own problem is reported
	}
	if lp != strconv.Itoa(port) {
		p.Add(true, "admin.port", "is %d but controller.http_listen is %q: the admin API listens on controller.http_listen, so set its port (http_listen = %q) and remove admin.port",
			port, c.Controller.HTTPListen, net.JoinHostPort(host, strconv.Itoa(port)))
	}
}

// RateLimiting is [admin.rate_limiting]; the environment names follow the
// reference (WEIR_ADMIN_GLOBAL_BURST_SIZE, …) as well as the section path.
type RateLimiting struct {
	Enabled                bool     `toml:"enabled" env:"WEIR_ADMIN_RATE_LIMITING_ENABLED"`
	GlobalBurstSize        int      `toml:"global_burst_size" env:"WEIR_ADMIN_GLOBAL_BURST_SIZE"`
	GlobalRefillRate       int      `toml:"global_refill_rate" env:"WEIR_ADMIN_GLOBAL_REFILL_RATE"`
	PerIPBurstSize         int      `toml:"per_ip_burst_size" env:"WEIR_ADMIN_PER_IP_BURST_SIZE"`
	PerIPRefillRate        int      `toml:"per_ip_refill_rate" env:"WEIR_ADMIN_PER_IP_REFILL_RATE"`
	CleanupIntervalSeconds int64    `toml:"cleanup_interval_seconds" env:"WEIR_ADMIN_CLEANUP_INTERVAL_SECONDS"`
	TrustedProxies         []string `toml:"trusted_proxies" env:"WEIR_ADMIN_TRUSTED_PROXIES"`
	// Endpoints absent or empty means the reference's endpoint keys
	// (ratelimit.DefaultConfig); otherwise exactly the keys it lists.
	Endpoints map[string]EndpointLimit `toml:"endpoints"`
	// HighFrequency, MediumFrequency and LowFrequency size the buckets of
	// the reference's three endpoint categories, for routes no Endpoints
	// key names (see ratelimit.Config).
	HighFrequency   EndpointLimit `toml:"high_frequency"`
	MediumFrequency EndpointLimit `toml:"medium_frequency"`
	LowFrequency    EndpointLimit `toml:"low_frequency"`
}

// Limiter is the rate limiter's configuration.
func (r RateLimiting) Limiter() ratelimit.Config {
	l := ratelimit.DefaultConfig()
	l.Enabled = r.Enabled
	l.GlobalBurstSize, l.GlobalRefillRate = r.GlobalBurstSize, r.GlobalRefillRate
	l.PerIPBurstSize, l.PerIPRefillRate = r.PerIPBurstSize, r.PerIPRefillRate
	l.CleanupIntervalSeconds = int(min(r.CleanupIntervalSeconds, math.MaxInt32))
	l.TrustedProxies = r.TrustedProxies
	if len(r.Endpoints) > 0 {
		l.Endpoints = map[string]ratelimit.EndpointLimit{}
		for k, e := range r.Endpoints {
			l.Endpoints[k] = ratelimit.EndpointLimit(e)
		}
	}
	l.HighFrequency = ratelimit.EndpointLimit(r.HighFrequency)
	l.MediumFrequency = ratelimit.EndpointLimit(r.MediumFrequency)
	l.LowFrequency = ratelimit.EndpointLimit(r.LowFrequency)
	return l
}

// referenceRateLimiting is the reference's [admin.rate_limiting].
func referenceRateLimiting() RateLimiting {
	d := ratelimit.DefaultConfig()
	return RateLimiting{Enabled: d.Enabled, GlobalBurstSize: d.GlobalBurstSize, GlobalRefillRate: d.GlobalRefillRate,
		PerIPBurstSize: d.PerIPBurstSize, PerIPRefillRate: d.PerIPRefillRate, CleanupIntervalSeconds: int64(d.CleanupIntervalSeconds),
		HighFrequency: EndpointLimit(d.HighFrequency), MediumFrequency: EndpointLimit(d.MediumFrequency), LowFrequency: EndpointLimit(d.LowFrequency)}
}

// InteractiveRateLimiting is [admin.rate_limiting] for a cluster people
// use by hand (weir dev): limits that a person at a terminal, or a shell
// loop of CLI commands, never reaches — bursts of 10,000 requests and
// 10,000 a second sustained on every bucket — while the limiter and its
// headers still work as in production and a runaway program is stopped.
func InteractiveRateLimiting() RateLimiting {
	roomy := EndpointLimit{BurstSize: 10_000, RefillRate: 600_000}
	r := RateLimiting{Enabled: true, GlobalBurstSize: 100_000, GlobalRefillRate: 6_000_000,
		PerIPBurstSize: roomy.BurstSize, PerIPRefillRate: roomy.RefillRate, CleanupIntervalSeconds: 3600,
		Endpoints:     map[string]EndpointLimit{},
		HighFrequency: roomy, MediumFrequency: roomy, LowFrequency: roomy}
	for k := range ratelimit.DefaultConfig().Endpoints {
		r.Endpoints[k] = roomy // the reference's keys, each roomy
	}
	return r
}

// EndpointLimit is one [admin.rate_limiting.endpoints] entry.
type EndpointLimit struct {
	BurstSize  int `toml:"burst_size"`
	RefillRate int `toml:"refill_rate"`
}

// Bounds of controller.snapshot_entries: a snapshot after every few entries
// only rewrites the metadata over and over, and beyond a hundred million the
// log a start replays is no longer bounded in practice.
const (
	SnapshotEntriesMin = 10
	SnapshotEntriesMax = 100_000_000
)

// DefaultController is a single-node controller on loopback.
func DefaultController() Controller {
	var c Controller
	c.Controller.NodeID = 1
	c.Controller.RaftListen = "127.0.0.1:9095"
	c.Controller.RPCListen = "127.0.0.1:9094"
	c.Controller.HTTPListen = "127.0.0.1:9642"
	c.Controller.DataDir = "./weir-data/controller-1"
	c.Controller.SnapshotEntries = controller.DefaultSnapshotEntries
	c.Raft.Peers = []string{"1@127.0.0.1:9095"}
	c.Raft.ElectionTimeoutMs = 5000
	c.Raft.HeartbeatIntervalMs = 1000
	c.Admin.RequestTimeoutMs = 10000
	c.Admin.HealthCheckIntervalMs = 15000
	c.Admin.HealthTimeoutMs = 30000
	c.Admin.LogRequests = true
	c.Admin.TLS = true
	c.Admin.RateLimiting = referenceRateLimiting()
	c.Cluster.SessionTimeoutMs = 30000
	c.Cluster.MinInSyncReplicas = 2
	c.Cluster.MaxPartitions = 10000
	c.Network = DefaultNetworkLimits()
	c.ObjectStorage = DefaultControllerObjectStorage()
	c.Log = Log{Level: "info", Format: "console"}
	c.Security = DefaultSecurity()
	return c
}

// Validate names every bad key.
func (c *Controller) Validate() error {
	var p Problems
	p.Add(!sm.NodeID(c.Controller.NodeID).IsController(), "controller.node_id", "must be in %d..%d (got %d)", sm.ControllerIDMin, sm.ControllerIDMax, c.Controller.NodeID)
	p.Add(!validAddr(c.Controller.RaftListen), "controller.raft_listen", "want host:port (got %q)", c.Controller.RaftListen)
	p.Add(!validAddr(c.Controller.RPCListen), "controller.rpc_listen", "want host:port (got %q)", c.Controller.RPCListen)
	p.Add(!validAddr(c.Controller.HTTPListen), "controller.http_listen", "want host:port (got %q)", c.Controller.HTTPListen)
	p.Add(c.Controller.DataDir == "", "controller.data_dir", "must be set")
	p.Add(c.Controller.SnapshotEntries < SnapshotEntriesMin || c.Controller.SnapshotEntries > SnapshotEntriesMax, "controller.snapshot_entries",
		"must be in %d..%d (got %d)", SnapshotEntriesMin, SnapshotEntriesMax, c.Controller.SnapshotEntries)
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
	urls, err := ParsePeerURLs(c.Admin.PeerURLs)
	p.Add(err != nil, "admin.peer_urls", "%v", err)
	for id, u := range urls {
		https := strings.HasPrefix(u, "https://")
		p.Add(c.Admin.TLS && !https, "admin.peer_urls", "controller %d's URL %q must be https:// with admin.tls on", id, u)
		p.Add(!c.Admin.TLS && https, "admin.peer_urls", "controller %d's URL %q must be http:// with admin.tls off", id, u)
	}
	p.Add(c.Admin.AuthTokenFile == "" && !c.Admin.TLS && !c.Admin.AllowUnauthenticated, "admin",
		"the admin API needs authentication: set admin.tls = true (client certificates of the cluster CA), or admin.auth_token_file (a 0600 file with a bearer token), or admin.allow_unauthenticated = true to leave it open to whoever reaches controller.http_listen")
	p.Add(c.Admin.RequestTimeoutMs <= 0, "admin.request_timeout_ms", "must be > 0 (got %d)", c.Admin.RequestTimeoutMs)
	p.Add(c.Admin.HealthCheckIntervalMs <= 0, "admin.health_check_interval_ms", "must be > 0 (got %d)", c.Admin.HealthCheckIntervalMs)
	p.Add(c.Admin.HealthTimeoutMs <= c.Admin.HealthCheckIntervalMs, "admin.health_timeout_ms", "must be > admin.health_check_interval_ms (got %d <= %d)", c.Admin.HealthTimeoutMs, c.Admin.HealthCheckIntervalMs)
	c.validatePort(&p)
	c.Admin.validateCORS(&p)
	c.Admin.RateLimiting.validate(&p)
	p.Add(c.Cluster.SessionTimeoutMs <= 0, "cluster.session_timeout_ms", "must be > 0 (got %d)", c.Cluster.SessionTimeoutMs)
	p.Add(c.Cluster.MinInSyncReplicas < 1, "cluster.min_in_sync_replicas", "must be >= 1 (got %d)", c.Cluster.MinInSyncReplicas)
	p.Add(c.Cluster.MaxPartitions < 1, "cluster.max_partitions", "must be >= 1 (got %d)", c.Cluster.MaxPartitions)
	validateNetwork(&p, c.Network)
	c.ObjectStorage.validate(&p)
	validateTLS(&p, c.TLS)
	validateLog(&p, c.Log)
	c.Security.validate(&p)
	return p.Err("controller")
}

// validate checks [admin.rate_limiting] as the limiter will use it; its
// messages name each key ("admin.rate_limiting.per_ip_burst_size must be
// > 0 (got 0)").
func (r *RateLimiting) validate(p *Problems) {
	if r.CleanupIntervalSeconds > math.MaxInt32 {
		p.Add(true, "admin.rate_limiting.cleanup_interval_seconds", "must be at most a week (got %d)", r.CleanupIntervalSeconds)
	}
	l := r.Limiter()
	err := l.Validate()
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		*p = append(*p, e.Error())
	}
}
