package bench

import (
	"strings"
	"testing"
)

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		url  string
		want Endpoint // Raw is filled in from url
		err  string   // a substring of the error; "" means none
	}{
		{url: "mqtt://127.0.0.1/a/b", want: Endpoint{Proto: MQTT, Addr: "127.0.0.1:1883", Dest: "a/b", Version: 3, Ack: "auto", Host: "/", Settled: true}},
		{url: "mqtt://u:p@h:1999/a?qos=1&version=5&inflight=10&content-type=application/json",
			want: Endpoint{Proto: MQTT, Addr: "h:1999", User: "u", Pass: "p", Dest: "a", QoS: 1, Version: 5, Inflight: 10, ContentType: "application/json", Ack: "auto", Host: "/", Settled: true}},
		{url: "mqtt://h/s/#?qos=2", want: Endpoint{Proto: MQTT, Addr: "h:1883", Dest: "s/#", QoS: 2, Version: 3, Ack: "auto", Host: "/", Settled: true}},
		{url: "mqtt://h/s/%23", want: Endpoint{Proto: MQTT, Addr: "h:1883", Dest: "s/#", Version: 3, Ack: "auto", Host: "/", Settled: true}},
		{url: "mqtt://h/$share/g/+/x?client=paho", want: Endpoint{Proto: MQTT, Addr: "h:1883", Dest: "$share/g/+/x", Paho: true, Version: 3, Ack: "auto", Host: "/", Settled: true}},
		{url: "mqtt://[::1]:1/t", want: Endpoint{Proto: MQTT, Addr: "[::1]:1", Dest: "t", Version: 3, Ack: "auto", Host: "/", Settled: true}},
		{url: "stomp://guest:guest@h/queue/q?ack=client-individual&receipt=true&persistent=true&prefetch=500&accept=application/json&host=vh",
			want: Endpoint{Proto: STOMP, Addr: "h:61613", User: "guest", Pass: "guest", Dest: "/queue/q", Ack: "client-individual", Receipt: true, Persistent: true, Prefetch: 500, Accept: "application/json", Host: "vh", Version: 3, Settled: true}},
		{url: "stomp://h:1/topic/a.b", want: Endpoint{Proto: STOMP, Addr: "h:1", Dest: "/topic/a.b", Ack: "auto", Host: "/", Version: 3, Settled: true}},
		{url: "amqp://h/topics/a/b?settled=false&credit=100&durable=true",
			want: Endpoint{Proto: AMQP, Addr: "h:5672", Dest: "/topics/a/b", Credit: 100, Durable: true, Ack: "auto", Host: "/", Version: 3}},
		{url: "amqp://h/queues/q", want: Endpoint{Proto: AMQP, Addr: "h:5672", Dest: "/queues/q", Ack: "auto", Host: "/", Version: 3, Settled: true}},
		{url: "http://h/x", err: "scheme"},
		{url: "mqtt:///x", err: "no host"},
		{url: "mqtt://h", err: "no topic"},
		{url: "stomp://h/", err: "no topic"},
		{url: "mqtt://h/t?qos=3", err: "qos"},
		{url: "mqtt://h/t?version=4.5", err: "version"},
		{url: "mqtt://h/t?client=paho&version=5", err: "3.1.1 only"},
		{url: "mqtt://h/t?ack=auto", err: `unknown mqtt option "ack"`},
		{url: "stomp://h/q?ack=client", err: "ack"},
		{url: "stomp://h/q?prefetch=-1", err: "prefetch"},
		{url: "stomp://h/q?receipt=maybe", err: "receipt"},
		{url: "amqp://h/q?credit=0", err: "credit"},
		{url: "amqp://h/q?qos=1", err: `unknown amqp option "qos"`},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			got, err := ParseEndpoint(tc.url)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Raw = tc.url
			if *got != tc.want {
				t.Errorf("got  %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}
