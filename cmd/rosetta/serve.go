package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/rosettamq/rosetta/cmd/rosetta/internal/config"
	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/conns"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/protocols/amqp"
	"github.com/rosettamq/rosetta/protocols/mqtt"
	"github.com/rosettamq/rosetta/protocols/stomp"
)

// parseServeFlags parses the serve flags. Only the flags given on the
// command line are set in the result, so that they override the
// environment and the file and nothing else does.
func parseServeFlags(args []string, stderr io.Writer) (config.Overrides, error) {
	o, _, err := parseServeArgs(args, stderr)
	return o, err
}

// parseServeArgs is parseServeFlags that also returns --pprof, the
// profiling listen address ("" means none), which is not a configuration
// key: it is a diagnostic switch for one run.
func parseServeArgs(args []string, stderr io.Writer) (config.Overrides, string, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	vals := map[string]*string{}
	str := func(name, usage string) { vals[name] = fs.String(name, "", usage) }
	str("config", "configuration file (YAML); default none, or $ROSETTA_CONFIG")
	str("data-dir", "data directory: the badger store lives in its badger/ subdirectory (default ./data)")
	str("storage", "storage engine: badger (durable, in the data directory) or memory (nothing survives a restart) (default badger)")
	str("sync", "badger sync policy: batch (one fsync per group commit), always (one per commit) or none (default batch)")
	str("mqtt", `MQTT listen address, or "off" (default 127.0.0.1:1883 without a config file, :1883 with one)`)
	str("mqtt-tls", `MQTT over TLS listen address, or "off"; starts only when tls.cert_file and tls.key_file are set (default port 8883)`)
	str("stomp", `STOMP listen address, or "off" (default 127.0.0.1:61613 without a config file, :61613 with one)`)
	str("stomp-tls", `STOMP over TLS listen address, or "off"; starts only when tls.cert_file and tls.key_file are set (default port 61614)`)
	str("amqp", `AMQP 1.0 listen address, or "off" (default 127.0.0.1:5672 without a config file, :5672 with one)`)
	str("amqp-tls", `AMQP 1.0 over TLS listen address, or "off"; starts only when tls.cert_file and tls.key_file are set (default port 5671)`)
	str("http", `HTTP listen address for /healthz, /readyz, /metrics, /mqtt, /stomp and /amqp, or "off" (default port 8080)`)
	str("log-level", "debug, info, warn or error (default info)")
	str("log-format", "text, json or auto: text on a terminal, JSON otherwise (default auto)")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof at /debug/pprof/ on this address, e.g. 127.0.0.1:6060 (default off; never expose it)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: rosetta serve [flags]\n\n"+
			"Precedence: flags, then ROSETTA_* environment variables, then the config file, then defaults.\n"+
			"See docs/configuration.md.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config.Overrides{}, "", err
	}
	if fs.NArg() > 0 {
		return config.Overrides{}, "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var o config.Overrides
	set := map[string]**string{
		"config": &o.ConfigFile, "data-dir": &o.DataDir, "storage": &o.Storage, "sync": &o.Sync, "mqtt": &o.MQTT, "mqtt-tls": &o.MQTTTLS,
		"stomp": &o.STOMP, "stomp-tls": &o.STOMPTLS, "amqp": &o.AMQP, "amqp-tls": &o.AMQPTLS, "http": &o.HTTP, "log-level": &o.LogLevel, "log-format": &o.LogFormat,
	}
	fs.Visit(func(f *flag.Flag) {
		if dst := set[f.Name]; dst != nil {
			*dst = vals[f.Name]
		}
	})
	return o, *pprofAddr, nil
}

// serveMain runs `rosetta serve` until ctx ends, and returns the exit code.
func serveMain(ctx context.Context, args []string, stderr io.Writer, environ []string) int {
	o, pprofAddr, err := parseServeArgs(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "rosetta serve: %v\n", err)
		return exitUsage
	}
	cfg, warnings, err := config.Resolve(o, environ)
	if err != nil {
		fmt.Fprintf(stderr, "rosetta serve: %v\n", err)
		return exitError
	}
	log := newLogger(cfg.Log, stderr)
	for _, w := range warnings {
		log.Warn(w)
	}
	if pprofAddr != "" {
		stop, err := servePprof(pprofAddr, log)
		if err != nil {
			log.Error("pprof listener", "addr", pprofAddr, "err", err)
			return exitError
		}
		defer stop()
	}
	if err := serve(ctx, cfg, o, environ, log); err != nil {
		log.Error("rosetta stopped with an error", "err", err)
		return exitError
	}
	return exitOK
}

// newLogger builds the process logger: text on a terminal, JSON otherwise
// (for log collectors), unless the configuration says which.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.Level.Level()}
	text := c.Format == config.FormatText
	if c.Format == config.FormatAuto {
		f, ok := w.(*os.File)
		text = ok && isTerminal(f)
	}
	if text {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// serve wires the concrete components and runs them until ctx ends.
func serve(ctx context.Context, cfg config.Config, o config.Overrides, environ []string, log *slog.Logger) error {
	log.Info("rosetta starting", "version", version, "commit", commit,
		"config_file", cfg.File, "anonymous", cfg.AnonymousAllowed(), "users", len(cfg.Auth.Users))
	applyMemoryLimit(environ, readSystemFile, log)
	authSvc, err := auth.NewStatic(cfg.StaticAuth())
	if err != nil {
		return err
	}
	var tlsCfg *tls.Config
	if cfg.TLS.Enabled() {
		if tlsCfg, err = loadTLS(cfg.TLS); err != nil {
			return err
		}
	}
	st, err := openStore(cfg, log)
	if err != nil {
		return err
	}
	closeStore := func(err error) error {
		if st != nil {
			if cerr := st.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("store close: %w", cerr))
			}
		}
		return err
	}
	tr, err := newTransformer(ctx, cfg.Transform, log)
	if err != nil {
		return closeStore(err)
	}
	closeTransformer := func(err error) error {
		closeCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		return errors.Join(err, tr.Close(closeCtx))
	}
	xc := exchangeConfig(cfg, log)
	xc.Transformer = tr
	if st != nil { // never a typed nil in the interface
		xc.Store = st
	}
	start := time.Now()
	ex, err := exchange.New(ctx, xc)
	if err != nil {
		return closeStore(closeTransformer(fmt.Errorf("exchange: %w", err)))
	}
	if st != nil {
		log.Info("store recovered", "took", time.Since(start).Round(time.Millisecond).String())
	}
	closeExchange := func(err error) error {
		closeCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		return closeStore(closeTransformer(errors.Join(err, ex.Close(closeCtx))))
	}
	// stomp.New and amqp.New only check their configuration and start
	// nothing, so they go first: when a constructor fails, only the
	// exchange runs.
	reg := conns.New() // the open connections, for the admin API
	sc := stompConfig(cfg, ex, authSvc, tlsCfg, log)
	sc.Conns = reg
	stompSrv, err := stomp.New(sc)
	if err != nil {
		return closeExchange(fmt.Errorf("stomp: %w", err))
	}
	ac := amqpConfig(cfg, ex, authSvc, tlsCfg, log)
	ac.Conns = reg
	amqpSrv, err := amqp.New(ac)
	if err != nil {
		return closeExchange(fmt.Errorf("amqp: %w", err))
	}
	mc := mqttConfig(cfg, ex, authSvc, tlsCfg, log)
	mc.Conns = reg
	srv, err := mqtt.New(mc)
	if err != nil {
		return closeExchange(fmt.Errorf("mqtt: %w", err))
	}

	a := newApp(cfg, log, srv, stompSrv, amqpSrv, ex)
	a.transform = tr // closed after the exchange
	a.metrics.reg.MustRegister(newTransformCollector(tr))
	if st != nil {
		a.store = st // closed last, after the exchange
		a.metrics.reg.MustRegister(newStoreCollector(st))
	}
	// SIGHUP re-reads the configuration (same flags, file and environment)
	// and applies the auth section; everything else needs a restart.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	a.reloadC = hup
	a.reload = func() error {
		next, warnings, err := config.Resolve(o, environ)
		if err != nil {
			return err
		}
		for _, w := range warnings {
			log.Warn(w)
		}
		if err := authSvc.Reload(next.StaticAuth()); err != nil {
			return err
		}
		if n := closeDisallowed(reg, next, log); n > 0 {
			log.Info("connections closed by the reload: their user is gone or anonymous access was turned off", "closed", n)
		}
		if err := tr.Reload(next.Transform); err != nil {
			return fmt.Errorf("transform (users and permissions were applied): %w", err)
		}
		log.Info("configuration reloaded: users, permissions, transform pipelines and routes applied; other changes need a restart",
			"users", len(next.Auth.Users), "anonymous", next.AnonymousAllowed(), "routes", len(next.Transform.Routes))
		return nil
	}
	// POST /api/v1/reload runs the same reload; one at a time.
	var reloadMu sync.Mutex
	reload := a.reload
	a.reload = func() error {
		reloadMu.Lock()
		defer reloadMu.Unlock()
		return reload()
	}
	adm, err := newAdmin(cfg, ex, authSvc, reg, a, a.reload, tr)
	if err != nil {
		return closeExchange(fmt.Errorf("admin: %w", err))
	}
	a.admin = adm
	return a.run(ctx)
}

func exchangeConfig(cfg config.Config, log *slog.Logger) exchange.Config {
	q := cfg.Queues
	overflow := exchange.DropHead
	if q.Overflow == config.RejectPublish {
		overflow = exchange.RejectPublish
	}
	return exchange.Config{
		Logger:            log.With("component", "exchange"),
		DisableAutoCreate: !q.AutoCreate,
		DeadLetterExpired: q.DeadLetterExpired,
		ResidentBytes:     q.ResidentBytes,
		// Queues created on demand are durable (DESIGN.md §4) when there
		// is a disk to keep them on; with the memory engine a durable
		// queue would promise what it cannot keep.
		DefaultQueue: exchange.QueueConfig{
			Durable:       cfg.Storage.Engine == config.EngineBadger,
			MaxLength:     q.MaxLength,
			MaxBytes:      q.MaxBytes,
			Overflow:      overflow,
			TTL:           q.TTL,
			MaxDeliveries: q.MaxDeliveries,
			DeadLetter:    q.DeadLetter,
		},
	}
}

func mqttConfig(cfg config.Config, ex *exchange.Exchange, a auth.Service, tlsCfg *tls.Config, log *slog.Logger) mqtt.Config {
	l := cfg.Limits // Validate bounded these to their wire types' ranges
	return mqtt.Config{
		Exchange:           ex,
		Auth:               a,
		Logger:             log, // the front-end adds proto=mqtt
		TLS:                tlsCfg,
		MaxPacketSize:      uint32(l.MaxPacketSize),
		MaxSubscriptions:   l.MaxSubscriptions,
		MaxConnections:     l.MaxConnections,
		ReceiveMaximum:     uint16(l.ReceiveMaximum),
		MaxInflight:        l.MaxInflight,
		SessionQueueLength: l.SessionQueueLength,
	}
}

func stompConfig(cfg config.Config, ex *exchange.Exchange, a auth.Service, tlsCfg *tls.Config, log *slog.Logger) stomp.Config {
	s := cfg.STOMP
	// The configuration states heart-beats as on the wire, 0 meaning none;
	// stomp.Config reads 0 as its default and a negative value as none.
	heartBeat := func(d time.Duration) time.Duration {
		if d == 0 {
			return -1
		}
		return d
	}
	return stomp.Config{
		Exchange:             ex,
		Auth:                 a,
		Logger:               log, // the front-end adds proto=stomp
		TLS:                  tlsCfg,
		MaxFrameSize:         s.MaxFrameSize,
		MaxBodySize:          s.MaxBodySize,
		MaxHeaders:           s.MaxHeaders,
		MaxHeaderLine:        s.MaxHeaderLine,
		MaxConnections:       cfg.Limits.MaxConnections,
		MaxSubscriptions:     cfg.Limits.MaxSubscriptions,
		MaxTransactions:      s.MaxTransactions,
		MaxTransactionFrames: s.MaxTransactionFrames,
		MaxPublishesInFlight: s.MaxPublishesInFlight,
		Prefetch:             s.Prefetch,
		MaxPrefetch:          s.MaxPrefetch,
		HeartBeatSend:        heartBeat(s.HeartBeatSend),
		HeartBeatReceive:     heartBeat(s.HeartBeatReceive),
		ConnectTimeout:       s.ConnectTimeout,
		WriteTimeout:         s.WriteTimeout,
	}
}

func amqpConfig(cfg config.Config, ex *exchange.Exchange, a auth.Service, tlsCfg *tls.Config, log *slog.Logger) amqp.Config {
	c := cfg.AMQP
	// The configuration states the idle timeout as on the wire, 0 meaning
	// none; amqp.Config reads 0 as its default and a negative value as
	// none.
	idle := c.IdleTimeout
	if idle == 0 {
		idle = -1
	}
	return amqp.Config{
		Exchange: ex,
		Auth:     a,
		Logger:   log, // the front-end adds proto=amqp
		// With a client CA, loadTLS verifies client certificates, and the
		// front-end then offers SASL EXTERNAL on TLS connections.
		TLS:                  tlsCfg,
		MaxConnections:       cfg.Limits.MaxConnections,
		MaxFrameSize:         c.MaxFrameSize,
		MaxMessageSize:       c.MaxMessageSize,
		MaxSessions:          c.MaxSessions,
		MaxLinks:             c.MaxLinks,
		SessionWindow:        c.SessionWindow,
		LinkCredit:           c.LinkCredit,
		MaxPending:           c.MaxPending,
		MaxPublishesInFlight: c.MaxPublishesInFlight,
		IdleTimeout:          idle,
		ConnectTimeout:       c.ConnectTimeout,
		WriteTimeout:         c.WriteTimeout,
	}
}

// loadTLS reads the certificate, key and optional client CA. With a client
// CA, clients must present a certificate it signed (mutual TLS).
func loadTLS(c config.TLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: load certificate %s and key %s: %w", c.CertFile, c.KeyFile, err)
	}
	t := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: client CA %s: no PEM certificate found", c.ClientCAFile)
		}
		t.ClientCAs = pool
		t.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return t, nil
}

// closeDisallowed closes the connections a reloaded configuration no
// longer lets in: those of users it removed, and anonymous ones when it
// turned anonymous access off. The others stay connected; their
// permissions apply from their next publish or subscribe. It returns how
// many it closed.
func closeDisallowed(reg *conns.Registry, cfg config.Config, log *slog.Logger) int {
	users := make(map[string]bool, len(cfg.Auth.Users))
	for _, u := range cfg.Auth.Users {
		users[u.Name] = true
	}
	anonymous := cfg.AnonymousAllowed()
	n := 0
	for _, c := range reg.List() {
		why := ""
		switch {
		case c.User == "" && !anonymous:
			why = "anonymous access turned off"
		case c.User != "" && !users[c.User]:
			why = "user removed"
		default:
			continue
		}
		if err := reg.Close(c.ID, why); err == nil {
			n++
			log.Info("connection closed by a reload", "protocol", c.Protocol, "conn", c.ID, "user", c.User, "reason", why)
		}
	}
	return n
}
