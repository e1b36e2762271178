package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/rosettamq/rosetta/core/address"
	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/conns"
	"github.com/rosettamq/rosetta/core/exchange"
	"github.com/rosettamq/rosetta/core/message"
)

// willSinkTopic is where mochi is told to publish wills (OnWill): a topic
// that no subscription can match ($-prefixed, so no wildcard matches it,
// MQTT-4.7.2-1; and holding U+0000, which no SUBSCRIBE can carry,
// MQTT-4.7.3-2), so mochi's own fan-out delivers it to nobody. The real
// will goes to the core in OnWillSent.
const willSinkTopic = "$rosetta\x00will"

// conn is the state of one network connection, from an accepted CONNECT
// to OnDisconnect.
type conn struct {
	cl       *mochi.Client
	id       string // broker-assigned connection identifier
	clientID string
	ident    auth.Identity
	v5       bool
	window   int    // QoS>0 PUBLISH packets the client accepts in flight
	aliasMax uint16 // the client's Topic Alias Maximum (MQTT 5 §3.1.2.11.5)
	log      *slog.Logger
	origin   message.Origin
	reg      *conns.Handle // in the admin registry; nil when there is none

	// will is the Will of the CONNECT, as a PUBLISH, or nil; willDelay is
	// its Will Delay Interval in seconds.
	will      *packets.Packet
	willDelay uint32

	// sess is set in OnSessionEstablish (guarded by Server.mu).
	sess *session
	// suppressDelayedWill is set when a takeover resumed the session, so
	// that a delayed will is not sent (MQTT-3.1.3-9); willNow when a
	// takeover with clean start ended it, so that the will is not delayed
	// (MQTT 5 §3.1.4) (both guarded by Server.mu).
	suppressDelayedWill bool
	willNow             bool

	mu sync.Mutex
	// decisions are the subscription decisions of the SUBSCRIBE being
	// processed, by filter, read back by OnACLCheck and OnSubscribed
	// (guarded by mu).
	decisions map[string]subDecision
	// last is the last PUBLISH topic parsed (guarded by mu).
	last pubTarget
}

// subDecision is our verdict on one filter of a SUBSCRIBE.
type subDecision struct {
	allow  bool
	code   byte // the MQTT 5 reason code when refused
	pf     parsedFilter
	accept string // the SUBSCRIBE's accept user property (MQTT 5)
}

// pubTarget is a PUBLISH topic parsed by publishTarget.
type pubTarget struct {
	topic  string
	addr   address.Address // shared by the messages published to topic: never changed
	exact  address.Pattern // address.Exact(addr), for Authorize
	ensure bool
	err    error
}

// target parses a PUBLISH topic, remembering the last one: publishers
// mostly repeat a topic, and each PUBLISH is looked at twice (OnACLCheck,
// OnPublish) or three times (checkPublish, for 3.1.1 QoS>0).
func (c *conn) target(topic string) pubTarget {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last.topic != topic || c.last.addr == nil && c.last.err == nil {
		t := pubTarget{topic: topic}
		t.addr, t.ensure, t.err = publishTarget(topic)
		if t.err == nil {
			t.exact = address.Exact(t.addr)
		}
		c.last = t
	}
	return c.last
}

func (c *conn) decision(filter string) (subDecision, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.decisions[filter]
	return d, ok
}

// gateway is the mochi hook that connects mochi to the core: it
// authenticates and authorizes through auth.Service, turns every PUBLISH
// into a core publish (mochi acknowledges it but neither retains nor fans
// it out), mirrors subscriptions into core bindings and consumers, and
// keeps the session lifecycle.
type gateway struct {
	mochi.HookBase
	srv *Server
}

func (h *gateway) ID() string { return "rosetta-gateway" }

func (h *gateway) Provides(b byte) bool {
	switch b {
	case mochi.OnConnect, mochi.OnConnectAuthenticate, mochi.OnACLCheck,
		mochi.OnSessionEstablish, mochi.OnSessionEstablished, mochi.OnDisconnect, mochi.OnClientExpired,
		mochi.OnPacketRead, mochi.OnPacketEncode, mochi.OnPacketProcessed,
		mochi.OnSubscribe, mochi.OnSubscribed, mochi.OnUnsubscribed,
		mochi.OnPublish, mochi.OnWill, mochi.OnWillSent, mochi.StoredClients:
		return true
	}
	return false
}

// OnConnect authenticates the client. mochi has validated the CONNECT and
// assigned a client identifier when it was empty. A refusal is answered
// here, because OnConnectAuthenticate can only produce 0x86: bad
// credentials get 0x86 (3.1.1: 0x05, as mochi and mosquitto answer),
// anonymous access 0x87 (0x05), an unusable Will topic 0x90 (3.1.1: the
// connection is closed), and an authentication failure 0x88 Server
// unavailable (0x03).
func (h *gateway) OnConnect(cl *mochi.Client, pk packets.Packet) error {
	s := h.srv
	v5 := cl.Properties.ProtocolVersion == 5
	connID := "m" + strconv.FormatUint(s.connSeq.Add(1), 10)
	log := s.log.With("client", cl.ID, "conn", connID, "remote", cl.Net.Remote)

	creds := auth.Credentials{
		Protocol:    message.ProtocolMQTT,
		Username:    string(pk.Connect.Username),
		Password:    pk.Connect.Password,
		HasUsername: pk.Connect.UsernameFlag,
		ClientID:    cl.ID,
	}
	if cl.Net.Conn != nil {
		creds.Remote = cl.Net.Conn.RemoteAddr()
		if tc, ok := netConn(cl.Net.Conn).(*tls.Conn); ok {
			st := tc.ConnectionState()
			creds.TLS = &st
		}
	}
	ctx, cancel := context.WithTimeout(s.ctx, authTimeout)
	id, err := s.auth.Authenticate(ctx, creds)
	cancel()
	if err != nil {
		code, code3 := packets.ErrServerUnavailable, packets.Err3ServerUnavailable
		switch {
		case errors.Is(err, auth.ErrBadCredentials):
			code, code3 = packets.ErrBadUsernameOrPassword, packets.Err3NotAuthorized
		case errors.Is(err, auth.ErrAnonymous):
			code, code3 = packets.ErrNotAuthorized, packets.Err3NotAuthorized
		}
		log.Info("connection refused", "user", creds.Username, "reason", code.Reason, "error", err)
		refuse(cl, v5, code, code3)
		return fmt.Errorf("mqtt: authenticate %q: %w", cl.ID, err)
	}

	c := &conn{
		cl:       cl,
		id:       connID,
		clientID: cl.ID,
		ident:    id,
		v5:       v5,
		log:      log,
		origin:   message.Origin{Protocol: message.ProtocolMQTT, ClientID: cl.ID, ConnID: connID, User: id.User},
	}
	if pk.Connect.WillFlag {
		w := willPacket(&pk.Connect)
		if _, _, err := publishTarget(w.TopicName); err != nil {
			log.Info("connection refused: will topic", "topic", w.TopicName, "error", err)
			if v5 {
				refuse(cl, v5, packets.ErrTopicNameInvalid, packets.Code{})
			}
			return fmt.Errorf("mqtt: will topic of %q: %w", cl.ID, err)
		}
		c.will = &w
		c.willDelay = pk.Connect.WillProperties.WillDelayInterval
	}
	// The outbound window: the client's Receive Maximum (absent means
	// 65,535, MQTT 5 §3.1.2.11.3), or the configured in-flight cap for
	// 3.1.1, bounded by maxWindow.
	c.window = s.cfg.MaxInflight
	if v5 {
		c.window = math.MaxUint16
		if rm := cl.Properties.Props.ReceiveMaximum; rm > 0 {
			c.window = int(rm)
		}
		c.aliasMax = cl.Properties.Props.TopicAliasMaximum
	}
	c.window = min(c.window, maxWindow)
	c.reg = s.cfg.Conns.Add(conns.Info{Protocol: message.ProtocolMQTT, ID: connID, ClientID: cl.ID, User: id.User,
		Remote: cl.Net.Remote, Transport: transportOf(cl.Net.Listener)}, func(string) { h.closeConn(cl, v5, packets.ErrAdministrativeAction) })
	s.conns.Store(cl, c)
	log.Debug("connection accepted", "user", id.User, "version", cl.Properties.ProtocolVersion)
	return nil
}

// transportOf returns the kind of a listener ID ("tcp-1" is "tcp").
func transportOf(listener string) string {
	kind, _, _ := strings.Cut(listener, "-")
	return kind
}

// refuse writes a CONNACK with a failure code; mochi closes the
// connection when OnConnect returns an error. code3 zero means 3.1.1
// clients get no CONNACK.
func refuse(cl *mochi.Client, v5 bool, code, code3 packets.Code) {
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ReasonCode: code.Code}
	if v5 {
		ack.Properties.ReasonString = code.Reason
	} else {
		if code3.Code == 0 {
			return
		}
		ack.ReasonCode = code3.Code
	}
	_ = cl.WritePacket(ack)
}

// OnConnectAuthenticate admits the clients OnConnect authenticated.
func (h *gateway) OnConnectAuthenticate(cl *mochi.Client, _ packets.Packet) bool {
	return h.srv.conn(cl) != nil
}

// OnACLCheck authorizes a PUBLISH (write) on its exact address; for a
// SUBSCRIBE filter it returns the decision OnSubscribe took. mochi calls
// it too before its own fan-out ($SYS only, since the core routes
// everything else): the subscription was authorized then, so it allows.
func (h *gateway) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	c := h.srv.conn(cl)
	if c == nil {
		return false
	}
	if !write {
		if d, ok := c.decision(topic); ok {
			return d.allow
		}
		return true
	}
	t := c.target(topic)
	// A temporary reply queue's address holds its requester's random
	// connection id, so knowing it is the permission to reply, as for
	// STOMP senders (docs/mapping.md "Reply-to").
	if t.err == nil && (address.IsTemp(t.addr) || h.srv.auth.Authorize(c.ident, auth.Publish, t.exact)) {
		return true
	}
	h.srv.rejected.Add(1)
	c.log.Info("publish not authorized", "topic", topic, "user", c.ident.User)
	return false
}

// OnSessionEstablish runs after authentication and before mochi takes
// over an existing session and writes the CONNACK: the session is found
// or created here, so that mochi's "session present" and ours agree.
func (h *gateway) OnSessionEstablish(cl *mochi.Client, pk packets.Packet) {
	c := h.srv.conn(cl)
	if c == nil {
		return
	}
	// MQTT 5: the session persists when Session Expiry Interval > 0;
	// MQTT 3.1.1: when Clean Session is 0.
	persistent := !pk.Connect.Clean
	if c.v5 {
		persistent = cl.Properties.Props.SessionExpiryInterval > 0
	}
	if err := h.srv.openSession(c, pk.Connect.Clean, persistent, cl.Properties.Props.SessionExpiryInterval); err != nil {
		c.log.Error("open session", "error", err)
		// Refuse with a server error rather than run without a session;
		// mochi's CONNACK then fails and no OnDisconnect follows.
		h.srv.conns.Delete(cl)
		c.reg.Remove()
		_ = h.srv.mochi.DisconnectClient(cl, packets.ErrServerUnavailable)
	}
}

// OnSessionEstablished runs after the CONNACK, before mochi reads the
// next packet: the session's writer starts.
func (h *gateway) OnSessionEstablished(cl *mochi.Client, _ packets.Packet) {
	if c := h.srv.conn(cl); c != nil {
		h.srv.mu.Lock()
		ss := c.sess
		h.srv.mu.Unlock()
		if ss != nil {
			ss.attach(c)
		}
		c.log.Debug("session established")
	}
}

// OnDisconnect ends a clean session, or leaves a persistent one offline.
// mochi's expire flag says which (and accounts for a session expiry
// changed in DISCONNECT).
func (h *gateway) OnDisconnect(cl *mochi.Client, err error, expire bool) {
	c := h.srv.conn(cl)
	if c == nil {
		return
	}
	h.srv.conns.Delete(cl)
	c.reg.Remove()
	h.srv.mu.Lock()
	ss := c.sess
	h.srv.mu.Unlock()
	if ss == nil || !ss.detach(c) {
		return // taken over: the session lives on with another connection
	}
	c.log.Debug("disconnected", "error", err, "session_ends", expire)
	if expire {
		ss.end("disconnected")
		return
	}
	ss.offline()
}

// OnClientExpired ends a persistent session whose expiry interval passed.
func (h *gateway) OnClientExpired(cl *mochi.Client) {
	s := h.srv
	s.mu.Lock()
	ss := s.sessions[cl.ID]
	s.mu.Unlock()
	if ss == nil {
		// A session restored from its record (persist.go) that nobody
		// resumed before it expired.
		if _, ok := s.x.State(sessionKey(cl.ID)); ok {
			if err := s.x.DeleteQueue(sessionQueue(cl.ID)); err != nil && !errors.Is(err, exchange.ErrQueueNotFound) {
				s.log.Warn("delete expired session queue", "client", cl.ID, "error", err)
			}
			s.forgetRecord(cl.ID)
			s.log.Debug("restored session expired", "client", cl.ID)
		}
		return
	}
	ss.mu.Lock()
	online := ss.conn != nil
	ss.mu.Unlock()
	if !online {
		ss.end("expired")
	}
}

// OnPacketRead sees every packet before mochi validates it. It takes the
// acknowledgements of our deliveries (mochi's in-flight table is not
// used for them, see the ADR), and refuses PUBLISH topics mochi would
// handle wrongly: wildcards get DISCONNECT 0x90 Topic Name invalid
// (mochi would send 0x82), $SYS topics get a 0x87 acknowledgement (mochi
// would drop them without one). It handles QoS 0 and 1 PUBLISH packets
// itself (publishDirect).
func (h *gateway) OnPacketRead(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	switch pk.FixedHeader.Type {
	case packets.Puback, packets.Pubrec, packets.Pubcomp:
		c := h.srv.conn(cl)
		if c == nil {
			return pk, nil
		}
		h.srv.mu.Lock()
		ss := c.sess
		h.srv.mu.Unlock()
		if ss != nil && ss.ack(c, pk) {
			return noopAck(&pk), nil
		}
	case packets.Publish:
		err := h.checkPublish(cl, &pk)
		if err != nil || pk.FixedHeader.Type != packets.Publish || pk.FixedHeader.Qos > 1 || cl.Net.Inline ||
			cl.State.Inflight.Len() > 0 {
			return pk, err
		}
		h.publishDirect(cl, &pk)
		return noopAck(&pk), nil
	}
	return pk, nil
}

// publishDirect is mochi's handling of a QoS 0 or 1 PUBLISH, done here
// (from OnPacketRead, after checkPublish) so that mochi's own is skipped:
// for QoS 1 it registers an acknowledgement in its in-flight table, builds
// and encodes it, writes it with a system call, and removes it, all for a
// PUBACK that is four fixed bytes. It drops what mochi would drop (an
// invalid topic: $SYS, a shared-subscription name), checks the ACL,
// registers the topic alias, calls OnPublish, and writes the PUBACK after
// a successful publish (ackConn gathers those). mochi is handed a packet
// it ignores in its place (noopAck).
//
// Only while the client has no QoS 2 publish in flight: mochi's Receive
// Maximum check counts those (MQTT-3.3.4-7), and a reused packet
// identifier is answered by it.
func (h *gateway) publishDirect(cl *mochi.Client, pk *packets.Packet) {
	if !mochi.IsValidFilter(pk.TopicName, true) {
		return
	}
	if !h.OnACLCheck(cl, pk.TopicName, true) {
		switch {
		case pk.FixedHeader.Qos == 0:
		case cl.Properties.ProtocolVersion == 5:
			_ = cl.WritePacket(negativeAck(*pk, packets.ErrNotAuthorized))
		default:
			_ = h.srv.mochi.DisconnectClient(cl, packets.ErrNotAuthorized)
		}
		return
	}
	if pk.Properties.TopicAliasFlag && pk.Properties.TopicAlias > 0 { // MQTT-3.3.2-11
		pk.TopicName = cl.State.TopicAliases.Inbound.Set(pk.Properties.TopicAlias, pk.TopicName)
	}
	c := h.srv.conn(cl)
	if c == nil || !h.publish(c, pk) || pk.FixedHeader.Qos == 0 {
		return // refused (and answered), or QoS 0: no acknowledgement
	}
	// MQTT-4.3.2-4 (PUBACK), MQTT 5 §3.4.2.1: reason 0x00 Success with no
	// properties is written as the bare identifier, as mochi does.
	ack := [4]byte{packets.Puback << 4, 2, byte(pk.PacketID >> 8), byte(pk.PacketID)}
	if err := c.writeRaw(ack[:]); err != nil {
		return // the read goroutine sees the connection fail next
	}
	info := h.srv.mochi.Info
	atomic.AddInt64(&info.PacketsSent, 1)
	atomic.AddInt64(&info.BytesSent, int64(len(ack)))
}

// checkPublish is OnPacketRead for a PUBLISH, on pk in place: it may
// resolve its topic alias, or replace it with a packet mochi ignores.
func (h *gateway) checkPublish(cl *mochi.Client, pk *packets.Packet) error {
	v5 := cl.Properties.ProtocolVersion == 5
	if pk.FixedHeader.Qos == 2 {
		// MQTT-4.3.3-10: until PUBREL, a PUBLISH with the same identifier
		// (a resend after a lost PUBREC) is answered with PUBREC again and
		// not delivered again. mochi would answer 0x91 Packet Identifier in
		// use. Its in-flight table holds only inbound QoS 2 state here (the
		// session tracks outbound deliveries itself).
		if prev, ok := cl.State.Inflight.Get(pk.PacketID); ok && prev.FixedHeader.Type == packets.Pubrec {
			_ = cl.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrec}, PacketID: pk.PacketID})
			*pk = noopAck(pk)
			return nil
		}
	}
	if pk.Properties.TopicAlias > topicAliasMaximum {
		h.srv.rejected.Add(1)
		h.closeConn(cl, v5, packets.ErrTopicAliasInvalid) // MQTT 5 §3.3.2.3.4
		return errReject
	}
	if pk.TopicName == "" && pk.Properties.TopicAliasFlag && pk.Properties.TopicAlias > 0 {
		// mochi resolves an inbound alias only after the ACL check, which
		// would then see an empty topic: resolve it here (Set with an empty
		// topic returns the registered one).
		pk.TopicName = cl.State.TopicAliases.Inbound.Set(pk.Properties.TopicAlias, "")
		if pk.TopicName == "" {
			// MQTT 5 §3.3.2.3.4: an alias with no mapping is a Protocol Error.
			h.srv.rejected.Add(1)
			h.srv.log.Info("publish refused: unknown topic alias", "client", cl.ID, "alias", pk.Properties.TopicAlias)
			h.closeConn(cl, v5, packets.ErrProtocolViolationInvalidTopic)
			return errReject
		}
	}
	topic := pk.TopicName
	if strings.ContainsAny(topic, "+#") {
		// MQTT-3.3.2-2, MQTT 5 §3.3.2.1: 0x90 Topic Name invalid.
		h.srv.rejected.Add(1)
		h.srv.log.Info("publish refused: wildcard in topic", "client", cl.ID, "topic", topic)
		h.closeConn(cl, v5, packets.ErrTopicNameInvalid)
		return errReject
	}
	if !v5 && pk.FixedHeader.Qos > 0 && !h.OnACLCheck(cl, topic, true) {
		// MQTT-3.3.5-2: 3.1.1 cannot refuse a publish, so the connection is
		// closed. mochi would first write a DISCONNECT, which 3.1.1 does not
		// have; closing the socket here avoids it.
		h.closeConn(cl, false, packets.ErrNotAuthorized)
		return errReject
	}
	if len(topic) >= len(mochi.SysPrefix) && strings.EqualFold(topic[:len(mochi.SysPrefix)], mochi.SysPrefix) {
		// MQTT 5 §4.7.2: clients should not publish to $SYS topics.
		h.srv.rejected.Add(1)
		h.srv.log.Info("publish refused: $SYS topic", "client", cl.ID, "topic", topic)
		if pk.FixedHeader.Qos > 0 {
			if !v5 {
				h.closeConn(cl, v5, packets.ErrNotAuthorized)
				return errReject
			}
			_ = cl.WritePacket(negativeAck(*pk, packets.ErrNotAuthorized))
		}
	}
	return nil
}

// closeConn ends a connection after bad input: MQTT 5 clients get a
// DISCONNECT with the reason code; 3.1.1 has no server DISCONNECT, so the
// socket is closed. Either way mochi sees a read error and publishes the
// will, as for any close the client did not ask for.
func (h *gateway) closeConn(cl *mochi.Client, v5 bool, code packets.Code) {
	if v5 {
		_ = h.srv.mochi.DisconnectClient(cl, code)
		return
	}
	if cl.Net.Conn != nil {
		_ = cl.Net.Conn.Close()
	}
}

// negativeAck builds the PUBACK (QoS 1) or PUBREC (QoS 2) refusing a
// PUBLISH with code. (mochi's own refusal path always answers PUBACK,
// even to QoS 2.)
func negativeAck(pk packets.Packet, code packets.Code) packets.Packet {
	t := packets.Puback
	if pk.FixedHeader.Qos == 2 {
		t = packets.Pubrec
	}
	return packets.Packet{
		FixedHeader: packets.FixedHeader{Type: t},
		PacketID:    pk.PacketID,
		ReasonCode:  code.Code,
		Properties:  packets.Properties{ReasonString: code.Reason},
	}
}

// OnPacketEncode adjusts packets mochi writes:
//   - CONNACK announces the Maximum Packet Size (MQTT 5 §3.2.2.3.6) and
//     Topic Alias Maximum (§3.2.2.3.8), which mochi enforces but does not
//     announce;
//   - a QoS 1 PUBACK carries reason 0x00 Success, not mochi's 0x01 (a
//     SUBACK code, invalid in PUBACK, MQTT 5 §3.4.2.1);
//   - a PUBLISH keeps its user properties when the client asked for no
//     problem information: MQTT-3.1.2-29 forbids them on other packets
//     only, but mochi strips them from PUBLISH too.
func (h *gateway) OnPacketEncode(_ *mochi.Client, pk packets.Packet) packets.Packet {
	switch pk.FixedHeader.Type {
	case packets.Publish:
		pk.Mods.DisallowProblemInfo = false
	case packets.Puback:
		if pk.ReasonCode == packets.CodeGrantedQos1.Code {
			pk.ReasonCode = packets.CodeSuccess.Code
		}
	case packets.Connack:
		if pk.ReasonCode < packets.ErrUnspecifiedError.Code {
			pk.Properties.MaximumPacketSize = h.srv.cfg.MaxPacketSize
			pk.Properties.TopicAliasMaximum = topicAliasMaximum
		}
	}
	return pk
}

// OnPacketProcessed runs after mochi handled a packet; after a SUBSCRIBE
// its SUBACK is written, so the retained messages may follow.
func (h *gateway) OnPacketProcessed(cl *mochi.Client, pk packets.Packet, _ error) {
	if pk.FixedHeader.Type != packets.Subscribe {
		return
	}
	if c := h.srv.conn(cl); c != nil {
		h.srv.mu.Lock()
		ss := c.sess
		h.srv.mu.Unlock()
		if ss != nil {
			ss.endSubscribe()
		}
	}
}

// OnSubscribe decides each filter: parsed, authorized with
// auth.Subscribe (the filter must lie inside a permitted pattern) and
// within MaxSubscriptions. mochi then asks OnACLCheck per filter, which
// answers from these decisions, so a refused filter gets 0x87 (0x80 for
// 3.1.1); OnSubscribed refines the code.
func (h *gateway) OnSubscribe(cl *mochi.Client, pk packets.Packet) packets.Packet {
	c := h.srv.conn(cl)
	if c == nil {
		return pk
	}
	h.srv.mu.Lock()
	ss := c.sess
	h.srv.mu.Unlock()
	if ss == nil {
		return pk
	}
	ss.beginSubscribe()
	decisions := make(map[string]subDecision, len(pk.Filters))
	added := 0
	accept := ""
	if c.v5 {
		accept = acceptOf(pk)
	}
	for _, f := range pk.Filters {
		if _, dup := decisions[f.Filter]; dup {
			continue
		}
		var d subDecision
		pf, err := parseFilter(f.Filter)
		n, exists := ss.subscriptionCount(f.Filter)
		var aerr error
		if err == nil {
			aerr = ss.checkAccept(accept, pf)
		}
		switch {
		case err != nil:
			d.code = packets.ErrTopicFilterInvalid.Code
		case !h.srv.auth.Authorize(c.ident, auth.Subscribe, pf.pattern):
			d.code = packets.ErrNotAuthorized.Code
		case !exists && n+added >= h.srv.cfg.MaxSubscriptions:
			d.code = packets.ErrQuotaExceeded.Code
		case aerr != nil:
			// "The SUBSCRIBE is valid but the Server does not accept it"
			// (MQTT 5 §3.9.3): a format nobody can produce.
			err = aerr
			d.code = packets.ErrImplementationSpecificError.Code
		default:
			d.allow, d.pf, d.accept = true, pf, accept
			if !exists {
				added++
			}
		}
		if !d.allow {
			c.log.Info("subscription refused", "filter", f.Filter, "code", d.code, "error", err)
		}
		decisions[f.Filter] = d
	}
	c.mu.Lock()
	c.decisions = decisions
	c.mu.Unlock()
	return pk
}

// OnSubscribed mirrors the granted subscriptions into the core and sets
// the refused filters' reason codes. reasonCodes is the slice mochi then
// writes in the SUBACK, so a code set here is the one the client sees.
func (h *gateway) OnSubscribed(cl *mochi.Client, pk packets.Packet, reasonCodes []byte) {
	c := h.srv.conn(cl)
	if c == nil {
		return
	}
	c.mu.Lock()
	decisions := c.decisions
	c.decisions = nil
	c.mu.Unlock()
	h.srv.mu.Lock()
	ss := c.sess
	h.srv.mu.Unlock()
	if ss == nil || len(reasonCodes) != len(pk.Filters) {
		return
	}
	for i, f := range pk.Filters {
		d, ok := decisions[f.Filter]
		if reasonCodes[i] >= packets.ErrUnspecifiedError.Code {
			if ok && !d.allow && c.v5 && reasonCodes[i] == packets.ErrNotAuthorized.Code {
				reasonCodes[i] = d.code
			}
			continue
		}
		if !ok || !d.allow {
			continue
		}
		code, retained := ss.subscribe(c, f, reasonCodes[i], d.pf, d.accept)
		if code != 0 {
			// mochi has recorded the subscription; take it back.
			h.srv.mochi.Topics.Unsubscribe(f.Filter, cl.ID)
			cl.State.Subscriptions.Delete(f.Filter)
			if !c.v5 {
				code = packets.ErrUnspecifiedError.Code // 3.1.1 §3.9.3: 0x80 Failure
			}
			reasonCodes[i] = code
			continue
		}
		if retained {
			ss.queueRetained(d.pf.pattern)
		}
	}
	ss.persist()
}

// OnUnsubscribed removes the subscriptions from the core. mochi also
// calls it with every filter when a clean session ends; the session is
// gone by then and nothing happens.
func (h *gateway) OnUnsubscribed(cl *mochi.Client, pk packets.Packet) {
	c := h.srv.conn(cl)
	if c == nil {
		return
	}
	h.srv.mu.Lock()
	ss := c.sess
	h.srv.mu.Unlock()
	if ss == nil {
		return
	}
	ss.mu.Lock()
	current := ss.conn == c
	ss.mu.Unlock()
	if !current {
		return
	}
	for _, f := range pk.Filters {
		ss.unsubscribe(f.Filter)
	}
	ss.persist()
}

// OnPublish hands the message to the core and tells mochi to acknowledge
// it but neither retain nor fan it out (CodeSuccessIgnore): the core does
// all routing, MQTT→MQTT included. It runs before mochi writes the
// PUBACK/PUBREC, and Publish returns once a durable message is stored,
// so the acknowledgement means "stored". A refusal is answered with a
// reason code (MQTT 5, QoS>0: 0x97 Quota exceeded when a queue is full,
// 0x90, 0x99 or 0x80 otherwise); a QoS 0 message is dropped; a 3.1.1
// QoS>0 publisher, which has no negative acknowledgement, is
// disconnected so that it sends the message again on its next
// connection.
func (h *gateway) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	c := h.srv.conn(cl)
	if c == nil || !h.publish(c, &pk) {
		return pk, errReject
	}
	return pk, errIgnore
}

// Sentinels for mochi, converted to error once rather than per message.
var (
	errReject error = packets.ErrRejectPacket
	errIgnore error = packets.CodeSuccessIgnore
)

// publish is OnPublish: it reports whether the core took the message; a
// refusal is answered (refusePublish).
func (h *gateway) publish(c *conn, pk *packets.Packet) bool {
	s := h.srv
	t := c.target(pk.TopicName)
	if t.err != nil {
		return h.refusePublish(c, pk, packets.ErrTopicNameInvalid, t.err)
	}
	// MQTT 5 §3.3.2.3.2: a payload announced as UTF-8 must be UTF-8.
	if pk.Properties.PayloadFormatFlag && pk.Properties.PayloadFormat == 1 && !utf8.Valid(pk.Payload) {
		return h.refusePublish(c, pk, packets.ErrPayloadFormatInvalid, errors.New("payload is not UTF-8"))
	}
	m := messageFromPublish(pk, t.addr, c.origin, time.Now())
	if _, err := s.x.Publish(s.ctx, m, exchange.PublishOptions{EnsureQueue: t.ensure}); err != nil {
		code := packets.ErrUnspecifiedError
		switch {
		case errors.Is(err, exchange.ErrQueueFull):
			code = packets.ErrQuotaExceeded
		case errors.Is(err, exchange.ErrQueueNotFound):
			code = packets.Code{Code: packets.ErrUnspecifiedError.Code, Reason: "queue not found"}
		}
		return h.refusePublish(c, pk, code, err)
	}
	c.reg.CountIn()
	return true
}

// refusePublish answers a refused publish and returns false.
func (h *gateway) refusePublish(c *conn, pk *packets.Packet, code packets.Code, err error) bool {
	h.srv.rejected.Add(1)
	c.log.Info("publish refused", "topic", pk.TopicName, "qos", pk.FixedHeader.Qos, "code", code.Code, "error", err)
	switch {
	case pk.FixedHeader.Qos == 0:
	case c.v5:
		_ = c.cl.WritePacket(negativeAck(*pk, code))
	default:
		h.closeConn(c.cl, false, code)
	}
	return false
}

// OnWill redirects the will mochi is about to publish to a topic nobody
// can subscribe to, and removes mochi's delay: OnWillSent then publishes
// the real will to the core, after its delay if it has one. (mochi only
// calls OnWillSent for a delayed will if the session still exists, so a
// clean session's delayed will would be lost.)
func (h *gateway) OnWill(cl *mochi.Client, will mochi.Will) (mochi.Will, error) {
	cl.Properties.Will.WillDelayInterval = 0
	will.TopicName = willSinkTopic
	will.Retain = false
	will.WillDelayInterval = 0
	return will, nil
}

// OnWillSent publishes the connection's will to the core, now or after
// the Will Delay Interval (MQTT 5 §3.1.3.2.2: the earlier of it and the
// session's end).
func (h *gateway) OnWillSent(cl *mochi.Client, _ packets.Packet) {
	s := h.srv
	c := s.conn(cl)
	if c == nil || c.will == nil {
		return
	}
	var delay time.Duration
	if c.v5 {
		d := min(c.willDelay, cl.Properties.Props.SessionExpiryInterval)
		delay = time.Duration(d) * time.Second
	}
	s.mu.Lock()
	suppress := c.suppressDelayedWill
	if c.willNow {
		delay = 0
	}
	s.mu.Unlock()
	if delay > 0 && suppress {
		return // the session was resumed by a new connection (MQTT-3.1.3-9)
	}
	if delay <= 0 {
		s.publishWill(c)
		return
	}
	s.scheduleWill(c, delay)
}

// pendingWill is a will waiting for its delay.
type pendingWill struct {
	c *conn
	t *time.Timer
}

func (s *Server) scheduleWill(c *conn, delay time.Duration) {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		s.publishWill(c) // Shutdown is flushing the delayed wills
		return
	}
	defer s.mu.Unlock()
	if old := s.wills[c.clientID]; old != nil {
		old.t.Stop()
	}
	pw := &pendingWill{c: c}
	pw.t = time.AfterFunc(delay, func() {
		s.mu.Lock()
		mine := s.wills[c.clientID] == pw && !s.closing.Load()
		if mine {
			delete(s.wills, c.clientID)
			// Counted under mu while not closing: Shutdown waits for it
			// after flushWills, which takes mu once closing is set.
			s.willWG.Add(1)
		}
		s.mu.Unlock()
		if mine {
			defer s.willWG.Done()
			s.publishWill(c)
		}
	})
	s.wills[c.clientID] = pw
	c.log.Debug("will delayed", "delay", delay)
}

// cancelWill drops a delayed will because its client reconnected
// (MQTT-3.1.3-9).
func (s *Server) cancelWill(clientID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pw := s.wills[clientID]; pw != nil {
		pw.t.Stop()
		delete(s.wills, clientID)
	}
}

// flushWills publishes every delayed will now and waits for those whose
// timer fired already (Shutdown, with closing set).
func (s *Server) flushWills() {
	s.mu.Lock()
	var due []*conn
	for id, pw := range s.wills {
		pw.t.Stop()
		due = append(due, pw.c)
		delete(s.wills, id)
	}
	s.mu.Unlock()
	for _, c := range due {
		s.publishWill(c)
	}
	s.willWG.Wait()
}

// publishWill authorizes the will like any publish and routes it.
func (s *Server) publishWill(c *conn) {
	w := c.will
	a, ensure, err := publishTarget(w.TopicName)
	if err != nil {
		return // checked at CONNECT
	}
	if !s.auth.Authorize(c.ident, auth.Publish, address.Exact(a)) {
		s.rejected.Add(1)
		c.log.Info("will not authorized", "topic", w.TopicName, "user", c.ident.User)
		return
	}
	if w.Properties.PayloadFormatFlag && w.Properties.PayloadFormat == 1 && !utf8.Valid(w.Payload) {
		s.rejected.Add(1)
		c.log.Info("will refused: payload is not UTF-8", "topic", w.TopicName)
		return
	}
	m := messageFromPublish(w, a, c.origin, time.Now())
	if _, err := s.x.Publish(s.ctx, m, exchange.PublishOptions{EnsureQueue: ensure}); err != nil {
		s.rejected.Add(1)
		c.log.Warn("publish will", "topic", w.TopicName, "error", err)
		return
	}
	c.log.Debug("will published", "topic", w.TopicName)
}

// openSession finds or creates the session of c's client identifier. An
// existing session's connection is taken over (MQTT-3.1.4-3); a clean
// start ends the old session first (MQTT-3.1.2-4).
func (s *Server) openSession(c *conn, clean, persistent bool, expiry uint32) error {
	s.cancelWill(c.clientID) // MQTT-3.1.3-9
	s.mu.Lock()
	ss := s.sessions[c.clientID]
	var ended *session
	if ss != nil && clean {
		ended = ss
		delete(s.sessions, c.clientID)
		ss = nil
		ended.mu.Lock()
		if ended.owner != nil {
			ended.owner.willNow = true
		}
		ended.mu.Unlock()
	}
	fresh := ss == nil
	if fresh {
		ss = newSession(s, c.clientID)
		ss.persistent = persistent
		ss.owner = c
		s.sessions[c.clientID] = ss
	}
	c.sess = ss
	var old *conn
	if !fresh {
		// The connection taken over is the last owner, attached or not
		// yet: its delayed will must not be sent (MQTT-3.1.3-9) even when
		// its OnWillSent comes after our cancelWill above.
		ss.mu.Lock()
		old = ss.owner
		ss.owner = c
		ss.persistent = persistent
		ss.mu.Unlock()
	}
	if old != nil {
		old.suppressDelayedWill = true
	}
	s.mu.Unlock()

	if ended != nil {
		ended.end("clean start")
	}
	if old != nil {
		ss.detach(old)
	}
	ss.mu.Lock()
	ss.protocol, ss.username, ss.expiry, ss.offlineAt = c.cl.Properties.ProtocolVersion, c.ident.User, expiry, 0
	ss.mu.Unlock()
	if fresh {
		if err := ss.init(c, clean); err != nil {
			s.mu.Lock()
			if s.sessions[c.clientID] == ss {
				delete(s.sessions, c.clientID)
			}
			s.mu.Unlock()
			ss.end("init failed")
			return fmt.Errorf("session %q: %w", c.clientID, err)
		}
	}
	ss.persist()
	return nil
}

// forgetSession removes an ended session from the table.
func (s *Server) forgetSession(ss *session) {
	s.mu.Lock()
	if s.sessions[ss.clientID] == ss {
		delete(s.sessions, ss.clientID)
	}
	s.mu.Unlock()
}

// writeRaw writes packets the session writer encoded (appendPublish)
// straight to the socket, under the mochi client's lock, which mochi's own
// writes take too, so that packets never interleave. mochi holds a packet
// back in a buffer only while its own outbound queue is not empty; New
// sets ClientNetWriteBufferSize to 1 so that it writes those through too,
// and nothing of mochi's waits to go out behind a packet of ours.
func (c *conn) writeRaw(b []byte) error {
	cl := c.cl
	if cl.Closed() {
		return mochi.ErrConnectionClosed
	}
	if cl.Net.Conn == nil {
		return nil
	}
	cl.Lock()
	defer cl.Unlock()
	_, err := cl.Net.Conn.Write(b)
	return err
}
