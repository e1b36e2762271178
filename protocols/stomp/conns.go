package stomp

// transportName names a connection's transport for the admin registry.
func transportName(tr transport) string {
	switch {
	case tr.Framed():
		return "ws"
	case tr.TLS() != nil:
		return "tls"
	}
	return "tcp"
}
