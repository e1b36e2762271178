// Command protojson is a transformer plugin that converts message bodies
// between Protobuf binary and JSON, driven by a descriptor set file (a
// FileDescriptorSet, as `buf build --as-file-descriptor-set` or `protoc
// --include_imports --descriptor_set_out` write it), so the broker needs
// no generated code for the schema.
//
// Options:
//
//	descriptor  path of the descriptor set file (required)
//	message     full name of the message type, "pkg.Message" (required)
//	to          "json" or "protobuf"; "" picks by the input's content type
//	use_proto_names, emit_defaults   JSON output style (protojson options)
//
// Build it with `make plugins` (bin/plugins/protojson).
package main

import "github.com/rosettamq/rosetta/transform/plugin/sdk"

func main() {
	sdk.Serve(plugin{})
}
