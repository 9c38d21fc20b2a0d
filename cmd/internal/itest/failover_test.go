package itest

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"
)

// TestClusterFailover starts 3 controllers and 3 brokers as processes,
// creates a topic with replication factor 3, kills the leader broker of a
// partition with SIGKILL, then the controller leader, and checks the
// cluster keeps electing leaders within the ISR and serving the admin API.
// (The produce/consume workload and history check run in TestNoAckedLoss.)
func TestClusterFailover(t *testing.T) {
	c := startCluster(t, "it", 3)
	parts, _ := c.describe("it")
	victim := *parts[0].Leader
	epoch := parts[0].LeaderEpoch
	c.kill(victim)
	c.waitFor("leader moved off "+victim, 30*time.Second, func() error {
		ps, err := c.describe("it")
		if err != nil {
			return err
		}
		if ps[0].Leader == nil || *ps[0].Leader == victim || ps[0].LeaderEpoch <= epoch {
			return fmt.Errorf("partition 0: %+v", ps[0])
		}
		return nil
	})
	c.start(victim)
	ctl, err := c.controllerLeader()
	if err != nil {
		t.Fatal(err)
	}
	c.kill(ctl)
	c.waitFor("admin API after controller leader loss", 30*time.Second, func() error {
		_, err := c.api(http.MethodPost, "/api/v1/topics", `{"name":"after","partitions":1,"replication_factor":2}`)
		if err != nil && !isExists(err) {
			return err
		}
		return nil
	})
	c.start(ctl)
	c.waitFor("full ISR after restarts", 60*time.Second, func() error { return fullISR(c, "it") })
	if os.Getenv("WEIR_ITEST_KEEP") != "" {
		t.Logf("data in %s", c.dir)
	}
}

// isExists reports a 409 Conflict answer (the topic already exists), not
// any error whose text happens to hold "409" (a port in a dial error).
func isExists(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.status == http.StatusConflict
}

func fullISR(c *cluster, topic string) error {
	ps, err := c.describe(topic)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.Leader == nil || len(p.ISR) != len(p.Replicas) {
			return fmt.Errorf("partition %d: leader %v isr %v replicas %v", p.Partition, p.Leader, p.ISR, p.Replicas)
		}
	}
	return nil
}
