package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedUpToDate regenerates every file named by a //go:generate
// line that runs amqpgen and compares it with the committed file, so the
// generated code can never drift from the generator or the XML.
func TestGeneratedUpToDate(t *testing.T) {
	for _, pkg := range []string{"frames", "message"} {
		t.Run(pkg, func(t *testing.T) {
			dir := filepath.Join("..", "..", pkg)
			doc, err := os.ReadFile(filepath.Join(dir, "doc.go"))
			if err != nil {
				t.Fatal(err)
			}
			var args []string
			for _, line := range strings.Split(string(doc), "\n") {
				if rest, ok := strings.CutPrefix(line, "//go:generate go run ../internal/amqpgen "); ok {
					args = strings.Fields(rest)
				}
			}
			fs := flag.NewFlagSet("amqpgen", flag.ContinueOnError)
			pkgName := fs.String("pkg", "", "")
			out := fs.String("out", "", "")
			include := fs.String("include", "", "")
			if err := fs.Parse(args); err != nil || *out == "" {
				t.Fatalf("bad go:generate line in %s/doc.go: %v", pkg, args)
			}
			want, err := os.ReadFile(filepath.Join(dir, *out))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Generate("spec", *pkgName, *include)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s/%s is stale: run go generate ./protocols/amqp/...", pkg, *out)
			}
		})
	}
}

func TestGoName(t *testing.T) {
	for in, want := range map[string]string{
		"container-id": "ContainerID", "sasl-server-mechanisms": "SASLServerMechanisms",
		"ietf-language-tag": "IETFLanguageTag", "amqp-value": "AMQPValue", "ttl": "TTL",
	} {
		if got := goName(in); got != want {
			t.Errorf("goName(%q) = %q, want %q", in, got, want)
		}
	}
}
