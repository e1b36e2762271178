package amqp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/rosettamq/rosetta/core/auth"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/rosettamq/rosetta/protocols/amqp/encoding"
	"github.com/rosettamq/rosetta/protocols/amqp/frames"
)

// SASL mechanisms (RFC 4616 PLAIN, RFC 4505 ANONYMOUS, RFC 4422 EXTERNAL).
const (
	mechPlain     encoding.Symbol = "PLAIN"
	mechAnonymous encoding.Symbol = "ANONYMOUS"
	mechExternal  encoding.Symbol = "EXTERNAL"
)

// errHandshake ends the read loop after a failed negotiation, whose answer
// (a protocol header, a SASL outcome, or open and close) is queued.
var errHandshake = errors.New("handshake failed")

// handshake negotiates the protocol layers (§2.2, §5.1): an optional SASL
// layer (§5.3), then AMQP, then the open exchange (§2.4.1). It returns
// once the peer's open is handled and ours queued, or with the reason the
// connection ends.
func (c *conn) handshake() error {
	if err := c.tr.SetReadDeadline(c.start.Add(c.srv.cfg.ConnectTimeout)); err != nil {
		return err
	}
	hdr, err := c.rd.ReadProtocolHeader()
	if err != nil {
		return c.rejectHeader(err, frames.HeaderSASL)
	}
	switch hdr {
	case frames.HeaderSASL:
		if err := c.sasl(); err != nil {
			return err
		}
		if hdr, err = c.rd.ReadProtocolHeader(); err != nil {
			return c.rejectHeader(err, frames.HeaderAMQP)
		}
		if hdr != frames.HeaderAMQP {
			return c.rejectHeader(fmt.Errorf("protocol header %v after SASL", hdr), frames.HeaderAMQP)
		}
	case frames.HeaderAMQP:
		// No security layer: the peer is anonymous. If anonymous access is
		// refused, SASL is required: answer with the SASL header and close
		// (§2.2, Figure 2.13).
		if err := c.authenticate(mechAnonymous, auth.Credentials{}); err != nil {
			c.log.Warn("anonymous connection refused: SASL required", "err", err)
			return c.rejectHeader(errors.New("SASL required"), frames.HeaderSASL)
		}
	default:
		// An unsupported protocol id or version: our header for that id
		// (SASL for TLS, which we only offer on a TLS listener), then close
		// (§2.2).
		want := frames.HeaderSASL
		if hdr.ID == frames.ProtocolAMQP {
			want = frames.HeaderAMQP
		}
		return c.rejectHeader(fmt.Errorf("unsupported protocol header %v", hdr), want)
	}
	c.enqueue(outItem{kind: itemRaw, raw: frames.HeaderAMQP.Append(nil)})

	// The first frame must be open on channel 0 (§2.4.1), within 512
	// bytes until the open exchange is done.
	f, err := c.rd.ReadFrame()
	if err != nil {
		var fe *frames.FrameError
		if errors.As(err, &fe) {
			c.closeWith(asError(err))
			return errHandshake
		}
		return fmt.Errorf("waiting for open: %w", err)
	}
	c.srv.stats.framesIn.Add(1)
	perf, _, err := frames.ParseBody(f.Body)
	if err != nil {
		c.closeWith(asError(err))
		return errHandshake
	}
	o, ok := perf.(*frames.Open)
	if !ok || f.Type != frames.TypeAMQP {
		c.closeWith(connErr(frames.AMQPErrorIllegalState, "§2.4.1", "expected open, got %s", perfName(perf)))
		return errHandshake
	}
	return c.onOpen(o)
}

// rejectHeader answers a protocol header we do not accept with ours and
// closes (§2.2).
func (c *conn) rejectHeader(cause error, ours frames.ProtocolHeader) error {
	if c.isSockDown() {
		return cause
	}
	c.log.Warn("protocol header refused", "err", cause, "answer", ours.String())
	c.enqueueFinal(outItem{kind: itemRaw, raw: ours.Append(nil)})
	return fmt.Errorf("%w: %w", errHandshake, cause)
}

// sasl runs the SASL layer (§5.3.2): mechanisms, init (and for PLAIN
// without an initial response, one empty challenge), then the outcome.
func (c *conn) sasl() error {
	tlsState := c.tr.TLS()
	mechs := []encoding.Symbol{mechPlain, mechAnonymous}
	if verifiedCert(tlsState) {
		mechs = append([]encoding.Symbol{mechExternal}, mechs...)
	}
	raw := frames.HeaderSASL.Append(nil)
	raw, err := frames.AppendSASLFrame(raw, &frames.SASLMechanisms{SASLServerMechanisms: mechs})
	if err != nil {
		return err
	}
	c.enqueue(outItem{kind: itemRaw, raw: raw})

	body, err := c.readSASL()
	if err != nil {
		return err
	}
	init, ok := body.(*frames.SASLInit)
	if !ok {
		return c.saslFail(frames.SASLCodeSysPerm, fmt.Errorf("expected sasl-init, got %T", body))
	}
	creds := auth.Credentials{TLS: tlsState}
	switch init.Mechanism {
	case mechPlain:
		resp := init.InitialResponse
		if resp == nil {
			// No initial response: an empty challenge asks for it (RFC 4422 §5).
			raw, err := frames.AppendSASLFrame(nil, &frames.SASLChallenge{Challenge: []byte{}})
			if err != nil {
				return err
			}
			c.enqueue(outItem{kind: itemRaw, raw: raw})
			body, err := c.readSASL()
			if err != nil {
				return err
			}
			r, ok := body.(*frames.SASLResponse)
			if !ok {
				return c.saslFail(frames.SASLCodeSysPerm, fmt.Errorf("expected sasl-response, got %T", body))
			}
			resp = r.Response
		}
		// message = [authzid] UTF8NUL authcid UTF8NUL passwd (RFC 4616 §2)
		parts := bytes.SplitN(resp, []byte{0}, 3)
		if len(parts) != 3 || len(parts[1]) == 0 {
			return c.saslFail(frames.SASLCodeAuth, errors.New("malformed PLAIN response"))
		}
		creds.Username, creds.Password, creds.HasUsername = string(parts[1]), parts[2], true
	case mechAnonymous:
	case mechExternal:
		if !verifiedCert(tlsState) {
			return c.saslFail(frames.SASLCodeAuth, errors.New("EXTERNAL without a verified client certificate"))
		}
		// The identity is the certificate's; an authorization identity in
		// the response names the user to act as, which the auth service
		// decides on with the certificate in Credentials.TLS.
		creds.Username, creds.HasUsername = tlsState.VerifiedChains[0][0].Subject.CommonName, true
		if len(init.InitialResponse) > 0 {
			creds.Username = string(init.InitialResponse)
		}
	default:
		return c.saslFail(frames.SASLCodeAuth, fmt.Errorf("unsupported mechanism %q", init.Mechanism))
	}
	if err := c.authenticate(init.Mechanism, creds); err != nil {
		return c.saslFail(frames.SASLCodeAuth, err)
	}
	raw, err = frames.AppendSASLFrame(nil, &frames.SASLOutcome{Code: frames.SASLCodeOK})
	if err != nil {
		return err
	}
	c.enqueue(outItem{kind: itemRaw, raw: raw})
	return nil
}

// readSASL reads one SASL frame body (§5.3.1: at most 512 bytes).
func (c *conn) readSASL() (frames.SASLBody, error) {
	f, err := c.rd.ReadFrame()
	if err != nil {
		var fe *frames.FrameError
		if errors.As(err, &fe) {
			return nil, c.saslFail(frames.SASLCodeSysPerm, err)
		}
		return nil, fmt.Errorf("sasl: %w", err)
	}
	c.srv.stats.framesIn.Add(1)
	if f.Type != frames.TypeSASL {
		return nil, c.saslFail(frames.SASLCodeSysPerm, fmt.Errorf("frame type %#x during SASL", uint8(f.Type)))
	}
	body, err := frames.ParseSASLBody(f.Body)
	if err != nil {
		return nil, c.saslFail(frames.SASLCodeSysPerm, err)
	}
	return body, nil
}

// saslFail sends a failed outcome as the last frame (§5.3.3.6).
func (c *conn) saslFail(code frames.SASLCode, cause error) error {
	c.srv.stats.authFail.Add(1)
	c.log.Warn("sasl failed", "code", code.String(), "err", cause)
	raw, err := frames.AppendSASLFrame(nil, &frames.SASLOutcome{Code: code})
	if err == nil {
		c.enqueueFinal(outItem{kind: itemRaw, raw: raw})
	}
	return fmt.Errorf("%w: sasl: %w", errHandshake, cause)
}

// authenticate checks creds with the auth service and sets the
// connection's identity.
func (c *conn) authenticate(mech encoding.Symbol, creds auth.Credentials) error {
	creds.Protocol = message.ProtocolAMQP
	creds.Remote = c.tr.RemoteAddr()
	if creds.TLS == nil {
		creds.TLS = c.tr.TLS()
	}
	ctx, cancel := context.WithDeadline(c.ctx, c.start.Add(c.srv.cfg.ConnectTimeout))
	defer cancel()
	ident, err := c.srv.auth.Authenticate(ctx, creds)
	if err != nil {
		return fmt.Errorf("%s as %q: %w", mech, creds.Username, err)
	}
	c.ident = ident
	c.origin = message.Origin{Protocol: message.ProtocolAMQP, ConnID: c.id, User: ident.User}
	c.log.Debug("authenticated", "mechanism", string(mech), "user", ident.User)
	return nil
}

// verifiedCert reports a TLS connection whose client certificate was
// verified against the configured roots.
func verifiedCert(st *tls.ConnectionState) bool {
	return st != nil && len(st.VerifiedChains) > 0 && len(st.VerifiedChains[0]) > 0
}
