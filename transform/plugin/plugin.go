package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/rosettamq/rosetta/transform"
	"github.com/rosettamq/rosetta/transform/plugin/pluginpb"
	"github.com/rosettamq/rosetta/transform/plugin/wire"
)

// Errors. Every error result a plugin step returns wraps one of these, or
// is the plugin's own reason for one message (a *MessageError).
var (
	ErrClosed      = errors.New("plugin: closed")
	ErrChecksum    = errors.New("plugin: checksum mismatch")
	ErrUnavailable = errors.New("plugin: not running")
	ErrCallFailed  = errors.New("plugin: call failed")
	ErrTimeout     = errors.New("plugin: call timed out")
	ErrBadResponse = errors.New("plugin: bad response")
)

// MessageError is a plugin's reason for failing one message.
type MessageError struct {
	Plugin string
	Reason string
}

func (e *MessageError) Error() string { return "plugin " + e.Plugin + ": " + e.Reason }

// Spec is what a plugin says about itself.
type Spec = wire.Spec

// State is a plugin's lifecycle state.
type State string

// Plugin states.
const (
	StateStarting   State = "starting"
	StateRunning    State = "running"
	StateRestarting State = "restarting" // crashed or hung, waiting for the backoff or the new process
	StateFailed     State = "failed"     // gave up after MaxRestarts, or the binary no longer matches its checksum
	StateClosed     State = "closed"
)

// pollInterval is how often the supervisor looks for a dead process when no
// call has failed. Calls that fail wake it at once; this catches a plugin
// that dies while idle.
const pollInterval = 100 * time.Millisecond

// Plugin is one running plugin binary, supervised: it is restarted when it
// crashes or hangs. Its steps (Step) share its process and its in-flight
// limit.
type Plugin struct {
	cfg  Config
	name string
	spec Spec
	log  *slog.Logger

	ctx    context.Context // ends at Close; parent of every call
	cancel context.CancelFunc
	wg     sync.WaitGroup // supervisor, batchers, calls
	sem    chan struct{}  // MaxInFlight call slots

	down chan downReport // a call found the process hung or unreachable: restart it

	mu       sync.Mutex
	state    State         // guarded by mu
	inst     *instance     // current process; nil unless running; guarded by mu
	ready    chan struct{} // closed when state leaves starting/restarting; guarded by mu
	restarts int           // guarded by mu
	lastErr  string        // guarded by mu
	lastErrT time.Time     // guarded by mu

	loop      atomic.Int32 // consecutive restarts without a successful call
	timeouts  atomic.Int32 // consecutive timed-out calls
	calls     atomic.Uint64
	failed    atomic.Uint64
	timedOut  atomic.Uint64
	garbage   atomic.Uint64
	messages  atomic.Uint64
	msgErrors atomic.Uint64
	drops     atomic.Uint64
	maxBatch  atomic.Int64
}

// instance is one process of a plugin.
type instance struct {
	client *goplugin.Client
	cmd    *exec.Cmd
	rpc    pluginpb.TransformerServiceClient
	pid    int
	start  time.Time
}

// downReport says that calls found a process unusable, and why.
type downReport struct {
	inst   *instance
	reason string
}

// reportDown asks the supervisor to replace inst. It never blocks: when the
// queue is full, the supervisor already has reports to act on, and a
// process that died is also found by polling.
func (p *Plugin) reportDown(inst *instance, reason string) {
	select {
	case p.down <- downReport{inst, reason}:
	default:
	}
}

// kill stops the process at once (a crash or hang: nothing to save) and
// lets go-plugin clean up its goroutines and socket.
func (in *instance) kill() {
	if in.cmd.Process != nil {
		_ = in.cmd.Process.Kill()
	}
	in.client.Kill()
}

// stop asks the process to exit (go-plugin's graceful shutdown, which
// waits up to 2s), and kills it when ctx ends first.
func (in *instance) stop(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		in.client.Kill()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		if in.cmd.Process != nil {
			_ = in.cmd.Process.Kill()
		}
		<-done
		return fmt.Errorf("plugin pid %d: killed: %w", in.pid, ctx.Err())
	}
}

// start launches the plugin binary and starts its supervisor. ctx bounds
// the first start only.
func start(ctx context.Context, cfg Config) (*Plugin, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	p := &Plugin{
		cfg:   cfg,
		name:  cfg.Name,
		log:   cfg.Logger,
		sem:   make(chan struct{}, cfg.MaxInFlight),
		down:  make(chan downReport, 4),
		state: StateStarting,
		ready: make(chan struct{}),
	}
	if p.name == "" {
		p.name = cfg.Path
	}
	inst, spec, err := p.launch(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.Name == "" && spec.Name != "" {
		p.name = spec.Name
	}
	p.spec = spec
	p.log = cfg.Logger.With("plugin", p.name)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.mu.Lock()
	p.setRunningLocked(inst)
	p.mu.Unlock()
	p.log.Info("plugin started", "pid", inst.pid, "version", spec.Version, "path", cfg.Path)
	p.wg.Go(p.supervise)
	return p, nil
}

// launch starts one process, checks the handshake and asks for its spec.
func (p *Plugin) launch(ctx context.Context) (*instance, Spec, error) {
	want, _ := hex.DecodeString(p.cfg.SHA256) // checked by Validate
	cmd := exec.Command(p.cfg.Path, p.cfg.Args...)
	cmd.Env = append([]string(nil), p.cfg.Env...)
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          goplugin.PluginSet{wire.PluginName: hostPlugin{}},
		Cmd:              cmd,
		SkipHostEnv:      true,
		SecureConfig:     &goplugin.SecureConfig{Checksum: want, Hash: sha256.New()}, // a fresh hash per start: it is stateful
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		StartTimeout:     p.cfg.StartTimeout,
		Logger:           newHCLogger(p.log),
		GRPCDialOptions:  wire.DialOptions(),
	})
	fail := func(err error) (*instance, Spec, error) {
		client.Kill()
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			err = fmt.Errorf("%w: %s", ErrChecksum, p.cfg.Path)
		}
		return nil, Spec{}, fmt.Errorf("plugin %s: start: %w", p.name, err)
	}
	proto, err := client.Client()
	if err != nil {
		return fail(err)
	}
	raw, err := proto.Dispense(wire.PluginName)
	if err != nil {
		return fail(err)
	}
	rpc, ok := raw.(pluginpb.TransformerServiceClient)
	if !ok {
		return fail(fmt.Errorf("dispensed %T", raw))
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
	defer cancel()
	desc, err := rpc.Describe(ctx, &pluginpb.DescribeRequest{})
	if err != nil {
		return fail(fmt.Errorf("describe: %w", err))
	}
	inst := &instance{client: client, cmd: cmd, rpc: rpc, start: time.Now()}
	if cmd.Process != nil {
		inst.pid = cmd.Process.Pid
	}
	return inst, wire.SpecFromProto(desc), nil
}

// hostPlugin is the go-plugin glue on the host side.
type hostPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
}

func (hostPlugin) GRPCServer(*goplugin.GRPCBroker, *grpc.Server) error {
	return errors.New("plugin: the host serves nothing")
}

func (hostPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return pluginpb.NewTransformerServiceClient(cc), nil
}

func (p *Plugin) setRunningLocked(inst *instance) {
	p.inst = inst
	p.state = StateRunning
	close(p.ready)
}

// current returns the running process, waiting while the plugin starts or
// restarts, until ctx ends.
func (p *Plugin) current(ctx context.Context) (*instance, error) {
	for {
		p.mu.Lock()
		st, inst, ready, last := p.state, p.inst, p.ready, p.lastErr
		p.mu.Unlock()
		switch st {
		case StateRunning:
			return inst, nil
		case StateFailed:
			return nil, fmt.Errorf("plugin %s failed (%s): %w", p.name, last, ErrUnavailable)
		case StateClosed:
			return nil, fmt.Errorf("plugin %s: %w", p.name, ErrClosed)
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("plugin %s is %s: %w", p.name, st, ErrUnavailable)
		}
	}
}

func (p *Plugin) noteError(err error) {
	p.mu.Lock()
	p.lastErr = err.Error()
	p.lastErrT = time.Now()
	p.mu.Unlock()
}

// supervise restarts the plugin when its process is gone, hung or
// unreachable, until Close. It owns every start after the first.
func (p *Plugin) supervise() {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		var reason string
		var inst *instance
		select {
		case <-p.ctx.Done():
			return
		case d := <-p.down:
			inst, reason = d.inst, d.reason
		case <-t.C:
		}
		if inst == nil {
			p.mu.Lock()
			inst = p.inst
			p.mu.Unlock()
		}
		if inst == nil {
			continue
		}
		if reason == "" {
			if !inst.client.Exited() {
				continue
			}
			reason = "process exited"
		}
		p.restart(inst, reason)
	}
}

// restart replaces a dead or hung process, with exponential backoff.
func (p *Plugin) restart(old *instance, reason string) {
	p.mu.Lock()
	if p.state != StateRunning || p.inst != old {
		p.mu.Unlock()
		return
	}
	p.state = StateRestarting
	p.inst = nil
	p.ready = make(chan struct{})
	p.lastErr = reason
	p.lastErrT = time.Now()
	p.mu.Unlock()
	p.log.Warn("plugin down, restarting", "pid", old.pid, "reason", reason)
	old.kill()
	p.timeouts.Store(0)

	for {
		n := int(p.loop.Add(1))
		if n > p.cfg.MaxRestarts {
			p.giveUp(fmt.Sprintf("%d restarts without a successful call; last: %s", n-1, p.lastError()))
			return
		}
		delay := min(p.cfg.RestartBackoff<<min(n-1, 30), p.cfg.MaxRestartBackoff)
		select {
		case <-p.ctx.Done():
			return // Close marks the plugin closed
		case <-time.After(delay):
		}
		inst, _, err := p.launch(p.ctx)
		if err != nil {
			if p.ctx.Err() != nil {
				return
			}
			p.noteError(err)
			p.log.Error("plugin restart failed", "attempt", n, "err", err)
			if errors.Is(err, ErrChecksum) {
				p.giveUp(err.Error()) // the binary changed: retrying cannot help
				return
			}
			continue
		}
		p.mu.Lock()
		if p.state == StateClosed {
			p.mu.Unlock()
			inst.kill()
			return
		}
		p.restarts++
		p.setRunningLocked(inst)
		p.mu.Unlock()
		p.log.Info("plugin restarted", "pid", inst.pid, "attempt", n, "backoff", delay)
		return
	}
}

func (p *Plugin) giveUp(reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == StateClosed {
		return
	}
	p.state = StateFailed
	p.lastErr = reason
	p.lastErrT = time.Now()
	close(p.ready)
	p.log.Error("plugin failed, not restarting", "reason", reason)
}

func (p *Plugin) lastError() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// Name is the plugin's name: Config.Name, or the one from its spec.
func (p *Plugin) Name() string { return p.name }

// Spec is what the plugin said about itself at its first start.
func (p *Plugin) Spec() Spec { return p.spec }

// Step returns a step that transforms through this plugin with the given
// options (a JSON object; nil means none). The plugin checks the options
// first, so a bad configuration fails here rather than at the first
// message. The step batches concurrent Apply calls (Config.MaxBatch,
// BatchWait) and ends with the plugin or its own Close.
func (p *Plugin) Step(ctx context.Context, options []byte) (*Step, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
	defer cancel()
	inst, err := p.current(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := inst.rpc.Validate(ctx, &pluginpb.ValidateRequest{Options: options})
	if err != nil {
		return nil, fmt.Errorf("plugin %s: validate options: %w", p.name, err)
	}
	if e := resp.GetError(); e != "" {
		return nil, fmt.Errorf("plugin %s: %s", p.name, e)
	}
	s := newStep(p, append([]byte(nil), options...))
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == StateClosed {
		return nil, fmt.Errorf("plugin %s: %w", p.name, ErrClosed)
	}
	p.wg.Go(s.run)
	return s, nil
}

// Factory returns a transform.Factory for registering the plugin in a
// transform.Registry: the options the registry checked are sent to the
// plugin as a JSON object, and the plugin validates them (Step).
func (p *Plugin) Factory() transform.Factory {
	return func(opts map[string]any) (transform.Step, error) {
		b, err := json.Marshal(opts)
		if err != nil {
			return nil, fmt.Errorf("plugin %s: options: %w", p.name, err)
		}
		return p.Step(context.Background(), b)
	}
}

// Close stops the plugin's steps, fails their queued messages with
// ErrClosed, asks the process to exit and kills it if it has not by the
// time ctx ends. It waits for every goroutine the plugin started.
func (p *Plugin) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.state == StateClosed {
		p.mu.Unlock()
		return nil
	}
	prev := p.state
	p.state = StateClosed
	inst := p.inst
	p.inst = nil
	if prev == StateStarting || prev == StateRestarting {
		close(p.ready)
	}
	p.mu.Unlock()
	p.cancel()
	var err error
	if inst != nil {
		err = inst.stop(ctx)
	}
	p.wg.Wait()
	p.log.Info("plugin closed")
	return err
}

// Status is a plugin's state and counters, for the admin API.
type Status struct {
	Name    string
	Path    string
	Version string
	State   State
	PID     int       // 0 when no process runs
	Started time.Time // when the current process started; zero when none
	// Restarts counts successful restarts since the host started it.
	Restarts int
	// Calls counts Transform calls; Messages the messages they carried.
	Calls    uint64
	Messages uint64
	// Errors counts calls that failed as a whole (crash, timeout, garbage,
	// plugin down): every message of such a call got an error result.
	// Timeouts and BadResponses are the parts of Errors that timed out
	// and that returned garbage.
	Errors       uint64
	Timeouts     uint64
	BadResponses uint64
	// MessageErrors and Drops count per-message outcomes the plugin chose.
	MessageErrors uint64
	Drops         uint64
	// MeanBatch is Messages/Calls; MaxBatch the largest call seen.
	MeanBatch float64
	MaxBatch  int
	LastError string
	LastErrAt time.Time
}

// Status reports the plugin's state and counters.
func (p *Plugin) Status() Status {
	p.mu.Lock()
	s := Status{
		Name:      p.name,
		Path:      p.cfg.Path,
		Version:   p.spec.Version,
		State:     p.state,
		Restarts:  p.restarts,
		LastError: p.lastErr,
		LastErrAt: p.lastErrT,
	}
	if p.inst != nil {
		s.PID = p.inst.pid
		s.Started = p.inst.start
	}
	p.mu.Unlock()
	s.Calls = p.calls.Load()
	s.Messages = p.messages.Load()
	s.Errors = p.failed.Load()
	s.Timeouts = p.timedOut.Load()
	s.BadResponses = p.garbage.Load()
	s.MessageErrors = p.msgErrors.Load()
	s.Drops = p.drops.Load()
	s.MaxBatch = int(p.maxBatch.Load())
	if s.Calls > 0 {
		s.MeanBatch = float64(s.Messages) / float64(s.Calls)
	}
	return s
}
