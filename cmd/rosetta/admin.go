package main

import (
	"context"
	"io/fs"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/rosettamq/rosetta/cmd/rosetta/internal/admin"
	"github.com/rosettamq/rosetta/cmd/rosetta/internal/config"
	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/conns"
	"github.com/rosettamq/rosetta/core/exchange"
)

// adminAPI is what the app needs from *admin.Handler: the handler of /
// and /api/v1/, and the counter sampler it runs.
type adminAPI interface {
	http.Handler
	Run(ctx context.Context)
}

// newAdmin builds the admin API and dashboard for serve. reload is the
// SIGHUP reload; the API's calls are serialized with it by the caller.
func newAdmin(cfg config.Config, ex *exchange.Exchange, a auth.Service, reg *conns.Registry, ap *app, reload func() error, tr *transformer) (*admin.Handler, error) {
	c := admin.Config{
		Exchange:       ex,
		Auth:           a,
		Conns:          reg,
		AnonymousLocal: httpLoopbackOnly(cfg),
		Reload:         reload,
		Version:        version,
		Commit:         commit,
		Started:        time.Now(),
		Listeners:      ap.boundListeners,
		Storage:        string(cfg.Storage.Engine),
		Logger:         ap.log.With("component", "admin"),
	}
	if tr != nil {
		c.Transformers = tr.Status
		c.Explain = tr.explain
	}
	if cfg.Storage.Engine == config.EngineBadger {
		c.StoreSize = cachedDirSize(filepath.Join(cfg.DataDir, storeDir), 5*time.Second)
	}
	return admin.New(c)
}

// httpLoopbackOnly reports whether the HTTP listener accepts only local
// connections: then anonymous admin requests from loopback are allowed
// when the broker allows anonymous clients (DESIGN.md §8).
func httpLoopbackOnly(cfg config.Config) bool {
	for _, l := range cfg.EnabledListeners() {
		if l.Name != "http" {
			continue
		}
		host, _, err := net.SplitHostPort(l.Addr)
		return err == nil && config.IsLoopbackHost(host)
	}
	return false
}

// boundListeners returns the listeners start bound, with their actual
// addresses.
func (a *app) boundListeners() []admin.Listener {
	return append([]admin.Listener(nil), a.bound...)
}

// startSampler runs the admin API's counter sampler until the returned
// function is called; the app's WaitGroup tracks it.
func (a *app) startSampler() (stop func()) {
	if a.admin == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.wg.Go(func() { a.admin.Run(ctx) })
	return cancel
}

// cachedDirSize returns a function that sums the sizes of the files under
// dir, computing it at most once per ttl.
func cachedDirSize(dir string, ttl time.Duration) func() (int64, error) {
	var (
		mu   sync.Mutex
		at   time.Time
		size int64
		err  error
	)
	return func() (int64, error) {
		mu.Lock()
		defer mu.Unlock()
		if !at.IsZero() && time.Since(at) < ttl {
			return size, err
		}
		size, err = 0, nil
		err = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, werr error) error {
			if werr != nil {
				return werr
			}
			if d.Type().IsRegular() {
				if fi, ierr := d.Info(); ierr == nil {
					size += fi.Size()
				}
			}
			return nil
		})
		at = time.Now()
		return size, err
	}
}
