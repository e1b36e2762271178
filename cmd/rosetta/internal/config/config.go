// Package config holds the configuration of `rosetta serve`: its types,
// the defaults, loading from a YAML file, ROSETTA_* environment overrides,
// command-line overrides and validation, including the security rule of
// DESIGN.md §8 (a listener reachable from other hosts needs users or
// explicitly enabled anonymous access).
//
// Precedence, highest first: flags, environment, file, defaults. The
// defaults depend on whether a file is used: with none, every listener
// binds to loopback and anonymous access is allowed, so a first run is
// safe; with a file, listeners bind to all interfaces and anonymous access
// is off unless the file turns it on.
//
// docs/configuration.md documents every key; a test checks that it does.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rosettamq/rosetta/core/auth"
)

// Off disables a listener when given as its address.
const Off = "off"

// Config is the whole configuration. Field comments give units and what
// zero means; the YAML keys are in the tags.
type Config struct {
	Listeners Listeners `yaml:"listeners"`
	TLS       TLS       `yaml:"tls"`
	// DataDir holds the durable store (storage.engine badger); it is
	// created at start if missing.
	DataDir string  `yaml:"data_dir"`
	Storage Storage `yaml:"storage"`
	Auth    Auth    `yaml:"auth"`
	Limits  Limits  `yaml:"limits"`
	STOMP   STOMP   `yaml:"stomp"`
	AMQP    AMQP    `yaml:"amqp"`
	Queues  Queues  `yaml:"queues"`
	// Transform configures payload transformation (docs/transforms.md).
	Transform Transform `yaml:"transform"`
	// ShutdownTimeout bounds the whole graceful shutdown; must be > 0.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	Log             Log           `yaml:"log"`

	// File is the configuration file the values came from; "" when none
	// was used. It selects the defaults and the anonymous-access default.
	File string `yaml:"-"`
}

// Listeners are listen addresses ("host:port", ":port" for every
// interface) or Off.
type Listeners struct {
	MQTT string `yaml:"mqtt"`
	// MQTTTLS starts only when TLS.CertFile and TLS.KeyFile are set.
	MQTTTLS string `yaml:"mqtt_tls"`
	STOMP   string `yaml:"stomp"`
	// STOMPTLS starts only when TLS.CertFile and TLS.KeyFile are set.
	STOMPTLS string `yaml:"stomp_tls"`
	AMQP     string `yaml:"amqp"`
	// AMQPTLS starts only when TLS.CertFile and TLS.KeyFile are set.
	AMQPTLS string `yaml:"amqp_tls"`
	// HTTP serves /healthz, /readyz, /metrics and the /mqtt, /stomp and
	// /amqp WebSockets.
	HTTP string `yaml:"http"`
}

// TLS names PEM files.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, makes TLS listeners require a client
	// certificate signed by one of its CAs.
	ClientCAFile string `yaml:"client_ca_file"`
}

// Enabled reports whether a certificate is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" && t.KeyFile != "" }

// Auth configures users and permissions (core/auth.StaticConfig).
type Auth struct {
	// AllowAnonymous lets clients without a user name in. nil (not set)
	// means true when no configuration file is used and false otherwise.
	AllowAnonymous       *bool        `yaml:"allow_anonymous,omitempty"`
	Users                []User       `yaml:"users,omitempty"`
	AnonymousPermissions []Permission `yaml:"anonymous_permissions,omitempty"`
	DefaultPermissions   []Permission `yaml:"default_permissions,omitempty"`
}

// User is a user allowed to log in.
type User struct {
	Name         string       `yaml:"name"`
	PasswordHash string       `yaml:"password_hash"` // bcrypt, from `rosetta passwd`
	Permissions  []Permission `yaml:"permissions,omitempty"`
}

// Permission allows an action on the addresses a pattern matches.
type Permission struct {
	Action  Action `yaml:"action"`
	Pattern string `yaml:"pattern"`
}

// Action is auth.Action read from YAML as publish, subscribe or admin.
type Action auth.Action

// UnmarshalYAML parses the action, reporting the line of a bad value.
func (a *Action) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: action must be publish, subscribe or admin", n.Line)
	}
	v, err := auth.ParseAction(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*a = Action(v)
	return nil
}

// MarshalYAML renders the action by name.
func (a Action) MarshalYAML() (any, error) { return auth.Action(a).String(), nil }

// Limits protect the broker; they are on by default. 0 means the
// front-end's default, which is the value Defaults sets.
type Limits struct {
	MaxPacketSize      int `yaml:"max_packet_size"`      // bytes per MQTT packet
	MaxConnections     int `yaml:"max_connections"`      // per front-end
	MaxSubscriptions   int `yaml:"max_subscriptions"`    // per session
	ReceiveMaximum     int `yaml:"receive_maximum"`      // inbound QoS>0 in flight per client (MQTT 5), at most 65535
	MaxInflight        int `yaml:"max_inflight"`         // outbound in flight to a client that states no Receive Maximum
	SessionQueueLength int `yaml:"session_queue_length"` // undelivered messages per session
}

// STOMP configures the STOMP front-end beyond the shared limits
// (limits.max_connections and limits.max_subscriptions apply to it too).
// For the sizes and counts, 0 means the default, which is the value
// Defaults sets; negative values are refused.
type STOMP struct {
	MaxFrameSize         int `yaml:"max_frame_size"`         // bytes per inbound frame, headers and body
	MaxBodySize          int `yaml:"max_body_size"`          // bytes per inbound body
	MaxHeaders           int `yaml:"max_headers"`            // headers per inbound frame
	MaxHeaderLine        int `yaml:"max_header_line"`        // bytes per header line
	MaxTransactions      int `yaml:"max_transactions"`       // open at once per connection
	MaxTransactionFrames int `yaml:"max_transaction_frames"` // SEND/ACK/NACK frames buffered per transaction
	// MaxPublishesInFlight bounds the durable SENDs of one connection
	// waiting for the store (pipelined, RECEIPTs in order).
	MaxPublishesInFlight int `yaml:"max_publishes_in_flight"`
	// Prefetch is the unacknowledged-message cap of a client or
	// client-individual subscription without a prefetch-count header.
	Prefetch int `yaml:"prefetch"`
	// MaxPrefetch caps a prefetch-count header.
	MaxPrefetch int `yaml:"max_prefetch"`
	// HeartBeatSend is the shortest interval at which the server offers to
	// send heart-beats, HeartBeatReceive the interval at which it asks for
	// the client's (the CONNECTED heart-beat header; the larger of each and
	// the client's wish is used). As on the wire, 0 means none.
	HeartBeatSend    time.Duration `yaml:"heart_beat_send"`
	HeartBeatReceive time.Duration `yaml:"heart_beat_receive"`
	// ConnectTimeout bounds the time from accept to a complete CONNECT;
	// 0 means the default.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// WriteTimeout bounds each socket write: a client that does not read
	// within it is closed as a slow consumer. 0 means the default.
	WriteTimeout time.Duration `yaml:"write_timeout"`
}

// AMQP configures the AMQP 1.0 front-end beyond the shared limits
// (limits.max_connections applies to it too). For the sizes and counts, 0
// means the default, which is the value Defaults sets; negative values are
// refused.
type AMQP struct {
	MaxFrameSize   int `yaml:"max_frame_size"`   // bytes, announced in open; at least 512
	MaxMessageSize int `yaml:"max_message_size"` // bytes per inbound message, all its transfer frames together
	MaxSessions    int `yaml:"max_sessions"`     // per connection (channel-max + 1), at most 65536
	MaxLinks       int `yaml:"max_links"`        // per session (handle-max + 1)
	SessionWindow  int `yaml:"session_window"`   // incoming-window, in transfer frames
	LinkCredit     int `yaml:"link_credit"`      // credit granted to a client's sending link
	MaxPending     int `yaml:"max_pending"`      // deliveries per receiving client link waiting for the socket
	// MaxPublishesInFlight bounds the durable transfers of one connection
	// waiting for the store (pipelined, dispositions once stored).
	MaxPublishesInFlight int `yaml:"max_publishes_in_flight"`
	// IdleTimeout closes a connection silent for that long; half of it is
	// announced as our idle-time-out. As on the wire, 0 means none.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ConnectTimeout bounds the time from accept to the client's open,
	// SASL included; 0 means the default.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// WriteTimeout bounds each socket write: a client that does not read
	// within it is closed as a slow consumer. 0 means the default.
	WriteTimeout time.Duration `yaml:"write_timeout"`
}

// Maximums that the wire protocols impose.
const (
	MaxPacketSizeLimit  = 268_435_455 // MQTT's Remaining Length maximum
	ReceiveMaximumLimit = 65_535      // MQTT 5 Receive Maximum is a two-byte integer
	AMQPMinFrameSize    = 512         // AMQP 1.0 §2.7.1: MIN-MAX-FRAME-SIZE
	AMQPMaxSessions     = 65_536      // AMQP 1.0 channel-max is a ushort
)

// Queues is applied to queues the broker creates on demand.
type Queues struct {
	// MaxLength in messages: 0 means the exchange default (1,000,000),
	// negative unlimited.
	MaxLength int `yaml:"max_length"`
	// MaxBytes of message data: 0 means the exchange default (256 MiB),
	// negative unlimited.
	MaxBytes int64 `yaml:"max_bytes"`
	// Overflow is what a full queue does: drop-head or reject-publish.
	Overflow Overflow `yaml:"overflow"`
	// TTL is applied to every message enqueued; 0 means none.
	TTL time.Duration `yaml:"ttl"`
	// MaxDeliveries before dead-lettering: 0 means the exchange default
	// (20), negative unlimited.
	MaxDeliveries int `yaml:"max_deliveries"`
	// DeadLetter is the dead-letter queue; "-" drops dead letters.
	DeadLetter string `yaml:"dead_letter"`
	// AutoCreate creates a named queue on first send or subscribe.
	AutoCreate bool `yaml:"auto_create"`
	// DeadLetterExpired dead-letters expired messages instead of dropping.
	DeadLetterExpired bool `yaml:"dead_letter_expired"`
	// ResidentBytes of message data a queue keeps in memory before its
	// further persisted messages are paged out to the store: 0 means the
	// exchange default (64 MiB), negative never pages.
	ResidentBytes int64 `yaml:"resident_bytes"`
}

// Transform configures payload transformation per receiver (DESIGN.md
// §6, docs/transforms.md): named pipelines, routes that assign a pipeline
// by address and receiver, and out-of-process plugins, whose names become
// step names. Pipelines and route transforms are kept as the YAML gave
// them; the transform package reads them when the engine is built.
type Transform struct {
	Pipelines []TransformPipeline `yaml:"pipelines,omitempty"`
	Routes    []TransformRoute    `yaml:"routes,omitempty"`
	Plugins   []TransformPlugin   `yaml:"plugins,omitempty"`
	// CacheEntries bounds the per-(message, format) result cache: 0 means
	// the default (4096), negative disables it.
	CacheEntries int `yaml:"cache_entries"`
	// CacheBytes bounds the cached bodies: 0 means the default (64 MiB).
	CacheBytes int64 `yaml:"cache_bytes"`
	// Timeout bounds one transformation: 0 means the default (5s).
	Timeout time.Duration `yaml:"timeout"`
	// SniffJSON treats a body without a content type as JSON when it is a
	// JSON object or array.
	SniffJSON bool `yaml:"sniff_json"`
}

// TransformPipeline is a named chain of steps.
type TransformPipeline struct {
	Name  string `yaml:"name"`
	Steps any    `yaml:"steps"`
}

// TransformRoute assigns a pipeline to deliveries whose address matches.
type TransformRoute struct {
	Name      string          `yaml:"name"`
	Match     string          `yaml:"match"`
	To        TransformTarget `yaml:"to"`
	Transform any             `yaml:"transform"`
}

// TransformTarget narrows a route to receivers of one protocol or queue.
type TransformTarget struct {
	Protocol string `yaml:"protocol"`
	Queue    string `yaml:"queue"`
}

// TransformPlugin is an out-of-process transformer (docs/plugins.md).
type TransformPlugin struct {
	Name   string   `yaml:"name"`
	Path   string   `yaml:"path"`
	Args   []string `yaml:"args"`
	SHA256 string   `yaml:"sha256"`
	Env    []string `yaml:"env"`
	// CallTimeout bounds one call; 0 means 5s.
	CallTimeout time.Duration `yaml:"call_timeout"`
	// MaxBatch is the most messages in one call; 0 means 256.
	MaxBatch int `yaml:"max_batch"`
	// BatchWait is how long a call waits for more messages; 0 means none.
	BatchWait time.Duration `yaml:"batch_wait"`
	// MaxInFlight is the most concurrent calls; 0 means 2.
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxRestarts in a row without a successful call before giving up; 0
	// means 10.
	MaxRestarts int `yaml:"max_restarts"`
}

// Storage configures the store (DESIGN.md §7). The sizes and counts
// follow storage/badger.Options: 0 means badger's default, which is the
// value Defaults sets (a test in cmd/rosetta checks they agree).
type Storage struct {
	// Engine is badger (durable, in DataDir) or memory (nothing is
	// written; everything is lost when the process ends).
	Engine Engine `yaml:"engine"`
	// Sync is when a commit reaches the disk: batch (one fsync per group
	// commit), always (one per commit) or none (no fsync: safe against a
	// crash of the process, not of the machine).
	Sync SyncPolicy `yaml:"sync"`
	// BatchMax is the most operations one group commit gathers.
	BatchMax int `yaml:"batch_max"`
	// BatchDelay bounds how long a commit waits for others to join its
	// group; negative never waits.
	BatchDelay time.Duration `yaml:"batch_delay"`
	// MemTableSize in bytes; badger keeps three.
	MemTableSize int64 `yaml:"memtable_size"`
	// BlockCacheSize in bytes; negative means none.
	BlockCacheSize int64 `yaml:"block_cache_size"`
	// ValueThreshold in bytes: message records at least this large go to
	// the value log instead of the LSM tree.
	ValueThreshold int64 `yaml:"value_threshold"`
	// ValueLogFileSize in bytes, from 1 MiB to under 2 GiB.
	ValueLogFileSize int64 `yaml:"value_log_file_size"`
	// GCInterval is how often value-log garbage collection runs; negative
	// never.
	GCInterval time.Duration `yaml:"gc_interval"`
}

// Engine names a storage engine.
type Engine string

// Storage engines.
const (
	EngineBadger Engine = "badger"
	EngineMemory Engine = "memory"
)

// UnmarshalYAML checks the engine, reporting the line of a bad value.
func (e *Engine) UnmarshalYAML(n *yaml.Node) error {
	if err := oneOf(n, "storage engine", string(EngineBadger), string(EngineMemory)); err != nil {
		return err
	}
	*e = Engine(n.Value)
	return nil
}

// SyncPolicy names a sync policy of the badger engine.
type SyncPolicy string

// Sync policies.
const (
	SyncBatch  SyncPolicy = "batch"
	SyncAlways SyncPolicy = "always"
	SyncNone   SyncPolicy = "none"
)

// UnmarshalYAML checks the policy, reporting the line of a bad value.
func (p *SyncPolicy) UnmarshalYAML(n *yaml.Node) error {
	if err := oneOf(n, "storage sync", string(SyncBatch), string(SyncAlways), string(SyncNone)); err != nil {
		return err
	}
	*p = SyncPolicy(n.Value)
	return nil
}

// Overflow is a queue overflow policy.
type Overflow string

// Overflow policies.
const (
	DropHead      Overflow = "drop-head"
	RejectPublish Overflow = "reject-publish"
)

// UnmarshalYAML checks the policy, reporting the line of a bad value.
func (o *Overflow) UnmarshalYAML(n *yaml.Node) error {
	if err := oneOf(n, "overflow", string(DropHead), string(RejectPublish)); err != nil {
		return err
	}
	*o = Overflow(n.Value)
	return nil
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level LogLevel `yaml:"level"`
	// Format is text, json or auto (text on a terminal, JSON otherwise).
	Format LogFormat `yaml:"format"`
}

// LogLevel is a log level name.
type LogLevel string

// UnmarshalYAML checks the level, reporting the line of a bad value.
func (l *LogLevel) UnmarshalYAML(n *yaml.Node) error {
	if err := oneOf(n, "log level", "debug", "info", "warn", "error"); err != nil {
		return err
	}
	*l = LogLevel(n.Value)
	return nil
}

// Level returns the slog level; unknown names are Info (Validate refuses
// them before this is used).
func (l LogLevel) Level() slog.Level {
	switch l {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// LogFormat is a log format name.
type LogFormat string

// Log formats.
const (
	FormatAuto LogFormat = "auto"
	FormatText LogFormat = "text"
	FormatJSON LogFormat = "json"
)

// UnmarshalYAML checks the format, reporting the line of a bad value.
func (f *LogFormat) UnmarshalYAML(n *yaml.Node) error {
	if err := oneOf(n, "log format", string(FormatAuto), string(FormatText), string(FormatJSON)); err != nil {
		return err
	}
	*f = LogFormat(n.Value)
	return nil
}

func oneOf(n *yaml.Node, what string, allowed ...string) error {
	if n.Kind == yaml.ScalarNode {
		for _, a := range allowed {
			if n.Value == a {
				return nil
			}
		}
	}
	return fmt.Errorf("line %d: %s must be one of %s, not %q", n.Line, what, strings.Join(allowed, ", "), n.Value)
}

// Defaults returns the configuration used before the file, environment and
// flags are applied. withFile selects the listener hosts: all interfaces
// when a configuration file is used, loopback when not (DESIGN.md §8).
func Defaults(withFile bool) Config {
	host := "127.0.0.1"
	if withFile {
		host = ""
	}
	addr := func(port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
	return Config{
		Listeners: Listeners{
			MQTT:     addr(1883),
			MQTTTLS:  addr(8883),
			STOMP:    addr(61613),
			STOMPTLS: addr(61614),
			AMQP:     addr(5672),
			AMQPTLS:  addr(5671),
			HTTP:     addr(8080),
		},
		DataDir: "./data",
		// storage/badger's own defaults, stated here so that docs and
		// `serve` agree; a test in cmd/rosetta checks them.
		Storage: Storage{
			Engine:           EngineBadger,
			Sync:             SyncBatch,
			BatchMax:         1024,
			BatchDelay:       time.Millisecond,
			MemTableSize:     32 << 20,
			BlockCacheSize:   64 << 20,
			ValueThreshold:   4 << 10,
			ValueLogFileSize: 128 << 20,
			GCInterval:       5 * time.Minute,
		},
		Limits: Limits{
			MaxPacketSize:      1 << 20,
			MaxConnections:     100_000,
			MaxSubscriptions:   100,
			ReceiveMaximum:     1024,
			MaxInflight:        256,
			SessionQueueLength: 100_000,
		},
		// The STOMP front-end's own defaults (protocols/stomp), stated here
		// so that docs and `serve` agree; a test in cmd/rosetta checks them.
		STOMP: STOMP{
			MaxFrameSize:         1<<20 + 64<<10,
			MaxBodySize:          1 << 20,
			MaxHeaders:           128,
			MaxHeaderLine:        16 << 10,
			MaxTransactions:      16,
			MaxTransactionFrames: 10_000,
			MaxPublishesInFlight: 1024,
			Prefetch:             100,
			MaxPrefetch:          10_000,
			HeartBeatSend:        100 * time.Millisecond,
			HeartBeatReceive:     100 * time.Millisecond,
			ConnectTimeout:       10 * time.Second,
			WriteTimeout:         10 * time.Second,
		},
		// The AMQP front-end's own defaults (protocols/amqp), stated here so
		// that docs and `serve` agree; a test in cmd/rosetta checks them.
		AMQP: AMQP{
			MaxFrameSize:         64 << 10,
			MaxMessageSize:       1 << 20,
			MaxSessions:          64,
			MaxLinks:             256,
			SessionWindow:        2048,
			LinkCredit:           256,
			MaxPending:           1000,
			MaxPublishesInFlight: 1024,
			IdleTimeout:          60 * time.Second,
			ConnectTimeout:       10 * time.Second,
			WriteTimeout:         10 * time.Second,
		},
		Queues: Queues{
			Overflow:   DropHead,
			DeadLetter: "$dlq",
			AutoCreate: true,
		},
		ShutdownTimeout: 10 * time.Second,
		Log:             Log{Level: "info", Format: FormatAuto},
	}
}

// AnonymousAllowed is the effective allow_anonymous: as set, else true
// only when no configuration file is used.
func (c *Config) AnonymousAllowed() bool {
	if c.Auth.AllowAnonymous != nil {
		return *c.Auth.AllowAnonymous
	}
	return c.File == ""
}

// StaticAuth converts the auth section for auth.NewStatic.
func (c *Config) StaticAuth() auth.StaticConfig {
	perms := func(ps []Permission) []auth.Permission {
		if len(ps) == 0 {
			return nil
		}
		out := make([]auth.Permission, len(ps))
		for i, p := range ps {
			out[i] = auth.Permission{Action: auth.Action(p.Action), Pattern: p.Pattern}
		}
		return out
	}
	sc := auth.StaticConfig{
		AllowAnonymous:       c.AnonymousAllowed(),
		AnonymousPermissions: perms(c.Auth.AnonymousPermissions),
		DefaultPermissions:   perms(c.Auth.DefaultPermissions),
	}
	for _, u := range c.Auth.Users {
		sc.Users = append(sc.Users, auth.User{Name: u.Name, PasswordHash: u.PasswordHash, Permissions: perms(u.Permissions)})
	}
	return sc
}

// Listener is one configured listener.
type Listener struct {
	Name string // "mqtt", "mqtt_tls", "stomp", "stomp_tls", "amqp", "amqp_tls", "http": the YAML key
	Addr string // as configured, never Off
}

// EnabledListeners returns the listeners that are not Off, in a fixed
// order. The TLS listeners are left out when no certificate is
// configured, because they do not start then.
func (c *Config) EnabledListeners() []Listener {
	var out []Listener
	for _, l := range c.allListeners() {
		if IsOff(l.Addr) || (IsTLSListener(l.Name) && !c.TLS.Enabled()) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// allListeners returns every listener, Off or not, in a fixed order.
func (c *Config) allListeners() []Listener {
	return []Listener{
		{"mqtt", c.Listeners.MQTT},
		{"mqtt_tls", c.Listeners.MQTTTLS},
		{"stomp", c.Listeners.STOMP},
		{"stomp_tls", c.Listeners.STOMPTLS},
		{"amqp", c.Listeners.AMQP},
		{"amqp_tls", c.Listeners.AMQPTLS},
		{"http", c.Listeners.HTTP},
	}
}

// IsTLSListener reports whether the named listener speaks TLS and so
// starts only when a certificate is configured.
func IsTLSListener(name string) bool {
	return name == "mqtt_tls" || name == "stomp_tls" || name == "amqp_tls"
}

// IsOff reports whether a listener address disables the listener.
func IsOff(addr string) bool { return strings.EqualFold(addr, Off) }
