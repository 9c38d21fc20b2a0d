// Command weir-controller runs one controller: `weir-controller --config
// controller.toml`. Every key can be overridden by WEIR_<SECTION>_<KEY>
// (WEIR_CONTROLLER_NODE_ID, WEIR_RAFT_PEERS, …). SIGTERM stops it gracefully.
package main

import (
	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/cmd/internal/procmain"
	"github.com/weirmq/weir/cmd/internal/server"
)

func main() {
	cfg := config.DefaultController()
	procmain.Main("weir-controller", &cfg, func() config.Log { return cfg.Log }, cfg.Validate,
		func(log zerolog.Logger) (procmain.Process, error) { return server.StartController(cfg, log) })
}
