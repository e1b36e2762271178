package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rosettamq/rosetta/cmd/rosetta/internal/ctl"
)

// ctlMain runs `rosetta ctl`: admin commands over the HTTP API.
func ctlMain(args []string, stdout, stderr io.Writer, environ []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return ctl.Main(ctx, args, stdout, stderr, environ)
}
