package main

import (
	"fmt"
	"os"
	"os/signal"
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
			fmt.Printf(`Weir dev cluster running (1 controller, %d broker(s)); data in %s
  admin API  http://%s
  brokers    %s
  metrics    http://%s/metrics (controller), %s (brokers)
  certs      %s (client certificate: client-cli)

Try, from another terminal:
  weir create-topic t 3 1
  seq 1000 | weir produce t
  weir consume t --from-beginning --max 1000

Ctrl-C stops the cluster.
`, len(c.Brokers), o.Dir, c.Controller.HTTPAddr, strings.Join(c.BrokerAddrs(), ","), c.Controller.HTTPAddr, strings.Join(c.MetricsAddrs(), ","), dev.CertDir(o.Dir))
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
	return cmd
}
