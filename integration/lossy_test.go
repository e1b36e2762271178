package integration

import (
	"strings"
	"testing"

	"github.com/go-stomp/stomp/v3/frame"
)

// TestLossyConversionCounted sends a STOMP message whose content type and
// correlation id an MQTT 3.1.1 subscriber cannot receive (3.1.1 has no
// properties), and checks that /metrics counts each dropped field under
// rosetta_conversion_lossy_total (DESIGN.md §2: a cross-protocol hop counts
// what it drops).
func TestLossyConversionCounted(t *testing.T) {
	b := startBroker(t, brokerOpts{})
	in := newInbox(4)
	sub := connectV3(t, v3Options(b.TCPURL(), clientID("lossy-v3")))
	subscribeV3(t, sub, "lossy/#", 0, in)

	sc := dialSTOMP(t, b)
	sendSTOMP(t, sc, "/topic/lossy/a", "application/json", []byte(`{"a":1}`),
		func(f *frame.Frame) error { f.Header.Add("correlation-id", "c-1"); return nil })
	if m := in.next(t, recvTimeout); string(m.Payload) != `{"a":1}` {
		t.Fatalf("payload %q", m.Payload)
	}

	_, _, body := b.httpGet(t, "/metrics")
	for _, want := range []string{
		`rosetta_conversion_lossy_total{field="content-type",from="stomp",to="mqtt"} 1`,
		`rosetta_conversion_lossy_total{field="correlation-id",from="stomp",to="mqtt"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `field="expiry"`) {
		t.Errorf("expiry counted as lost although the message had none")
	}
}
