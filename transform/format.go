package transform

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Format is a payload format that receivers can ask for by name in their
// accept value, and that the engine recognises in a message's content
// type.
type Format struct {
	Name        string   // short name: "json"
	ContentType string   // canonical content type: "application/json"
	Aliases     []string // other content types that mean the same format
	Suffix      string   // structured syntax suffix (RFC 6839), "+json": application/vnd.x+json is JSON
	InputOnly   bool     // the engine reads it but never produces it
}

// formats is the table of well-known formats. Its order is the preference
// order when an accept range such as "application/*" allows several.
var formats = [...]Format{
	{Name: "json", ContentType: ctJSON, Aliases: []string{"text/json"}, Suffix: "+json"},
	{Name: "cbor", ContentType: ctCBOR, Suffix: "+cbor"},
	{Name: "msgpack", ContentType: ctMsgpack, Aliases: []string{"application/x-msgpack", "application/vnd.msgpack"}},
	{Name: "xml", ContentType: ctXML, Aliases: []string{"text/xml"}, Suffix: "+xml"},
	{Name: "csv", ContentType: ctCSV, InputOnly: true},
}

const numFormats = len(formats)

// Formats returns the well-known formats.
func Formats() []Format {
	out := make([]Format, numFormats)
	for i, f := range formats {
		f.Aliases = slices.Clone(f.Aliases)
		out[i] = f
	}
	return out
}

// mediaType returns the lowercased type/subtype of a content type, without
// parameters.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

// formatByName finds a format by short name or content type (canonical or
// alias); -1 when none.
func formatByName(s string) int {
	s = mediaType(s)
	for i, f := range formats {
		if s == f.Name || s == f.ContentType || slices.Contains(f.Aliases, s) {
			return i
		}
	}
	return -1
}

// formatOf finds the format of a message's content type, accepting
// structured syntax suffixes; -1 when the content type names none.
func formatOf(ct string) int {
	mt := mediaType(ct)
	if mt == "" || !strings.Contains(mt, "/") {
		return -1
	}
	if i := formatByName(mt); i >= 0 {
		return i
	}
	for i, f := range formats {
		if f.Suffix != "" && strings.HasSuffix(mt, f.Suffix) {
			return i
		}
	}
	return -1
}

// mediaMatches reports whether content type ct falls in pattern: "*/*",
// "type/*", a content type or a format's short name (aliases count as the
// format they name).
func mediaMatches(pattern, ct string) bool {
	p := mediaType(pattern)
	mt := mediaType(ct)
	switch {
	case p == "*/*" || p == "*":
		return true
	case strings.HasSuffix(p, "/*"):
		return strings.HasPrefix(mt, p[:len(p)-1])
	case p == mt:
		return true
	}
	fp := formatByName(p)
	return fp >= 0 && fp == formatOf(ct)
}

// AcceptItem is one entry of an accept value: a media range or format name,
// and its preference.
type AcceptItem struct {
	Range string  // lowercased, without parameters: "application/json", "json", "*/*", "text/*"
	Q     float64 // preference, 0–1; 0 means never
}

// Limits on accept values: they come from clients.
const (
	maxAcceptLen   = 1024
	maxAcceptItems = 32
)

var errAcceptSyntax = errors.New("bad accept syntax")

// ParseAccept parses an accept value in the shape of an HTTP Accept header
// (RFC 9110 §12.5.1): comma-separated media ranges or format names, each
// with an optional ";q=" weight. The result is sorted by weight, highest
// first, keeping the written order among equal weights. Parameters other
// than q are ignored.
func ParseAccept(s string) ([]AcceptItem, error) {
	if len(s) > maxAcceptLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", errAcceptSyntax, maxAcceptLen)
	}
	var items []AcceptItem
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if len(items) == maxAcceptItems {
			return nil, fmt.Errorf("%w: more than %d entries", errAcceptSyntax, maxAcceptItems)
		}
		rng, params, _ := strings.Cut(part, ";")
		rng = strings.ToLower(strings.TrimSpace(rng))
		if err := checkRange(rng); err != nil {
			return nil, err
		}
		it := AcceptItem{Range: rng, Q: 1}
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
				continue
			}
			v = strings.TrimSpace(v)
			q, err := strconv.ParseFloat(v, 64)
			if err != nil || len(v) > 5 || q < 0 || q > 1 || strings.ContainsAny(v, "eE+-xXpP_") {
				return nil, fmt.Errorf("%w: %q: q must be a number from 0 to 1 with at most 3 decimals", errAcceptSyntax, part)
			}
			it.Q = q
		}
		items = append(items, it)
	}
	slices.SortStableFunc(items, func(a, b AcceptItem) int {
		switch {
		case a.Q > b.Q:
			return -1
		case a.Q < b.Q:
			return 1
		}
		return 0
	})
	return items, nil
}

// checkRange accepts "*/*", "type/*", "type/subtype" and bare names made of
// RFC 9110 token characters.
func checkRange(r string) error {
	if r == "" {
		return fmt.Errorf("%w: empty media range", errAcceptSyntax)
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~/", c) >= 0) {
			return fmt.Errorf("%w: %q: unexpected character %q", errAcceptSyntax, r, c)
		}
	}
	typ, sub, slash := strings.Cut(r, "/")
	if !slash {
		if strings.Contains(r, "*") {
			return fmt.Errorf("%w: %q: a wildcard needs type/subtype form", errAcceptSyntax, r)
		}
		return nil
	}
	switch {
	case typ == "" || sub == "" || strings.Contains(sub, "/"):
		return fmt.Errorf("%w: %q: want type/subtype", errAcceptSyntax, r)
	case typ == "*" && sub != "*":
		return fmt.Errorf("%w: %q: only */* may have a wildcard type", errAcceptSyntax, r)
	case strings.Contains(typ, "*") && typ != "*", strings.Contains(sub, "*") && sub != "*":
		return fmt.Errorf("%w: %q: a wildcard must be a whole part", errAcceptSyntax, r)
	}
	return nil
}
