// Package devcluster starts `weir dev`'s in-process cluster on free
// loopback ports, for tests outside cmd/ (the SDK's examples), which Go's
// internal-package rule keeps from importing cmd/internal/dev.
package devcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/dev"
)

// ClientCertName is the client certificate the cluster issues (weir dev's).
const ClientCertName = dev.ClientCertName

// Cluster is a running in-process cluster: one controller and its brokers.
type Cluster struct {
	// Brokers are the brokers' QUIC addresses, for sdk.Config.Brokers.
	Brokers []string
	// CertDir holds ca.pem and the ClientCertName certificate, for
	// sdk.TLSFromDir.
	CertDir string
	// AdminURL is the controller's admin API.
	AdminURL string
	// AdminToken is its bearer token (weir dev's, from the data
	// directory's admin-token file).
	AdminToken string

	c *dev.Cluster
}

// Start runs a cluster of brokers brokers with its data (and certificates)
// in dir. Admin rate limiting is off.
func Start(dir string, brokers int) (*Cluster, error) {
	o := dev.DefaultOptions()
	o.Dir, o.Brokers, o.NoRateLimit, o.MetricsPort = dir, brokers, true, 0
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	o.ControllerPort, o.RaftPort, o.HTTPPort, o.BrokerPort = ports[0], ports[1], ports[2], ports[3]
	c, err := dev.Start(o, zerolog.Nop())
	if err != nil {
		return nil, err
	}
	tok, err := os.ReadFile(o.AdminTokenFile())
	if err != nil {
		_ = c.Shutdown()
		return nil, fmt.Errorf("devcluster: admin token: %w", err)
	}
	return &Cluster{Brokers: c.BrokerAddrs(), CertDir: dev.CertDir(dir), AdminURL: c.Controller.AdminURL, AdminToken: strings.TrimSpace(string(tok)), c: c}, nil
}

// do sends an admin request with the token.
func (c *Cluster) do(req *http.Request) (*http.Response, error) {
	req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	return http.DefaultClient.Do(req)
}

// CreateTopic creates a topic through the admin API and waits until every
// partition has a leader.
func (c *Cluster) CreateTopic(ctx context.Context, name string, partitions, rf int) error {
	body, _ := json.Marshal(map[string]any{"name": name, "partitions": partitions, "replication_factor": rf})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.AdminURL+"/api/v1/topics", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.do(req)
	if err != nil {
		return fmt.Errorf("devcluster: create topic %s: %w", name, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("devcluster: create topic %s: %s: %s", name, resp.Status, b)
	}
	for {
		if ok, err := c.led(ctx, name, partitions); err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devcluster: topic %s has partitions without a leader: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// led reports whether every partition of topic has a leader.
func (c *Cluster) led(ctx context.Context, topic string, partitions int) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.AdminURL+"/api/v1/topics/"+topic, nil)
	if err != nil {
		return false, err
	}
	resp, err := c.do(req)
	if err != nil {
		return false, nil // not yet
	}
	defer resp.Body.Close()
	var env struct {
		Data struct {
			PartitionAssignments []struct {
				Leader *string `json:"leader"`
			} `json:"partition_assignments"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&env) != nil {
		return false, nil
	}
	n := 0
	for _, p := range env.Data.PartitionAssignments {
		if p.Leader != nil && *p.Leader != "" {
			n++
		}
	}
	return n == partitions, nil
}

// Shutdown stops the cluster.
func (c *Cluster) Shutdown() error { return c.c.Shutdown() }

// freePorts finds n loopback ports free for both TCP and UDP.
func freePorts(n int) ([]int, error) {
	var out []int
	for tries := 0; len(out) < n && tries < 100; tries++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			out = append(out, port)
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("devcluster: no %d free ports on 127.0.0.1", n)
	}
	return out, nil
}
