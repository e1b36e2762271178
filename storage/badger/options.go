package badger

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"
)

// SyncPolicy says when a commit reaches the disk. The zero value is
// SyncBatch.
type SyncPolicy uint8

// Sync policies.
const (
	// SyncBatch syncs once per group commit: every Commit waiting when the
	// committer starts a write is made durable by the same fsync.
	SyncBatch SyncPolicy = iota
	// SyncAlways syncs once per Commit call: no two callers share an fsync.
	// It is the slowest; it exists to measure group commit against, and for
	// disks where a shared fsync is somehow not trusted.
	SyncAlways
	// SyncNone never syncs: a commit is in the operating system's page
	// cache when Commit returns, so it survives a crash of the process but
	// not of the machine.
	SyncNone
)

var syncNames = [...]string{SyncBatch: "batch", SyncAlways: "always", SyncNone: "none"}

func (p SyncPolicy) String() string {
	if int(p) < len(syncNames) {
		return syncNames[p]
	}
	return fmt.Sprintf("sync(%d)", uint8(p))
}

// ParseSyncPolicy parses "always", "batch" or "none"; "" means batch.
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	switch strings.ToLower(s) {
	case "", "batch":
		return SyncBatch, nil
	case "always":
		return SyncAlways, nil
	case "none":
		return SyncNone, nil
	}
	return 0, fmt.Errorf("badger: unknown sync policy %q (want always, batch or none)", s)
}

// Options configures a Store. The zero value is the recommended
// configuration: group commit, and badger's small-footprint options.
type Options struct {
	Sync SyncPolicy
	// BatchMax is the most operations one group commit gathers before it is
	// written; 0 means 1024. A single Commit larger than that is written
	// whole.
	BatchMax int
	// BatchDelay bounds how long a commit waits for others to join its
	// group, counted from its Commit call; 0 means 1 ms, negative never
	// waits. The committer never waits when the last group held a single
	// commit: a lone commit on an idle store is written at once, and
	// batching comes from what arrives while a write is in flight. Under
	// load (the last group held several commits) it waits until as many
	// have arrived again, or BatchDelay, whichever comes first: the callers
	// one fsync wakes then share the next one instead of the first of them
	// taking an fsync alone (measured: 31 commits per transaction with 32
	// committers, against 16 without waiting). Only SyncBatch waits.
	BatchDelay time.Duration

	// MemTableSize in bytes; 0 means 32 MiB. Three memtables are kept. A
	// transaction may hold 15 % of it (badger's limit); larger groups are
	// split.
	MemTableSize int64
	// BlockCacheSize in bytes; 0 means 64 MiB, negative none.
	BlockCacheSize int64
	// ValueThreshold in bytes: values at least this large (message bodies)
	// go to the value log instead of the LSM tree; 0 means 4 KiB.
	ValueThreshold int64
	// ValueLogFileSize in bytes; 0 means 128 MiB.
	ValueLogFileSize int64
	// GCInterval is how often value-log garbage collection runs; 0 means 5
	// minutes, negative never.
	GCInterval time.Duration

	// Logger receives badger's warnings and errors and the store's own;
	// nil means discard.
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultBatchMax         = 1024
	DefaultBatchDelay       = time.Millisecond
	DefaultMemTableSize     = 32 << 20
	DefaultBlockCacheSize   = 64 << 20
	DefaultValueThreshold   = 4 << 10
	DefaultValueLogFileSize = 128 << 20
	DefaultGCInterval       = 5 * time.Minute
)

func (o Options) withDefaults() Options {
	if o.BatchMax <= 0 {
		o.BatchMax = DefaultBatchMax
	}
	if o.BatchDelay == 0 {
		o.BatchDelay = DefaultBatchDelay
	}
	if o.MemTableSize <= 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	if o.BlockCacheSize == 0 {
		o.BlockCacheSize = DefaultBlockCacheSize
	}
	if o.BlockCacheSize < 0 {
		o.BlockCacheSize = 0
	}
	if o.ValueThreshold <= 0 {
		o.ValueThreshold = DefaultValueThreshold
	}
	if o.ValueLogFileSize <= 0 {
		o.ValueLogFileSize = DefaultValueLogFileSize
	}
	if o.GCInterval == 0 {
		o.GCInterval = DefaultGCInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	if o.Sync > SyncNone {
		return fmt.Errorf("badger: unknown sync policy %d", o.Sync)
	}
	o = o.withDefaults()
	// badger refuses a value threshold above its transaction limit.
	if o.ValueThreshold > o.MemTableSize*15/100 {
		return fmt.Errorf("badger: value threshold %d above 15%% of the memtable size %d", o.ValueThreshold, o.MemTableSize)
	}
	if o.ValueLogFileSize < 1<<20 || o.ValueLogFileSize >= 2<<30 {
		return fmt.Errorf("badger: value log file size %d not in [1 MiB, 2 GiB)", o.ValueLogFileSize)
	}
	return nil
}

// badgerOptions are small-footprint options: badger's defaults (64 MiB x 5
// memtables, 256 MiB block cache, 4 compactors) were measured at about
// 616 MB RSS after 500k writes, options like these at about 370–400 MB.
// Conflict detection is off because one goroutine writes.
func (o Options) badgerOptions(dir string) badgerdb.Options {
	return badgerdb.DefaultOptions(dir).
		WithSyncWrites(o.Sync != SyncNone).
		WithMemTableSize(o.MemTableSize).
		WithNumMemtables(3).
		WithBlockCacheSize(o.BlockCacheSize).
		WithIndexCacheSize(0).
		WithNumCompactors(2).
		WithNumLevelZeroTables(3).
		WithNumLevelZeroTablesStall(10).
		WithValueLogFileSize(o.ValueLogFileSize).
		WithValueThreshold(o.ValueThreshold).
		WithDetectConflicts(false).
		WithLogger(logAdapter{o.Logger})
}

// logAdapter passes badger's warnings and errors to slog and drops its
// informational chatter (a line per compaction, per memtable flush).
type logAdapter struct{ l *slog.Logger }

func (a logAdapter) Errorf(f string, args ...any) {
	a.l.Error(strings.TrimSpace(fmt.Sprintf(f, args...)), "component", "badger")
}

func (a logAdapter) Warningf(f string, args ...any) {
	a.l.Warn(strings.TrimSpace(fmt.Sprintf(f, args...)), "component", "badger")
}

func (logAdapter) Infof(string, ...any)  {}
func (logAdapter) Debugf(string, ...any) {}
