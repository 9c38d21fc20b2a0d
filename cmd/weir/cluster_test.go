package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// The reference's examples of GET /api/v1/brokers' data and GET /health
// (rustmq-README, Admin REST API). broker-2 is as Weir shapes it: no RPC
// port (null), no rack ("").
const (
	refBrokers = `[
	{"id": "broker-1", "host": "localhost", "port_quic": 9092, "port_rpc": 9093, "rack_id": "us-central1-a", "online": true},
	{"id": "broker-2", "host": "localhost", "port_quic": 9192, "port_rpc": null, "rack_id": "", "online": false}]`
	refHealth       = `{"status": "ok", "version": "0.1.0", "uptime_seconds": 3600, "is_leader": true, "raft_term": 7}`
	unhealthyHealth = `{"status": "unhealthy", "version": "0.1.0", "uptime_seconds": 3600, "is_leader": false, "raft_term": 8, "rate_limiting": null}`
)

// fakeController serves the reference's shapes of /health,
// /api/v1/cluster and /api/v1/brokers, and 404 for anything else, as
// net/admin does.
type fakeController struct {
	*httptest.Server
	// unhealthy: no leader, so a linearizable read of the cluster answers
	// 503 and a stale one healthy false; /health answers 503 (as
	// net/admin does).
	unhealthy      atomic.Bool
	envelopeHealth atomic.Bool // /health in the envelope
}

func newFakeController(t *testing.T) *fakeController {
	f := &fakeController{}
	envelope := func(w http.ResponseWriter, status int, data string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(`{"success": true, "data": ` + data + `, "error": null, "leader_hint": "controller-1"}`))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/brokers", func(w http.ResponseWriter, r *http.Request) { envelope(w, 200, refBrokers) })
	mux.HandleFunc("GET /api/v1/cluster", func(w http.ResponseWriter, r *http.Request) {
		leader, healthy := `"controller-1"`, "true"
		if f.unhealthy.Load() {
			if r.URL.Query().Get("stale") != "true" {
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte(`{"success": false, "data": null, "error": "no controller leader is known (election in progress?); retry", "leader_hint": null}`))
				return
			}
			leader, healthy = "null", "false"
		}
		envelope(w, 200, `{"brokers": `+refBrokers+`, "topics": [{"name": "t", "partitions": 3, "replication_factor": 1}],
			"leader": `+leader+`, "term": 7, "healthy": `+healthy+`}`)
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if f.envelopeHealth.Load() {
			envelope(w, 200, refHealth)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if f.unhealthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(unhealthyHealth))
			return
		}
		w.Write([]byte(refHealth))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"success": false, "data": null, "error": "no such endpoint: ` + r.Method + ` \"` + r.URL.Path + `\"", "leader_hint": null}`))
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

// TestClusterCommandsReferenceShapes runs list-brokers and cluster-health
// in every format against a fake controller that answers in the
// reference's JSON shapes, healthy and not.
func TestClusterCommandsReferenceShapes(t *testing.T) {
	f := newFakeController(t)
	cli := func(t *testing.T, args ...string) (string, string, error) {
		t.Helper()
		return runIO(t, "", append(args, "--api-url", f.URL)...)
	}
	ok := func(t *testing.T, args ...string) string {
		t.Helper()
		out, errOut, err := cli(t, args...)
		if err != nil {
			t.Fatalf("weir %s: %v (stderr %q)", strings.Join(args, " "), err, errOut)
		}
		return out
	}

	t.Run("list-brokers", func(t *testing.T) {
		plain := ok(t, "list-brokers")
		want := "" +
			"ID        HOST       QUIC PORT  RPC PORT  RACK           ONLINE\n" +
			"broker-1  localhost  9092       9093      us-central1-a  yes\n" +
			"broker-2  localhost  9192       -         -              no\n"
		if plain != want {
			t.Errorf("table:\n%s\nwant\n%s", plain, want)
		}
		var got, ref []map[string]any
		parseJSON(t, ok(t, "list-brokers", "--format", "json"), &got)
		json.Unmarshal([]byte(refBrokers), &ref)
		if len(got) != 2 || got[0]["id"] != ref[0]["id"] || got[1]["rack_id"] != "" || got[1]["port_rpc"] != nil || got[1]["online"] != false || got[0]["port_rpc"] != 9093.0 {
			t.Errorf("json: the API's data should pass through: %v", got)
		}
		hasLines(t, ok(t, "list-brokers", "--format", "yaml"),
			"- id: broker-1", "  host: localhost", "  port_quic: 9092", "  port_rpc: 9093", "  rack_id: us-central1-a", "  online: true",
			"- id: broker-2", "  port_rpc: null", `  rack_id: ""`, "  online: false")
		recs := parseCSV(t, ok(t, "list-brokers", "--format", "csv"), "id", "host", "port_quic", "port_rpc", "rack_id", "online")
		wantCSV := [][]string{{"broker-1", "localhost", "9092", "9093", "us-central1-a", "true"}, {"broker-2", "localhost", "9192", "", "", "false"}}
		if !slices.EqualFunc(recs, wantCSV, slices.Equal) {
			t.Errorf("csv: %q", recs)
		}

		fakeTerminal(t)
		colored := ok(t, "list-brokers")
		if !strings.Contains(colored, sgrGreen+"yes"+sgrReset) || !strings.Contains(colored, sgrRed+"no"+sgrReset) ||
			!strings.HasPrefix(colored, sgrBold+"ID"+sgrReset) {
			t.Errorf("colors: %q", colored)
		}
		if sgrRE.ReplaceAllString(colored, "") != plain {
			t.Errorf("colors change the layout: %q", colored)
		}
		if out := ok(t, "list-brokers", "--no-color"); out != plain {
			t.Errorf("--no-color: %q", out)
		}
		t.Setenv("NO_COLOR", "1")
		if out := ok(t, "list-brokers"); out != plain {
			t.Errorf("NO_COLOR=1: %q", out)
		}
	})

	t.Run("cluster-health", func(t *testing.T) {
		out, errOut, err := cli(t, "cluster-health", "--verbose")
		want := "" +
			"HEALTHY     yes\n" +
			"LEADER      controller-1\n" +
			"TERM        7\n" +
			"BROKERS     1 online, 1 offline\n" +
			"TOPICS      1\n" +
			"CONTROLLER  " + f.URL + ": ok, leader, version 0.1.0, up 1h0m0s\n"
		if err != nil || out != want {
			t.Errorf("table: %v\n%s\nwant\n%s", err, out, want)
		}
		if !regexp.MustCompile(`^GET \S+/api/v1/cluster -> 200 OK \(\S+\)\nGET \S+/health -> 200 OK \(\S+\)\n$`).MatchString(errOut) {
			t.Errorf("--verbose: %q", errOut)
		}
		var h clusterHealth
		parseJSON(t, ok(t, "cluster-health", "--format", "json"), &h)
		wantH := clusterHealth{Healthy: true, Leader: new("controller-1"), Term: 7, Brokers: 2, BrokersOnline: 1, BrokersOffline: 1, Topics: 1,
			Controller: controllerHealth{URL: f.URL, healthInfo: healthInfo{Status: "ok", Version: "0.1.0", UptimeSeconds: 3600, IsLeader: true, RaftTerm: 7}}}
		if h.Leader == nil || *h.Leader != *wantH.Leader || h.Controller != wantH.Controller {
			t.Fatalf("json: %+v", h)
		}
		h.Leader = wantH.Leader
		if h != wantH {
			t.Errorf("json: %+v, want %+v", h, wantH)
		}
		hasLines(t, ok(t, "cluster-health", "--format", "yaml"), "healthy: true", "leader: controller-1", "term: 7", "brokers: 2",
			"brokers_online: 1", "brokers_offline: 1", "topics: 1", "stale: false", "controller:", "  url: "+f.URL, "  status: ok", "  version: 0.1.0",
			"  uptime_seconds: 3600", "  is_leader: true", "  raft_term: 7")
		recs := parseCSV(t, ok(t, "cluster-health", "--format", "csv"), healthCSVHeader...)
		if !slices.Equal(recs[0], []string{"true", "controller-1", "7", "2", "1", "1", "1", "false", f.URL, "ok", "0.1.0", "3600", "true", "7"}) {
			t.Errorf("csv: %q", recs)
		}
		if _, _, err := cli(t, "cluster-health", "--fail-unhealthy"); err != nil {
			t.Errorf("--fail-unhealthy on a healthy cluster: %v", err)
		}
		f.envelopeHealth.Store(true)
		defer f.envelopeHealth.Store(false)
		parseJSON(t, ok(t, "cluster-health", "--format", "json"), &h)
		if h.Controller.Status != "ok" || h.Controller.RaftTerm != 7 {
			t.Errorf("/health in the envelope: %+v", h)
		}
	})

	t.Run("cluster-health unhealthy", func(t *testing.T) {
		f.unhealthy.Store(true)
		defer f.unhealthy.Store(false)
		// No leader answers: the controller's own (stale) view, and exit
		// status 0: the output says.
		out := ok(t, "cluster-health")
		hasLines(t, out, "HEALTHY     no", "LEADER      none", "CONTROLLER  "+f.URL+": unhealthy, follower, version 0.1.0, up 1h0m0s",
			"VIEW        stale: the figures are "+f.URL+"'s own view, not the leader's")
		fakeTerminal(t)
		colored := ok(t, "cluster-health")
		for _, s := range []string{sgrRed + "no" + sgrReset, sgrRed + "none" + sgrReset, sgrRed + "1 online, 1 offline" + sgrReset, sgrBold + "HEALTHY" + sgrReset,
			sgrRed + f.URL + ": unhealthy"} {
			if !strings.Contains(colored, s) {
				t.Errorf("no %q in %q", s, colored)
			}
		}
		for _, format := range []string{"table", "json"} {
			out, _, err := cli(t, "cluster-health", "--fail-unhealthy", "--format", format)
			ee, isExit := errors.AsType[*exitError](err)
			if !isExit || ee.code != 2 || !strings.Contains(err.Error(), "no controller leader") ||
				!strings.Contains(err.Error(), "1 of 2 brokers online") || !strings.Contains(err.Error(), "weir list-brokers") {
				t.Errorf("--fail-unhealthy: %#v", err)
			}
			if format == "json" {
				var h clusterHealth
				parseJSON(t, out, &h) // printed before exiting 2
				if h.Healthy || h.Leader != nil || !h.Stale || h.Controller.Status != "unhealthy" {
					t.Errorf("json: %+v", h)
				}
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, _, err := runIO(t, "", "list-brokers", "--api-url", f.URL+"/old")
		if err == nil || !strings.Contains(err.Error(), "does not serve GET /api/v1/brokers") || !strings.Contains(err.Error(), "upgrade") {
			t.Errorf("unserved endpoint: %v", err)
		}
		html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>hello</html>")) }))
		defer html.Close()
		for _, args := range [][]string{{"list-topics"}, {"list-brokers"}, {"cluster-health"}} {
			_, _, err := runIO(t, "", append(args, "--api-url", html.URL)...)
			if err == nil || !strings.Contains(err.Error(), "not the admin envelope") || !strings.Contains(err.Error(), "--api-url") {
				t.Errorf("weir %s against a non-Weir server: %v", args[0], err)
			}
		}
		_, _, err = runIO(t, "", "cluster-health", "--api-url", "http://127.0.0.1:1")
		if err == nil || !strings.Contains(err.Error(), "weir dev") {
			t.Errorf("unreachable controller: %v", err)
		}
	})
}
