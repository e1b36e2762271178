// Command rosetta is the Rosetta broker's single binary.
//
//	rosetta serve [flags]   run the broker (see `rosetta serve -h`)
//	rosetta passwd          read a password on stdin, print its bcrypt hash
//	rosetta version         print the version
//
// It is the only package that imports everything: it turns flags, the
// environment and the configuration file into a config.Config, wires the
// concrete core, auth and protocol types together, serves HTTP (health,
// metrics, WebSocket) and shuts everything down in order on SIGTERM or
// SIGINT. docs/operations.md describes running it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// Set with -ldflags "-X main.version=... -X main.commit=..." (see Makefile).
var (
	version = "dev"
	commit  = "dev"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

const usage = `Rosetta is a multi-protocol message broker.

Usage:
  rosetta serve [flags]    run the broker ("rosetta serve -h" lists the flags)
  rosetta passwd [-cost N] read a password on stdin and print its bcrypt hash
  rosetta bench [flags]    load-test a broker by URL ("rosetta bench -h")
  rosetta ctl COMMAND      admin commands over the HTTP API ("rosetta ctl -h")
  rosetta version          print the version

Documentation: README.md and docs/ in the source tree.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ()))
}

// run is main without the process: it returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		// SIGTERM (systemd, Kubernetes) and SIGINT (Ctrl-C) start a graceful
		// shutdown. Once the first one arrives, stop restores the default
		// handlers, so a second signal kills a shutdown that hangs.
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		go func() { <-ctx.Done(); stop() }()
		return serveMain(ctx, rest, stderr, environ)
	case "passwd":
		return passwdMain(rest, stdin, stdout, stderr)
	case "bench":
		return benchMain(signalContext(), rest, stdout, stderr)
	case "ctl":
		return ctlMain(rest, stdout, stderr, environ)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "rosetta %s (commit %s, %s %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "rosetta: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}
