package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/weirmq/weir/cmd/internal/dev"
	"github.com/weirmq/weir/cmd/internal/procmain"
)

func newDev(g *globals) *cobra.Command {
	o := dev.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local cluster in one process (1 controller, --brokers brokers)",
		Long: `Run a whole Weir cluster in this process: one controller and --brokers brokers
on loopback, real QUIC with mutual TLS, data in --data (./weir-data). A
development CA and certificates are generated on first start and reused after;
the other weir commands find them in ./weir-data/certs.

Sealed segments are uploaded to a local object store in --data/objects
(./weir-data/objects): older data is then served from there, and each broker
keeps only the local window (--local-retention-ms, --local-retention-bytes) on
its disk. --no-object-store keeps every log whole on the brokers' disks.

A node that stops on its own is reported and restarted (5 attempts, with
backoff); if it cannot be restarted, weir dev stops and exits non-zero.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Dir = g.dataDir
			level := zerolog.WarnLevel
			if g.verbose {
				level = zerolog.InfoLevel
			}
			log := zerolog.New(procmain.ConsoleWriter(os.Stderr, time.TimeOnly)).Level(level).With().Timestamp().Logger()
			defer procmain.CaptureStdlog(log)()
			c, err := dev.Start(o, log)
			if err != nil {
				if hint := dev.StartHint(o, err); hint != "" {
					return fmt.Errorf("%w\n%s", err, hint)
				}
				return err
			}
			objects := o.ObjectsDir() + " (sealed segments are uploaded here; brokers keep the local window)"
			if o.NoObjects {
				objects = "none (--no-object-store: logs stay whole on the brokers' disks)"
			}
			fmt.Printf(`Weir dev cluster running (1 controller, %d broker(s)); data in %s
  admin API  %s
  brokers    %s
  metrics    http://%s/metrics (controller), %s (brokers)
  certs      %s (client certificate: client-cli)
  objects    %s

Try, from another terminal:
  weir create-topic t 3 1
  seq 1000 | weir produce t
  weir consume t --from-beginning --max 1000

%s
Ctrl-C stops the cluster.
`, len(c.Brokers), o.Dir, c.Controller.AdminURL, strings.Join(c.BrokerAddrs(), ","), c.Controller.HTTPAddr, strings.Join(c.MetricsAddrs(), ","), dev.CertDir(o.Dir), objects,
				adminHowTo(o, c.Controller.AdminURL))
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(sig)
			select {
			case <-sig:
				fmt.Println("stopping…")
				return c.Shutdown()
			case err := <-c.Failed(): // a node stopped and could not be restarted
				_ = c.Shutdown()
				return err
			}
		},
	}
	cmd.Flags().IntVar(&o.Brokers, "brokers", 1, "number of brokers (1..9)")
	cmd.Flags().BoolVar(&o.NoObjects, "no-object-store", false, "run without the local object store (no tiered storage)")
	cmd.Flags().BoolVar(&o.AdminToken, "admin-token", true, "authenticate the admin API with a bearer token (written to --data/admin-token on first start; weir reads it there); with --admin-token=false and no --admin-tls the API is open")
	cmd.Flags().BoolVar(&o.AdminTLS, "admin-tls", false, "serve the admin API over HTTPS, authenticating client certificates of the dev CA (their principals are checked against the ACLs); pass --api-url https://… to weir")
	cmd.Flags().Int64Var(&o.LocalRetentionMs, "local-retention-ms", 0, "keep uploaded segments on the brokers' disks this long (ms) for topics that set no local_retention_ms (0: 1 hour; -1: until retention)")
	cmd.Flags().Int64Var(&o.LocalRetentionBytes, "local-retention-bytes", 0, "keep at most this many bytes of uploaded segments per partition on disk for topics that set no local_retention_bytes (0 or -1: no size bound)")
	cmd.Flags().Int64Var(&o.UploadIntervalMs, "upload-interval-ms", 0, "upload committed data at the latest this long after it was written (ms; 0: 10 minutes)")
	return cmd
}

// adminHowTo is the curl form of an admin request as this cluster wants
// it (README "The admin API" uses the same lines).
func adminHowTo(o dev.Options, url string) string {
	var b strings.Builder
	certs := dev.CertDir(o.Dir)
	tlsArgs := ""
	if o.AdminTLS {
		tlsArgs = fmt.Sprintf(" --cacert %s --cert %s --key %s", filepath.Join(certs, "ca.pem"),
			filepath.Join(certs, dev.ClientCertName+".pem"), filepath.Join(certs, dev.ClientCertName+"-key.pem"))
	}
	switch {
	case o.AdminToken:
		fmt.Fprintf(&b, "The admin API takes the bearer token in %s (weir reads it there):\n", o.AdminTokenFile())
		fmt.Fprintf(&b, "  AUTH=\"Authorization: Bearer $(cat %s)\"\n", o.AdminTokenFile())
		fmt.Fprintf(&b, "  curl -s%s -H \"$AUTH\" %s/api/v1/cluster\n", tlsArgs, url)
	case o.AdminTLS:
		fmt.Fprintf(&b, "The admin API authenticates client certificates of the dev CA:\n")
		fmt.Fprintf(&b, "  curl -s%s %s/api/v1/cluster\n", tlsArgs, url)
		fmt.Fprintf(&b, "  weir --api-url %s list-topics\n", url)
	default:
		fmt.Fprintf(&b, "The admin API is open (--admin-token=false):\n  curl -s %s/api/v1/cluster\n", url)
	}
	return b.String()
}
