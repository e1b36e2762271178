package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rosettamq/rosetta/cmd/rosetta/internal/bench"
)

const benchUsage = `Usage: rosetta bench --pub URL [--pub URL...] --sub URL [--sub URL...] [flags]
       rosetta bench --connections N --pub mqtt://host:port/x [--broker-pid PID]

Publishes over any protocol and subscribes over any, by URL, then reports
throughput, loss, duplicates, reordering, corruption, end-to-end latency
and CPU. It drives any broker speaking these protocols.

URLs (user:pass@ optional; each scheme's default port):
  mqtt://host:1883/topic       qos=0|1|2  version=3|5  inflight=N  client=paho
  stomp://host:61613/dest      ack=auto|client-individual  receipt=true
                               persistent=true  prefetch=N  host=VHOST
  amqp://host:5672/address     settled=true|false  credit=N  durable=true
  all:                         content-type=T  accept=FORMAT
  (a topic filter's '#' may be written as is or as %23; quote the URL)

Examples:
  rosetta bench --pub mqtt://127.0.0.1:1883/b/1 --sub stomp://127.0.0.1:61613/topic/b/1
  rosetta bench --pub 'mqtt://127.0.0.1/b?qos=1' --sub amqp://127.0.0.1/topics/b -count 100000
  rosetta bench --pub mqtt://127.0.0.1/l --sub mqtt://127.0.0.1/l -rate 5000 -duration 20s

Flags:
`

// urlList is a repeatable URL flag.
type urlList []*bench.Endpoint

func (l *urlList) String() string {
	var s []string
	for _, e := range *l {
		s = append(s, e.Raw)
	}
	return strings.Join(s, " ")
}

func (l *urlList) Set(v string) error {
	e, err := bench.ParseEndpoint(v)
	if err != nil {
		return err
	}
	*l = append(*l, e)
	return nil
}

// signalContext is canceled by SIGINT or SIGTERM: bench then stops
// publishing and reports what it has. The process ends after the report,
// so the registration is never undone.
func signalContext() context.Context {
	ctx, _ := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	return ctx
}

// benchMain runs `rosetta bench`.
func benchMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var pubs, subs urlList
	var cfg bench.Config
	fs.Var(&pubs, "pub", "publish to this URL (repeatable)")
	fs.Var(&subs, "sub", "subscribe to this URL (repeatable)")
	fs.IntVar(&cfg.Publishers, "publishers", 1, "publishers (connections) per --pub URL")
	fs.IntVar(&cfg.Subscribers, "subscribers", 1, "subscribers (connections) per --sub URL")
	fs.StringVar(&cfg.Mode, "mode", bench.Fanout, "fanout: every subscriber must get every message; compete: the subscribers of one --sub URL share them (queues, shared subscriptions)")
	fs.IntVar(&cfg.Size, "size", 100, fmt.Sprintf("payload bytes (at least the %d-byte header)", bench.HeaderSize))
	fs.Int64Var(&cfg.Count, "count", 0, "messages per publisher (default 10000 unless -duration)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "publish for this long instead of -count; with --connections, how long to hold them (default 5s)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "total messages per second over all publishers, on a fixed schedule (0: as fast as possible)")
	fs.DurationVar(&cfg.Timeout, "timeout", 0, "connect timeout, and how long to wait for the next delivery once publishing ended (default 10s)")
	fs.IntVar(&cfg.BrokerPID, "broker-pid", 0, "sample this process's CPU time and RSS from /proc before and after")
	fs.IntVar(&cfg.Connections, "connections", 0, "open this many idle MQTT connections to the first URL instead of publishing")
	fs.IntVar(&cfg.SourceIPs, "source-ips", 0, "with --connections: cycle local addresses 127.0.0.2.. over this many (0: the kernel picks)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "rosetta bench: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg.Pubs, cfg.Subs = pubs, subs
	if !*quiet {
		cfg.Progress = stderr
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "rosetta bench: %v\n", err)
		return exitUsage
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "rosetta bench: %v\n", err)
		return exitError
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "rosetta bench: %v\n", err)
			return exitError
		}
	} else {
		rep.WriteText(stdout)
	}
	if len(rep.Errors) > 0 {
		return exitError
	}
	return exitOK
}
