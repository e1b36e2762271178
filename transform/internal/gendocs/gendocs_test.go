package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/rosettamq/rosetta/transform"
)

// TestGeneratedUpToDate fails when docs/transforms.md differs from what the
// generator makes of the current specs and header.
func TestGeneratedUpToDate(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "transforms.md"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Generate(transform.Builtins())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/transforms.md is stale: run go generate ./transform")
	}
}

func TestBody(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1}`:  "`{\"a\":1}`",
		"\xa1\x61": "`a1 61` (hex)",
		"a\nb":     "`61 0a 62` (hex)",
		"":         "`` (hex)",
	} {
		if got := body(in); got != want {
			t.Errorf("body(%q) = %s, want %s", in, got, want)
		}
	}
}
