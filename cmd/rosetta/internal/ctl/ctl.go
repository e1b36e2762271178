// Package ctl is `rosetta ctl`, the admin command line: each command is one
// or two calls to the broker's admin API (/api/v1, docs/api.md), printed
// as a table (text/tabwriter) or, with --json, as the API's JSON.
package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// DefaultServer is the admin API's address when --server is not given.
const DefaultServer = "http://127.0.0.1:8080"

// Usage lists the commands.
const Usage = `Usage: rosetta ctl [flags] COMMAND [ARGS]

Commands:
  overview                          version, uptime, listeners, connections, rates, memory, store
  connections                       list connections
  connections show ID               one connection and its consumers/subscriptions
  connections close ID              close a connection
  queues                            list queues
  queues show NAME                  one queue and its consumers
  queues create NAME                create (--durable, --bind PATTERN..., --max-length N, --ttl D, --dead-letter Q, --overflow P)
  queues delete NAME                delete a queue and its messages
  queues purge NAME                 remove every ready message
  queues peek NAME                  show messages without consuming them (--count N, --base64)
  get --queue NAME                  consume and acknowledge messages (--count N, --wait D)
  dlq                               peek the default dead-letter queue ($dlq)
  dlq move [QUEUE]                  move dead letters back to their original address (--count N)
  retained                          list retained messages (--filter F, default #)
  retained delete TOPIC             delete the retained message of TOPIC
  publish --address A --body B      publish through the admin API (origin http; --retain, --durable, --queue, --header k=v)
  bindings                          list queue bindings
  transformers                      transformer and plugin status
  reload                            re-read the configuration, as SIGHUP does

Flags (anywhere on the line):
  --server URL       admin API base URL (default http://127.0.0.1:8080, or $ROSETTA_SERVER)
  --user NAME        user name (or $ROSETTA_USER)
  --password PW      password (or $ROSETTA_PASSWORD)
  --json             print the API's JSON instead of a table
`

// Main runs `rosetta ctl` and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) int {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	fs := flag.NewFlagSet("ctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := &opts{}
	fs.StringVar(&o.server, "server", firstNonEmpty(env["ROSETTA_SERVER"], DefaultServer), "")
	fs.StringVar(&o.user, "user", env["ROSETTA_USER"], "")
	fs.StringVar(&o.password, "password", env["ROSETTA_PASSWORD"], "")
	fs.BoolVar(&o.json, "json", false, "")
	fs.IntVar(&o.count, "count", -1, "")
	fs.BoolVar(&o.base64, "base64", false, "")
	fs.StringVar(&o.queue, "queue", "", "")
	fs.StringVar(&o.wait, "wait", "", "")
	fs.StringVar(&o.filter, "filter", "", "")
	fs.StringVar(&o.address, "address", "", "")
	fs.StringVar(&o.body, "body", "", "")
	fs.StringVar(&o.protocol, "protocol", "http", "")
	fs.StringVar(&o.contentType, "content-type", "", "")
	fs.BoolVar(&o.retain, "retain", false, "")
	fs.BoolVar(&o.durable, "durable", false, "")
	fs.BoolVar(&o.toQueue, "to-queue", false, "")
	fs.Var(&o.headers, "header", "")
	fs.Var(&o.bind, "bind", "")
	fs.IntVar(&o.maxLength, "max-length", 0, "")
	fs.StringVar(&o.ttl, "ttl", "", "")
	fs.StringVar(&o.deadLetter, "dead-letter", "", "")
	fs.StringVar(&o.overflow, "overflow", "", "")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, Usage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "rosetta ctl: %v\n\n%s", err, Usage)
		return exitUsage
	}
	if len(pos) == 0 {
		fmt.Fprint(stderr, Usage)
		return exitUsage
	}
	o.c = &client{base: strings.TrimRight(o.server, "/"), user: o.user, password: o.password,
		http: &http.Client{Timeout: 60 * time.Second}}
	o.out = stdout
	if err := o.run(ctx, pos); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "rosetta ctl: %v\n\n%s", err, Usage)
			return exitUsage
		}
		fmt.Fprintf(stderr, "rosetta ctl: %v\n", err)
		return exitError
	}
	return exitOK
}

type usageError string

func (e usageError) Error() string { return string(e) }

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// parseInterleaved parses flags anywhere among the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type opts struct {
	c                         *client
	out                       io.Writer
	server, user, password    string
	json, base64              bool
	count                     int
	queue, wait, filter       string
	address, body, protocol   string
	contentType               string
	retain, durable, toQueue  bool
	headers, bind             listFlag
	maxLength                 int
	ttl, deadLetter, overflow string
}

// client calls the admin API.
type client struct {
	base, user, password string
	http                 *http.Client
}

// apiError is an error answer of the API.
type apiError struct {
	Message string `json:"error"`
	Status  int    `json:"status"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status) }

// do calls method path with body (encoded as JSON when not nil) and
// returns the raw answer.
func (c *client) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/api/v1"+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		ae := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(b, ae) != nil || ae.Message == "" {
			ae.Message = strings.TrimSpace(string(b))
			if ae.Message == "" {
				ae.Message = resp.Status
			}
		}
		ae.Status = resp.StatusCode
		return nil, ae
	}
	return b, nil
}

// call does the request and decodes the answer into v (when not nil), or
// prints it raw with --json.
func (o *opts) call(ctx context.Context, method, path string, body, v any) (printed bool, err error) {
	b, err := o.c.do(ctx, method, path, body)
	if err != nil {
		return false, err
	}
	if o.json {
		if len(b) == 0 {
			b = []byte("{}\n")
		}
		_, err = o.out.Write(b)
		return true, err
	}
	if v != nil && len(b) > 0 {
		if err := json.Unmarshal(b, v); err != nil {
			return false, fmt.Errorf("decode answer: %w", err)
		}
	}
	return false, nil
}

func esc(s string) string { return url.PathEscape(s) }

func (o *opts) table() *tabwriter.Writer { return tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0) }

func need(args []string, n int, what string) error {
	if len(args) < n {
		return usageError("missing " + what)
	}
	if len(args) > n {
		return usageError(fmt.Sprintf("unexpected argument %q", args[n]))
	}
	return nil
}

func (o *opts) countQuery(def int) string {
	n := def
	if o.count >= 0 {
		n = o.count
	}
	if n < 0 {
		return ""
	}
	return "count=" + strconv.Itoa(n)
}

func join(qs ...string) string {
	var parts []string
	for _, q := range qs {
		if q != "" {
			parts = append(parts, q)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "?" + strings.Join(parts, "&")
}
