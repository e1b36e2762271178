package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteText prints r for people.
func (r *Report) WriteText(w io.Writer) {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	if r.Connections > 0 {
		p("idle connections: %d of %d open in %.1fs to %s\n", r.ConnectionsOpen, r.Connections, r.ConnectSecs, strings.Join(r.Pub, " "))
	} else {
		p("run %s: %d publisher(s) per --pub, %d subscriber(s) per --sub, %s, %d-byte payloads", r.RunID, r.Publishers, r.Subscribers, r.Mode, r.Size)
		if r.Rate > 0 {
			p(", target %.0f msg/s", r.Rate)
		}
		p("\n")
		for _, u := range r.Pub {
			p("  pub %s\n", u)
		}
		for _, u := range r.Sub {
			p("  sub %s\n", u)
		}
		p("sent       %d in %.2fs: %.0f msg/s", r.Sent, r.PublishSecs, r.PublishRate)
		if r.Confirmed >= 0 {
			p(" (%d confirmed, %d rejected)", r.Confirmed, r.Rejected)
		}
		p("\n")
		p("received   %d of %d expected in %.2fs: %.0f msg/s\n", r.Received, r.Expected, r.ElapsedSecs, r.ReceiveRate)
		p("lost %d  duplicated %d  reordered %d  corrupt %d  foreign %d", r.Lost, r.Duplicated, r.Reordered, r.Corrupt, r.Foreign)
		if r.Unexpected > 0 {
			p("  unexpected %d", r.Unexpected)
		}
		p("\n")
		l := r.Latency
		p("latency    p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n", ns(l.P50), ns(l.P90), ns(l.P99), ns(l.P999), ns(l.Max))
		if r.MaxLagMS > 0 {
			p("schedule   publishers fell up to %.1f ms behind the target rate\n", r.MaxLagMS)
		}
		p("client CPU %.2fs (%.2f µs/msg)\n", r.ClientCPUSeconds, r.ClientCPUPerMsgUS)
	}
	if br := r.Broker; br != nil {
		p("broker     pid %d: CPU %.2fs (%.2f µs/msg, %.0f%% of a core), RSS %s -> %s (peak %s)\n",
			br.PID, br.CPUSeconds, br.CPUPerMsgUS, 100*br.CPUUtilization, kib(br.RSSBeforeKiB), kib(br.RSSAfterKiB), kib(br.RSSPeakKiB))
	}
	for _, e := range r.Errors {
		p("error: %s\n", e)
	}
	_, _ = io.WriteString(w, b.String())
}

func ns(v int64) string {
	d := time.Duration(v)
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", v)
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(v)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(v)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func kib(v int64) string {
	if v >= 10<<10 {
		return fmt.Sprintf("%.1f MiB", float64(v)/1024)
	}
	return fmt.Sprintf("%d KiB", v)
}
