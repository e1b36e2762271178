package plugin

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rosettamq/rosetta/transform/plugin/wire"
)

// Config configures one plugin binary. The zero value of every field but
// Path and SHA256 works.
type Config struct {
	// Name identifies the plugin in logs, status and errors; "" means the
	// name the plugin gives in its spec.
	Name string
	// Path is the plugin executable.
	Path string
	// Args are passed to the executable.
	Args []string
	// SHA256 is the hex SHA-256 of the executable. It is required: the
	// binary is hashed before every start, a restart included, and a
	// mismatch refuses the start (ErrChecksum).
	SHA256 string
	// Env is the plugin's environment ("KEY=value"). The plugin does not
	// inherit the broker's environment, which may hold credentials.
	Env []string

	// CallTimeout bounds each Transform call, the wait for a restarting
	// plugin included; 0 means 5s. Every message of a call that runs past
	// it gets an error result.
	CallTimeout time.Duration
	// StartTimeout bounds the start of the process through the handshake
	// and Describe; 0 means 10s.
	StartTimeout time.Duration

	// MaxBatch is the most messages in one call; 0 means 256.
	MaxBatch int
	// MaxBatchBytes bounds the message bytes (message.Size) in one call;
	// 0 means 4 MiB. A single larger message goes alone, up to
	// wire.MaxMessageSize.
	MaxBatchBytes int
	// BatchWait is how long the first message of a batch waits for others
	// before the call is made; 0 means no wait: batches still form from the
	// messages that queue while earlier calls are in flight.
	BatchWait time.Duration
	// MaxInFlight is the most concurrent calls to the plugin; 0 means 2.
	MaxInFlight int

	// RestartBackoff is the delay before the first restart after a crash;
	// 0 means 100ms. It doubles with each restart that is not followed by a
	// successful call, up to MaxRestartBackoff (0 means 30s).
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration
	// MaxRestarts is the number of consecutive restarts without a
	// successful call after which the plugin is marked failed and no longer
	// restarted; 0 means 10.
	MaxRestarts int
	// HangRestarts is the number of consecutive calls that time out after
	// which the plugin counts as hung and is killed and restarted; 0 means 3.
	HangRestarts int

	// Logger receives lifecycle lines and the plugin's stderr; nil means
	// discard.
	Logger *slog.Logger
}

// Defaults for Config fields left zero.
const (
	DefaultCallTimeout       = 5 * time.Second
	DefaultStartTimeout      = 10 * time.Second
	DefaultMaxBatch          = 256
	DefaultMaxBatchBytes     = 4 << 20
	DefaultMaxInFlight       = 2
	DefaultRestartBackoff    = 100 * time.Millisecond
	DefaultMaxRestartBackoff = 30 * time.Second
	DefaultMaxRestarts       = 10
	DefaultHangRestarts      = 3
)

func (c Config) withDefaults() Config {
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.RestartBackoff == 0 {
		c.RestartBackoff = DefaultRestartBackoff
	}
	if c.MaxRestartBackoff == 0 {
		c.MaxRestartBackoff = DefaultMaxRestartBackoff
	}
	if c.MaxRestarts == 0 {
		c.MaxRestarts = DefaultMaxRestarts
	}
	if c.HangRestarts == 0 {
		c.HangRestarts = DefaultHangRestarts
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	if c.Path == "" {
		return errors.New("plugin: path is required")
	}
	sum, err := hex.DecodeString(c.SHA256)
	if err != nil || len(sum) != 32 {
		return fmt.Errorf("plugin %s: sha256 must be 64 hex digits", c.Path)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"call_timeout", c.CallTimeout}, {"start_timeout", c.StartTimeout}, {"batch_wait", c.BatchWait},
		{"restart_backoff", c.RestartBackoff}, {"max_restart_backoff", c.MaxRestartBackoff},
	} {
		if d.v < 0 {
			return fmt.Errorf("plugin %s: %s is negative", c.Path, d.name)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{
		{"max_batch", c.MaxBatch}, {"max_batch_bytes", c.MaxBatchBytes}, {"max_in_flight", c.MaxInFlight},
		{"max_restarts", c.MaxRestarts}, {"hang_restarts", c.HangRestarts},
	} {
		if n.v < 0 {
			return fmt.Errorf("plugin %s: %s is negative", c.Path, n.name)
		}
	}
	if c.MaxBatchBytes > wire.MaxMessageSize/2 {
		return fmt.Errorf("plugin %s: max_batch_bytes above %d", c.Path, wire.MaxMessageSize/2)
	}
	return nil
}
