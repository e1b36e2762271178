package transform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/rosettamq/rosetta/core/message"
	"github.com/vmihailenco/msgpack/v5"
)

// Content types the built-ins read and write.
const (
	ctJSON    = "application/json"
	ctCBOR    = "application/cbor"
	ctMsgpack = "application/msgpack"
	ctXML     = "application/xml"
	ctCSV     = "text/csv"
)

// withBody returns a shallow copy of m with a new body and content type.
// The copy shares m's address, headers and annotations; both are immutable
// once published, so sharing is safe and saves a deep Clone per delivery.
func withBody(m *message.Message, body []byte, contentType string) *message.Message {
	c := *m
	c.Body = body
	c.ContentType = contentType
	return &c
}

// plainBody refuses a compressed body: the format steps parse the bytes as
// they are, and a gzip body would only give a confusing parse error.
func plainBody(m *message.Message) error {
	if e := m.ContentEncoding; e != "" && !strings.EqualFold(e, "identity") {
		return fmt.Errorf("content-encoding %q: the body must be decoded first", e)
	}
	return nil
}

// convertStep is a format conversion: decode to the document model, then
// encode.
func convertStep(out string, decode func([]byte) (any, error), encode func(any) ([]byte, error)) StepFunc {
	return func(_ context.Context, m *message.Message) (*message.Message, error) {
		if err := plainBody(m); err != nil {
			return nil, err
		}
		v, err := decode(m.Body)
		if err != nil {
			return nil, err
		}
		b, err := encode(v)
		if err != nil {
			return nil, err
		}
		return withBody(m, b, out), nil
	}
}

// CBOR (RFC 8949). Decoding is bounded by nesting depth and element
// counts; tags other than time and bignum are unwrapped to their content.
var (
	cborDec = mustDecMode(cbor.DecOptions{
		MaxNestedLevels:      maxDepth,
		TimeTagToAny:         cbor.TimeTagToRFC3339Nano,
		BigIntDec:            cbor.BigIntDecodePointer,
		UnrecognizedTagToAny: cbor.UnrecognizedTagContentToAny,
	})
	// Map keys are sorted (RFC 8949 §4.2.1) so that equal documents encode
	// to equal bytes; floats take the shortest form that keeps their value.
	cborEnc = mustEncMode(cbor.EncOptions{
		Sort:          cbor.SortCoreDeterministic,
		ShortestFloat: cbor.ShortestFloat16,
		BigIntConvert: cbor.BigIntConvertShortest,
	})
)

func mustDecMode(o cbor.DecOptions) cbor.DecMode {
	m, err := o.DecMode()
	if err != nil {
		panic(err) // fixed options, checked by every test run
	}
	return m
}

func mustEncMode(o cbor.EncOptions) cbor.EncMode {
	m, err := o.EncMode()
	if err != nil {
		panic(err)
	}
	return m
}

func decodeCBOR(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, errors.New("parse cbor: empty body")
	}
	var v any
	if err := cborDec.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("parse cbor: %w", err)
	}
	v, err := jsonModel(v, 0)
	if err != nil {
		return nil, fmt.Errorf("cbor to json: %w", err)
	}
	return v, nil
}

func encodeCBOR(v any) ([]byte, error) {
	v, err := nativeNumbers(v, 0, true)
	if err != nil {
		return nil, err
	}
	b, err := cborEnc.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode cbor: %w", err)
	}
	return b, nil
}

// MessagePack. The body is checked by checkMsgpack before the library
// decodes it, because the library trusts declared lengths when it
// allocates and has no nesting limit.
func decodeMsgpack(b []byte) (any, error) {
	if err := checkMsgpack(b); err != nil {
		return nil, fmt.Errorf("parse msgpack: %w", err)
	}
	d := msgpack.GetDecoder()
	defer msgpack.PutDecoder(d)
	d.Reset(bytes.NewReader(b))
	d.SetMapDecoder(func(d *msgpack.Decoder) (any, error) { return d.DecodeUntypedMap() })
	v, err := d.DecodeInterface()
	if err != nil {
		return nil, fmt.Errorf("parse msgpack: %w", err)
	}
	v, err = jsonModel(v, 0)
	if err != nil {
		return nil, fmt.Errorf("msgpack to json: %w", err)
	}
	return v, nil
}

func encodeMsgpack(v any) ([]byte, error) {
	v, err := nativeNumbers(v, 0, false)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	e := msgpack.GetEncoder()
	defer msgpack.PutEncoder(e)
	e.Reset(&buf)
	e.SetSortMapKeys(true)
	e.UseCompactInts(true)
	if err := e.Encode(v); err != nil {
		return nil, fmt.Errorf("encode msgpack: %w", err)
	}
	return buf.Bytes(), nil
}

// jsonModel turns what the CBOR and MessagePack decoders produce into the
// document model appendJSON writes: maps with string keys (integer keys
// become their decimal text), 64-bit numbers, and no tag wrappers.
func jsonModel(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	switch x := v.(type) {
	case nil, bool, string, int64, uint64, float64, []byte, *big.Int, time.Time:
		return v, nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int:
		return int64(x), nil
	case uint8:
		return uint64(x), nil
	case uint16:
		return uint64(x), nil
	case uint32:
		return uint64(x), nil
	case float32:
		return float64(x), nil
	case big.Int:
		return &x, nil
	case cbor.ByteString:
		return []byte(x), nil
	case cbor.SimpleValue:
		return nil, nil // RFC 8949 §6.1: other simple values become null
	case cbor.Tag:
		return jsonModel(x.Content, depth+1)
	case []any:
		for i, e := range x {
			c, err := jsonModel(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[i] = c
		}
		return x, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ks, err := jsonKey(k)
			if err != nil {
				return nil, err
			}
			c, err := jsonModel(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[ks] = c
		}
		return out, nil
	case map[string]any:
		for k, e := range x {
			c, err := jsonModel(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[k] = c
		}
		return x, nil
	}
	return nil, fmt.Errorf("no JSON form for a %T value", v)
}

func jsonKey(k any) (string, error) {
	switch x := k.(type) {
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case int8:
		return strconv.Itoa(int(x)), nil
	case int16:
		return strconv.Itoa(int(x)), nil
	case int32:
		return strconv.Itoa(int(x)), nil
	case uint8:
		return strconv.Itoa(int(x)), nil
	case uint16:
		return strconv.Itoa(int(x)), nil
	case uint32:
		return strconv.FormatUint(uint64(x), 10), nil
	}
	return "", fmt.Errorf("map key of type %T cannot be a JSON object key", k)
}

// checkMsgpack walks the structure of a MessagePack value without
// decoding it: every declared length must fit in the bytes that remain
// (so the decoder never allocates more than the input justifies), nesting
// is at most maxDepth, map keys are strings or integers (the only keys a
// JSON object can take, and hashable), and nothing follows the value.
func checkMsgpack(b []byte) error {
	type frame struct {
		left  int // items still to read; a map of n pairs has 2n
		isMap bool
	}
	if len(b) == 0 {
		return errors.New("empty body")
	}
	stack := make([]frame, 1, 16)
	stack[0] = frame{left: 1}
	pos := 0
	need := func(n int) error {
		if n < 0 || n > len(b)-pos {
			return fmt.Errorf("truncated at byte %d", pos)
		}
		return nil
	}
	uintN := func(size int) (int, error) {
		if err := need(size); err != nil {
			return 0, err
		}
		var n uint64
		for i := 0; i < size; i++ {
			n = n<<8 | uint64(b[pos+i])
		}
		pos += size
		if n > uint64(len(b)) {
			return 0, fmt.Errorf("length %d exceeds the body", n)
		}
		return int(n), nil
	}
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if top.left == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		isKey := top.isMap && top.left%2 == 0
		top.left--
		if err := need(1); err != nil {
			return err
		}
		c := b[pos]
		pos++
		var (
			skip     int  // payload bytes to skip
			children int  // items of a container
			isMap    bool // container is a map
			isList   bool // container is an array
			keyOK    bool // usable as a map key
			err      error
		)
		switch {
		case c <= 0x7f || c >= 0xe0: // fixint
			keyOK = true
		case c <= 0x8f: // fixmap
			children, isMap = int(c&0x0f), true
		case c <= 0x9f: // fixarray
			children, isList = int(c&0x0f), true
		case c <= 0xbf: // fixstr
			skip, keyOK = int(c&0x1f), true
		default:
			switch c {
			case 0xc0, 0xc2, 0xc3: // nil, false, true
			case 0xc1:
				return fmt.Errorf("reserved byte 0xc1 at %d", pos-1)
			case 0xc4, 0xc5, 0xc6: // bin 8/16/32
				skip, err = uintN(1 << (c - 0xc4))
			case 0xc7, 0xc8, 0xc9: // ext 8/16/32: length, then a type byte
				skip, err = uintN(1 << (c - 0xc7))
				skip++
			case 0xca:
				skip = 4
			case 0xcb:
				skip = 8
			case 0xcc, 0xcd, 0xce, 0xcf: // uint 8..64
				skip, keyOK = 1<<(c-0xcc), true
			case 0xd0, 0xd1, 0xd2, 0xd3: // int 8..64
				skip, keyOK = 1<<(c-0xd0), true
			case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1..16, plus a type byte
				skip = 1<<(c-0xd4) + 1
			case 0xd9, 0xda, 0xdb: // str 8/16/32
				skip, err = uintN(1 << (c - 0xd9))
				keyOK = true
			case 0xdc, 0xdd: // array 16/32
				children, err = uintN(2 << (c - 0xdc))
				isList = true
			case 0xde, 0xdf: // map 16/32
				children, err = uintN(2 << (c - 0xde))
				isMap = true
			}
		}
		if err != nil {
			return err
		}
		if isKey && !keyOK {
			return fmt.Errorf("map key at byte %d is not a string or an integer", pos-1)
		}
		if err := need(skip); err != nil {
			return err
		}
		pos += skip
		if isMap {
			children *= 2
		}
		if isMap || isList {
			if children > len(b)-pos {
				return fmt.Errorf("container at byte %d declares more items than the body holds", pos-1)
			}
			if len(stack) > maxDepth {
				return errTooDeep
			}
			stack = append(stack, frame{left: children, isMap: isMap})
		}
	}
	if pos != len(b) {
		return fmt.Errorf("%d bytes after the value", len(b)-pos)
	}
	return nil
}
