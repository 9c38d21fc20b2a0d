// Command weir is Weir's command-line tool: `weir dev` runs a local cluster;
// the other commands produce, consume and manage topics against it (or any
// cluster, with --api-url, --brokers and --certs).
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// global flags shared by every command.
type globals struct {
	apiURL    string
	bootstrap []string
	brokers   []string
	certs     string
	cert      string
	dataDir   string
}

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "weir",
		Short:         "Weir: a Kafka-like message queue built on deterministic state machines",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.apiURL, "api-url", envOr("WEIR_API_URL", "http://127.0.0.1:9642"), "controller admin API")
	pf.StringVar(&g.dataDir, "data", envOr("WEIR_DATA", "weir-data"), "data directory (weir dev keeps its certificates in <data>/certs)")
	pf.StringVar(&g.certs, "certs", "", "directory with ca.pem and the client certificate (default <data>/certs)")
	pf.StringVar(&g.cert, "cert-name", "client-cli", "client certificate name in --certs (<name>.pem, <name>-key.pem)")
	root.AddCommand(newDev(g), newCreateTopic(g), newListTopics(g), newDescribeTopic(g), newDeleteTopic(g))
	addClientCommands(root, g)
	return root
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
