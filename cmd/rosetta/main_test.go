package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/rosettamq/rosetta/cmd/rosetta/internal/config"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/protocols/amqp"
	"github.com/rosettamq/rosetta/protocols/stomp"
	"github.com/rosettamq/rosetta/protocols/stomp/frame"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"no command", nil, exitUsage, "", "Usage:"},
		{"unknown command", []string{"start"}, exitUsage, "", `unknown command "start"`},
		{"help", []string{"help"}, exitOK, "rosetta serve [flags]", ""},
		{"version", []string{"version"}, exitOK, "rosetta dev (commit dev, go", ""},
		{"serve help", []string{"serve", "-h"}, exitOK, "", "-mqtt-tls"},
		{"serve bad flag", []string{"serve", "--mqqt", ":1"}, exitUsage, "", "flag provided but not defined: -mqqt"},
		{"serve positional", []string{"serve", "extra"}, exitUsage, "", `unexpected argument "extra"`},
		{"serve bad address", []string{"serve", "--mqtt", "nowhere"}, exitError, "", "listeners.mqtt"},
		{"serve bad log level", []string{"serve", "--log-level", "loud"}, exitError, "", "log.level"},
		{"serve missing config", []string{"serve", "--config", "/nonexistent/r.yaml"}, exitError, "", "config file: open /nonexistent/r.yaml"},
		{"serve exposed without users", []string{"serve", "--mqtt", ":1883"}, exitError, "", "accept connections from other hosts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, strings.NewReader(""), &stdout, &stderr, nil)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

func TestPasswd(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantPW     string // the password the printed hash must verify
		wantStderr string
	}{
		{"line", []string{"-cost", "4"}, "s3cret\n", exitOK, "s3cret", ""},
		{"crlf", []string{"-cost", "4"}, "s3cret\r\n", exitOK, "s3cret", ""},
		{"no newline", []string{"-cost", "4"}, "s3cret", exitOK, "s3cret", ""},
		{"spaces kept", []string{"-cost", "4"}, " a b \n", exitOK, " a b ", ""},
		{"first line only", []string{"-cost", "4"}, "one\ntwo\n", exitOK, "one", ""},
		{"empty", nil, "", exitError, "", "empty password"},
		{"empty line", nil, "\n", exitError, "", "empty password"},
		{"too long for bcrypt", []string{"-cost", "4"}, strings.Repeat("x", 73) + "\n", exitError, "", "72 bytes"},
		{"line too long", nil, strings.Repeat("x", maxPasswordLine+1), exitError, "", "longer than"},
		{"cost too high", []string{"-cost", "40"}, "pw\n", exitError, "", "out of range"},
		{"password as argument", []string{"secret"}, "", exitUsage, "", "not the command line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"passwd"}, tt.args...), strings.NewReader(tt.stdin), &stdout, &stderr, nil)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d; stderr: %s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Fatalf("stderr %q does not contain %q", stderr.String(), tt.wantStderr)
			}
			if tt.wantCode != exitOK {
				return
			}
			hash := strings.TrimSuffix(stdout.String(), "\n")
			if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(tt.wantPW)); err != nil {
				t.Fatalf("printed hash %q does not verify %q: %v", hash, tt.wantPW, err)
			}
		})
	}
}

func TestParseServeFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want map[string]string // flag name -> value; absent means not set
	}{
		{"none", nil, map[string]string{}},
		{"some", []string{"--mqtt", "127.0.0.1:0", "-http=off", "--log-format", "json"},
			map[string]string{"mqtt": "127.0.0.1:0", "http": "off", "log-format": "json"}},
		{"all", []string{"--config", "c.yaml", "--data-dir", "d", "--storage", "memory", "--sync", "none", "--mqtt", "a:1", "--mqtt-tls", "a:2", "--stomp", "a:3",
			"--stomp-tls", "a:6", "--amqp", "a:4", "--amqp-tls", "a:7", "--http", "a:5", "--log-level", "debug", "--log-format", "text"},
			map[string]string{"config": "c.yaml", "data-dir": "d", "storage": "memory", "sync": "none", "mqtt": "a:1", "mqtt-tls": "a:2", "stomp": "a:3",
				"stomp-tls": "a:6", "amqp": "a:4", "amqp-tls": "a:7", "http": "a:5", "log-level": "debug", "log-format": "text"}},
		{"explicit empty is set", []string{"--mqtt="}, map[string]string{"mqtt": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseServeFlags(tt.args, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]*string{
				"config": o.ConfigFile, "data-dir": o.DataDir, "storage": o.Storage, "sync": o.Sync, "mqtt": o.MQTT, "mqtt-tls": o.MQTTTLS, "stomp": o.STOMP,
				"stomp-tls": o.STOMPTLS, "amqp": o.AMQP, "amqp-tls": o.AMQPTLS, "http": o.HTTP, "log-level": o.LogLevel, "log-format": o.LogFormat,
			}
			for name, p := range got {
				want, set := tt.want[name]
				switch {
				case set && p == nil:
					t.Errorf("--%s not set", name)
				case !set && p != nil:
					t.Errorf("--%s set to %q but not given", name, *p)
				case set && *p != want:
					t.Errorf("--%s = %q, want %q", name, *p, want)
				}
			}
		})
	}
}

// TestServePrecedence checks flags > env > file > defaults through the
// real flag parser and config.Resolve.
func TestServePrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rosetta.yaml")
	if err := os.WriteFile(file, []byte("listeners: {mqtt: '127.0.0.1:1001', http: '127.0.0.1:1002', stomp: off, amqp: off, mqtt_tls: off}\nlog: {level: warn, format: text}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name              string
		args              []string
		env               []string
		mqtt, http, level string
	}{
		{"file", []string{"--config", file}, nil, "127.0.0.1:1001", "127.0.0.1:1002", "warn"},
		{"env beats file", []string{"--config", file}, []string{"ROSETTA_MQTT_ADDR=127.0.0.1:2001", "ROSETTA_LOG_LEVEL=error"}, "127.0.0.1:2001", "127.0.0.1:1002", "error"},
		{"flag beats env", []string{"--config", file, "--mqtt", "127.0.0.1:3001"}, []string{"ROSETTA_MQTT_ADDR=127.0.0.1:2001", "ROSETTA_HTTP_ADDR=127.0.0.1:2002"}, "127.0.0.1:3001", "127.0.0.1:2002", "warn"},
		{"env file, flag listener", []string{"--http", "off"}, []string{"ROSETTA_CONFIG=" + file}, "127.0.0.1:1001", "off", "warn"},
		{"defaults", nil, nil, "127.0.0.1:1883", "127.0.0.1:8080", "info"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseServeFlags(tt.args, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			c, _, err := config.Resolve(o, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Listeners.MQTT != tt.mqtt || c.Listeners.HTTP != tt.http || string(c.Log.Level) != tt.level {
				t.Fatalf("mqtt %q http %q level %q; want %q %q %q", c.Listeners.MQTT, c.Listeners.HTTP, c.Log.Level, tt.mqtt, tt.http, tt.level)
			}
		})
	}
}

func TestNewLogger(t *testing.T) {
	tests := []struct {
		name     string
		cfg      config.Log
		wantJSON bool
		debug    bool
	}{
		{"json", config.Log{Level: "info", Format: config.FormatJSON}, true, false},
		{"text", config.Log{Level: "debug", Format: config.FormatText}, false, true},
		{"auto on a buffer is JSON", config.Log{Level: "warn", Format: config.FormatAuto}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := newLogger(tt.cfg, &buf)
			log.Error("hello", "listener", "mqtt")
			if got := log.Enabled(context.Background(), slog.LevelDebug); got != tt.debug {
				t.Fatalf("debug enabled = %v", got)
			}
			line := buf.String()
			if isJSON := json.Valid(bytes.TrimSpace(buf.Bytes())); isJSON != tt.wantJSON {
				t.Fatalf("JSON = %v for %q", isJSON, line)
			}
			if !strings.Contains(line, "listener") {
				t.Fatalf("attribute missing: %q", line)
			}
		})
	}
}

func TestExchangeAndMQTTConfig(t *testing.T) {
	c := config.Defaults(false)
	c.Queues = config.Queues{MaxLength: 5, MaxBytes: -1, Overflow: config.RejectPublish, TTL: time.Minute,
		MaxDeliveries: 3, DeadLetter: "-", AutoCreate: false, DeadLetterExpired: true}
	c.Limits = config.Limits{MaxPacketSize: 2048, MaxConnections: 7, MaxSubscriptions: 3, ReceiveMaximum: 65535, MaxInflight: 9, SessionQueueLength: 11}
	log := slog.New(slog.DiscardHandler)
	ec := exchangeConfig(c, log)
	wantQ := exchange.QueueConfig{Durable: true, MaxLength: 5, MaxBytes: -1, Overflow: exchange.RejectPublish, TTL: time.Minute, MaxDeliveries: 3, DeadLetter: "-"}
	if ec.DefaultQueue != wantQ || !ec.DisableAutoCreate || !ec.DeadLetterExpired || ec.Store != nil || ec.Logger == nil {
		t.Fatalf("exchangeConfig = %+v", ec)
	}
	c.Storage.Engine = config.EngineMemory // nothing to keep durable queues on
	if ec := exchangeConfig(c, log); ec.DefaultQueue.Durable {
		t.Fatalf("memory engine: auto-created queues durable: %+v", ec.DefaultQueue)
	}
	mc := mqttConfig(c, nil, nil, nil, log)
	if mc.MaxPacketSize != 2048 || mc.MaxConnections != 7 || mc.MaxSubscriptions != 3 || mc.ReceiveMaximum != 65535 ||
		mc.MaxInflight != 9 || mc.SessionQueueLength != 11 || mc.Logger == nil {
		t.Fatalf("mqttConfig = %+v", mc)
	}
}

// TestSTOMPConfig checks the mapping of the stomp section and that the
// defaults config.Defaults states (and docs/configuration.md shows) are the
// STOMP front-end's own.
func TestSTOMPConfig(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	c := config.Defaults(false)
	got := stompConfig(c, nil, nil, nil, log)
	want := stomp.Config{
		Logger:               log,
		MaxFrameSize:         frame.DefaultMaxFrameSize,
		MaxBodySize:          frame.DefaultMaxBodySize,
		MaxHeaders:           frame.DefaultMaxHeaders,
		MaxHeaderLine:        frame.DefaultMaxHeaderLine,
		MaxConnections:       stomp.DefaultMaxConnections,
		MaxSubscriptions:     stomp.DefaultMaxSubscriptions,
		MaxTransactions:      stomp.DefaultMaxTransactions,
		MaxTransactionFrames: stomp.DefaultMaxTransactionFrames,
		MaxPublishesInFlight: stomp.DefaultMaxPublishesInFlight,
		Prefetch:             stomp.DefaultPrefetch,
		MaxPrefetch:          stomp.DefaultMaxPrefetch,
		HeartBeatSend:        stomp.DefaultHeartBeat,
		HeartBeatReceive:     stomp.DefaultHeartBeat,
		ConnectTimeout:       stomp.DefaultConnectTimeout,
		WriteTimeout:         stomp.DefaultWriteTimeout,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stompConfig(defaults) =\n%+v\nwant\n%+v", got, want)
	}

	// Heart-beats: 0 in the file means none, which stomp.Config spells
	// negative (its 0 is "default").
	c.STOMP.HeartBeatSend, c.STOMP.HeartBeatReceive = 0, 30*time.Second
	c.STOMP.Prefetch, c.STOMP.MaxBodySize = 7, 512
	c.Limits.MaxConnections, c.Limits.MaxSubscriptions = 9, 4
	got = stompConfig(c, nil, nil, nil, log)
	if got.HeartBeatSend >= 0 || got.HeartBeatReceive != 30*time.Second || got.Prefetch != 7 || got.MaxBodySize != 512 ||
		got.MaxConnections != 9 || got.MaxSubscriptions != 4 {
		t.Fatalf("stompConfig = %+v", got)
	}
}

// TestAMQPConfig checks the mapping of the amqp section and that the
// defaults config.Defaults states (and docs/configuration.md shows) are the
// AMQP front-end's own.
func TestAMQPConfig(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	c := config.Defaults(false)
	got := amqpConfig(c, nil, nil, nil, log)
	want := amqp.Config{
		Logger:               log,
		MaxConnections:       amqp.DefaultMaxConnections,
		MaxFrameSize:         amqp.DefaultMaxFrameSize,
		MaxMessageSize:       amqp.DefaultMaxMessageSize,
		MaxSessions:          amqp.DefaultMaxSessions,
		MaxLinks:             amqp.DefaultMaxLinks,
		SessionWindow:        amqp.DefaultSessionWindow,
		LinkCredit:           amqp.DefaultLinkCredit,
		MaxPending:           amqp.DefaultMaxPending,
		MaxPublishesInFlight: amqp.DefaultMaxPublishesInFlight,
		IdleTimeout:          amqp.DefaultIdleTimeout,
		ConnectTimeout:       amqp.DefaultConnectTimeout,
		WriteTimeout:         amqp.DefaultWriteTimeout,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("amqpConfig(defaults) =\n%+v\nwant\n%+v", got, want)
	}

	// Idle timeout: 0 in the file means none, which amqp.Config spells
	// negative (its 0 is "default").
	c.AMQP.IdleTimeout, c.AMQP.MaxFrameSize, c.AMQP.MaxLinks = 0, 4096, 8
	c.Limits.MaxConnections = 9
	got = amqpConfig(c, nil, nil, nil, log)
	if got.IdleTimeout >= 0 || got.MaxFrameSize != 4096 || got.MaxLinks != 8 || got.MaxConnections != 9 {
		t.Fatalf("amqpConfig = %+v", got)
	}
}

func TestLoadTLS(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, key := write("cert.pem", certPEM), write("key.pem", keyPEM)
	junk := write("junk.pem", []byte("not pem"))
	tests := []struct {
		name       string
		cfg        config.TLS
		wantErr    string
		wantClient tls.ClientAuthType
	}{
		{"server only", config.TLS{CertFile: cert, KeyFile: key}, "", tls.NoClientCert},
		{"mutual", config.TLS{CertFile: cert, KeyFile: key, ClientCAFile: cert}, "", tls.RequireAndVerifyClientCert},
		{"missing cert", config.TLS{CertFile: filepath.Join(dir, "none.pem"), KeyFile: key}, "tls: load certificate", 0},
		{"key mismatch", config.TLS{CertFile: cert, KeyFile: cert}, "tls: load certificate", 0},
		{"missing CA", config.TLS{CertFile: cert, KeyFile: key, ClientCAFile: filepath.Join(dir, "none.pem")}, "tls: client CA", 0},
		{"bad CA", config.TLS{CertFile: cert, KeyFile: key, ClientCAFile: junk}, "no PEM certificate found", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadTLS(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("loadTLS error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ClientAuth != tt.wantClient || got.MinVersion != tls.VersionTLS12 || len(got.Certificates) != 1 {
				t.Fatalf("tls config: client auth %v, min %x, %d certs", got.ClientAuth, got.MinVersion, len(got.Certificates))
			}
		})
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rosetta test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
