// Command weir-broker runs one broker: `weir-broker --config broker.toml`.
// Every key can be overridden by WEIR_<SECTION>_<KEY> (WEIR_WAL_PATH,
// WEIR_BROKER_ID, …). SIGTERM stops it gracefully.
package main

import (
	"os"

	"github.com/weirmq/weir/cmd/internal/procmain"
)

func main() { os.Exit(procmain.Broker(os.Args[1:], os.Environ(), os.Stderr)) }
