// Command weir-controller runs one controller: `weir-controller --config
// controller.toml`. Every key can be overridden by WEIR_<SECTION>_<KEY>
// (WEIR_CONTROLLER_NODE_ID, WEIR_RAFT_PEERS, …). SIGTERM stops it gracefully.
package main

import (
	"os"

	"github.com/weirmq/weir/cmd/internal/procmain"
)

func main() { os.Exit(procmain.Controller(os.Args[1:], os.Environ(), os.Stderr)) }
