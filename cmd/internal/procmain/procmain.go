// Package procmain is the main of weir-broker and weir-controller: flags,
// configuration and its checks, structured logs, exit codes, and graceful
// shutdown on SIGTERM.
package procmain

import (
	"errors"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/weirmq/weir/cmd/internal/config"
	"github.com/weirmq/weir/cmd/internal/server"
)

// Process is what a binary runs: it starts, then either stops on its own
// (Wait) or is asked to stop (Shutdown).
type Process interface {
	Wait() error
	Shutdown() error
}

// Exit codes: 0 clean stop, 1 bad usage or configuration (a bad value, or
// a key naming a file, address or directory that cannot be used), 2 any
// other failure at start, 3 the node stopped itself (an environmental dead
// end such as an I/O error; a supervisor should restart it).
const (
	ExitConfig = 1
	ExitStart  = 2
	ExitFatal  = 3
)

// Broker is weir-broker's main: args without the program name, env in
// os.Environ() form. It returns the exit code.
func Broker(args, env []string, stderr io.Writer) int {
	cfg := config.DefaultBroker()
	flags := func(fs *flag.FlagSet) {
		const usage = "start even where this broker held the last in-sync copy of data it lost (damaged logs are cut at the damage, an empty disk leads empty partitions); records lost are gone and their offsets are reused"
		fs.BoolVar(&cfg.AcceptDataLoss, "accept-data-loss", false, usage)
		fs.BoolVar(&cfg.AcceptDataLoss, "truncate-corrupt", false, "same as --accept-data-loss")
	}
	return runWith("weir-broker", args, env, stderr, flags, &cfg, func() config.Log { return cfg.Log },
		func() error { return check(cfg.Validate, cfg.Preflight) },
		func(log zerolog.Logger) (Process, error) { return server.StartBroker(cfg, log) })
}

// Controller is weir-controller's main, like Broker.
func Controller(args, env []string, stderr io.Writer) int {
	cfg := config.DefaultController()
	return run("weir-controller", args, env, stderr, &cfg, func() config.Log { return cfg.Log },
		func() error { return check(cfg.Validate, cfg.Preflight) },
		func(log zerolog.Logger) (Process, error) { return server.StartController(cfg, log) })
}

// check runs the value checks, then (only when the values are sound) the
// checks of the files, addresses and directories they name.
func check(validate, preflight func() error) error {
	if err := validate(); err != nil {
		return err
	}
	return preflight()
}

// run loads cfg from --config and WEIR_* variables, checks it, builds a
// logger from log, starts the process and runs it until SIGTERM/SIGINT (a
// graceful stop, exit 0) or until it stops itself (exit 3).
func run(name string, args, env []string, stderr io.Writer, cfg any, logOf func() config.Log, checkCfg func() error, start func(zerolog.Logger) (Process, error)) int {
	return runWith(name, args, env, stderr, nil, cfg, logOf, checkCfg, start)
}

// runWith is run with flags of the binary's own beside --config.
func runWith(name string, args, env []string, stderr io.Writer, flags func(*flag.FlagSet), cfg any, logOf func() config.Log, checkCfg func() error, start func(zerolog.Logger) (Process, error)) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "TOML configuration file (keys may be overridden by WEIR_<SECTION>_<KEY>)")
	if flags != nil {
		flags(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return ExitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q (flags: --config FILE; see --help)\n", name, fs.Arg(0))
		return ExitConfig
	}
	if err := config.Load(*path, cfg, env); err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	if err := checkCfg(); err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	log := newLogger(logOf(), stderr)
	defer CaptureStdlog(log)()
	p, err := start(log)
	var ke *config.KeyError
	if errors.As(err, &ke) {
		// A start problem a key explains (a WAL directory another process
		// holds, an address taken since the preflight): like a bad value.
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	if err != nil {
		log.Error().Err(err).Msg("start failed")
		return ExitStart
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sig)
	stopped := make(chan error, 1)
	go func() { stopped <- p.Wait() }()
	select {
	case s := <-sig:
		log.Info().Str("signal", s.String()).Msg("shutting down")
		if err := p.Shutdown(); err != nil {
			log.Error().Err(err).Msg("shutdown")
			return ExitFatal
		}
		return 0
	case err := <-stopped:
		if err == nil {
			return 0
		}
		log.Error().Err(err).Msg("node stopped")
		_ = p.Shutdown()
		return ExitFatal
	}
}

// NewLogger builds the process logger from [log], writing to stderr.
func NewLogger(l config.Log) zerolog.Logger { return newLogger(l, os.Stderr) }

func newLogger(l config.Log, out io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(l.Level)
	if err != nil {
		level = zerolog.InfoLevel
	}
	var log zerolog.Logger
	if l.Format == "console" {
		log = zerolog.New(ConsoleWriter(out, time.RFC3339))
	} else {
		log = zerolog.New(out)
	}
	return log.Level(level).With().Timestamp().Logger()
}

// CaptureStdlog routes the standard library's global logger into log, at
// warning level with component=stdlog, until the returned function
// restores it. Libraries that offer no logger of their own write there:
// quic-go warns through it when it cannot enlarge a UDP socket's buffers.
// Call it once per process, with the process logger.
func CaptureStdlog(log zerolog.Logger) (restore func()) {
	out, flags, prefix := stdlog.Writer(), stdlog.Flags(), stdlog.Prefix()
	stdlog.SetFlags(0)
	stdlog.SetPrefix("")
	stdlog.SetOutput(stdlogWriter{log.With().Str("component", "stdlog").Logger()})
	return func() {
		stdlog.SetOutput(out)
		stdlog.SetFlags(flags)
		stdlog.SetPrefix(prefix)
	}
}

// stdlogWriter takes the standard logger's lines (one Write each).
type stdlogWriter struct{ log zerolog.Logger }

func (w stdlogWriter) Write(p []byte) (int, error) {
	w.log.Warn().Msg(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// ConsoleWriter is zerolog's human-readable format on out, coloured only
// when out is a terminal: logs redirected to a file or a journal carry no
// ANSI escape codes. NO_COLOR (any value) and TERM=dumb turn colour off too.
func ConsoleWriter(out io.Writer, timeFormat string) zerolog.ConsoleWriter {
	return zerolog.ConsoleWriter{Out: out, TimeFormat: timeFormat, NoColor: !colorTerminal(out)}
}

func colorTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
