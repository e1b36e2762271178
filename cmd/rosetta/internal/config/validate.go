package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/rosettamq/rosetta/core/address"
)

// Validate checks every field and the security rule: a listener that
// other hosts can reach needs configured users or anonymous access enabled
// explicitly (allow_anonymous in the file or ROSETTA_ALLOW_ANONYMOUS).
// All problems are reported at once, each prefixed with its key.
func (c *Config) Validate() error {
	var errs []error
	add := func(key string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}

	// Listeners.
	seen := make(map[string]string) // host:port -> listener, for clashes
	for _, l := range c.allListeners() {
		if IsOff(l.Addr) {
			continue
		}
		host, port, err := splitAddr(l.Addr)
		if err != nil {
			add("listeners."+l.Name, "%v", err)
			continue
		}
		if port == 0 || (IsTLSListener(l.Name) && !c.TLS.Enabled()) {
			continue // port 0 picks a free port; a TLS listener without a certificate is not started
		}
		key := net.JoinHostPort(host, strconv.Itoa(port))
		if other, dup := seen[key]; dup {
			add("listeners."+l.Name, "address %q is also used by listeners.%s", l.Addr, other)
		}
		seen[key] = l.Name
	}

	// TLS.
	switch {
	case c.TLS.CertFile != "" && c.TLS.KeyFile == "":
		add("tls.key_file", "required with tls.cert_file")
	case c.TLS.KeyFile != "" && c.TLS.CertFile == "":
		add("tls.cert_file", "required with tls.key_file")
	}
	if c.TLS.ClientCAFile != "" && !c.TLS.Enabled() {
		add("tls.client_ca_file", "needs tls.cert_file and tls.key_file")
	}

	if strings.TrimSpace(c.DataDir) == "" {
		add("data_dir", "must not be empty")
	}

	// Storage.
	sc := c.Storage
	switch sc.Engine {
	case EngineBadger, EngineMemory:
	default:
		add("storage.engine", "must be %s or %s, not %q", EngineBadger, EngineMemory, sc.Engine)
	}
	switch sc.Sync {
	case SyncBatch, SyncAlways, SyncNone:
	default:
		add("storage.sync", "must be %s, %s or %s, not %q", SyncBatch, SyncAlways, SyncNone, sc.Sync)
	}
	for _, f := range []struct {
		key string
		v   int64
	}{
		{"batch_max", int64(sc.BatchMax)},
		{"memtable_size", sc.MemTableSize},
		{"value_threshold", sc.ValueThreshold},
		{"value_log_file_size", sc.ValueLogFileSize},
	} {
		if f.v < 0 {
			add("storage."+f.key, "must not be negative (0 means the default), got %d", f.v)
		}
	}
	if v := sc.ValueLogFileSize; v != 0 && (v < 1<<20 || v >= 2<<30) {
		add("storage.value_log_file_size", "must be from 1 MiB (1048576) to under 2 GiB (2147483648), got %d", v)
	}
	// badger refuses a value threshold above its transaction limit, 15 %
	// of the memtable.
	if mt, vt := sc.MemTableSize, sc.ValueThreshold; mt > 0 && vt > 0 && vt > mt*15/100 {
		add("storage.value_threshold", "%d is above 15%% of storage.memtable_size (%d)", vt, mt)
	}

	if err := c.StaticAuth().Validate(); err != nil {
		add("auth", "%v", strings.TrimPrefix(err.Error(), "auth: "))
	}

	// Limits.
	l := c.Limits
	for _, f := range []struct {
		key string
		v   int
		max int
	}{
		{"max_packet_size", l.MaxPacketSize, MaxPacketSizeLimit},
		{"max_connections", l.MaxConnections, 0},
		{"max_subscriptions", l.MaxSubscriptions, 0},
		{"receive_maximum", l.ReceiveMaximum, ReceiveMaximumLimit},
		{"max_inflight", l.MaxInflight, 0},
		{"session_queue_length", l.SessionQueueLength, 0},
	} {
		switch {
		case f.v < 0:
			add("limits."+f.key, "must not be negative (0 means the default), got %d", f.v)
		case f.max > 0 && f.v > f.max:
			add("limits."+f.key, "at most %d, got %d", f.max, f.v)
		}
	}

	// STOMP.
	st := c.STOMP
	for _, f := range []struct {
		key string
		v   int
	}{
		{"max_frame_size", st.MaxFrameSize},
		{"max_body_size", st.MaxBodySize},
		{"max_headers", st.MaxHeaders},
		{"max_header_line", st.MaxHeaderLine},
		{"max_transactions", st.MaxTransactions},
		{"max_transaction_frames", st.MaxTransactionFrames},
		{"max_publishes_in_flight", st.MaxPublishesInFlight},
		{"prefetch", st.Prefetch},
		{"max_prefetch", st.MaxPrefetch},
	} {
		if f.v < 0 {
			add("stomp."+f.key, "must not be negative (0 means the default), got %d", f.v)
		}
	}
	if st.MaxBodySize > 0 && st.MaxFrameSize > 0 && st.MaxBodySize > st.MaxFrameSize {
		add("stomp.max_body_size", "%d is larger than stomp.max_frame_size (%d), which bounds the whole frame", st.MaxBodySize, st.MaxFrameSize)
	}
	for _, f := range []struct {
		key string
		v   time.Duration
	}{
		{"heart_beat_send", st.HeartBeatSend},
		{"heart_beat_receive", st.HeartBeatReceive},
		{"connect_timeout", st.ConnectTimeout},
		{"write_timeout", st.WriteTimeout},
	} {
		switch {
		case f.v < 0:
			add("stomp."+f.key, "must not be negative, got %v", f.v)
		case f.v%time.Millisecond != 0:
			// STOMP states heart-beats in milliseconds; finer would be lost.
			add("stomp."+f.key, "must be whole milliseconds, got %v", f.v)
		}
	}

	// AMQP.
	am := c.AMQP
	for _, f := range []struct {
		key string
		v   int
	}{
		{"max_frame_size", am.MaxFrameSize},
		{"max_message_size", am.MaxMessageSize},
		{"max_sessions", am.MaxSessions},
		{"max_links", am.MaxLinks},
		{"session_window", am.SessionWindow},
		{"link_credit", am.LinkCredit},
		{"max_pending", am.MaxPending},
		{"max_publishes_in_flight", am.MaxPublishesInFlight},
	} {
		if f.v < 0 {
			add("amqp."+f.key, "must not be negative (0 means the default), got %d", f.v)
		}
	}
	if am.MaxFrameSize > 0 && am.MaxFrameSize < AMQPMinFrameSize {
		add("amqp.max_frame_size", "at least %d (AMQP 1.0 §2.7.1), got %d", AMQPMinFrameSize, am.MaxFrameSize)
	}
	if am.MaxSessions > AMQPMaxSessions {
		add("amqp.max_sessions", "at most %d, got %d", AMQPMaxSessions, am.MaxSessions)
	}
	for _, f := range []struct {
		key string
		v   time.Duration
	}{
		{"idle_timeout", am.IdleTimeout},
		{"connect_timeout", am.ConnectTimeout},
		{"write_timeout", am.WriteTimeout},
	} {
		switch {
		case f.v < 0:
			add("amqp."+f.key, "must not be negative, got %v", f.v)
		case f.key == "idle_timeout" && f.v%time.Millisecond != 0:
			// AMQP states idle-time-out in milliseconds; finer would be lost.
			add("amqp."+f.key, "must be whole milliseconds, got %v", f.v)
		}
	}

	// Queues.
	q := c.Queues
	if q.Overflow != DropHead && q.Overflow != RejectPublish {
		add("queues.overflow", "must be %s or %s, not %q", DropHead, RejectPublish, q.Overflow)
	}
	if q.TTL < 0 {
		add("queues.ttl", "must not be negative, got %v", q.TTL)
	}
	if q.DeadLetter != "" && q.DeadLetter != "-" {
		if _, err := address.ParseMQTTTopic(q.DeadLetter); err != nil {
			add("queues.dead_letter", "%q is not a valid queue name: %v", q.DeadLetter, err)
		}
	}

	// Transform: the engine checks steps and filters when it is built;
	// here only what needs no transform code.
	for i, r := range c.Transform.Routes {
		if r.Match == "" {
			add(fmt.Sprintf("transform.routes[%d].match", i), "is required")
		}
		if r.Transform == nil {
			add(fmt.Sprintf("transform.routes[%d].transform", i), "is required")
		}
		switch r.To.Protocol {
		case "", "mqtt", "stomp", "amqp":
		default:
			add(fmt.Sprintf("transform.routes[%d].to.protocol", i), "must be mqtt, stomp or amqp, not %q", r.To.Protocol)
		}
	}
	for i, p := range c.Transform.Pipelines {
		if p.Name == "" || p.Steps == nil {
			add(fmt.Sprintf("transform.pipelines[%d]", i), "needs a name and steps")
		}
	}
	for i, p := range c.Transform.Plugins {
		if p.Path == "" || p.SHA256 == "" {
			add(fmt.Sprintf("transform.plugins[%d]", i), "needs a path and its sha256 (sha256sum <path>)")
		}
	}
	if c.ShutdownTimeout <= 0 {
		add("shutdown_timeout", "must be positive, got %v", c.ShutdownTimeout)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case FormatAuto, FormatText, FormatJSON:
	default:
		add("log.format", "must be auto, text or json, not %q", c.Log.Format)
	}

	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c.checkExposure()
}

// checkExposure enforces DESIGN.md §8: reachable from the network means
// somebody must have chosen who may connect.
func (c *Config) checkExposure() error {
	if len(c.Auth.Users) > 0 || (c.Auth.AllowAnonymous != nil && *c.Auth.AllowAnonymous) {
		return nil
	}
	var exposed []string
	for _, l := range c.EnabledListeners() {
		host, _, err := splitAddr(l.Addr)
		if err == nil && !IsLoopbackHost(host) {
			exposed = append(exposed, fmt.Sprintf("%s (%s)", l.Name, l.Addr))
		}
	}
	if len(exposed) == 0 {
		return nil
	}
	return fmt.Errorf("listeners %s accept connections from other hosts, but no users are configured "+
		"and anonymous access is not enabled: add auth.users, or set auth.allow_anonymous: true "+
		"(ROSETTA_ALLOW_ANONYMOUS=true), or bind the listeners to 127.0.0.1",
		strings.Join(exposed, ", "))
}

// splitAddr checks a listen address: "host:port" or ":port", port 0-65535
// in digits (0 picks a free port).
func splitAddr(addr string) (host string, port int, err error) {
	if addr == "" {
		return "", 0, fmt.Errorf("empty address (use %q to disable the listener)", Off)
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: want host:port, :port or %q", addr, Off)
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: port must be a number from 0 to 65535", addr)
	}
	if strings.ContainsAny(host, " /") {
		return "", 0, fmt.Errorf("address %q: invalid host", addr)
	}
	return host, int(n), nil
}

// IsLoopbackHost reports whether a listen host accepts only local
// connections: "localhost" or a loopback IP. An empty host means every
// interface; any other name is taken as reachable, since what it
// resolves to can change.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	host, _, _ = strings.Cut(host, "%") // IPv6 zone
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
