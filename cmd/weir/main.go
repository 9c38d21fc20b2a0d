// Command weir is Weir's command-line tool: `weir dev` runs a local cluster;
// the other commands produce, consume and manage topics against it (or any
// cluster, with --api-url, --brokers and --certs).
//
// The admin commands (topics, brokers, cluster health, acl, audit,
// security) and the certificate commands (ca, certs) print a table, or with
// --format json, yaml or csv a machine-readable document on stdout; errors,
// prompts and --verbose traces go to stderr. Exit status: 0 done, 1 an
// error, 2 `cluster-health --fail-unhealthy` found the cluster unhealthy.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"

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
	tokenFile string
	format    string
	noColor   bool
	verbose   bool
}

// exitError is an error with an exit status other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		code := 1
		if ee, ok := errors.AsType[*exitError](err); ok {
			code = ee.code
		}
		os.Exit(code)
	}
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "weir",
		Short:         "Weir: a Kafka-like message queue built on deterministic state machines",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFormat(g.format)
			g.format = f
			return err
		},
	}
	info, ok := debug.ReadBuildInfo()
	root.Version = versionString(info, ok)
	root.SetVersionTemplate("{{.Version}}")
	pf := root.PersistentFlags()
	pf.StringVar(&g.apiURL, "api-url", envOr("WEIR_API_URL", "http://127.0.0.1:9642"), "controller admin API")
	pf.StringVar(&g.dataDir, "data", envOr("WEIR_DATA", "weir-data"), "data directory (weir dev keeps its certificates in <data>/certs)")
	pf.StringVar(&g.tokenFile, "token-file", "", "file with the admin API's bearer token (default: $WEIR_ADMIN_TOKEN, else <data>/admin-token when it exists)")
	pf.StringVar(&g.certs, "certs", "", "directory with ca.pem and the client certificate (default <data>/certs)")
	pf.StringVar(&g.cert, "cert-name", "client-cli", "client certificate name in --certs (<name>.pem, <name>-key.pem)")
	pf.StringVarP(&g.format, "format", "o", formatTable, "output of the admin commands: table, json, yaml or csv")
	pf.BoolVar(&g.noColor, "no-color", false, "no ANSI colors in tables (also when NO_COLOR is set, or stdout is not a terminal)")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "print each admin API request (method, URL, status, time) to stderr (weir dev: log at info level)")
	root.AddCommand(newDev(g), newCreateTopic(g), newListTopics(g), newDescribeTopic(g), newAlterTopic(g), newDeleteTopic(g),
		newListBrokers(g), newClusterHealth(g), newVersion(g),
		newACL(g), newAudit(g), newSecurity(g), newCA(g), newCerts(g))
	addClientCommands(root, g)
	return root
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
