package amqp

import (
	"testing"
	"time"

	"github.com/rosettamq/rosetta/core/message"
)

func TestSelector(t *testing.T) {
	m := &message.Message{
		ID:            "id-9",
		Priority:      7,
		Durable:       true,
		Subject:       "car",
		CorrelationID: []byte("c-1"),
		CreatedAt:     time.UnixMilli(1000),
		Headers: message.Headers{
			{Key: "color", Value: message.String("blue")},
			{Key: "weight", Value: message.Int(3000)},
			{Key: "ratio", Value: message.Float(0.5)},
			{Key: "ok", Value: message.Bool(true)},
			{Key: "nothing", Value: message.Null()},
			{Key: "phone", Value: message.String("12993")},
			{Key: "word", Value: message.String("lose")},
			{Key: "under", Value: message.String("_foo")},
			{Key: "bin", Value: message.Bytes([]byte("x"))},
			{Key: "when", Value: message.Time(time.UnixMilli(5000))},
		},
	}
	cases := []struct {
		sel  string
		want bool
	}{
		// Comparisons of like types; unlike types are false.
		{"color = 'blue'", true},
		{"color <> 'blue'", false},
		{"weight > 2500", true},
		{"weight >= 3000 AND weight <= 3000", true},
		{"weight = 3000.0", true}, // exact and approximate compare
		{"ratio < 1", true},
		{"color > 'a'", false}, // strings: = and <> only
		{"color = 1", false},
		{"ok", true},
		{"ok = TRUE", true},
		{"NOT ok", false},
		{"bin = 'x'", false},
		{"when = 5000", true},
		// NULL: unknown never matches; IS NULL tests it.
		{"missing = 1", false},
		{"NOT (missing = 1)", false},
		{"missing IS NULL", true},
		{"nothing IS NULL", true},
		{"color IS NOT NULL", true},
		{"missing = 1 OR ok", true},
		{"missing = 1 AND ok", false},
		{"missing = 1 OR NOT ok", false},
		// Arithmetic, with Java promotion.
		{"weight / 1000 = 3", true},
		{"weight / 7 = 428", true}, // integer division
		{"ratio * 4 = 2", true},
		{"-weight < 0", true},
		{"weight + 1 - 2 * 3 = 2995", true},
		{"weight / 0 = 1", false},
		{"color + 1 = 1", false},
		// BETWEEN, IN, LIKE.
		{"weight BETWEEN 2000 AND 4000", true},
		{"weight NOT BETWEEN 2000 AND 4000", false},
		{"missing BETWEEN 1 AND 2", false},
		{"color IN ('red', 'blue')", true},
		{"color NOT IN ('red', 'blue')", false},
		{"missing NOT IN ('a')", false},
		{"weight IN ('3000')", false},
		{"phone LIKE '12%3'", true},
		{"phone NOT LIKE '12%3'", false},
		{"word LIKE 'l_se'", true},
		{"word LIKE 'l_s'", false},
		{`under LIKE '\_%' ESCAPE '\'`, true},
		{`color LIKE '\_%' ESCAPE '\'`, false},
		{"color LIKE '%'", true},
		{"color LIKE 'b%e'", true},
		// JMS headers and their AMQP names.
		{"JMSPriority = 7 AND amqp.priority > 5", true},
		{"JMSDeliveryMode = 'PERSISTENT' AND amqp.durable", true},
		{"JMSMessageID = 'id-9'", true},
		{"JMSCorrelationID = 'c-1' AND amqp.correlation_id = 'c-1'", true},
		{"JMSType = 'car'", true},
		{"JMSTimestamp = 1000", true},
		{"JMSExpiration = 0", true},
		{"JMSReplyTo IS NULL", true},
		// Literals and case.
		{"color = 'bl''ue'", false},
		{"weight > 0x10 AND weight > 010 AND weight > 1e3 AND weight > 2.5E3", true},
		{"color = 'blue' and weight > 1 or false", true},
		{"TRUE", true},
		{"(((ok)))", true},
	}
	for _, c := range cases {
		t.Run(c.sel, func(t *testing.T) {
			s, err := parseSelector(c.sel)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Match(m); got != c.want {
				t.Fatalf("Match = %v, want %v (%s)", got, c.want, s)
			}
		})
	}
}

func TestSelectorSyntaxErrors(t *testing.T) {
	for _, s := range []string{
		"", "   ", "color =", "= 1", "a AND", "(a = 1", "a = 1)", "a IN ()", "a IN (1)", "a LIKE b",
		"a LIKE 'x' ESCAPE 'ab'", "a BETWEEN 1", "a IS 1", "'unterminated", "a # b", "1 + 2",
		"a NOT 1", "NOT 1", "9223372036854775808 = a", "0xZ = a", "12abc = a",
	} {
		if _, err := parseSelector(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
	deep := ""
	for range 200 {
		deep += "("
	}
	if _, err := parseSelector(deep + "a" + deep); err == nil {
		t.Error("deep nesting parsed")
	}
	if _, err := parseSelector("-9223372036854775808 < a"); err != nil {
		t.Errorf("min int64: %v", err)
	}
}
