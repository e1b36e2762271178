package main

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosettamq/rosetta/cmd/rosetta/internal/config"
	"github.com/rosettamq/rosetta/storage/badger"
)

// storeDir is where the badger store lives inside data_dir, so that the
// directory can hold other state later.
const storeDir = "badger"

// openStore opens the configured store: badger in data_dir, created if
// missing, or nil for the memory engine, which persists nothing.
func openStore(cfg config.Config, log *slog.Logger) (*badger.Store, error) {
	sc := cfg.Storage
	if sc.Engine == config.EngineMemory {
		log.Warn("storage engine memory: nothing is written to disk; queues, durable subscriptions and retained messages are lost when the process ends")
		return nil, nil
	}
	opts, err := badgerOptions(sc, log)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	dir := filepath.Join(cfg.DataDir, storeDir)
	start := time.Now()
	st, err := badger.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	log.Info("store opened", "engine", string(sc.Engine), "dir", dir, "sync", opts.Sync.String(),
		"took", time.Since(start).Round(time.Millisecond).String())
	return st, nil
}

// badgerOptions maps the storage section onto badger.Options and checks
// them (config.Validate checked the ranges it knows).
func badgerOptions(sc config.Storage, log *slog.Logger) (badger.Options, error) {
	policy, err := badger.ParseSyncPolicy(string(sc.Sync))
	if err != nil {
		return badger.Options{}, fmt.Errorf("storage.sync: %w", err)
	}
	opts := badger.Options{
		Sync:             policy,
		BatchMax:         sc.BatchMax,
		BatchDelay:       sc.BatchDelay,
		MemTableSize:     sc.MemTableSize,
		BlockCacheSize:   sc.BlockCacheSize,
		ValueThreshold:   sc.ValueThreshold,
		ValueLogFileSize: sc.ValueLogFileSize,
		GCInterval:       sc.GCInterval,
		Logger:           log,
	}
	if err := opts.Validate(); err != nil {
		return badger.Options{}, fmt.Errorf("storage: %w", err)
	}
	return opts, nil
}

// storeStats is what the store collector reads; *badger.Store has it.
type storeStats interface {
	Stats() badger.Stats
	Ready() error
}

// storeCollector exports the store's counters at scrape time: a few
// atomic loads, nothing on the commit path.
type storeCollector struct {
	st                         storeStats
	open, commits, ops, groups *prometheus.Desc
	transactions, syncs        *prometheus.Desc
}

func newStoreCollector(st storeStats) *storeCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &storeCollector{
		st:           st,
		open:         d("rosetta_store_open", "1 while the durable store accepts commits, 0 once it is closed."),
		commits:      d("rosetta_store_commits_total", "Store commits completed (a durable publish, a settlement of a stored message, a declaration...), failed ones included."),
		ops:          d("rosetta_store_ops_total", "Operations (message puts and deletes, count updates, definitions) in the completed commits."),
		groups:       d("rosetta_store_groups_total", "Group commits: commits written together; commits/groups is the mean group size."),
		transactions: d("rosetta_store_transactions_total", "badger transactions written (a group larger than a transaction takes several)."),
		syncs:        d("rosetta_store_syncs_total", "fsyncs the commits cost (0 with storage.sync none)."),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.open, c.commits, c.ops, c.groups, c.transactions, c.syncs} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.st.Stats()
	open := 1.0
	if c.st.Ready() != nil {
		open = 0
	}
	ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, open)
	for _, m := range []struct {
		d *prometheus.Desc
		v uint64
	}{
		{c.commits, s.Commits}, {c.ops, s.Ops}, {c.groups, s.Groups}, {c.transactions, s.Transactions}, {c.syncs, s.Syncs},
	} {
		ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v))
	}
}

// Memory limit defaults. The Go runtime counts its heap, which holds
// badger's memtables and block cache too; the store's files are mapped
// and live in the page cache, outside the limit.
const (
	memLimitCgroupShare = 0.90 // of a container's memory limit
	memLimitHostShare   = 0.75 // of the machine's memory when no container limit is set
)

// applyMemoryLimit sets the Go runtime's soft memory limit (GOMEMLIMIT)
// when the environment does not: 90 % of the cgroup memory limit, or 75 %
// of the machine's memory, so that the garbage collector works harder
// before the process is killed rather than after. A GOMEMLIMIT the user
// set is left alone (the runtime has applied it already).
func applyMemoryLimit(environ []string, read func(string) ([]byte, error), log *slog.Logger) {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "GOMEMLIMIT="); ok && v != "" {
			log.Info("memory limit from GOMEMLIMIT", "limit", v)
			return
		}
	}
	limit, source := memoryLimit(read)
	if limit <= 0 {
		log.Info("no memory limit set: neither GOMEMLIMIT nor a detectable memory size")
		return
	}
	debug.SetMemoryLimit(limit)
	log.Info("memory limit set", "limit_bytes", limit, "source", source)
}

// memoryLimit returns the soft memory limit to use and where it came
// from, or 0 when nothing is known. read reads a file (tests fake it).
func memoryLimit(read func(string) ([]byte, error)) (int64, string) {
	// cgroup v2, then v1 (whose "no limit" is a huge number).
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := read(f)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n >= math.MaxInt64/2 {
			continue // "max", or v1's unlimited
		}
		return int64(float64(n) * memLimitCgroupShare), "cgroup " + f
	}
	if total := memTotal(read); total > 0 {
		return int64(float64(total) * memLimitHostShare), "/proc/meminfo"
	}
	return 0, ""
}

// memTotal returns MemTotal from /proc/meminfo in bytes, or 0.
func memTotal(read func(string) ([]byte, error)) int64 {
	b, err := read("/proc/meminfo")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest) // "16314412 kB"
		if len(f) != 2 || f[1] != "kB" {
			return 0
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb <= 0 || kb > math.MaxInt64/1024 {
			return 0
		}
		return kb * 1024
	}
	return 0
}

// readSystemFile reads a small file of /proc or /sys.
func readSystemFile(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

var _ durableStore = (*badger.Store)(nil)
