package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// MaxFileSize bounds the configuration file, so that a wrong path (a log
// file, a device) fails fast instead of being read whole.
const MaxFileSize = 4 << 20

// Parse decodes a YAML configuration on top of base, strictly: an unknown
// key is an error that names its line, and so is a value of the wrong
// type or an unknown enum value. name labels errors (the file path).
// Parse never panics, whatever data holds.
func Parse(name string, data []byte, base Config) (cfg Config, err error) {
	if len(data) > MaxFileSize {
		return Config{}, fmt.Errorf("%s: larger than %d bytes", name, MaxFileSize)
	}
	// The YAML library is third-party code run on untrusted bytes; a panic
	// in it must not take the process down at start or on reload.
	defer func() {
		if r := recover(); r != nil {
			cfg, err = Config{}, fmt.Errorf("%s: invalid YAML (parser failure: %v)", name, r)
		}
	}()
	cfg = base
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	switch err := dec.Decode(&cfg); {
	case errors.Is(err, io.EOF):
		return base, nil // an empty file means every default
	case err != nil:
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return Config{}, fmt.Errorf("%s: %w", name, err)
		}
		return Config{}, fmt.Errorf("%s: line %d: a second YAML document; the configuration is one document", name, extra.Line)
	}
	return cfg, nil
}

// Overrides are values given on the command line; nil means not given.
type Overrides struct {
	ConfigFile *string // --config
	MQTT       *string // --mqtt
	MQTTTLS    *string // --mqtt-tls
	STOMP      *string // --stomp
	STOMPTLS   *string // --stomp-tls
	AMQP       *string // --amqp
	AMQPTLS    *string // --amqp-tls
	HTTP       *string // --http
	DataDir    *string // --data-dir
	Storage    *string // --storage: storage.engine
	Sync       *string // --sync: storage.sync
	LogLevel   *string // --log-level
	LogFormat  *string // --log-format
}

// EnvVar is one ROSETTA_* environment variable.
type EnvVar struct {
	Name string
	Key  string // the configuration key it overrides, for documentation
	set  func(c *Config, v string) error
}

// EnvConfigFile names the configuration file when --config is not given.
const EnvConfigFile = "ROSETTA_CONFIG"

// EnvVars returns every environment variable Resolve reads, besides
// ROSETTA_CONFIG. An empty value counts as unset, so that `VAR= rosetta`
// and wrappers that export empty variables change nothing.
func EnvVars() []EnvVar {
	str := func(dst func(*Config) *string) func(*Config, string) error {
		return func(c *Config, v string) error { *dst(c) = v; return nil }
	}
	return []EnvVar{
		{"ROSETTA_MQTT_ADDR", "listeners.mqtt", str(func(c *Config) *string { return &c.Listeners.MQTT })},
		{"ROSETTA_MQTT_TLS_ADDR", "listeners.mqtt_tls", str(func(c *Config) *string { return &c.Listeners.MQTTTLS })},
		{"ROSETTA_STOMP_ADDR", "listeners.stomp", str(func(c *Config) *string { return &c.Listeners.STOMP })},
		{"ROSETTA_STOMP_TLS_ADDR", "listeners.stomp_tls", str(func(c *Config) *string { return &c.Listeners.STOMPTLS })},
		{"ROSETTA_AMQP_ADDR", "listeners.amqp", str(func(c *Config) *string { return &c.Listeners.AMQP })},
		{"ROSETTA_AMQP_TLS_ADDR", "listeners.amqp_tls", str(func(c *Config) *string { return &c.Listeners.AMQPTLS })},
		{"ROSETTA_HTTP_ADDR", "listeners.http", str(func(c *Config) *string { return &c.Listeners.HTTP })},
		{"ROSETTA_TLS_CERT_FILE", "tls.cert_file", str(func(c *Config) *string { return &c.TLS.CertFile })},
		{"ROSETTA_TLS_KEY_FILE", "tls.key_file", str(func(c *Config) *string { return &c.TLS.KeyFile })},
		{"ROSETTA_TLS_CLIENT_CA_FILE", "tls.client_ca_file", str(func(c *Config) *string { return &c.TLS.ClientCAFile })},
		{"ROSETTA_DATA_DIR", "data_dir", str(func(c *Config) *string { return &c.DataDir })},
		{"ROSETTA_STORAGE", "storage.engine", func(c *Config, v string) error { c.Storage.Engine = Engine(v); return nil }},
		{"ROSETTA_SYNC", "storage.sync", func(c *Config, v string) error { c.Storage.Sync = SyncPolicy(v); return nil }},
		{"ROSETTA_ALLOW_ANONYMOUS", "auth.allow_anonymous", func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("want true or false, not %q", v)
			}
			c.Auth.AllowAnonymous = &b
			return nil
		}},
		{"ROSETTA_SHUTDOWN_TIMEOUT", "shutdown_timeout", func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("want a duration such as 10s, not %q", v)
			}
			c.ShutdownTimeout = d
			return nil
		}},
		{"ROSETTA_LOG_LEVEL", "log.level", func(c *Config, v string) error { c.Log.Level = LogLevel(v); return nil }},
		{"ROSETTA_LOG_FORMAT", "log.format", func(c *Config, v string) error { c.Log.Format = LogFormat(v); return nil }},
	}
}

// Resolve builds the configuration from, lowest precedence first, the
// defaults, the file (--config, else ROSETTA_CONFIG), the ROSETTA_*
// variables in environ ("KEY=value" strings, as os.Environ returns) and
// the flags, then validates it. warnings lists ROSETTA_* variables it does
// not know, which are likely typos.
func Resolve(o Overrides, environ []string) (cfg Config, warnings []string, err error) {
	env := make(map[string]string)
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, "ROSETTA_") {
			env[k] = v
		}
	}
	path := env[EnvConfigFile]
	if o.ConfigFile != nil {
		path = *o.ConfigFile
	}
	cfg = Defaults(path != "")
	if path != "" {
		data, err := readFile(path)
		if err != nil {
			return Config{}, nil, err
		}
		if cfg, err = Parse(path, data, cfg); err != nil {
			return Config{}, nil, err
		}
		cfg.File = path
	}

	known := map[string]bool{EnvConfigFile: true}
	var errs []error
	for _, ev := range EnvVars() {
		known[ev.Name] = true
		if v := env[ev.Name]; v != "" {
			if err := ev.set(&cfg, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", ev.Name, err))
			}
		}
	}
	for k := range env {
		if !known[k] && !strings.HasPrefix(k, "ROSETTA_IT_") { // ROSETTA_IT_* belong to the integration tests
			warnings = append(warnings, fmt.Sprintf("unknown environment variable %s ignored", k))
		}
	}
	slices.Sort(warnings)
	if err := errors.Join(errs...); err != nil {
		return Config{}, warnings, err
	}

	o.apply(&cfg)
	if err := cfg.Validate(); err != nil {
		return Config{}, warnings, err
	}
	return cfg, warnings, nil
}

func (o Overrides) apply(c *Config) {
	for _, f := range []struct {
		src *string
		dst *string
	}{
		{o.MQTT, &c.Listeners.MQTT},
		{o.MQTTTLS, &c.Listeners.MQTTTLS},
		{o.STOMP, &c.Listeners.STOMP},
		{o.STOMPTLS, &c.Listeners.STOMPTLS},
		{o.AMQP, &c.Listeners.AMQP},
		{o.AMQPTLS, &c.Listeners.AMQPTLS},
		{o.HTTP, &c.Listeners.HTTP},
		{o.DataDir, &c.DataDir},
	} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if o.Storage != nil {
		c.Storage.Engine = Engine(*o.Storage)
	}
	if o.Sync != nil {
		c.Storage.Sync = SyncPolicy(*o.Sync)
	}
	if o.LogLevel != nil {
		c.Log.Level = LogLevel(*o.LogLevel)
	}
	if o.LogFormat != nil {
		c.Log.Format = LogFormat(*o.LogFormat)
	}
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return data, nil
}
