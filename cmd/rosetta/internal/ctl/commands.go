package ctl

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// The parts of the API's JSON the tables show (docs/api.md has all).
type (
	rate     struct{ In, Out float64 }
	overview struct {
		Version     string          `json:"version"`
		Commit      string          `json:"commit"`
		Uptime      float64         `json:"uptime_seconds"`
		Listeners   []listener      `json:"listeners"`
		Connections map[string]int  `json:"connections"`
		Rates       map[string]rate `json:"rates"`
		Queues      int             `json:"queues"`
		Ready       int             `json:"ready"`
		Retained    int             `json:"retained"`
		Memory      struct {
			RSS        uint64 `json:"rss_bytes"`
			Heap       uint64 `json:"heap_bytes"`
			Goroutines uint64 `json:"goroutines"`
		} `json:"memory"`
		Store struct {
			Engine string `json:"engine"`
			Size   int64  `json:"size_bytes"`
		} `json:"store"`
	}
	listener struct{ Name, Addr string }
	conn     struct {
		Protocol    string    `json:"protocol"`
		ID          string    `json:"id"`
		ClientID    string    `json:"client_id"`
		User        string    `json:"user"`
		Remote      string    `json:"remote"`
		Transport   string    `json:"transport"`
		ConnectedAt time.Time `json:"connected_at"`
		In          uint64    `json:"messages_in"`
		Out         uint64    `json:"messages_out"`
		Consumers   []consumer
	}
	consumer struct {
		ID        uint64   `json:"id"`
		Queue     string   `json:"queue"`
		Protocol  string   `json:"protocol"`
		ConnID    string   `json:"conn_id"`
		ClientID  string   `json:"client_id"`
		Credit    int      `json:"credit"`
		Unsettled int      `json:"unsettled"`
		Bindings  []string `json:"bindings"`
	}
	queue struct {
		Name         string     `json:"name"`
		Durable      bool       `json:"durable"`
		Ready        int        `json:"ready"`
		Unsettled    int        `json:"unsettled"`
		Bytes        int64      `json:"bytes"`
		Consumers    int        `json:"consumers"`
		DeadLetterTo string     `json:"dead_letter_queue"`
		Bindings     []string   `json:"bindings"`
		Rate         rate       `json:"rate"`
		ConsumerList []consumer `json:"consumer_list"`
	}
	msg struct {
		Seq          uint64 `json:"seq"`
		ID           string `json:"id"`
		Address      string `json:"address"`
		Body         string `json:"body"`
		BodyEncoding string `json:"body_encoding"`
		Priority     int    `json:"priority"`
		Deliveries   int    `json:"delivery_count"`
		DeadLetter   *struct {
			Reason  string `json:"reason"`
			Queue   string `json:"queue"`
			Address string `json:"address"`
		} `json:"dead_letter"`
	}
	binding     struct{ Queue, Pattern string }
	transformer struct {
		Name, Kind, Status, Error string
		Calls, Failures           uint64
	}
)

func (o *opts) run(ctx context.Context, pos []string) error {
	cmd, args := pos[0], pos[1:]
	switch cmd {
	case "overview":
		return o.overview(ctx, args)
	case "connections", "conns":
		return o.connections(ctx, args)
	case "queues":
		return o.queues(ctx, args)
	case "get":
		if err := need(args, 0, ""); err != nil {
			return err
		}
		if o.queue == "" {
			return usageError("get needs --queue NAME")
		}
		q := []string{o.countQuery(1)}
		if o.wait != "" {
			q = append(q, "wait="+url.QueryEscape(o.wait))
		}
		if o.base64 {
			q = append(q, "encoding=base64")
		}
		return o.messages(ctx, "POST", "/queues/"+esc(o.queue)+"/get"+join(q...))
	case "dlq":
		if len(args) == 0 {
			return o.messages(ctx, "GET", "/queues/"+esc("$dlq")+"/messages"+join(o.countQuery(20)))
		}
		if args[0] != "move" || len(args) > 2 {
			return usageError("dlq takes no argument, or move [QUEUE]")
		}
		name := "$dlq"
		if len(args) == 2 {
			name = args[1]
		}
		var res map[string]int
		if printed, err := o.call(ctx, "POST", "/queues/"+esc(name)+"/move"+join(o.countQuery(-1)), nil, &res); err != nil || printed {
			return err
		}
		_, err := fmt.Fprintf(o.out, "moved %d, unroutable %d (kept), skipped %d (no original address)\n", res["moved"], res["unroutable"], res["skipped"])
		return err
	case "retained":
		return o.retained(ctx, args)
	case "publish":
		return o.publish(ctx, args)
	case "bindings":
		var bs []binding
		if printed, err := o.call(ctx, "GET", "/bindings", nil, &bs); err != nil || printed {
			return err
		}
		tw := o.table()
		fmt.Fprintln(tw, "QUEUE\tPATTERN")
		for _, b := range bs {
			fmt.Fprintf(tw, "%s\t%s\n", b.Queue, b.Pattern)
		}
		return tw.Flush()
	case "transformers":
		var ts []transformer
		if printed, err := o.call(ctx, "GET", "/transformers", nil, &ts); err != nil || printed {
			return err
		}
		if len(ts) == 0 {
			_, err := fmt.Fprintln(o.out, "no transform engine or plugin configured")
			return err
		}
		tw := o.table()
		fmt.Fprintln(tw, "NAME\tKIND\tSTATUS\tCALLS\tFAILURES\tERROR")
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", t.Name, t.Kind, t.Status, t.Calls, t.Failures, t.Error)
		}
		return tw.Flush()
	case "reload":
		if printed, err := o.call(ctx, "POST", "/reload", nil, nil); err != nil || printed {
			return err
		}
		_, err := fmt.Fprintln(o.out, "configuration reloaded")
		return err
	case "help":
		_, err := fmt.Fprint(o.out, Usage)
		return err
	}
	return usageError(fmt.Sprintf("unknown command %q", cmd))
}

func (o *opts) overview(ctx context.Context, args []string) error {
	if err := need(args, 0, ""); err != nil {
		return err
	}
	var v overview
	if printed, err := o.call(ctx, "GET", "/overview", nil, &v); err != nil || printed {
		return err
	}
	tw := o.table()
	fmt.Fprintf(tw, "version\t%s (commit %s)\n", v.Version, v.Commit)
	fmt.Fprintf(tw, "uptime\t%s\n", (time.Duration(v.Uptime) * time.Second).String())
	for _, l := range v.Listeners {
		fmt.Fprintf(tw, "listener %s\t%s\n", l.Name, l.Addr)
	}
	fmt.Fprintf(tw, "connections\t%d (mqtt %d, stomp %d, amqp %d)\n", v.Connections["total"], v.Connections["mqtt"], v.Connections["stomp"], v.Connections["amqp"])
	protos := make([]string, 0, len(v.Rates))
	for p := range v.Rates {
		protos = append(protos, p)
	}
	sort.Strings(protos)
	for _, p := range protos {
		r := v.Rates[p]
		fmt.Fprintf(tw, "rate %s\t%.1f in/s, %.1f out/s\n", p, r.In, r.Out)
	}
	fmt.Fprintf(tw, "queues\t%d (%d messages ready)\n", v.Queues, v.Ready)
	fmt.Fprintf(tw, "retained\t%d\n", v.Retained)
	fmt.Fprintf(tw, "memory\trss %s, heap %s, %d goroutines\n", bytesText(int64(v.Memory.RSS)), bytesText(int64(v.Memory.Heap)), v.Memory.Goroutines)
	fmt.Fprintf(tw, "store\t%s %s\n", v.Store.Engine, bytesText(v.Store.Size))
	return tw.Flush()
}

func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func (o *opts) connections(ctx context.Context, args []string) error {
	if len(args) > 0 {
		if len(args) != 2 || (args[0] != "close" && args[0] != "show") {
			return usageError("connections takes no argument, show ID or close ID")
		}
		if args[0] == "close" {
			if printed, err := o.call(ctx, "DELETE", "/connections/"+esc(args[1]), nil, nil); err != nil || printed {
				return err
			}
			_, err := fmt.Fprintf(o.out, "connection %s closing\n", args[1])
			return err
		}
		var c conn
		if printed, err := o.call(ctx, "GET", "/connections/"+esc(args[1]), nil, &c); err != nil || printed {
			return err
		}
		tw := o.table()
		fmt.Fprintf(tw, "id\t%s\nprotocol\t%s\nclient id\t%s\nuser\t%s\nremote\t%s\ntransport\t%s\nconnected\t%s\nmessages in\t%d\nmessages out\t%d\n",
			c.ID, c.Protocol, c.ClientID, c.User, c.Remote, c.Transport, c.ConnectedAt.Format(time.RFC3339), c.In, c.Out)
		fmt.Fprintln(tw, "\nQUEUE\tBINDINGS\tCREDIT\tUNSETTLED")
		for _, k := range c.Consumers {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", k.Queue, strings.Join(k.Bindings, ","), k.Credit, k.Unsettled)
		}
		return tw.Flush()
	}
	var cs []conn
	if printed, err := o.call(ctx, "GET", "/connections", nil, &cs); err != nil || printed {
		return err
	}
	tw := o.table()
	fmt.Fprintln(tw, "ID\tPROTOCOL\tCLIENT ID\tUSER\tREMOTE\tCONNECTED\tIN\tOUT")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", c.ID, c.Protocol, c.ClientID, c.User, c.Remote,
			c.ConnectedAt.Local().Format(time.TimeOnly), c.In, c.Out)
	}
	return tw.Flush()
}

func (o *opts) queues(ctx context.Context, args []string) error {
	if len(args) == 0 {
		var qs []queue
		if printed, err := o.call(ctx, "GET", "/queues", nil, &qs); err != nil || printed {
			return err
		}
		tw := o.table()
		fmt.Fprintln(tw, "NAME\tREADY\tUNSETTLED\tBYTES\tCONSUMERS\tIN/S\tOUT/S\tDEAD LETTERS TO\tBINDINGS")
		for _, q := range qs {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%s\t%s\n", q.Name, q.Ready, q.Unsettled, q.Bytes, q.Consumers,
				q.Rate.In, q.Rate.Out, q.DeadLetterTo, strings.Join(q.Bindings, ","))
		}
		return tw.Flush()
	}
	if len(args) != 2 {
		return usageError("queues takes no argument, or show|create|delete|purge|peek NAME")
	}
	name := args[1]
	path := "/queues/" + esc(name)
	switch args[0] {
	case "show":
		var q queue
		if printed, err := o.call(ctx, "GET", path, nil, &q); err != nil || printed {
			return err
		}
		tw := o.table()
		fmt.Fprintf(tw, "name\t%s\ndurable\t%v\nready\t%d\nunsettled\t%d\nbytes\t%d\nconsumers\t%d\nbindings\t%s\ndead letters to\t%s\n",
			q.Name, q.Durable, q.Ready, q.Unsettled, q.Bytes, q.Consumers, strings.Join(q.Bindings, ","), q.DeadLetterTo)
		fmt.Fprintln(tw, "\nCONSUMER\tPROTOCOL\tCONNECTION\tCLIENT ID\tCREDIT\tUNSETTLED")
		for _, c := range q.ConsumerList {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\n", c.ID, c.Protocol, c.ConnID, c.ClientID, c.Credit, c.Unsettled)
		}
		return tw.Flush()
	case "create":
		spec := map[string]any{"durable": o.durable}
		if len(o.bind) > 0 {
			spec["bindings"] = []string(o.bind)
		}
		if o.maxLength != 0 {
			spec["max_length"] = o.maxLength
		}
		if o.ttl != "" {
			spec["ttl"] = o.ttl
		}
		if o.deadLetter != "" {
			spec["dead_letter"] = o.deadLetter
		}
		if o.overflow != "" {
			spec["overflow"] = o.overflow
		}
		var q queue
		if printed, err := o.call(ctx, "PUT", path, spec, &q); err != nil || printed {
			return err
		}
		_, err := fmt.Fprintf(o.out, "queue %s ready (durable %v, bindings %s)\n", q.Name, q.Durable, strings.Join(q.Bindings, ","))
		return err
	case "delete":
		if printed, err := o.call(ctx, "DELETE", path, nil, nil); err != nil || printed {
			return err
		}
		_, err := fmt.Fprintf(o.out, "queue %s deleted\n", name)
		return err
	case "purge":
		var res map[string]int
		if printed, err := o.call(ctx, "POST", path+"/purge", nil, &res); err != nil || printed {
			return err
		}
		_, err := fmt.Fprintf(o.out, "queue %s purged: %d messages removed\n", name, res["purged"])
		return err
	case "peek":
		q := []string{o.countQuery(10)}
		if o.base64 {
			q = append(q, "encoding=base64")
		}
		return o.messages(ctx, "GET", path+"/messages"+join(q...))
	}
	return usageError(fmt.Sprintf("unknown queues command %q", args[0]))
}

// messages prints a list of messages (peek, get, dlq).
func (o *opts) messages(ctx context.Context, method, path string) error {
	var ms []msg
	if printed, err := o.call(ctx, method, path, nil, &ms); err != nil || printed {
		return err
	}
	if len(ms) == 0 {
		_, err := fmt.Fprintln(o.out, "no messages")
		return err
	}
	tw := o.table()
	fmt.Fprintln(tw, "SEQ\tADDRESS\tPRIORITY\tDELIVERIES\tDEAD LETTER\tBODY")
	for _, m := range ms {
		dl := ""
		if m.DeadLetter != nil {
			dl = m.DeadLetter.Reason + " from " + m.DeadLetter.Queue + " (" + m.DeadLetter.Address + ")"
		}
		body := m.Body
		if m.BodyEncoding == "base64" {
			body = "base64:" + body
		}
		body = strings.NewReplacer("\n", `\n`, "\t", `\t`, "\r", `\r`).Replace(body)
		if len(body) > 200 {
			body = body[:200] + "…"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%s\n", m.Seq, m.Address, m.Priority, m.Deliveries, dl, body)
	}
	return tw.Flush()
}

func (o *opts) retained(ctx context.Context, args []string) error {
	if len(args) == 2 && args[0] == "delete" {
		if printed, err := o.call(ctx, "DELETE", "/retained?topic="+url.QueryEscape(args[1]), nil, nil); err != nil || printed {
			return err
		}
		_, err := fmt.Fprintf(o.out, "retained message of %s deleted\n", args[1])
		return err
	}
	if len(args) != 0 {
		return usageError("retained takes no argument, or delete TOPIC")
	}
	q := ""
	if o.filter != "" {
		q = "filter=" + url.QueryEscape(o.filter)
	}
	if o.base64 {
		q = join(q, "encoding=base64")[1:]
	}
	var ms []msg
	if printed, err := o.call(ctx, "GET", "/retained"+join(q), nil, &ms); err != nil || printed {
		return err
	}
	tw := o.table()
	fmt.Fprintln(tw, "TOPIC\tBODY")
	for _, m := range ms {
		body := m.Body
		if m.BodyEncoding == "base64" {
			body = "base64:" + body
		}
		fmt.Fprintf(tw, "%s\t%s\n", m.Address, body)
	}
	return tw.Flush()
}

// publish publishes through the admin API's POST /api/v1/publish: the
// message enters the exchange with origin protocol http.
func (o *opts) publish(ctx context.Context, args []string) error {
	if err := need(args, 0, ""); err != nil {
		return err
	}
	if o.address == "" {
		return usageError("publish needs --address")
	}
	if o.protocol != "http" {
		return usageError(fmt.Sprintf("--protocol %s: ctl publishes through the admin API (origin http); use an MQTT, STOMP or AMQP client, or rosetta bench, to publish over a protocol", o.protocol))
	}
	spec := map[string]any{"address": o.address, "body": o.body, "retain": o.retain, "durable": o.durable, "queue": o.toQueue}
	if o.contentType != "" {
		spec["content_type"] = o.contentType
	}
	if len(o.headers) > 0 {
		h := map[string]string{}
		for _, kv := range o.headers {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return usageError(fmt.Sprintf("--header %q: want key=value", kv))
			}
			h[k] = v
		}
		spec["headers"] = h
	}
	var res struct {
		ID      string `json:"id"`
		Address string `json:"address"`
		Queues  int    `json:"queues"`
	}
	if printed, err := o.call(ctx, "POST", "/publish", spec, &res); err != nil || printed {
		return err
	}
	_, err := fmt.Fprintf(o.out, "published %s to %s: %d queue(s)\n", res.ID, res.Address, res.Queues)
	return err
}
