package main

import (
	"cmp"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

// maxQueueSeries caps rosetta_queue_depth: a broker with a million
// private subscription queues must not produce a million series. The
// deepest queues are the ones worth seeing.
const maxQueueSeries = 1000

// metrics is the Prometheus registry of one broker. It is a value, not the
// global default registry, so tests build their own and nothing else in
// the process adds series by side effect.
type metrics struct {
	reg *prometheus.Registry
}

func newMetrics(b broker, m mqttFrontEnd, s stompFrontEnd, am amqpFrontEnd) *metrics {
	reg := prometheus.NewRegistry()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "rosetta_build_info",
		Help:        "Always 1; the labels say which build runs.",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit, "go_version": runtime.Version()},
	})
	build.Set(1)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newStatsCollector(b, m, s, am, maxQueueSeries),
		build,
	)
	return &metrics{reg: reg}
}

func (m *metrics) handler(log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.With("component", "metrics").Handler(), slog.LevelWarn),
		// A failing source (see statsCollector) leaves its series out; the
		// rest is still served.
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// statsCollector reads the exchange's and the front-ends' counters at
// scrape time, so the hot paths keep plain atomic counters and pay nothing
// for Prometheus.
type statsCollector struct {
	broker    broker
	mqtt      mqttFrontEnd
	stomp     stompFrontEnd
	amqp      amqpFrontEnd
	maxQueues int

	connections, messagesIn, messagesOut, dropped *prometheus.Desc
	unroutable, expired, deadLettered             *prometheus.Desc
	pagedOut, pagedIn, pageLoadErrors             *prometheus.Desc
	transformFailed                               *prometheus.Desc
	retained, queues, queueDepth, queuesOmitted   *prometheus.Desc
	mqttQoS0Dropped, mqttRejected                 *prometheus.Desc
	mqttPacketsIn, mqttPacketsOut                 *prometheus.Desc
	mqttBytesIn, mqttBytesOut                     *prometheus.Desc
	// Per-protocol front-end counters for the frame-based protocols
	// (STOMP and AMQP), labelled protocol like rosetta_connections.
	// MQTT keeps its rosetta_mqtt_* series.
	accepted, framesIn, framesOut, bytesIn, bytesOut *prometheus.Desc
	protocolErrors, slowConsumers                    *prometheus.Desc
	sourceUp                                         *prometheus.Desc
	// lossy counts fields dropped when a message crossed from one
	// protocol to another (DESIGN.md §2), read from the exchange.
	lossy *prometheus.Desc
}

func newStatsCollector(b broker, m mqttFrontEnd, s stompFrontEnd, am amqpFrontEnd, maxQueues int) *statsCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &statsCollector{
		broker: b, mqtt: m, stomp: s, amqp: am, maxQueues: maxQueues,
		lossy:           d("rosetta_conversion_lossy_total", "Fields dropped when a message crossed from one protocol to another.", "from", "to", "field"),
		connections:     d("rosetta_connections", "Open client connections.", "protocol"),
		messagesIn:      d("rosetta_messages_in_total", "Messages published into the exchange, by origin protocol.", "protocol"),
		messagesOut:     d("rosetta_messages_out_total", "Deliveries handed to consumers, by consumer protocol.", "protocol"),
		dropped:         d("rosetta_messages_dropped_total", "Messages dropped by the exchange, by reason.", "reason"),
		pagedOut:        d("rosetta_paged_out_total", "Persisted messages whose body was left to the store because their queue was over queues.resident_bytes."),
		pagedIn:         d("rosetta_paged_in_total", "Reads of a paged-out message back from the store."),
		pageLoadErrors:  d("rosetta_page_load_errors_total", "Paged-out messages the store could not give back (dropped)."),
		transformFailed: d("rosetta_transform_dead_lettered_total", "Deliveries dead-lettered because their payload transformation failed."),
		unroutable:      d("rosetta_messages_unroutable_total", "Messages published to an address no queue is bound to."),
		expired:         d("rosetta_messages_expired_total", "Messages whose TTL ran out in a queue."),
		deadLettered:    d("rosetta_messages_dead_lettered_total", "Messages moved to a dead-letter queue."),
		retained:        d("rosetta_retained_messages", "Retained (last-value) messages held."),
		queues:          d("rosetta_queues", "Queues, including private subscription queues."),
		queueDepth:      d("rosetta_queue_depth", fmt.Sprintf("Ready messages per queue; only the %d deepest queues are exported.", maxQueues), "queue"),
		queuesOmitted:   d("rosetta_queue_depth_omitted", "Queues left out of rosetta_queue_depth by the series cap."),
		mqttQoS0Dropped: d("rosetta_mqtt_qos0_dropped_total", "QoS 0 deliveries dropped because a session queue was full."),
		mqttRejected:    d("rosetta_mqtt_rejected_total", "MQTT publishes refused (not authorized, invalid topic, queue full)."),
		mqttPacketsIn:   d("rosetta_mqtt_packets_in_total", "MQTT control packets received."),
		mqttPacketsOut:  d("rosetta_mqtt_packets_out_total", "MQTT control packets sent."),
		mqttBytesIn:     d("rosetta_mqtt_bytes_in_total", "Bytes received on MQTT connections."),
		mqttBytesOut:    d("rosetta_mqtt_bytes_out_total", "Bytes sent on MQTT connections."),
		accepted:        d("rosetta_connections_accepted_total", "Client connections accepted, refused ones included.", "protocol"),
		framesIn:        d("rosetta_frames_in_total", "Frames received, heart-beats excluded.", "protocol"),
		framesOut:       d("rosetta_frames_out_total", "Frames sent, heart-beats excluded.", "protocol"),
		bytesIn:         d("rosetta_bytes_in_total", "Bytes received on client connections.", "protocol"),
		bytesOut:        d("rosetta_bytes_out_total", "Bytes sent on client connections.", "protocol"),
		protocolErrors:  d("rosetta_protocol_errors_total", "Errors reported to clients: STOMP ERROR frames (each followed by a close), AMQP close, end and detach frames with an error.", "protocol"),
		slowConsumers:   d("rosetta_slow_consumers_total", "Connections closed because they did not read within the write timeout.", "protocol"),
		sourceUp:        d("rosetta_stats_source_up", "1 when the source's counters could be read at this scrape, 0 when reading them failed.", "source"),
	}
}

// Describe sends every descriptor.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.connections, c.messagesIn, c.messagesOut, c.dropped, c.unroutable, c.expired, c.deadLettered,
		c.retained, c.queues, c.queueDepth, c.queuesOmitted, c.mqttQoS0Dropped, c.mqttRejected,
		c.mqttPacketsIn, c.mqttPacketsOut, c.mqttBytesIn, c.mqttBytesOut,
		c.accepted, c.framesIn, c.framesOut, c.bytesIn, c.bytesOut, c.protocolErrors, c.slowConsumers, c.sourceUp, c.lossy,
		c.pagedOut, c.pagedIn, c.pageLoadErrors, c.transformFailed,
	} {
		ch <- d
	}
}

// Collect reads each source once. A source that panics (a bug, or a
// component not built yet) is reported as rosetta_stats_source_up 0 and
// an error, instead of failing the whole scrape.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	c.guard(ch, "exchange", func() { c.collectExchange(ch) })
	c.guard(ch, "mqtt", func() { c.collectMQTT(ch) })
	c.guard(ch, "stomp", func() { c.collectSTOMP(ch) })
	c.guard(ch, "amqp", func() { c.collectAMQP(ch) })
}

func (c *statsCollector) guard(ch chan<- prometheus.Metric, source string, f func()) {
	up := 1.0
	func() {
		defer func() {
			if r := recover(); r != nil {
				up = 0
				ch <- prometheus.NewInvalidMetric(c.sourceUp, fmt.Errorf("reading %s stats: %v", source, r))
			}
		}()
		f()
	}()
	c.emit(ch, c.sourceUp, prometheus.GaugeValue, up, source)
}

// emit sends one metric. Label values come from the data (queue names),
// so an invalid one is skipped rather than allowed to panic.
func (c *statsCollector) emit(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(d, err)
		return
	}
	ch <- m
}

func (c *statsCollector) collectExchange(ch chan<- prometheus.Metric) {
	s := c.broker.Stats()
	for _, l := range c.broker.Lossy() {
		c.emit(ch, c.lossy, prometheus.CounterValue, float64(l.N), l.From, l.To, l.Field)
	}
	for _, kv := range sortedProtocols(s.In) {
		c.emit(ch, c.messagesIn, prometheus.CounterValue, float64(kv.v), string(kv.k))
	}
	for _, kv := range sortedProtocols(s.Out) {
		c.emit(ch, c.messagesOut, prometheus.CounterValue, float64(kv.v), string(kv.k))
	}
	for _, reason := range slices.Sorted(maps.Keys(s.Dropped)) {
		c.emit(ch, c.dropped, prometheus.CounterValue, float64(s.Dropped[reason]), reason)
	}
	c.emit(ch, c.unroutable, prometheus.CounterValue, float64(s.Unroutable))
	c.emit(ch, c.expired, prometheus.CounterValue, float64(s.Expired))
	c.emit(ch, c.deadLettered, prometheus.CounterValue, float64(s.DeadLetter))
	c.emit(ch, c.retained, prometheus.GaugeValue, float64(s.Retained))
	c.emit(ch, c.pagedOut, prometheus.CounterValue, float64(s.PagedOut))
	c.emit(ch, c.pagedIn, prometheus.CounterValue, float64(s.PagedIn))
	c.emit(ch, c.pageLoadErrors, prometheus.CounterValue, float64(s.PageLoadErrors))
	c.emit(ch, c.transformFailed, prometheus.CounterValue, float64(s.TransformFailed))

	qs := c.broker.Queues()
	c.emit(ch, c.queues, prometheus.GaugeValue, float64(len(qs)))
	omitted := 0
	if len(qs) > c.maxQueues {
		// qs is this scrape's snapshot, so sorting it in place is fine.
		slices.SortFunc(qs, func(a, b exchange.QueueStats) int {
			return cmp.Or(cmp.Compare(b.Ready, a.Ready), cmp.Compare(a.Name, b.Name))
		})
		omitted = len(qs) - c.maxQueues
		qs = qs[:c.maxQueues]
	}
	for _, q := range qs {
		c.emit(ch, c.queueDepth, prometheus.GaugeValue, float64(q.Ready), q.Name)
	}
	c.emit(ch, c.queuesOmitted, prometheus.GaugeValue, float64(omitted))
}

type protoCount struct {
	k message.Protocol
	v uint64
}

func sortedProtocols(m map[message.Protocol]uint64) []protoCount {
	out := make([]protoCount, 0, len(m))
	for k, v := range m {
		out = append(out, protoCount{k, v})
	}
	slices.SortFunc(out, func(a, b protoCount) int { return cmp.Compare(a.k, b.k) })
	return out
}

func (c *statsCollector) collectMQTT(ch chan<- prometheus.Metric) {
	s := c.mqtt.Stats()
	c.emit(ch, c.connections, prometheus.GaugeValue, float64(s.Connections), string(message.ProtocolMQTT))
	c.emit(ch, c.mqttQoS0Dropped, prometheus.CounterValue, float64(s.QoS0Dropped))
	c.emit(ch, c.mqttRejected, prometheus.CounterValue, float64(s.Rejected))
	c.emit(ch, c.mqttPacketsIn, prometheus.CounterValue, float64(s.PacketsIn))
	c.emit(ch, c.mqttPacketsOut, prometheus.CounterValue, float64(s.PacketsOut))
	c.emit(ch, c.mqttBytesIn, prometheus.CounterValue, float64(s.BytesIn))
	c.emit(ch, c.mqttBytesOut, prometheus.CounterValue, float64(s.BytesOut))
}

func (c *statsCollector) collectSTOMP(ch chan<- prometheus.Metric) {
	s := c.stomp.Stats()
	c.emitFrontEnd(ch, message.ProtocolSTOMP, frontEndStats{s.Connections, s.Accepted, s.FramesIn, s.FramesOut,
		s.BytesIn, s.BytesOut, s.Errors, s.SlowConsumers})
}

func (c *statsCollector) collectAMQP(ch chan<- prometheus.Metric) {
	s := c.amqp.Stats()
	c.emitFrontEnd(ch, message.ProtocolAMQP, frontEndStats{s.Connections, s.Accepted, s.FramesIn, s.FramesOut,
		s.BytesIn, s.BytesOut, s.Errors, s.SlowConsumers})
}

// frontEndStats are the counters STOMP and AMQP export alike.
type frontEndStats struct {
	connections, accepted, framesIn, framesOut, bytesIn, bytesOut, errors, slow int64
}

func (c *statsCollector) emitFrontEnd(ch chan<- prometheus.Metric, proto message.Protocol, s frontEndStats) {
	p := string(proto)
	c.emit(ch, c.connections, prometheus.GaugeValue, float64(s.connections), p)
	for _, m := range []struct {
		d *prometheus.Desc
		v int64
	}{
		{c.accepted, s.accepted},
		{c.framesIn, s.framesIn},
		{c.framesOut, s.framesOut},
		{c.bytesIn, s.bytesIn},
		{c.bytesOut, s.bytesOut},
		{c.protocolErrors, s.errors},
		{c.slowConsumers, s.slow},
	} {
		c.emit(ch, m.d, prometheus.CounterValue, float64(m.v), p)
	}
}
