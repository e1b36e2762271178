package admin

import (
	"encoding/base64"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rosettamq/rosetta/core/conns"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

// The JSON shapes of the API. Field names are snake_case; times are
// RFC 3339; durations are strings Go's time.ParseDuration reads.

type connJSON struct {
	Protocol    message.Protocol `json:"protocol"`
	ID          string           `json:"id"`
	ClientID    string           `json:"client_id"`
	User        string           `json:"user"`
	Remote      string           `json:"remote"`
	Transport   string           `json:"transport,omitempty"`
	ConnectedAt time.Time        `json:"connected_at"`
	MessagesIn  uint64           `json:"messages_in"`
	MessagesOut uint64           `json:"messages_out"`
}

func toConn(c conns.Conn) connJSON {
	return connJSON{
		Protocol: c.Protocol, ID: c.ID, ClientID: c.ClientID, User: c.User, Remote: c.Remote,
		Transport: c.Transport, ConnectedAt: c.ConnectedAt, MessagesIn: c.MessagesIn, MessagesOut: c.MessagesOut,
	}
}

type connDetailJSON struct {
	connJSON
	Consumers []consumerJSON `json:"consumers"`
}

type consumerJSON struct {
	ID        uint64           `json:"id"`
	Queue     string           `json:"queue"`
	Protocol  message.Protocol `json:"protocol"`
	ClientID  string           `json:"client_id"`
	ConnID    string           `json:"conn_id"`
	Credit    int              `json:"credit"`
	Unsettled int              `json:"unsettled"`
	AutoAck   bool             `json:"auto_ack"`
	Exclusive bool             `json:"exclusive"`
	Accept    string           `json:"accept,omitempty"` // the format it asked for
	// Bindings are the patterns of the consumer's queue: for an MQTT
	// session queue, the client's subscriptions.
	Bindings []string `json:"bindings"`
}

type queueJSON struct {
	Name          string   `json:"name"`
	Durable       bool     `json:"durable"`
	AutoDelete    bool     `json:"auto_delete"`
	Owner         string   `json:"owner,omitempty"`
	Ready         int      `json:"ready"`
	Unsettled     int      `json:"unsettled"`
	Bytes         int64    `json:"bytes"`
	Consumers     int      `json:"consumers"`
	Enqueued      uint64   `json:"enqueued"`
	Delivered     uint64   `json:"delivered"`
	Acked         uint64   `json:"acked"`
	Dropped       uint64   `json:"dropped"`
	Expired       uint64   `json:"expired"`
	DeadLettered  uint64   `json:"dead_lettered"`
	DeadLetterTo  string   `json:"dead_letter_queue"` // "" when dead letters are dropped
	MaxLength     int      `json:"max_length"`
	MaxBytes      int64    `json:"max_bytes"`
	Overflow      string   `json:"overflow"`
	TTL           string   `json:"ttl,omitempty"`
	MaxDeliveries int      `json:"max_deliveries"`
	Bindings      []string `json:"bindings"`
	Rate          Rate     `json:"rate"`
}

func overflowName(o exchange.Overflow) string {
	if o == exchange.RejectPublish {
		return "reject-publish"
	}
	return "drop-head"
}

func toQueue(s exchange.QueueStats, r Rate) queueJSON {
	c := s.Config
	q := queueJSON{
		Name: s.Name, Durable: c.Durable, AutoDelete: c.AutoDelete, Owner: c.Owner,
		Ready: s.Ready, Unsettled: s.Unsettled, Bytes: s.Bytes, Consumers: s.Consumers,
		Enqueued: s.Enqueued, Delivered: s.Delivered, Acked: s.Acked, Dropped: s.Dropped,
		Expired: s.Expired, DeadLettered: s.DeadLetter,
		MaxLength: c.MaxLength, MaxBytes: c.MaxBytes, Overflow: overflowName(c.Overflow),
		MaxDeliveries: c.MaxDeliveries, Bindings: patterns(s), Rate: r,
	}
	if q.MaxLength == 0 {
		q.MaxLength = exchange.DefaultMaxLength
	}
	if q.MaxBytes == 0 {
		q.MaxBytes = exchange.DefaultMaxBytes
	}
	if q.MaxDeliveries == 0 {
		q.MaxDeliveries = exchange.DefaultMaxDeliveries
	}
	if c.TTL > 0 {
		q.TTL = c.TTL.String()
	}
	switch c.DeadLetter {
	case "":
		q.DeadLetterTo = exchange.DefaultDeadLetter
	case "-":
	default:
		q.DeadLetterTo = c.DeadLetter
	}
	if q.DeadLetterTo == s.Name {
		q.DeadLetterTo = ""
	}
	return q
}

func patterns(s exchange.QueueStats) []string {
	out := make([]string, len(s.Bindings))
	for i, p := range s.Bindings {
		out[i] = p.MQTT()
	}
	return out
}

type originJSON struct {
	Protocol message.Protocol `json:"protocol"`
	ClientID string           `json:"client_id,omitempty"`
	ConnID   string           `json:"conn_id,omitempty"`
	User     string           `json:"user,omitempty"`
}

type deadLetterJSON struct {
	Reason        string    `json:"reason"`
	Queue         string    `json:"queue"`
	Address       string    `json:"address"`
	Time          time.Time `json:"time"`
	DeliveryCount int       `json:"delivery_count"`
	Detail        string    `json:"detail,omitempty"`
}

type headerJSON struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// messageJSON is a message as the API shows it. Body is text when it is
// valid UTF-8 without control characters other than whitespace, else
// base64 (BodyEncoding says which).
type messageJSON struct {
	Seq           uint64          `json:"seq,omitempty"`
	ID            string          `json:"id"`
	Address       string          `json:"address"`
	ContentType   string          `json:"content_type,omitempty"`
	Body          string          `json:"body"`
	BodyEncoding  string          `json:"body_encoding"` // "text" or "base64"
	Size          int             `json:"size"`
	Headers       []headerJSON    `json:"headers,omitempty"`
	CorrelationID string          `json:"correlation_id,omitempty"` // base64
	ReplyTo       string          `json:"reply_to,omitempty"`
	Subject       string          `json:"subject,omitempty"`
	UserID        string          `json:"user_id,omitempty"`
	Durable       bool            `json:"durable"`
	Priority      uint8           `json:"priority"`
	Expires       *time.Time      `json:"expires,omitempty"`
	DeliveryCount int             `json:"delivery_count"`
	Redelivered   bool            `json:"redelivered,omitempty"`
	Retain        bool            `json:"retain,omitempty"`
	Origin        originJSON      `json:"origin"`
	DeadLetter    *deadLetterJSON `json:"dead_letter,omitempty"`
}

func isText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' {
			return false
		}
	}
	return true
}

func toMessage(m *message.Message, forceBase64 bool) messageJSON {
	j := messageJSON{
		ID: m.ID, Address: m.Address.MQTT(), ContentType: m.ContentType, Size: m.Size(),
		ReplyTo: m.ReplyTo, Subject: m.Subject, UserID: m.UserID, Durable: m.Durable, Priority: m.Priority,
		Retain: m.Annotations.Retain,
		Origin: originJSON{Protocol: m.Annotations.Origin.Protocol, ClientID: m.Annotations.Origin.ClientID,
			ConnID: m.Annotations.Origin.ConnID, User: m.Annotations.Origin.User},
	}
	if !forceBase64 && isText(m.Body) {
		j.Body, j.BodyEncoding = string(m.Body), "text"
	} else {
		j.Body, j.BodyEncoding = base64.StdEncoding.EncodeToString(m.Body), "base64"
	}
	if len(m.CorrelationID) > 0 {
		j.CorrelationID = base64.StdEncoding.EncodeToString(m.CorrelationID)
	}
	if !m.Expires.IsZero() {
		t := m.Expires
		j.Expires = &t
	}
	for _, h := range m.Headers {
		j.Headers = append(j.Headers, headerJSON{Key: h.Key, Type: h.Value.Kind().String(), Value: h.Value.Text()})
	}
	if dl := m.Annotations.DeadLetter; dl != nil {
		j.DeadLetter = &deadLetterJSON{Reason: dl.Reason, Queue: dl.Queue, Address: dl.Address, Time: dl.Time,
			DeliveryCount: dl.DeliveryCount, Detail: dl.Detail}
	}
	return j
}
