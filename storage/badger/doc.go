// Package badger is the durable exchange.Store (DESIGN.md §7): queue
// definitions, bindings, durable messages with their delivery counts and
// retained messages, in an embedded badger database
// (github.com/dgraph-io/badger/v4) that one process opens at a time.
//
// # Group commit
//
// Commit is called concurrently by every publisher and settler. One
// committer goroutine takes the commits that are waiting, writes them in
// one badger transaction and completes every caller with its result, so
// that many commits share one fsync: badger syncs once per transaction
// whatever the concurrency (about 5.7k synced transactions per second on
// the reference disk), so group commit has to be ours. The committer never
// delays a lone commit; batching comes from the commits that arrive while
// a write is in flight (Options.BatchDelay). A group larger than badger's
// transaction limit is split into several transactions at commit
// boundaries; only a single Commit larger than the limit is split inside
// itself (see Commit for what that means after a crash). An error in one
// caller's batch fails that caller only.
//
// The sync policy (Options.Sync) chooses the fsyncs: SyncBatch (the
// default) one per group, SyncAlways one per Commit call, SyncNone none
// (the commit is in the page cache: safe against a crash of the process,
// not of the machine).
//
// Stats counts commits, groups, transactions and fsyncs for metrics;
// Ready tells a health check whether the store still takes commits.
//
// # Key layout
//
// Format version 1. Every key starts with a one-letter prefix and a slash:
//
//	v/format               format version of the layout and records: 1
//	v/next-queue           u64 big-endian: the next queue id to allocate
//	q/<queue name>         queue record: the queue's id and QueueConfig
//	b/<id><pattern>        a binding; empty value
//	m/<id><seq>            message record
//	c/<id><seq>            uvarint delivery count, only while it is above 0
//	r/<address>            retained message record
//	s/<key>                a front-end's state record (exchange.SaveState), opaque bytes
//
// <id> is the queue's id, a u64 big-endian allocated from v/next-queue
// when the queue is first declared and never reused; <seq> is the
// message's seq, a u64 big-endian, so a prefix scan of m/<id> returns the
// queue's messages in seq order. <pattern> and <address> are the segment
// count then each segment as a uvarint length and its bytes: length
// prefixes make the encoding injective, so segments may hold any bytes
// ("/", NUL) and ["a/b"] and ["a","b"] are different keys. The q/ key
// holds the queue name as it is: queue keys are only ever looked up
// whole or scanned together, never by a name prefix.
//
// Keying a queue's state by an id rather than its name makes deletion
// atomic: OpDeleteQueue deletes the q/ record in the batch's transaction,
// and from then on the queue's b/, m/ and c/ keys belong to no live queue,
// so Recover skips them and a crash cannot resurrect half of the queue. A
// background goroutine deletes those keys afterwards, and sweeps on Open
// for deletions a crash interrupted. A queue declared again gets a new id,
// so it starts empty even while the old keys are still being deleted.
// Names also stay out of the per-message keys, which keeps them 18 bytes.
//
// The delivery count lives in its own small key so that OpSetCount (a
// redelivery) rewrites a few bytes, not the message; the committer keeps
// the set of seqs that have a count, so settling a message that was never
// redelivered writes a single delete.
//
// Message and queue records start with a version byte (see record.go for
// the version 1 layouts). A database whose v/format is not 1 is refused
// by Open with ErrVersion; a later format will migrate on Open from the
// versions it knows.
//
// # Records
//
// The message record keeps every field of message.Message: it is the
// canonical message, never a protocol's frame. The decoder is bounded:
// every length and count is checked against the bytes that remain before
// anything is allocated, and a malformed record gives a *DecodeError
// (wrapping ErrCorrupt or ErrVersion), never a panic. Times keep their
// instant, not their location or monotonic reading.
//
// # Goroutines
//
// The Store owns two goroutines, started by Open and stopped by Close: the
// committer, and the janitor (deleted queues' keys, and value-log GC every
// GCInterval, which matters for bodies of ValueThreshold or more, since
// only those live in the value log). Close refuses new commits, lets the
// committer drain the pending ones, stops the janitor and closes the
// database.
//
// # Not done here
//
// Paging queues larger than memory is the exchange's job: Recover hands
// every message over. An MQTT session is kept as its queue (durable for a
// persistent session), the queue's bindings (its subscriptions' filters)
// and its messages, in-flight ones included; MQTT subscription options
// and session expiry are not stored.
package badger
