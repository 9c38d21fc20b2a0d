// Command weir-broker runs one broker: `weir-broker --config broker.toml`.
// Every key can be overridden by WEIR_<SECTION>_<KEY> (WEIR_WAL_PATH,
// WEIR_BROKER_ID, …). SIGTERM stops it gracefully.
package main

import (
	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/cmd/internal/procmain"
	"github.com/weirmq/weir/cmd/internal/server"
)

func main() {
	cfg := config.DefaultBroker()
	procmain.Main("weir-broker", &cfg, func() config.Log { return cfg.Log }, cfg.Validate,
		func(log zerolog.Logger) (procmain.Process, error) { return server.StartBroker(cfg, log) })
}
