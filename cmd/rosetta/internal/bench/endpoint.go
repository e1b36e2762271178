package bench

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Protocols an Endpoint speaks.
const (
	MQTT  = "mqtt"
	STOMP = "stomp"
	AMQP  = "amqp"
)

// Endpoint is one --pub or --sub URL:
//
//	mqtt://[user:pass@]host[:1883]/topic[?qos=0|1|2&version=3|5&inflight=N&client=paho]
//	stomp://[user:pass@]host[:61613]/destination[?ack=auto|client-individual&receipt=true&persistent=true&prefetch=N&host=V]
//	amqp://[user:pass@]host[:5672]/address[?settled=true|false&credit=N&durable=true]
//
// Every scheme also takes content-type=T (set on published messages) and
// accept=F (the format a subscriber asks for: the STOMP accept header, an
// MQTT 5 subscription user property, an AMQP link property). An MQTT topic
// filter's '#' may be written as is or as %23.
type Endpoint struct {
	Raw   string // the URL as given
	Proto string // MQTT, STOMP or AMQP
	Addr  string // host:port
	User  string // "" means none (anonymous)
	Pass  string
	// Dest is the MQTT topic (no leading '/': mqtt://h/a/b is "a/b"), the
	// STOMP destination or the AMQP address (both with their leading '/').
	Dest string

	ContentType string // "" means none
	Accept      string // "" means none

	// MQTT.
	Inflight int  // QoS>0 publishes in flight (inflight=N); 0 means 1000, and never above the server's Receive Maximum
	QoS      byte // 0, 1 or 2
	Version  byte // 3 (3.1.1, the default) or 5
	Paho     bool // client=paho: the paho.mqtt.golang client (3.1.1 only) instead of the built-in one

	// STOMP.
	Ack        string // "auto" (default) or "client-individual"
	Receipt    bool   // ask a RECEIPT for each SEND and wait for it
	Persistent bool   // persistent:true on SEND
	Prefetch   int    // prefetch-count on SUBSCRIBE; 0 means none sent
	Host       string // CONNECT host header (RabbitMQ: the vhost); "/" unless host=...

	// AMQP.
	Settled bool // pre-settled transfers (the default); false: each is accepted
	Credit  int  // receiver link credit; 0 means DefaultCredit
	Durable bool // header durable=true on sent messages
}

// DefaultCredit is the AMQP receiver link credit without credit=N.
const DefaultCredit = 5000

var defaultPorts = map[string]string{MQTT: "1883", STOMP: "61613", AMQP: "5672"}

// ParseEndpoint parses one --pub or --sub URL.
func ParseEndpoint(raw string) (*Endpoint, error) {
	// A '#' would start the URL's fragment; in a topic filter it is a
	// wildcard, so keep it in the path.
	u, err := url.Parse(strings.ReplaceAll(raw, "#", "%23"))
	if err != nil {
		return nil, fmt.Errorf("bench: url %q: %w", raw, err)
	}
	e := &Endpoint{Raw: raw, Proto: u.Scheme, Ack: "auto", Host: "/", Version: 3, Settled: true}
	port, ok := defaultPorts[u.Scheme]
	if !ok {
		return nil, fmt.Errorf("bench: url %q: scheme %q is not mqtt, stomp or amqp", raw, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("bench: url %q: no host", raw)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	e.Addr = net.JoinHostPort(u.Hostname(), port)
	if u.User != nil {
		e.User = u.User.Username()
		e.Pass, _ = u.User.Password()
	}
	e.Dest = u.Path
	if e.Proto == MQTT {
		e.Dest = strings.TrimPrefix(e.Dest, "/")
	}
	if e.Dest == "" || e.Dest == "/" {
		return nil, fmt.Errorf("bench: url %q: no topic, destination or address in the path", raw)
	}
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		if err := e.setOption(k, v); err != nil {
			return nil, fmt.Errorf("bench: url %q: %w", raw, err)
		}
	}
	if e.Paho && e.Version == 5 {
		return nil, fmt.Errorf("bench: url %q: client=paho speaks MQTT 3.1.1 only", raw)
	}
	return e, nil
}

func (e *Endpoint) setOption(k, v string) error {
	bad := func() error { return fmt.Errorf("option %s=%q is invalid", k, v) }
	boolean := func(dst *bool) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return bad()
		}
		*dst = b
		return nil
	}
	switch {
	case k == "content-type":
		e.ContentType = v
	case k == "accept":
		e.Accept = v
	case e.Proto == MQTT && k == "qos":
		if v != "0" && v != "1" && v != "2" {
			return bad()
		}
		e.QoS = v[0] - '0'
	case e.Proto == MQTT && k == "version":
		switch v {
		case "3", "3.1.1", "4":
			e.Version = 3
		case "5":
			e.Version = 5
		default:
			return bad()
		}
	case e.Proto == MQTT && k == "client":
		switch v {
		case "paho":
			e.Paho = true
		case "lean", "":
			e.Paho = false
		default:
			return bad()
		}
	case e.Proto == MQTT && k == "inflight":
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 65535 {
			return bad()
		}
		e.Inflight = n
	case e.Proto == STOMP && k == "host":
		e.Host = v
	case e.Proto == STOMP && k == "ack":
		if v != "auto" && v != "client-individual" {
			return bad()
		}
		e.Ack = v
	case e.Proto == STOMP && k == "receipt":
		return boolean(&e.Receipt)
	case e.Proto == STOMP && k == "persistent":
		return boolean(&e.Persistent)
	case e.Proto == STOMP && k == "prefetch":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return bad()
		}
		e.Prefetch = n
	case e.Proto == AMQP && k == "settled":
		return boolean(&e.Settled)
	case e.Proto == AMQP && k == "credit":
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 1<<20 {
			return bad()
		}
		e.Credit = n
	case e.Proto == AMQP && k == "durable":
		return boolean(&e.Durable)
	default:
		return fmt.Errorf("unknown %s option %q", e.Proto, k)
	}
	return nil
}
