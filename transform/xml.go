package transform

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The JSON ↔ XML mapping (docs/transforms.md repeats it for users):
//
//   - the document is one root element, named by the root option;
//   - an object becomes child elements, one per key, in key order; a key
//     starting with "@" becomes an attribute and the key "#text" the
//     element's text;
//   - an array under a key becomes that element repeated; an array inside
//     an array (or at the top) becomes elements named by the item option;
//   - a string, number or boolean becomes text; null becomes an empty
//     element.
//
// xml-to-json reverses it: a leaf element without attributes becomes its
// text, any other element an object; repeated children become an array;
// attributes become "@name" keys and text beside children "#text".
// Namespaces are dropped (local names only), as are comments, processing
// instructions and the DOCTYPE.

func encodeXML(v any, root, item string) ([]byte, error) {
	b, err := appendElement(make([]byte, 0, 256), root, v, item, 0)
	if err != nil {
		return nil, fmt.Errorf("json to xml: %w", err)
	}
	return b, nil
}

func appendElement(b []byte, name string, v any, item string, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	if !validXMLName(name) {
		return nil, fmt.Errorf("key %q is not a valid XML element name", name)
	}
	b = append(b, '<')
	b = append(b, name...)
	var err error
	switch x := v.(type) {
	case nil:
		return append(b, "/>"...), nil
	case map[string]any:
		keys := slices.Sorted(maps.Keys(x))
		for _, k := range keys {
			a, ok := strings.CutPrefix(k, "@")
			if !ok {
				continue
			}
			if !validXMLName(a) {
				return nil, fmt.Errorf("key %q is not a valid XML attribute name", k)
			}
			s, ok := scalarText(x[k])
			if !ok {
				return nil, fmt.Errorf("attribute %q: want a scalar, got %s", k, jsonKind(x[k]))
			}
			b = append(b, ' ')
			b = append(b, a...)
			b = append(b, '=', '"')
			b = appendXMLText(b, s)
			b = append(b, '"')
		}
		b = append(b, '>')
		for _, k := range keys {
			if strings.HasPrefix(k, "@") {
				continue
			}
			if k == "#text" {
				s, ok := scalarText(x[k])
				if !ok {
					return nil, fmt.Errorf("#text: want a scalar, got %s", jsonKind(x[k]))
				}
				b = appendXMLText(b, s)
				continue
			}
			if list, ok := x[k].([]any); ok {
				for _, e := range list {
					if b, err = appendElement(b, k, e, item, depth+1); err != nil {
						return nil, err
					}
				}
				continue
			}
			if b, err = appendElement(b, k, x[k], item, depth+1); err != nil {
				return nil, err
			}
		}
	case []any:
		b = append(b, '>')
		for _, e := range x {
			if b, err = appendElement(b, item, e, item, depth+1); err != nil {
				return nil, err
			}
		}
	default:
		s, ok := scalarText(v)
		if !ok {
			return nil, fmt.Errorf("no XML form for a %T value", v)
		}
		b = append(b, '>')
		b = appendXMLText(b, s)
	}
	b = append(b, '<', '/')
	b = append(b, name...)
	return append(b, '>'), nil
}

func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	case nil:
		return "", true
	}
	return "", false
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

// appendXMLText escapes s for text and attribute values. Characters XML 1.0
// cannot carry at all (most C0 controls, invalid UTF-8) become U+FFFD.
func appendXMLText(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '&':
			b = append(b, "&amp;"...)
		case r == '<':
			b = append(b, "&lt;"...)
		case r == '>':
			b = append(b, "&gt;"...)
		case r == '"':
			b = append(b, "&quot;"...)
		case r == '\r':
			b = append(b, "&#xD;"...) // a literal CR would be normalised away by the parser
		case r == '\n', r == '\t':
			b = append(b, byte(r))
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0xFFFE, r == 0xFFFF:
			b = utf8.AppendRune(b, utf8.RuneError)
		default:
			b = append(b, s[i-size:i]...)
		}
	}
	return b
}

// validXMLName accepts the XML Name production without colons (so that no
// namespace prefix is invented).
func validXMLName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || unicode.IsLetter(r):
		case i > 0 && (r == '-' || r == '.' || unicode.IsDigit(r)):
		default:
			return false
		}
	}
	return true
}

// xmlNode is an element being read.
type xmlNode struct {
	attrs []xml.Attr
	kids  object // child name → value, or []any when the child repeats
	text  []byte
}

// decodeXML reads one XML document into the document model. With infer,
// text that is a JSON number or boolean becomes one, and an empty leaf
// becomes null.
func decodeXML(body []byte, keepRoot, infer bool) (any, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	var (
		stack    []*xmlNode
		names    []string
		root     any
		rootName string
		seenRoot bool
	)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse xml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 && seenRoot {
				return nil, errors.New("parse xml: more than one root element")
			}
			if len(stack) >= maxDepth {
				return nil, fmt.Errorf("parse xml: %w", errTooDeep)
			}
			stack = append(stack, &xmlNode{attrs: t.Attr})
			names = append(names, t.Name.Local)
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, errors.New("parse xml: text outside the root element")
				}
				continue
			}
			top := stack[len(stack)-1]
			top.text = append(top.text, t...)
		case xml.EndElement:
			n := stack[len(stack)-1]
			name := names[len(names)-1]
			stack, names = stack[:len(stack)-1], names[:len(names)-1]
			v := n.value(infer)
			if len(stack) == 0 {
				root, rootName, seenRoot = v, name, true
				continue
			}
			stack[len(stack)-1].add(name, v)
		}
	}
	if !seenRoot {
		return nil, errors.New("parse xml: no root element")
	}
	if keepRoot {
		return object{{key: rootName, val: root}}, nil
	}
	return root, nil
}

func (n *xmlNode) add(name string, v any) {
	for i := range n.kids {
		if n.kids[i].key == name {
			if l, ok := n.kids[i].val.([]any); ok {
				n.kids[i].val = append(l, v)
			} else {
				n.kids[i].val = []any{n.kids[i].val, v}
			}
			return
		}
	}
	n.kids = append(n.kids, field{key: name, val: v})
}

func (n *xmlNode) value(infer bool) any {
	attrs := 0
	for _, a := range n.attrs {
		if a.Name.Space != "xmlns" && a.Name.Local != "xmlns" {
			attrs++
		}
	}
	if attrs == 0 && len(n.kids) == 0 {
		return textValue(string(n.text), infer)
	}
	o := make(object, 0, attrs+len(n.kids)+1)
	for _, a := range n.attrs {
		if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
			continue
		}
		o = append(o, field{key: "@" + a.Name.Local, val: textValue(a.Value, infer)})
	}
	o = append(o, n.kids...)
	if t := strings.TrimSpace(string(n.text)); t != "" {
		o = append(o, field{key: "#text", val: textValue(t, infer)})
	}
	return o
}

func textValue(s string, infer bool) any {
	if !infer {
		return s
	}
	switch {
	case s == "":
		return nil
	case s == "true":
		return true
	case s == "false":
		return false
	case isJSONNumber(s):
		return json.Number(s)
	}
	return s
}

// isJSONNumber reports whether s is a number in JSON syntax (RFC 8259 §6).
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}
