// Command units is a transformer plugin that renames fields of JSON
// bodies and converts their units, for devices that speak a dialect:
//
//	{"fields": {"temp_f": {"to": "temp_c", "convert": "f_to_c", "round": 1},
//	            "wind.mph": {"to": "wind.kmh", "convert": "mph_to_kmh"},
//	            "dev": {"to": "device_id"}}}
//
// A field path is dotted ("wind.mph" is member mph of object wind). "to"
// renames (the old member goes); "convert" names a conversion from
// Conversions; "scale" and "offset" apply value*scale+offset after it;
// "round" keeps that many decimals. A field that is absent is left alone
// unless "strict" is true, which fails the message instead. The body must
// be a JSON object; members keep their values exactly unless converted,
// but the output lists members in sorted order.
//
// Build it with `make plugins` (bin/plugins/units).
package main

import "github.com/rosettamq/rosetta/transform/plugin/sdk"

func main() {
	sdk.Serve(plugin{})
}
