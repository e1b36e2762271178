package main

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosettamq/rosetta/cmd/rosetta/internal/config"
	"github.com/rosettamq/rosetta/storage/badger"
)

// TestStorageDefaults checks that the storage defaults config.Defaults
// states (and docs/configuration.md shows) are storage/badger's own.
func TestStorageDefaults(t *testing.T) {
	sc := config.Defaults(false).Storage
	if sc.Engine != config.EngineBadger || sc.Sync != config.SyncBatch {
		t.Fatalf("default engine %q sync %q", sc.Engine, sc.Sync)
	}
	got, err := badgerOptions(sc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got.Logger = nil
	want := badger.Options{
		Sync:             badger.SyncBatch,
		BatchMax:         badger.DefaultBatchMax,
		BatchDelay:       badger.DefaultBatchDelay,
		MemTableSize:     badger.DefaultMemTableSize,
		BlockCacheSize:   badger.DefaultBlockCacheSize,
		ValueThreshold:   badger.DefaultValueThreshold,
		ValueLogFileSize: badger.DefaultValueLogFileSize,
		GCInterval:       badger.DefaultGCInterval,
	}
	if got != want {
		t.Fatalf("badgerOptions(defaults) =\n%+v\nwant\n%+v", got, want)
	}
	sc.Sync = config.SyncAlways
	if got, _ := badgerOptions(sc, slog.New(slog.DiscardHandler)); got.Sync != badger.SyncAlways {
		t.Fatalf("sync always gave %v", got.Sync)
	}
	// A combination config.Validate does not know is refused by badger.
	sc.ValueThreshold = 8 << 20 // above 15 % of the default memtable
	if _, err := badgerOptions(sc, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "storage:") {
		t.Fatalf("oversized value threshold: err = %v", err)
	}
}

// TestOpenStore: badger opens in <data_dir>/badger, creating data_dir;
// the memory engine opens nothing and creates nothing.
func TestOpenStore(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	cfg := config.Defaults(false)
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	st, err := openStore(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, storeDir)); err != nil {
		t.Fatalf("store directory: %v", err)
	}
	// One process at a time: a second open of the same directory fails.
	if st2, err := openStore(cfg, log); err == nil {
		_ = st2.Close()
		t.Fatal("a second store opened the same data_dir")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	cfg.Storage.Engine = config.EngineMemory
	cfg.DataDir = filepath.Join(t.TempDir(), "unused")
	st, err = openStore(cfg, log)
	if err != nil || st != nil {
		t.Fatalf("memory engine: store %v, err %v", st, err)
	}
	if _, err := os.Stat(cfg.DataDir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("memory engine created data_dir: %v", err)
	}
}

// fakeStore stands in for *badger.Store in app tests.
type fakeStore struct {
	rec      *recorder
	mu       sync.Mutex
	closed   bool
	closeErr error
}

func (f *fakeStore) Ready() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return badger.ErrClosed
	}
	return nil
}

func (f *fakeStore) Close() error {
	f.rec.add("store.Close")
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return f.closeErr
}

func (f *fakeStore) Stats() badger.Stats {
	return badger.Stats{Commits: 10, Ops: 30, Groups: 4, Transactions: 5, Syncs: 5}
}

// TestAppStore: /readyz reports the store, the store closes last (after
// the exchange), and its close error is joined to the result.
func TestAppStore(t *testing.T) {
	rec := &recorder{}
	logs := &logSink{}
	st := &fakeStore{rec: rec, closeErr: errors.New("flush failed")}
	a := newApp(testConfig(t), slog.New(slog.NewJSONHandler(logs, nil)), newFakeMQTT(rec), newFakeSTOMP(rec), newFakeAMQP(rec), &fakeBroker{rec: rec})
	a.store = st
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.run(ctx) }()
	h := &harness{logs: logs}
	ls := h.waitListeners(t, 3)
	deadline := time.Now().Add(5 * time.Second)
	for !a.ready.Load() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	code, body := get(t, "http://"+ls["http"]+"/readyz")
	if code != http.StatusOK || body != "ready\nstore: open\n" {
		t.Fatalf("/readyz = %d %q", code, body)
	}
	st.mu.Lock()
	st.closed = true // as if the store had failed
	st.mu.Unlock()
	code, body = get(t, "http://"+ls["http"]+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "store: badger: store closed") {
		t.Fatalf("/readyz with the store closed = %d %q", code, body)
	}
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("app did not stop")
	}
	if err == nil || !strings.Contains(err.Error(), "store close: flush failed") {
		t.Fatalf("run = %v, want the store close error", err)
	}
	if got, want := strings.Join(rec.get(), ","), "mqtt.Shutdown,stomp.Shutdown,amqp.Shutdown,exchange.Close,store.Close"; got != want {
		t.Fatalf("shutdown order %s, want %s", got, want)
	}
}

func TestStoreCollector(t *testing.T) {
	st := &fakeStore{rec: &recorder{}}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newStoreCollector(st))
	values := func() map[string]float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				v := m.GetCounter().GetValue()
				if mf.GetType().String() == "GAUGE" {
					v = m.GetGauge().GetValue()
				}
				out[mf.GetName()] = v
			}
		}
		return out
	}
	want := map[string]float64{
		"rosetta_store_open": 1, "rosetta_store_commits_total": 10, "rosetta_store_ops_total": 30,
		"rosetta_store_groups_total": 4, "rosetta_store_transactions_total": 5, "rosetta_store_syncs_total": 5,
	}
	if got := values(); !maps.Equal(got, want) {
		t.Fatalf("store metrics %v, want %v", got, want)
	}
	_ = st.Close()
	if got := values()["rosetta_store_open"]; got != 0 {
		t.Fatalf("rosetta_store_open after Close = %v", got)
	}
}

func TestMemoryLimit(t *testing.T) {
	const meminfo = "MemTotal:       16000000 kB\nMemFree:         1000 kB\n"
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(name string) ([]byte, error) {
			if v, ok := m[name]; ok {
				return []byte(v), nil
			}
			return nil, fs.ErrNotExist
		}
	}
	tests := []struct {
		name   string
		files  map[string]string
		want   int64
		source string
	}{
		{"cgroup v2 limit", map[string]string{"/sys/fs/cgroup/memory.max": "1073741824\n", "/proc/meminfo": meminfo}, 1073741824 * 9 / 10, "cgroup /sys/fs/cgroup/memory.max"},
		{"cgroup v2 without limit", map[string]string{"/sys/fs/cgroup/memory.max": "max\n", "/proc/meminfo": meminfo}, 16000000 * 1024 * 3 / 4, "/proc/meminfo"},
		{"cgroup v1 limit", map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "2147483648", "/proc/meminfo": meminfo}, 2147483648 * 9 / 10, "cgroup /sys/fs/cgroup/memory/memory.limit_in_bytes"},
		{"cgroup v1 unlimited", map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712", "/proc/meminfo": meminfo}, 16000000 * 1024 * 3 / 4, "/proc/meminfo"},
		{"nothing known", nil, 0, ""},
		{"garbled meminfo", map[string]string{"/proc/meminfo": "MemTotal: lots\n"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, source := memoryLimit(files(tt.files))
			if got != tt.want || source != tt.source {
				t.Fatalf("memoryLimit = %d from %q, want %d from %q", got, source, tt.want, tt.source)
			}
		})
	}
	// A GOMEMLIMIT in the environment is left to the runtime: nothing is read.
	applyMemoryLimit([]string{"GOMEMLIMIT=1GiB"}, func(string) ([]byte, error) {
		t.Fatal("read a file although GOMEMLIMIT is set")
		return nil, nil
	}, slog.New(slog.DiscardHandler))
}
