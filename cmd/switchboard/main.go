// Command switchboard is a self-hosted real-time communications server: meetings by link with an SFU,
// embedded TURN, chat and file sharing, a REST API and a JS SDK. Run `switchboard help` for commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
	// Time zones travel in the binary: queues' opening hours and reports
	// name them, and a minimal host (a container) may have no zoneinfo.
	_ "time/tzdata"

	"switchboard/internal/app"
	"switchboard/internal/config"
)

const usage = `Switchboard: meetings, chat and calls in the browser, from one self-hosted binary.

Usage:
  switchboard serve [options]        run the server (see: switchboard serve --help)
  switchboard apikey create [--name N] [--data-dir D]
                                     create an API key for the REST API and for minting tokens
  switchboard apikey list|delete ID  list or delete API keys
  switchboard user add|list|disable|enable|reset-password|reset-totp|invite
                                     manage user accounts (see: switchboard user)
  switchboard sip account add|list|delete|passwd
                                     manage SIP accounts for phones (see: switchboard sip)
  switchboard token [options]        mint an access token with an API key (see: switchboard token --help)
  switchboard bench sfu [options]    measure SFU forwarding (see: switchboard bench sfu --help)
  switchboard bench chat [options]   measure messaging (see: switchboard bench chat --help)
  switchboard bench sip [options]    measure the SIP gateway (see: switchboard bench sip --help)
  switchboard version                print the version

With no command, switchboard runs "serve".
`

var version = "dev"

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args)
	case "apikey":
		err = apikey(args, os.Stdout)
	case "user":
		err = user(args, os.Stdin, os.Stdout)
	case "sip":
		err = sipCmd(args, os.Stdin, os.Stdout)
	case "token":
		err = token(args, os.Stdout)
	case "bench":
		err = bench(args)
	case "version":
		fmt.Println("switchboard", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "switchboard: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "switchboard:", err)
		os.Exit(1)
	}
}

func serve(args []string) error {
	cfg, err := config.Load(args, os.Environ(), os.Stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel, cfg.LogFormat, os.Stderr)
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, cfg, app.Options{Logger: log})
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- a.Serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stop() // a second signal kills at once
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := a.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

func newLogger(level, format string, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
