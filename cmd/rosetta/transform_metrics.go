package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosettamq/rosetta/transform"
)

// transformCollector exports the transform engine's and the plugins'
// counters at scrape time (docs/operations.md lists them).
type transformCollector struct {
	t *transformer

	stepCalls, stepErrors, stepDrops, stepSeconds *prometheus.Desc
	planCalls, planErrors, planHits, planMisses   *prometheus.Desc
	planSeconds                                   *prometheus.Desc
	cacheHits, cacheMisses, cacheEvictions        *prometheus.Desc
	cacheEntries, cacheBytes, passthrough         *prometheus.Desc
	pluginUp, pluginRestarts, pluginCalls         *prometheus.Desc
	pluginMessages, pluginErrors, pluginTimeouts  *prometheus.Desc
}

func newTransformCollector(t *transformer) *transformCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &transformCollector{
		t:              t,
		stepCalls:      d("rosetta_transform_step_messages_total", "Messages a transform step was given.", "step"),
		stepErrors:     d("rosetta_transform_step_errors_total", "Messages a transform step failed on.", "step"),
		stepDrops:      d("rosetta_transform_step_drops_total", "Messages a transform step dropped.", "step"),
		stepSeconds:    d("rosetta_transform_step_seconds", "Time per call of a transform step (one call may carry a batch).", "step"),
		planCalls:      d("rosetta_transform_plan_messages_total", "Transformations computed per plan (route and accept resolved to a chain of steps).", "plan"),
		planErrors:     d("rosetta_transform_plan_errors_total", "Transformations that failed per plan (the message was dead-lettered for its receiver).", "plan"),
		planHits:       d("rosetta_transform_plan_cache_hits_total", "Transformations of a plan served from the cache: the fan-out effect.", "plan"),
		planMisses:     d("rosetta_transform_plan_cache_misses_total", "Transformations of a plan computed.", "plan"),
		planSeconds:    d("rosetta_transform_plan_seconds", "Time per computed transformation, per plan.", "plan"),
		cacheHits:      d("rosetta_transform_cache_hits_total", "Deliveries whose transformation came from the cache."),
		cacheMisses:    d("rosetta_transform_cache_misses_total", "Deliveries whose transformation was computed."),
		cacheEvictions: d("rosetta_transform_cache_evictions_total", "Cached transformations evicted to stay within transform.cache_entries / cache_bytes."),
		cacheEntries:   d("rosetta_transform_cache_entries", "Transformations in the cache."),
		cacheBytes:     d("rosetta_transform_cache_bytes", "Bytes of bodies in the cache."),
		passthrough:    d("rosetta_transform_passthrough_total", "Deliveries that needed no transformation (no route, no accept)."),
		pluginUp:       d("rosetta_plugin_up", "1 while a transform plugin runs, 0 while it restarts, failed or stopped.", "plugin", "state"),
		pluginRestarts: d("rosetta_plugin_restarts_total", "Restarts of a transform plugin after a crash or a hang.", "plugin"),
		pluginCalls:    d("rosetta_plugin_calls_total", "Calls to a transform plugin (each carries a batch).", "plugin"),
		pluginMessages: d("rosetta_plugin_messages_total", "Messages sent to a transform plugin.", "plugin"),
		pluginErrors:   d("rosetta_plugin_call_errors_total", "Plugin calls that failed whole (crash, timeout, garbage): every message of the call was dead-lettered.", "plugin"),
		pluginTimeouts: d("rosetta_plugin_call_timeouts_total", "Plugin calls that ran past their deadline.", "plugin"),
	}
}

// Describe sends every descriptor.
func (c *transformCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.stepCalls, c.stepErrors, c.stepDrops, c.stepSeconds, c.planCalls, c.planErrors, c.planHits, c.planMisses,
		c.planSeconds, c.cacheHits, c.cacheMisses, c.cacheEvictions, c.cacheEntries, c.cacheBytes, c.passthrough,
		c.pluginUp, c.pluginRestarts, c.pluginCalls, c.pluginMessages, c.pluginErrors, c.pluginTimeouts,
	} {
		ch <- d
	}
}

// Collect reads the engine's snapshot and the plugins' status.
func (c *transformCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	st := c.t.Stats()
	for _, s := range st.Steps {
		counter(c.stepCalls, s.Calls, s.Step)
		counter(c.stepErrors, s.Errors, s.Step)
		counter(c.stepDrops, s.Drops, s.Step)
		ch <- histogram(c.stepSeconds, s.Latency, s.Step)
	}
	for _, p := range st.Plans {
		counter(c.planCalls, p.Calls, p.Plan)
		counter(c.planErrors, p.Errors, p.Plan)
		counter(c.planHits, p.CacheHits, p.Plan)
		counter(c.planMisses, p.CacheMisses, p.Plan)
		ch <- histogram(c.planSeconds, p.Latency, p.Plan)
	}
	counter(c.cacheHits, st.CacheHits)
	counter(c.cacheMisses, st.CacheMisses)
	counter(c.cacheEvictions, st.CacheEvictions)
	gauge(c.cacheEntries, float64(st.CacheEntries))
	gauge(c.cacheBytes, float64(st.CacheBytes))
	counter(c.passthrough, st.Passthrough)
	for _, p := range c.t.Plugins() {
		up := 0.0
		if p.State == "running" {
			up = 1
		}
		gauge(c.pluginUp, up, p.Name, string(p.State))
		counter(c.pluginRestarts, uint64(p.Restarts), p.Name)
		counter(c.pluginCalls, p.Calls, p.Name)
		counter(c.pluginMessages, p.Messages, p.Name)
		counter(c.pluginErrors, p.Errors, p.Name)
		counter(c.pluginTimeouts, p.Timeouts, p.Name)
	}
}

// histogram renders a transform latency histogram for Prometheus.
func histogram(d *prometheus.Desc, h transform.Histogram, labels ...string) prometheus.Metric {
	bounds := transform.LatencyBuckets()
	buckets := make(map[float64]uint64, len(bounds))
	for i, b := range bounds {
		buckets[b.Seconds()] = h.Buckets[i]
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum.Seconds(), buckets, labels...)
}
