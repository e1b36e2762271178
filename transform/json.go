package transform

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The built-in format steps share one in-memory model of a document, the
// one encoding/json produces with UseNumber: nil, bool, string,
// json.Number, []any and map[string]any. Decoders of other formats produce
// the same model (plus int64, uint64, float64 and object), and one writer
// renders it as JSON.

// maxDepth bounds the nesting of documents the built-ins accept, so that no
// input can make the recursive walkers below use unbounded stack.
const maxDepth = 1000

var errTooDeep = fmt.Errorf("document nested deeper than %d levels", maxDepth)

// object is a JSON object whose keys keep their input order (CSV columns,
// XML children). map[string]any is rendered with sorted keys instead.
type object []field

type field struct {
	key string
	val any
}

// decodeJSON parses exactly one JSON value.
func decodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("parse json: empty body")
		}
		return nil, fmt.Errorf("parse json: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("parse json: data after the first value")
	}
	return v, nil
}

// nativeNumbers replaces every json.Number in v (in place) by int64,
// uint64 or float64, the types binary encoders write as numbers. An integer
// too large for 64 bits becomes a *big.Int when bigOK (CBOR has bignums),
// else a float64 (precision is lost, as in most JSON implementations).
func nativeNumbers(v any, depth int, bigOK bool) (any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	switch x := v.(type) {
	case json.Number:
		return numberValue(x, bigOK)
	case []any:
		for i, e := range x {
			n, err := nativeNumbers(e, depth+1, bigOK)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
	case map[string]any:
		for k, e := range x {
			n, err := nativeNumbers(e, depth+1, bigOK)
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
	}
	return v, nil
}

func numberValue(n json.Number, bigOK bool) (any, error) {
	s := string(n)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return u, nil
	}
	if bigOK && len(s) <= 400 && !strings.ContainsAny(s, ".eE") { // bounded: big.Int parsing is superlinear
		if b, ok := new(big.Int).SetString(s, 10); ok {
			return b, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, fmt.Errorf("number %s out of range", s)
	}
	return f, nil
}

// encodeJSON renders v as compact JSON.
func encodeJSON(v any) ([]byte, error) {
	return appendJSON(make([]byte, 0, 256), v, 0)
}

// appendJSON writes v as JSON. Map keys are sorted, so that equal documents
// give equal bytes (the cache and tests rely on it). NaN and infinities,
// which JSON cannot carry, become null, as RFC 8949 §6.1 says for CBOR.
// Byte strings become standard base64 text, as encoding/json does.
func appendJSON(b []byte, v any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	var err error
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return appendString(b, x), nil
	case json.Number:
		if x == "" {
			return append(b, '0'), nil
		}
		return append(b, x...), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case float32:
		return appendFloat(b, float64(x), 32), nil
	case float64:
		return appendFloat(b, x, 64), nil
	case *big.Int:
		return x.Append(b, 10), nil
	case []byte:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, x)
		return append(b, '"'), nil
	case time.Time:
		return appendString(b, x.Format(time.RFC3339Nano)), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendJSON(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		b = append(b, '{')
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			if b, err = appendJSON(b, x[k], depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case object:
		b = append(b, '{')
		for i, f := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, f.key)
			b = append(b, ':')
			if b, err = appendJSON(b, f.val, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	return nil, fmt.Errorf("cannot render a %T as JSON", v)
}

// appendFloat formats like encoding/json: shortest representation,
// exponent only for very small or large magnitudes.
func appendFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// e-09 to e-9, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// HTML characters are not escaped (this is not for embedding in HTML).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
