package transform

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/rosettamq/rosetta/core/message"
)

// CSV → JSON. With a header, each row becomes an object whose keys are the
// header's fields in column order; without, each row is an array of
// strings. Values stay strings: CSV has no types.

func csvDelimiter(s string) (rune, error) {
	if s == "tab" || s == `\t` {
		return '\t', nil
	}
	r, size := utf8.DecodeRuneInString(s)
	if size == 0 || size != len(s) || r == utf8.RuneError || r == '"' || r == '\r' || r == '\n' {
		return 0, fmt.Errorf("delimiter %q: want one character other than a quote or a line break", s)
	}
	return r, nil
}

func csvToJSON(body []byte, delim rune, header bool) ([]byte, error) {
	body = bytes.TrimPrefix(body, []byte("\ufeff")) // spreadsheet exports start with a BOM
	r := csv.NewReader(bytes.NewReader(body))
	r.Comma = delim
	r.ReuseRecord = true
	b := make([]byte, 0, len(body)*2+2)
	b = append(b, '[')
	var names []string
	rows := 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse csv: %w", err)
		}
		if header && names == nil {
			names = make([]string, len(rec))
			seen := make(map[string]bool, len(rec))
			for i, n := range rec {
				if seen[n] {
					return nil, fmt.Errorf("parse csv: header names column %q twice", n)
				}
				seen[n] = true
				names[i] = n
			}
			continue
		}
		if rows > 0 {
			b = append(b, ',')
		}
		rows++
		if header {
			b = append(b, '{')
			for i, v := range rec {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendString(b, names[i])
				b = append(b, ':')
				b = appendString(b, v)
			}
			b = append(b, '}')
			continue
		}
		b = append(b, '[')
		for i, v := range rec {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, v)
		}
		b = append(b, ']')
	}
	return append(b, ']'), nil
}

// Character sets. Only the ones brokers meet in practice are built in, each
// a few lines over unicode/utf16, rather than golang.org/x/text's tables.

type charset string

const (
	csUTF8    charset = "utf-8"
	csLatin1  charset = "iso-8859-1"
	csASCII   charset = "us-ascii"
	csUTF16   charset = "utf-16" // BOM decides; big-endian without one (RFC 2781 §4.3); written big-endian with a BOM
	csUTF16BE charset = "utf-16be"
	csUTF16LE charset = "utf-16le"
)

func parseCharset(s string) (charset, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "utf-8", "utf8":
		return csUTF8, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1":
		return csLatin1, nil
	case "us-ascii", "ascii":
		return csASCII, nil
	case "utf-16", "utf16":
		return csUTF16, nil
	case "utf-16be":
		return csUTF16BE, nil
	case "utf-16le":
		return csUTF16LE, nil
	}
	return "", fmt.Errorf("charset %q: want utf-8, iso-8859-1 (latin1), us-ascii, utf-16, utf-16be or utf-16le", s)
}

// decode turns b into UTF-8. With replace, undecodable input becomes
// U+FFFD; otherwise it is an error.
func (c charset) decode(b []byte, replace bool) ([]byte, error) {
	switch c {
	case csUTF8, csASCII:
		for i := 0; i < len(b); {
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 || c == csASCII && r >= utf8.RuneSelf {
				if !replace {
					return nil, fmt.Errorf("byte %d is not %s", i, c)
				}
				return c.decodeReplacing(b), nil
			}
			i += size
		}
		return b, nil
	case csLatin1:
		out := make([]byte, 0, len(b)+len(b)/4)
		for _, x := range b {
			out = utf8.AppendRune(out, rune(x))
		}
		return out, nil
	}
	// UTF-16.
	bigEndian := c != csUTF16LE
	if c == csUTF16 && len(b) >= 2 {
		switch {
		case b[0] == 0xFE && b[1] == 0xFF:
			b = b[2:]
		case b[0] == 0xFF && b[1] == 0xFE:
			b, bigEndian = b[2:], false
		}
	}
	if len(b)%2 != 0 && !replace {
		return nil, fmt.Errorf("%s: odd number of bytes", c)
	}
	units := make([]uint16, len(b)/2)
	for i := range units {
		if bigEndian {
			units[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			units[i] = uint16(b[2*i+1])<<8 | uint16(b[2*i])
		}
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(units); i++ {
		u := rune(units[i])
		switch {
		case utf16.IsSurrogate(u):
			if i+1 < len(units) {
				if r := utf16.DecodeRune(u, rune(units[i+1])); r != utf8.RuneError {
					out = utf8.AppendRune(out, r)
					i++
					continue
				}
			}
			if !replace {
				return nil, fmt.Errorf("%s: unpaired surrogate at byte %d", c, 2*i)
			}
			out = utf8.AppendRune(out, utf8.RuneError)
		default:
			out = utf8.AppendRune(out, u)
		}
	}
	if len(b)%2 != 0 {
		out = utf8.AppendRune(out, utf8.RuneError)
	}
	return out, nil
}

func (c charset) decodeReplacing(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if c == csASCII && r >= utf8.RuneSelf {
			r = utf8.RuneError
		}
		out = utf8.AppendRune(out, r)
		i += size
	}
	return out
}

// encode turns UTF-8 text into c. A character c cannot represent is an
// error, or "?" with replace (as iconv's //TRANSLIT falls back to).
func (c charset) encode(s []byte, replace bool) ([]byte, error) {
	switch c {
	case csUTF8:
		return s, nil
	case csLatin1, csASCII:
		limit := rune(0xFF)
		if c == csASCII {
			limit = 0x7F
		}
		out := make([]byte, 0, len(s))
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRune(s[i:])
			if r > limit {
				if !replace {
					return nil, fmt.Errorf("character %q at byte %d has no %s form", r, i, c)
				}
				r = '?'
			}
			out = append(out, byte(r))
			i += size
		}
		return out, nil
	}
	out := make([]byte, 0, 2*len(s)+2)
	if c == csUTF16 {
		out = append(out, 0xFE, 0xFF)
	}
	put := func(u uint16) {
		if c == csUTF16LE {
			out = append(out, byte(u), byte(u>>8))
		} else {
			out = append(out, byte(u>>8), byte(u))
		}
	}
	for _, r := range string(s) {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			put(uint16(r1))
			put(uint16(r2))
			continue
		}
		put(uint16(r))
	}
	return out, nil
}

func newCharsetStep(opts map[string]any) (Step, error) {
	var from charset
	if s := optString(opts, "from"); s != "" {
		c, err := parseCharset(s)
		if err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
		from = c
	}
	to, err := parseCharset(optString(opts, "to"))
	if err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	replace := false
	switch optString(opts, "on_error") {
	case "fail":
	case "replace":
		replace = true
	default:
		return nil, fmt.Errorf("on_error %q: want fail or replace", optString(opts, "on_error"))
	}
	return StepFunc(func(_ context.Context, m *message.Message) (*message.Message, error) {
		src := from
		mt, params, _ := mime.ParseMediaType(m.ContentType)
		if src == "" {
			src = csUTF8
			if cs := params["charset"]; cs != "" {
				c, err := parseCharset(cs)
				if err != nil {
					return nil, fmt.Errorf("content type %q: %w", m.ContentType, err)
				}
				src = c
			}
		}
		text, err := src.decode(m.Body, replace)
		if err != nil {
			return nil, err
		}
		out, err := to.encode(text, replace)
		if err != nil {
			return nil, err
		}
		if mt == "" {
			mt = "text/plain"
		}
		if params == nil {
			params = map[string]string{}
		}
		params["charset"] = string(to)
		ct := mime.FormatMediaType(mt, params)
		if ct == "" {
			ct = "text/plain; charset=" + string(to)
		}
		return withBody(m, out, ct), nil
	}), nil
}

// Base64.

func base64Encoding(name string) (*base64.Encoding, error) {
	switch name {
	case "std":
		return base64.StdEncoding, nil
	case "url":
		return base64.URLEncoding, nil
	case "raw-std":
		return base64.RawStdEncoding, nil
	case "raw-url":
		return base64.RawURLEncoding, nil
	}
	return nil, fmt.Errorf("encoding %q: want std, url, raw-std or raw-url", name)
}

func newBase64Step(encode bool) Factory {
	return func(opts map[string]any) (Step, error) {
		enc, err := base64Encoding(optString(opts, "encoding"))
		if err != nil {
			return nil, err
		}
		ct := optString(opts, "content_type")
		return StepFunc(func(_ context.Context, m *message.Message) (*message.Message, error) {
			if encode {
				return withBody(m, enc.AppendEncode(nil, m.Body), ct), nil
			}
			// Line breaks (MIME-style wrapping) are ignored, as the
			// decoder does; other bytes outside the alphabet are errors.
			out, err := enc.AppendDecode(nil, m.Body)
			if err != nil {
				return nil, fmt.Errorf("decode base64: %w", err)
			}
			return withBody(m, out, ct), nil
		}), nil
	}
}
