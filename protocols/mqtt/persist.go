package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mochi-mqtt/server/v2/hooks/storage"

	"github.com/rosettamq/rosetta/core/exchange"
)

// Session persistence.
//
// A persistent session's core queue and its bindings are durable exchange
// state already, so messages published while the client is away are kept
// across a restart. What the exchange cannot know is MQTT's own view of
// the session: the options of each subscription (granted QoS, No Local,
// Retain As Published, Subscription Identifier), its shared ($share) and
// queue ($queue) subscriptions, which have no binding on the session
// queue, and its expiry. That is the session record, saved as an exchange
// state record ("mqtt/session/<client-id>", JSON) in the broker's one
// store, with the same group commit as everything else.
//
// On start the records are given to mochi through its StoredClients hook
// (not mochi's own storage hooks, which would open a database of their
// own), so that mochi knows the sessions: a client resuming one gets
// Session Present 1 (MQTT-3.2.2-3) and mochi expires an abandoned one,
// calling OnClientExpired, which deletes its queue and record.
//
// Not persisted: a delayed Will (it is published at once if the broker
// stops before the delay ends, as on a graceful shutdown), and packet
// identifiers of deliveries in flight: after a restart an unacknowledged
// message is sent again with a new packet identifier and DUP set.

const sessionKeyPrefix = "mqtt/session/"

func sessionKey(clientID string) string { return sessionKeyPrefix + clientID }

// sessionRecordVersion is the format of sessionRecord this build writes.
const sessionRecordVersion = 1

// sessionRecord is what survives a restart of a persistent session.
type sessionRecord struct {
	Version  int    `json:"v"`
	Protocol byte   `json:"protocol"` // 3, 4 (3.1.1) or 5
	Username string `json:"username,omitempty"`
	// Expiry is the MQTT 5 Session Expiry Interval in seconds; for 3.1.1
	// sessions ExpiryFlag is false and the server maximum applies.
	Expiry     uint32 `json:"expiry,omitempty"`
	ExpiryFlag bool   `json:"expiry_flag,omitempty"`
	// Offline is when the session lost its connection (Unix seconds), 0
	// while connected: on restart only what is left of the expiry counts.
	Offline int64       `json:"offline,omitempty"`
	Subs    []subRecord `json:"subs,omitempty"`
}

type subRecord struct {
	Filter  string `json:"filter"`
	QoS     byte   `json:"qos"`
	NoLocal bool   `json:"no_local,omitempty"`
	RAP     bool   `json:"rap,omitempty"`
	ID      int    `json:"id,omitempty"`
	Accept  string `json:"accept,omitempty"`
}

func decodeSessionRecord(b []byte) (sessionRecord, error) {
	var r sessionRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("mqtt: session record: %w", err)
	}
	if r.Version != sessionRecordVersion {
		return r, fmt.Errorf("mqtt: session record version %d, this build reads %d", r.Version, sessionRecordVersion)
	}
	return r, nil
}

// record returns the session's record. Caller holds ss.mu.
func (ss *session) recordLocked() sessionRecord {
	r := sessionRecord{
		Version:    sessionRecordVersion,
		Protocol:   ss.protocol,
		Username:   ss.username,
		Expiry:     ss.expiry,
		ExpiryFlag: ss.protocol == 5,
	}
	if ss.conn == nil {
		r.Offline = ss.offlineAt
	}
	for _, s := range ss.subs {
		r.Subs = append(r.Subs, subRecord{Filter: s.filter, QoS: s.qos, NoLocal: s.noLocal, RAP: s.rap, ID: s.id, Accept: s.accept})
	}
	return r
}

// persist saves the session record when the session is persistent, and
// deletes it otherwise. Calls are serialized per session (saveMu), so the
// store sees them in order. A failure is logged: the session goes on in
// memory and is only less complete after a restart.
func (ss *session) persist() {
	ss.saveMu.Lock()
	defer ss.saveMu.Unlock()
	ss.mu.Lock()
	keep := ss.persistent && !ss.ended
	var rec sessionRecord
	if keep {
		rec = ss.recordLocked()
	}
	ss.mu.Unlock()
	x := ss.srv.x
	key := sessionKey(ss.clientID)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if keep {
		var b []byte
		if b, err = json.Marshal(rec); err == nil {
			err = x.SaveState(ctx, key, b)
		}
	} else {
		err = x.DeleteState(ctx, key)
	}
	if err != nil && !errors.Is(err, exchange.ErrClosed) {
		ss.log.Warn("session record not saved", "error", err)
	}
}

// forgetRecord deletes the session record of clientID.
func (s *Server) forgetRecord(clientID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.x.DeleteState(ctx, sessionKey(clientID)); err != nil {
		s.log.Warn("session record not deleted", "client", clientID, "error", err)
	}
}

// restore gives a resumed session the subscriptions of its record.
// Private subscriptions keep the binding the store recovered (or get it
// back if the crash came between the binding and the record); shared and
// queue subscriptions consume again. It runs before the session has a
// writer. Filters that no longer parse are skipped with a warning.
func (ss *session) restore(c *conn, rec sessionRecord) {
	x := ss.srv.x
	for _, sr := range rec.Subs {
		pf, err := parseFilter(sr.Filter)
		if err != nil {
			ss.log.Warn("persisted subscription skipped", "filter", sr.Filter, "error", err)
			continue
		}
		sub := &subscription{
			filter: sr.Filter, kind: pf.kind, pattern: pf.pattern, queue: pf.queue,
			qos: min(sr.QoS, 2), noLocal: sr.NoLocal, rap: sr.RAP, id: sr.ID, accept: sr.Accept,
		}
		if err := ss.checkAccept(sr.Accept, pf); err != nil {
			// Kept as asked for: with a transformer its deliveries fail
			// and are dead-lettered (reason transform) until the format
			// is configured again or the client subscribes anew; with
			// none they go untransformed.
			ss.log.Warn("persisted subscription asks for an unknown format", "filter", sr.Filter, "accept", sr.Accept, "error", err)
		}
		ss.mu.Lock()
		ss.subs[sr.Filter] = sub
		ss.rebuildPrivate()
		ss.mu.Unlock()
		switch pf.kind {
		case subPrivate:
			err = x.Bind(ss.queue, pf.pattern)
		case subShared:
			err = ss.joinGroup(c, sub)
		case subQueue:
			_, err = ss.consume(c, pf.queue, subQueue, sr.Filter)
		}
		if err != nil {
			ss.log.Warn("persisted subscription not restored", "filter", sr.Filter, "error", err)
			ss.mu.Lock()
			delete(ss.subs, sr.Filter)
			ss.rebuildPrivate()
			ss.mu.Unlock()
		}
	}
}

// StoredClients tells mochi, as it starts, about the persistent sessions
// of the records, so that it reports Session Present when their clients
// come back and expires the ones that do not. Records that do not decode
// are logged and skipped.
func (h *gateway) StoredClients() ([]storage.Client, error) {
	x := h.srv.x
	now := time.Now().Unix()
	var out []storage.Client
	for _, key := range x.States(sessionKeyPrefix) {
		id := strings.TrimPrefix(key, sessionKeyPrefix)
		v, ok := x.State(key)
		if !ok {
			continue
		}
		rec, err := decodeSessionRecord(v)
		if err != nil {
			h.srv.log.Warn("session record skipped", "client", id, "error", err)
			continue
		}
		cl := storage.Client{
			ID:              id,
			T:               storage.ClientKey,
			Listener:        "restored",
			Username:        []byte(rec.Username),
			ProtocolVersion: rec.Protocol,
		}
		if rec.ExpiryFlag {
			left := int64(rec.Expiry)
			if rec.Offline > 0 {
				left -= now - rec.Offline
			}
			// mochi counts expiry from its own start; 1 s is the least
			// that still expires through its loop rather than at once.
			cl.Properties.SessionExpiryInterval = uint32(max(left, 1))
			cl.Properties.SessionExpiryIntervalFlag = true
		}
		out = append(out, cl)
	}
	return out, nil
}
