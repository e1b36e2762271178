package badger

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/exchange"
)

// The child process of TestCrashLosesNothingConfirmed: it is this test
// binary run again with these variables set.
const (
	crashDirEnv  = "ROSETTA_BADGER_CRASH_DIR"
	crashBaseEnv = "ROSETTA_BADGER_CRASH_BASE"
)

// TestCrashLosesNothingConfirmed kills (SIGKILL) a process that commits
// in a loop from several goroutines, at several points, and checks after
// each kill that everything the process had reported as committed is in
// the reopened store: every confirmed put that is never deleted is there,
// and no confirmed delete came back. The process reports a commit on stdout only after
// Commit returned nil, so a line the parent read is a confirmed commit.
//
// A SIGKILL loses what the process held, not what it handed the kernel,
// so this checks the store's side of durability (nothing is confirmed
// before it is written, recovery replays badger's log correctly); power
// loss, which SyncBatch's fsync is for, is not simulated.
func TestCrashLosesNothingConfirmed(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir)
		return
	}
	dir := t.TempDir()
	puts, dels := map[uint64]bool{}, map[uint64]bool{}
	// Kill points: after this many confirmed commits, or 0 for a kill
	// 20 ms after the first one, mid-stream at no particular commit.
	for round, after := range []int{1, 0, 40, 300} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashLosesNothingConfirmed$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashBaseEnv+"="+strconv.Itoa((round+1)*1_000_000))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		n, killed := 0, false
		kill := func() {
			if !killed {
				killed = true
				_ = cmd.Process.Kill()
			}
		}
		var timer *time.Timer
		for sc.Scan() {
			kind, num, ok := strings.Cut(sc.Text(), " ")
			seq, err := strconv.ParseUint(num, 10, 64)
			if !ok || err != nil {
				continue // not ours (the testing package's own output)
			}
			switch kind {
			case "p":
				puts[seq] = true
			case "d":
				dels[seq] = true
			default:
				continue
			}
			// Lines read after the kill were written before it: they
			// count as confirmed too.
			if n++; after > 0 && n == after {
				kill()
			} else if after == 0 && timer == nil {
				timer = time.AfterFunc(20*time.Millisecond, func() { _ = cmd.Process.Kill() })
			}
		}
		if timer != nil {
			timer.Stop()
			killed = true
		}
		kill()
		err = cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
			t.Fatalf("round %d: child did not die by the kill: %v\n%s", round, err, stderr.String())
		}
		if n == 0 {
			t.Fatalf("round %d: child confirmed nothing\n%s", round, stderr.String())
		}

		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		c := &counter{seqs: map[uint64]bool{}}
		err = s.Recover(context.Background(), c)
		if cerr := s.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		lost, back := 0, 0
		for seq := range puts {
			// A put whose delete was under way when the child died may
			// be gone without a "d" line: only the others must be there.
			if seq%3 != 0 && !c.seqs[seq] {
				lost++
			}
		}
		for seq := range dels {
			if c.seqs[seq] {
				back++
			}
		}
		t.Logf("round %d: %d lines read; %d puts and %d deletes confirmed so far, %d recovered",
			round, n, len(puts), len(dels), c.messages)
		if lost > 0 || back > 0 {
			t.Fatalf("round %d: %d confirmed puts lost, %d confirmed deletes undone", round, lost, back)
		}
	}
}

// crashChild commits puts (and deletes of every third) from four
// goroutines until it is killed, printing "p <seq>" or "d <seq>" after
// each commit returns nil.
func crashChild(dir string) {
	base, err := strconv.ParseUint(os.Getenv(crashBaseEnv), 10, 64)
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	if err != nil {
		fail(err)
	}
	s, err := Open(dir, Options{})
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	if err := s.Commit(ctx, &exchange.Batch{Ops: []exchange.Op{declare("q")}}); err != nil {
		fail(err)
	}
	var mu sync.Mutex
	report := func(kind string, seq uint64) {
		mu.Lock()
		defer mu.Unlock()
		if _, err := fmt.Fprintf(os.Stdout, "%s %d\n", kind, seq); err != nil {
			fail(err)
		}
	}
	var next atomic.Uint64
	next.Store(base)
	for range 4 {
		go func() {
			for {
				seq := next.Add(1)
				if err := s.Commit(ctx, &exchange.Batch{Ops: []exchange.Op{put("q", seq)}}); err != nil {
					fail(err)
				}
				report("p", seq)
				if seq%3 == 0 {
					del := exchange.Op{Kind: exchange.OpDeleteMessage, Queue: "q", Seq: seq}
					if err := s.Commit(ctx, &exchange.Batch{Ops: []exchange.Op{del}}); err != nil {
						fail(err)
					}
					report("d", seq)
				}
			}
		}()
	}
	select {} // until killed
}
