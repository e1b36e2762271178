package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rosettamq/rosetta/core/auth"
)

// A bcrypt hash of "secret" at cost 4; validation only parses it.
const testHash = "$2a$04$CSXBmRoukKA8h7EzWJ3l2OuvXeL6ZoztSfG68fYrUFHuhUk9xTud6"

func ptr[T any](v T) *T { return &v }

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rosetta.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		name     string
		withFile bool
		mqtt     string
		http     string
		anon     bool
	}{
		{"no file binds loopback and allows anonymous", false, "127.0.0.1:1883", "127.0.0.1:8080", true},
		{"file binds every interface and refuses anonymous", true, ":1883", ":8080", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults(tt.withFile)
			if tt.withFile {
				c.File = "rosetta.yaml"
			}
			if c.Listeners.MQTT != tt.mqtt || c.Listeners.HTTP != tt.http {
				t.Fatalf("listeners = %+v", c.Listeners)
			}
			if got := c.AnonymousAllowed(); got != tt.anon {
				t.Fatalf("AnonymousAllowed = %v, want %v", got, tt.anon)
			}
			if !tt.withFile {
				if err := c.Validate(); err != nil {
					t.Fatalf("defaults without a file do not validate: %v", err)
				}
			}
		})
	}
}

func TestParse(t *testing.T) {
	full := `
listeners: {mqtt: "127.0.0.1:1884", mqtt_tls: off, stomp: ":61613", stomp_tls: ":61615", amqp: ":5672", amqp_tls: ":5673", http: ":8081"}
tls: {cert_file: c.pem, key_file: k.pem, client_ca_file: ca.pem}
data_dir: /var/lib/rosetta
storage:
  engine: memory
  sync: always
  batch_max: 64
  batch_delay: 2ms
  memtable_size: 16777216
  block_cache_size: -1
  value_threshold: 1024
  value_log_file_size: 67108864
  gc_interval: -1s
auth:
  allow_anonymous: false
  users:
    - name: alice
      password_hash: "` + testHash + `"
      permissions: [{action: publish, pattern: "devices/{client_id}/#"}]
  anonymous_permissions: [{action: subscribe, pattern: "public/#"}]
  default_permissions: [{action: subscribe, pattern: "users/{username}/#"}]
limits: {max_packet_size: 2048, max_connections: 10, max_subscriptions: 5, receive_maximum: 16, max_inflight: 8, session_queue_length: 50}
stomp:
  max_frame_size: 4096
  max_body_size: 2048
  max_headers: 10
  max_header_line: 512
  max_transactions: 2
  max_transaction_frames: 20
  max_publishes_in_flight: 7
  prefetch: 5
  max_prefetch: 50
  heart_beat_send: 0s
  heart_beat_receive: 30s
  connect_timeout: 2s
  write_timeout: 4s
amqp:
  max_frame_size: 4096
  max_message_size: 65536
  max_sessions: 4
  max_links: 16
  session_window: 100
  link_credit: 50
  max_pending: 200
  max_publishes_in_flight: 9
  idle_timeout: 0s
  connect_timeout: 3s
  write_timeout: 5s
queues: {max_length: 10, max_bytes: 4096, overflow: reject-publish, ttl: 1m, max_deliveries: 3, dead_letter: "dead", auto_create: false, dead_letter_expired: true, resident_bytes: 1048576}
shutdown_timeout: 3s
log: {level: debug, format: json}
`
	want := Config{
		Listeners: Listeners{MQTT: "127.0.0.1:1884", MQTTTLS: "off", STOMP: ":61613", STOMPTLS: ":61615", AMQP: ":5672", AMQPTLS: ":5673", HTTP: ":8081"},
		TLS:       TLS{CertFile: "c.pem", KeyFile: "k.pem", ClientCAFile: "ca.pem"},
		DataDir:   "/var/lib/rosetta",
		Storage: Storage{Engine: EngineMemory, Sync: SyncAlways, BatchMax: 64, BatchDelay: 2 * time.Millisecond,
			MemTableSize: 16 << 20, BlockCacheSize: -1, ValueThreshold: 1024, ValueLogFileSize: 64 << 20, GCInterval: -time.Second},
		Auth: Auth{
			AllowAnonymous: ptr(false),
			Users: []User{{Name: "alice", PasswordHash: testHash,
				Permissions: []Permission{{Action: Action(auth.Publish), Pattern: "devices/{client_id}/#"}}}},
			AnonymousPermissions: []Permission{{Action: Action(auth.Subscribe), Pattern: "public/#"}},
			DefaultPermissions:   []Permission{{Action: Action(auth.Subscribe), Pattern: "users/{username}/#"}},
		},
		Limits: Limits{2048, 10, 5, 16, 8, 50},
		STOMP: STOMP{MaxFrameSize: 4096, MaxBodySize: 2048, MaxHeaders: 10, MaxHeaderLine: 512, MaxTransactions: 2,
			MaxTransactionFrames: 20, MaxPublishesInFlight: 7, Prefetch: 5, MaxPrefetch: 50, HeartBeatSend: 0, HeartBeatReceive: 30 * time.Second,
			ConnectTimeout: 2 * time.Second, WriteTimeout: 4 * time.Second},
		AMQP: AMQP{MaxFrameSize: 4096, MaxMessageSize: 65536, MaxSessions: 4, MaxLinks: 16, SessionWindow: 100, LinkCredit: 50,
			MaxPending: 200, MaxPublishesInFlight: 9, IdleTimeout: 0, ConnectTimeout: 3 * time.Second, WriteTimeout: 5 * time.Second},
		Queues:          Queues{10, 4096, RejectPublish, time.Minute, 3, "dead", false, true, 1 << 20},
		ShutdownTimeout: 3 * time.Second,
		Log:             Log{Level: "debug", Format: FormatJSON},
	}

	tests := []struct {
		name    string
		yaml    string
		want    *Config // nil: only check the error
		wantErr string  // substring; "" means success
	}{
		{"full", full, &want, ""},
		{"empty file is all defaults", "", ptr(Defaults(true)), ""},
		{"comment only", "# nothing\n", ptr(Defaults(true)), ""},
		{"partial keeps other defaults", "listeners: {mqtt: ':1999'}\n", func() *Config {
			c := Defaults(true)
			c.Listeners.MQTT = ":1999"
			return &c
		}(), ""},
		{"unknown top-level key", "data_dir: x\nlistenres: {}\n", nil, "line 2: field listenres not found"},
		{"unknown nested key", "listeners:\n  mqtt: ':1'\n  mqqt: ':2'\n", nil, "line 3: field mqqt not found"},
		{"unknown user key", "auth:\n  users:\n    - name: a\n      password: x\n", nil, "line 4: field password not found"},
		{"bad action", "auth:\n  default_permissions:\n    - {action: pub, pattern: '#'}\n", nil, `line 3: auth: invalid permission: unknown action "pub"`},
		{"bad overflow", "queues:\n  overflow: drop-tail\n", nil, `line 2: overflow must be one of drop-head, reject-publish, not "drop-tail"`},
		{"bad engine", "storage:\n  engine: rocksdb\n", nil, `line 2: storage engine must be one of badger, memory, not "rocksdb"`},
		{"bad sync", "storage: {sync: sometimes}\n", nil, `line 1: storage sync must be one of batch, always, none`},
		{"bad level", "log: {level: verbose}\n", nil, `line 1: log level must be one of`},
		{"bad format", "log:\n  format: xml\n", nil, `line 2: log format must be one of`},
		{"duration as number", "shutdown_timeout: 10\n", nil, "line 1: cannot unmarshal"},
		{"bad duration", "queues: {ttl: forever}\n", nil, "line 1: cannot unmarshal"},
		{"wrong type", "limits: {max_connections: many}\n", nil, "line 1: cannot unmarshal"},
		{"not a mapping", "- a\n- b\n", nil, "cannot unmarshal !!seq"},
		{"two documents", "data_dir: a\n---\ndata_dir: b\n", nil, "line 2: a second YAML document"},
		{"syntax error", "listeners: {mqtt: \n", nil, "yaml:"},
		{"too large", strings.Repeat("#", MaxFileSize+1), nil, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("test.yaml", []byte(tt.yaml), Defaults(true))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error = %v; want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tt.want != nil && !reflect.DeepEqual(got, *tt.want) {
				t.Fatalf("Parse =\n%+v\nwant\n%+v", got, *tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	type mod func(c *Config)
	withFile := func(c *Config) { c.File = "rosetta.yaml" }
	loopbackAll := func(c *Config) {
		c.Listeners = Listeners{MQTT: "127.0.0.1:1883", MQTTTLS: "127.0.0.1:8883", STOMP: "off", STOMPTLS: "127.0.0.1:61614",
			AMQP: "[::1]:5672", AMQPTLS: "[::1]:5671", HTTP: "localhost:8080"}
	}
	user := func(c *Config) { c.Auth.Users = []User{{Name: "alice", PasswordHash: testHash}} }
	tests := []struct {
		name    string
		file    bool // start from the with-file defaults
		mods    []mod
		wantErr string
	}{
		{"no file defaults", false, nil, ""},
		{"file, all interfaces, nobody configured", true, []mod{withFile}, "listeners mqtt (:1883), stomp (:61613), amqp (:5672), http (:8080) accept connections from other hosts"},
		{"file, all interfaces, users", true, []mod{withFile, user}, ""},
		{"file, all interfaces, anonymous explicit", true, []mod{withFile, func(c *Config) { c.Auth.AllowAnonymous = ptr(true) }}, ""},
		{"file, anonymous explicitly false", true, []mod{withFile, func(c *Config) { c.Auth.AllowAnonymous = ptr(false) }}, "accept connections from other hosts"},
		{"file, loopback only, nobody configured", true, []mod{withFile, loopbackAll}, ""},
		{"no file, flag opens mqtt to the network", false, []mod{func(c *Config) { c.Listeners.MQTT = "0.0.0.0:1883" }}, "listeners mqtt (0.0.0.0:1883) accept"},
		{"no file, network, anonymous explicit", false, []mod{func(c *Config) { c.Listeners.MQTT = ":1883"; c.Auth.AllowAnonymous = ptr(true) }}, ""},
		{"hostname other than localhost counts as exposed", false, []mod{func(c *Config) { c.Listeners.HTTP = "broker.example:8080" }}, "http (broker.example:8080)"},
		{"mqtt_tls without certificate is not exposed", true, []mod{withFile, loopbackAll, func(c *Config) { c.Listeners.MQTTTLS = ":8883" }}, ""},
		{"mqtt_tls with certificate is exposed", true, []mod{withFile, loopbackAll, func(c *Config) {
			c.Listeners.MQTTTLS = ":8883"
			c.TLS = TLS{CertFile: "c", KeyFile: "k"}
		}}, "mqtt_tls (:8883)"},
		{"stomp_tls without certificate is not exposed", true, []mod{withFile, loopbackAll, func(c *Config) { c.Listeners.STOMPTLS = ":61614" }}, ""},
		{"stomp_tls with certificate is exposed", true, []mod{withFile, loopbackAll, func(c *Config) {
			c.Listeners.STOMPTLS = ":61614"
			c.TLS = TLS{CertFile: "c", KeyFile: "k"}
		}}, "stomp_tls (:61614)"},
		{"stomp and stomp_tls clash", false, []mod{func(c *Config) {
			c.Listeners.STOMPTLS = c.Listeners.STOMP
			c.TLS = TLS{CertFile: "c", KeyFile: "k"}
		}}, "listeners.stomp_tls: address \"127.0.0.1:61613\" is also used by listeners.stomp"},
		{"negative stomp limit", false, []mod{func(c *Config) { c.STOMP.Prefetch = -1 }}, "stomp.prefetch: must not be negative"},
		{"zero stomp limits mean defaults", false, []mod{func(c *Config) {
			c.STOMP = STOMP{HeartBeatSend: c.STOMP.HeartBeatSend, HeartBeatReceive: c.STOMP.HeartBeatReceive}
		}}, ""},
		{"stomp body larger than frame", false, []mod{func(c *Config) { c.STOMP.MaxBodySize = c.STOMP.MaxFrameSize + 1 }}, "stomp.max_body_size"},
		{"negative heart-beat", false, []mod{func(c *Config) { c.STOMP.HeartBeatReceive = -time.Second }}, "stomp.heart_beat_receive: must not be negative"},
		{"heart-beat finer than a millisecond", false, []mod{func(c *Config) { c.STOMP.HeartBeatSend = time.Microsecond }}, "stomp.heart_beat_send: must be whole milliseconds"},
		{"heart-beats off", false, []mod{func(c *Config) { c.STOMP.HeartBeatSend, c.STOMP.HeartBeatReceive = 0, 0 }}, ""},
		{"amqp_tls without certificate is not exposed", true, []mod{withFile, loopbackAll, func(c *Config) { c.Listeners.AMQPTLS = ":5671" }}, ""},
		{"amqp_tls with certificate is exposed", true, []mod{withFile, loopbackAll, func(c *Config) {
			c.Listeners.AMQPTLS = ":5671"
			c.TLS = TLS{CertFile: "c", KeyFile: "k"}
		}}, "amqp_tls (:5671)"},
		{"amqp and amqp_tls clash", false, []mod{func(c *Config) {
			c.Listeners.AMQPTLS = c.Listeners.AMQP
			c.TLS = TLS{CertFile: "c", KeyFile: "k"}
		}}, "listeners.amqp_tls: address \"127.0.0.1:5672\" is also used by listeners.amqp"},
		{"negative amqp limit", false, []mod{func(c *Config) { c.AMQP.LinkCredit = -1 }}, "amqp.link_credit: must not be negative"},
		{"zero amqp limits mean defaults", false, []mod{func(c *Config) { c.AMQP = AMQP{} }}, ""},
		{"amqp frame below the minimum", false, []mod{func(c *Config) { c.AMQP.MaxFrameSize = 511 }}, "amqp.max_frame_size: at least 512"},
		{"amqp sessions above channel-max", false, []mod{func(c *Config) { c.AMQP.MaxSessions = AMQPMaxSessions + 1 }}, "amqp.max_sessions: at most 65536"},
		{"negative amqp timeout", false, []mod{func(c *Config) { c.AMQP.WriteTimeout = -time.Second }}, "amqp.write_timeout: must not be negative"},
		{"amqp idle timeout finer than a millisecond", false, []mod{func(c *Config) { c.AMQP.IdleTimeout = time.Microsecond }}, "amqp.idle_timeout: must be whole milliseconds"},
		{"all off", true, []mod{withFile, func(c *Config) {
			c.Listeners = Listeners{"off", "off", "OFF", "off", "off", "off", "off"}
		}}, ""},
		{"empty address", false, []mod{func(c *Config) { c.Listeners.MQTT = "" }}, `listeners.mqtt: empty address (use "off"`},
		{"no port", false, []mod{func(c *Config) { c.Listeners.MQTT = "127.0.0.1" }}, "listeners.mqtt: address \"127.0.0.1\": want host:port"},
		{"port range", false, []mod{func(c *Config) { c.Listeners.HTTP = "127.0.0.1:70000" }}, "port must be a number from 0 to 65535"},
		{"named port", false, []mod{func(c *Config) { c.Listeners.HTTP = "127.0.0.1:http" }}, "port must be a number"},
		{"clash", false, []mod{func(c *Config) { c.Listeners.HTTP = "127.0.0.1:1883" }}, "listeners.http: address \"127.0.0.1:1883\" is also used by listeners.mqtt"},
		{"port 0 twice is fine", false, []mod{func(c *Config) { c.Listeners.HTTP = "127.0.0.1:0"; c.Listeners.MQTT = "127.0.0.1:0" }}, ""},
		{"cert without key", false, []mod{func(c *Config) { c.TLS.CertFile = "c.pem" }}, "tls.key_file: required"},
		{"key without cert", false, []mod{func(c *Config) { c.TLS.KeyFile = "k.pem" }}, "tls.cert_file: required"},
		{"client CA without cert", false, []mod{func(c *Config) { c.TLS.ClientCAFile = "ca.pem" }}, "tls.client_ca_file: needs"},
		{"empty data dir", false, []mod{func(c *Config) { c.DataDir = " " }}, "data_dir: must not be empty"},
		{"bad hash", false, []mod{func(c *Config) { c.Auth.Users = []User{{Name: "a", PasswordHash: "x"}} }}, `auth: user "a": password hash is not a bcrypt hash`},
		{"bad pattern", false, []mod{func(c *Config) {
			c.Auth.DefaultPermissions = []Permission{{Action: Action(auth.Publish), Pattern: "a/{user}"}}
		}}, "unknown variable {user}"},
		{"negative limit", false, []mod{func(c *Config) { c.Limits.MaxConnections = -1 }}, "limits.max_connections: must not be negative"},
		{"receive maximum too big", false, []mod{func(c *Config) { c.Limits.ReceiveMaximum = 70000 }}, "limits.receive_maximum: at most 65535"},
		{"packet size too big", false, []mod{func(c *Config) { c.Limits.MaxPacketSize = MaxPacketSizeLimit + 1 }}, "limits.max_packet_size: at most"},
		{"zero limits mean defaults", false, []mod{func(c *Config) { c.Limits = Limits{} }}, ""},
		{"negative queue limits mean unlimited", false, []mod{func(c *Config) { c.Queues.MaxLength = -1; c.Queues.MaxBytes = -1 }}, ""},
		{"bad overflow", false, []mod{func(c *Config) { c.Queues.Overflow = "x" }}, "queues.overflow"},
		{"negative ttl", false, []mod{func(c *Config) { c.Queues.TTL = -time.Second }}, "queues.ttl"},
		{"dead letter with wildcard", false, []mod{func(c *Config) { c.Queues.DeadLetter = "dlq/#" }}, "queues.dead_letter"},
		{"dead letter dropped", false, []mod{func(c *Config) { c.Queues.DeadLetter = "-" }}, ""},
		{"bad engine", false, []mod{func(c *Config) { c.Storage.Engine = "rocksdb" }}, `storage.engine: must be badger or memory, not "rocksdb"`},
		{"bad sync", false, []mod{func(c *Config) { c.Storage.Sync = "" }}, "storage.sync: must be batch, always or none"},
		{"zero storage sizes mean defaults", false, []mod{func(c *Config) {
			c.Storage = Storage{Engine: EngineBadger, Sync: SyncNone}
		}}, ""},
		{"negative memtable", false, []mod{func(c *Config) { c.Storage.MemTableSize = -1 }}, "storage.memtable_size: must not be negative"},
		{"negative batch max", false, []mod{func(c *Config) { c.Storage.BatchMax = -1 }}, "storage.batch_max: must not be negative"},
		{"negative cache and intervals allowed", false, []mod{func(c *Config) {
			c.Storage.BlockCacheSize, c.Storage.BatchDelay, c.Storage.GCInterval = -1, -1, -1
		}}, ""},
		{"value log file too small", false, []mod{func(c *Config) { c.Storage.ValueLogFileSize = 1000 }}, "storage.value_log_file_size: must be from 1 MiB"},
		{"value log file too large", false, []mod{func(c *Config) { c.Storage.ValueLogFileSize = 2 << 30 }}, "storage.value_log_file_size"},
		{"value threshold above the transaction limit", false, []mod{func(c *Config) {
			c.Storage.MemTableSize, c.Storage.ValueThreshold = 1<<20, 1<<19
		}}, "storage.value_threshold: 524288 is above 15% of storage.memtable_size"},
		{"zero shutdown timeout", false, []mod{func(c *Config) { c.ShutdownTimeout = 0 }}, "shutdown_timeout: must be positive"},
		{"bad log level", false, []mod{func(c *Config) { c.Log.Level = "trace" }}, "log.level"},
		{"bad log format", false, []mod{func(c *Config) { c.Log.Format = "xml" }}, "log.format"},
		{"several errors at once", false, []mod{func(c *Config) { c.Log.Level = "trace"; c.DataDir = "" }}, "data_dir: must not be empty\nlog.level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults(tt.file)
			for _, m := range tt.mods {
				m(&c)
			}
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate error = %v; want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestResolvePrecedence checks flags > env > file > defaults, key by key.
func TestResolvePrecedence(t *testing.T) {
	file := writeFile(t, `
listeners: {mqtt: "127.0.0.1:1001", http: "127.0.0.1:1002", stomp: off, amqp: off}
data_dir: from-file
log: {level: warn}
auth: {allow_anonymous: false}
`)
	tests := []struct {
		name  string
		flags Overrides
		env   []string
		check func(t *testing.T, c Config)
	}{
		{"file over defaults", Overrides{ConfigFile: &file}, nil, func(t *testing.T, c Config) {
			eq(t, "mqtt", c.Listeners.MQTT, "127.0.0.1:1001")
			eq(t, "data_dir", c.DataDir, "from-file")
			eq(t, "level", string(c.Log.Level), "warn")
			eq(t, "format (default)", string(c.Log.Format), "auto")
			eq(t, "mqtt_tls (file default: all interfaces)", c.Listeners.MQTTTLS, ":8883")
			eq(t, "anonymous", c.AnonymousAllowed(), false)
			eq(t, "File", c.File, file)
		}},
		{"env over file", Overrides{ConfigFile: &file}, []string{
			"ROSETTA_MQTT_ADDR=127.0.0.1:2001", "ROSETTA_DATA_DIR=from-env", "ROSETTA_LOG_LEVEL=error",
			"ROSETTA_ALLOW_ANONYMOUS=true", "ROSETTA_SHUTDOWN_TIMEOUT=2s", "ROSETTA_HTTP_ADDR=",
		}, func(t *testing.T, c Config) {
			eq(t, "mqtt", c.Listeners.MQTT, "127.0.0.1:2001")
			eq(t, "http (empty env is unset)", c.Listeners.HTTP, "127.0.0.1:1002")
			eq(t, "data_dir", c.DataDir, "from-env")
			eq(t, "level", string(c.Log.Level), "error")
			eq(t, "anonymous", c.AnonymousAllowed(), true)
			eq(t, "shutdown", c.ShutdownTimeout, 2*time.Second)
		}},
		{"flags over env", Overrides{ConfigFile: &file, MQTT: ptr("127.0.0.1:3001"), DataDir: ptr("from-flag"), LogLevel: ptr("debug"), LogFormat: ptr("json")},
			[]string{"ROSETTA_MQTT_ADDR=127.0.0.1:2001", "ROSETTA_DATA_DIR=from-env", "ROSETTA_LOG_LEVEL=error", "ROSETTA_LOG_FORMAT=text"},
			func(t *testing.T, c Config) {
				eq(t, "mqtt", c.Listeners.MQTT, "127.0.0.1:3001")
				eq(t, "data_dir", c.DataDir, "from-flag")
				eq(t, "level", string(c.Log.Level), "debug")
				eq(t, "format", string(c.Log.Format), "json")
			}},
		{"storage from env", Overrides{}, []string{"ROSETTA_STORAGE=memory", "ROSETTA_SYNC=none"}, func(t *testing.T, c Config) {
			eq(t, "engine", c.Storage.Engine, EngineMemory)
			eq(t, "sync", c.Storage.Sync, SyncNone)
		}},
		{"storage flags over env", Overrides{Storage: ptr("badger"), Sync: ptr("always")}, []string{"ROSETTA_STORAGE=memory", "ROSETTA_SYNC=none"},
			func(t *testing.T, c Config) {
				eq(t, "engine", c.Storage.Engine, EngineBadger)
				eq(t, "sync", c.Storage.Sync, SyncAlways)
			}},
		{"env names the file", Overrides{}, []string{"ROSETTA_CONFIG=" + file}, func(t *testing.T, c Config) {
			eq(t, "File", c.File, file)
			eq(t, "mqtt", c.Listeners.MQTT, "127.0.0.1:1001")
		}},
		{"flag file over env file", Overrides{ConfigFile: &file}, []string{"ROSETTA_CONFIG=/nonexistent.yaml"}, func(t *testing.T, c Config) {
			eq(t, "File", c.File, file)
		}},
		{"flag disables a listener", Overrides{STOMP: ptr("off"), AMQP: ptr("off"), MQTTTLS: ptr("off"), HTTP: ptr("off")}, nil, func(t *testing.T, c Config) {
			eq(t, "listeners", len(c.EnabledListeners()), 1)
		}},
		{"no file: loopback defaults", Overrides{}, []string{"PATH=/bin", "HOME=/root"}, func(t *testing.T, c Config) {
			eq(t, "mqtt", c.Listeners.MQTT, "127.0.0.1:1883")
			eq(t, "anonymous", c.AnonymousAllowed(), true)
		}},
		{"tls from env", Overrides{}, []string{"ROSETTA_TLS_CERT_FILE=c.pem", "ROSETTA_TLS_KEY_FILE=k.pem", "ROSETTA_TLS_CLIENT_CA_FILE=ca.pem", "ROSETTA_MQTT_TLS_ADDR=127.0.0.1:8884"}, func(t *testing.T, c Config) {
			eq(t, "tls", c.TLS, TLS{"c.pem", "k.pem", "ca.pem"})
			eq(t, "mqtt_tls", c.Listeners.MQTTTLS, "127.0.0.1:8884")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Resolve(tt.flags, tt.env)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestResolveErrors(t *testing.T) {
	open := writeFile(t, "log: {level: info}\n")
	tests := []struct {
		name    string
		flags   Overrides
		env     []string
		wantErr string
	}{
		{"missing file", Overrides{ConfigFile: ptr("/nonexistent/rosetta.yaml")}, nil, "config file: open /nonexistent/rosetta.yaml"},
		{"bad bool", Overrides{}, []string{"ROSETTA_ALLOW_ANONYMOUS=maybe"}, "ROSETTA_ALLOW_ANONYMOUS: want true or false"},
		{"bad duration", Overrides{}, []string{"ROSETTA_SHUTDOWN_TIMEOUT=10"}, "ROSETTA_SHUTDOWN_TIMEOUT: want a duration"},
		{"bad level from env", Overrides{}, []string{"ROSETTA_LOG_LEVEL=loud"}, "log.level"},
		{"bad engine from env", Overrides{}, []string{"ROSETTA_STORAGE=disk"}, "storage.engine"},
		{"bad sync from flag", Overrides{Sync: ptr("fsync")}, nil, "storage.sync"},
		{"bad flag address", Overrides{MQTT: ptr("nowhere")}, nil, "listeners.mqtt"},
		{"file exposes without users", Overrides{ConfigFile: &open}, nil, "accept connections from other hosts"},
		{"env cannot rescue with false", Overrides{ConfigFile: &open}, []string{"ROSETTA_ALLOW_ANONYMOUS=false"}, "accept connections from other hosts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Resolve(tt.flags, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Resolve error = %v; want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestResolveWarnsUnknownEnv(t *testing.T) {
	_, warnings, err := Resolve(Overrides{}, []string{"ROSETTA_MQTT_ADRR=x", "ROSETTA_IT_BIN=/tmp/r", "OTHER=1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"unknown environment variable ROSETTA_MQTT_ADRR ignored"}
	if !reflect.DeepEqual(warnings, want) {
		t.Fatalf("warnings = %q, want %q", warnings, want)
	}
}

func TestStaticAuth(t *testing.T) {
	c := Defaults(true)
	c.File = "x.yaml"
	c.Auth.Users = []User{{Name: "alice", PasswordHash: testHash, Permissions: []Permission{{Action(auth.Admin), "#"}}}}
	c.Auth.DefaultPermissions = []Permission{{Action(auth.Subscribe), "a/#"}}
	got := c.StaticAuth()
	want := auth.StaticConfig{
		AllowAnonymous:     false,
		Users:              []auth.User{{Name: "alice", PasswordHash: testHash, Permissions: []auth.Permission{{Action: auth.Admin, Pattern: "#"}}}},
		DefaultPermissions: []auth.Permission{{Action: auth.Subscribe, Pattern: "a/#"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("StaticAuth =\n%+v\nwant\n%+v", got, want)
	}
	if _, err := auth.NewStatic(got); err != nil {
		t.Fatalf("NewStatic: %v", err)
	}
}

func TestIsLoopbackHost(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1", true}, {"127.1.2.3", true}, {"::1", true}, {"localhost", true}, {"LOCALHOST", true},
		{"", false}, {"0.0.0.0", false}, {"::", false}, {"10.0.0.1", false}, {"example.com", false}, {"fe80::1%lo", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			if got := IsLoopbackHost(tt.host); got != tt.want {
				t.Fatalf("IsLoopbackHost(%q) = %v", tt.host, got)
			}
		})
	}
}

// TestMarshalRoundTrip checks that a configuration written back as YAML
// (as an operator might dump it) reads back the same.
func TestMarshalRoundTrip(t *testing.T) {
	c := Defaults(true)
	c.Auth.AllowAnonymous = ptr(true)
	c.Auth.Users = []User{{Name: "a", PasswordHash: testHash, Permissions: []Permission{{Action(auth.Publish), "x/{username}"}}}}
	c.Queues.TTL = 90 * time.Second
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("dump", out, Config{})
	if err != nil {
		t.Fatalf("Parse(dump): %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip:\n%+v\nwant\n%+v", back, c)
	}
}

// TestDocsCoverEveryKey keeps docs/configuration.md complete: every YAML
// key and every environment variable must appear in it.
func TestDocsCoverEveryKey(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatalf("read docs: %v", err)
	}
	var keys []string
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for f := range typ.Fields() {
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			keys = append(keys, tag)
			ft := f.Type
			for ft.Kind() == reflect.Slice || ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Duration]() {
				walk(prefix+tag+".", ft)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
	for _, ev := range EnvVars() {
		keys = append(keys, ev.Name)
	}
	keys = append(keys, EnvConfigFile)
	for _, k := range keys {
		if !strings.Contains(string(doc), "`"+k) {
			t.Errorf("docs/configuration.md does not mention `%s`", k)
		}
	}
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
