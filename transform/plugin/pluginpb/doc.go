// Package pluginpb is the generated Go code for the plugin contract,
// transform/plugin/proto/rosetta/transform/v1/transform.proto. It is
// committed so that builds need no code generator; `make proto`
// regenerates it with pinned tools. Only this file is written by hand.
package pluginpb
