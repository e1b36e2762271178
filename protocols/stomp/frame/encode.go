package frame

import "strings"

// AppendFrame appends the wire form of f to dst: the command, the headers
// in order with the escaping of version v (EscapingFor), a blank line, the
// body and the NUL. It writes no header of its own: a frame whose body may
// hold a NUL needs a content-length among f.Headers.
func AppendFrame(dst []byte, f *Frame, v Version) []byte {
	esc := EscapingFor(f.Command, v)
	strip := StripsCR(v)
	dst = append(dst, f.Command...)
	dst = append(dst, '\n')
	for i := range f.Headers {
		dst = AppendHeader(dst, f.Headers[i].Key, f.Headers[i].Value, esc, strip)
	}
	dst = append(dst, '\n')
	dst = append(dst, f.Body...)
	return append(dst, 0)
}

// AppendHeader appends "key:value\n" with escaping esc. stripCR says that
// the peer drops trailing CRs from lines (1.2, and CONNECT frames), so an
// unescaped value must not end with one.
//
// Where the escaping cannot represent a byte, the header is changed so
// that the frame still parses, never so that it breaks the framing: with
// EscapeNone an LF becomes a space, a colon in a key becomes "_", and
// trailing CRs are dropped when stripCR is set; with Escape11 a CR stays
// raw (1.1 lines end at LF only).
func AppendHeader(dst []byte, key, value string, esc Escaping, stripCR bool) []byte {
	dst = appendEscaped(dst, key, esc, true, false)
	dst = append(dst, ':')
	dst = appendEscaped(dst, value, esc, false, stripCR)
	return append(dst, '\n')
}

func appendEscaped(dst []byte, s string, esc Escaping, isKey, stripCR bool) []byte {
	if esc == EscapeNone {
		if stripCR {
			s = strings.TrimRight(s, "\r")
		}
		if !strings.ContainsAny(s, "\n:") || !isKey && strings.IndexByte(s, '\n') < 0 {
			return append(dst, s...)
		}
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c == '\n':
				dst = append(dst, ' ')
			case c == ':' && isKey:
				dst = append(dst, '_')
			default:
				dst = append(dst, c)
			}
		}
		return dst
	}
	if !strings.ContainsAny(s, "\\\n\r:") {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\n':
			dst = append(dst, '\\', 'n')
		case ':':
			dst = append(dst, '\\', 'c')
		case '\r':
			if esc == Escape12 {
				dst = append(dst, '\\', 'r')
			} else {
				dst = append(dst, '\r')
			}
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// StripsCR reports whether a parser at version v drops trailing CRs from
// header lines.
func StripsCR(v Version) bool { return v == VersionNone || v == V12 }

// HeartBeat is the EOL a peer sends when it has nothing else to say
// (STOMP 1.2 "Heart-beating").
var HeartBeat = []byte{'\n'}
