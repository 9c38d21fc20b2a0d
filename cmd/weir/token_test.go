package main

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/dev"
	"github.com/weirmq/weir/cmd/internal/testnet"
)

// Goal: weir dev --admin-token makes the admin API require the token it
// writes to <data>/admin-token (0600): a request without it is 401, the
// CLI reads it from the data directory (or --token-file) and is served,
// and a wrong --token-file is refused.
func TestAdminToken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster; skipped with -short")
	}
	o := dev.DefaultOptions()
	o.NoRateLimit, o.MetricsPort, o.AdminToken = true, 0, true
	o.Dir = t.TempDir()
	o.ControllerPort, o.RaftPort, o.HTTPPort, o.BrokerPort = testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t)
	c, err := dev.Start(o, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	fi, err := os.Stat(o.AdminTokenFile())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	api := "http://" + c.Controller.HTTPAddr
	resp, err := http.Get(api + "/api/v1/topics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the token: %v", resp.Status)
	}
	flags := []string{"--data", o.Dir, "--api-url", api, "--bootstrap", c.BrokerAddrs()[0]}
	if out, errOut, err := runIO(t, "", append([]string{"create-topic", "t", "1", "1"}, flags...)...); err != nil {
		t.Fatalf("create-topic with the data directory's token: %v %q %q", err, out, errOut)
	}
	bad := t.TempDir() + "/wrong"
	if err := os.WriteFile(bad, []byte("nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := runIO(t, "", append([]string{"list-topics", "--token-file", bad}, flags...)...)
	if err == nil || !strings.Contains(errOut+err.Error(), "bearer token") {
		t.Fatalf("a wrong token: %v %q", err, errOut)
	}
}
