// Package procmain is the shared main of weir-broker and weir-controller:
// flags, configuration, structured logs, and graceful shutdown on SIGTERM.
package procmain

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/config"
)

// Process is what a binary runs: it starts, then either stops on its own
// (Wait) or is asked to stop (Shutdown).
type Process interface {
	Wait() error
	Shutdown() error
}

// Exit codes: 0 clean stop, 1 bad usage or configuration, 2 a failure at
// start, 3 the node stopped itself (an environmental dead end such as an I/O
// error; a supervisor should restart it).
const (
	ExitConfig = 1
	ExitStart  = 2
	ExitFatal  = 3
)

// Main loads cfg from --config and WEIR_* variables, validates it, builds a
// logger from log, starts the process and runs it until SIGTERM/SIGINT (a
// graceful stop, exit 0) or until it stops itself (exit 3).
func Main(name string, cfg any, logOf func() config.Log, validate func() error, start func(zerolog.Logger) (Process, error)) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	path := fs.String("config", "", "TOML configuration file (keys may be overridden by WEIR_<SECTION>_<KEY>)")
	_ = fs.Parse(os.Args[1:])
	if err := config.Load(*path, cfg, os.Environ()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(ExitConfig)
	}
	if err := validate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(ExitConfig)
	}
	log := NewLogger(logOf())
	p, err := start(log)
	if err != nil {
		log.Error().Err(err).Msg("start failed")
		os.Exit(ExitStart)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	stopped := make(chan error, 1)
	go func() { stopped <- p.Wait() }()
	select {
	case s := <-sig:
		log.Info().Str("signal", s.String()).Msg("shutting down")
		if err := p.Shutdown(); err != nil {
			log.Error().Err(err).Msg("shutdown")
			os.Exit(ExitFatal)
		}
		os.Exit(0)
	case err := <-stopped:
		if err == nil {
			os.Exit(0)
		}
		log.Error().Err(err).Msg("node stopped")
		_ = p.Shutdown()
		os.Exit(ExitFatal)
	}
}

// NewLogger builds the process logger from [log].
func NewLogger(l config.Log) zerolog.Logger {
	level, err := zerolog.ParseLevel(l.Level)
	if err != nil {
		level = zerolog.InfoLevel
	}
	var log zerolog.Logger
	if l.Format == "console" {
		log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.RFC3339})
	} else {
		log = zerolog.New(os.Stderr)
	}
	return log.Level(level).With().Timestamp().Logger()
}
