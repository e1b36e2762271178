package amqp

// transportName names a connection's transport for the admin registry.
func transportName(tr transport) string {
	switch {
	case isWS(tr):
		return "ws"
	case tr.TLS() != nil:
		return "tls"
	}
	return "tcp"
}

func isWS(tr transport) bool {
	_, ok := tr.(*wsTransport)
	return ok
}
