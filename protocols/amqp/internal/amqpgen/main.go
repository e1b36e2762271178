// Command amqpgen generates Go types and codecs for the AMQP 1.0 composite
// and restricted types from the machine-readable OASIS definitions in
// spec/*.xml (copies of the specification's types, transport, messaging,
// security and transactions XML).
//
// It is run by go generate in protocols/amqp/frames and protocols/amqp/message:
//
//	go run ../internal/amqpgen -pkg frames -out composites_gen.go \
//	    -include transport,security,transactions,messaging:delivery-state,messaging:addressing
//
// Every definition is loaded so field types resolve, but only the included
// sections ("file" or "file:section") are emitted. A restricted type that is
// not emitted resolves to its primitive source type.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
)

func main() {
	pkg := flag.String("pkg", "", "Go package name of the output")
	out := flag.String("out", "", "output file (default stdout)")
	include := flag.String("include", "", "comma-separated file or file:section list to emit")
	specDir := flag.String("spec", "", "directory of the XML definitions (default: spec/ beside this tool)")
	flag.Parse()
	if *pkg == "" || *include == "" {
		log.Fatal("amqpgen: -pkg and -include are required")
	}
	dir := *specDir
	if dir == "" {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			log.Fatal("amqpgen: cannot locate spec directory; pass -spec")
		}
		dir = filepath.Join(filepath.Dir(file), "spec")
	}
	src, err := Generate(dir, *pkg, *include)
	if err != nil {
		log.Fatalf("amqpgen: %v", err)
	}
	if *out == "" {
		os.Stdout.Write(src)
		return
	}
	if old, err := os.ReadFile(*out); err == nil && bytes.Equal(old, src) {
		return
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatalf("amqpgen: %v", err)
	}
	fmt.Fprintf(os.Stderr, "amqpgen: wrote %s\n", *out)
}
