package pluginpb_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const protoFile = "../proto/rosetta/transform/v1/transform.proto"

// TestProtoHash catches a .proto edited without `make proto`: make proto
// records the hash of the .proto it generated from. It needs no tools, so
// it runs everywhere.
func TestProtoHash(t *testing.T) {
	src, err := os.ReadFile(protoFile)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("transform.proto.sha256")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	if got := hex.EncodeToString(sum[:]); got != strings.TrimSpace(string(want)) {
		t.Fatalf("transform.proto changed since the code was generated (sha256 %s, generated from %s): run make proto", got, bytes.TrimSpace(want))
	}
}

// TestGeneratedUpToDate regenerates the code with the pinned tools into a
// temporary directory and compares it with the committed files. The tools
// are installed by `make proto-tools` (buf takes minutes to build, so CI
// does not); without them the test skips and TestProtoHash stands in.
func TestGeneratedUpToDate(t *testing.T) {
	mk, err := os.ReadFile("../../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	pin := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `\s*:=\s*(\S+)`).FindSubmatch(mk)
		if m == nil {
			t.Fatalf("Makefile has no %s", name)
		}
		return string(m[1])
	}
	tools, err := filepath.Abs("../../../bin/tools")
	if err != nil {
		t.Fatal(err)
	}
	buf := filepath.Join(tools, "buf-"+pin("BUF_VERSION"), "buf")
	gen := filepath.Join(tools, "protoc-gen-go-"+pin("PROTOC_GEN_GO_VERSION"))
	genGRPC := filepath.Join(tools, "protoc-gen-go-grpc-"+pin("PROTOC_GEN_GO_GRPC_VERSION"))
	for _, f := range []string{buf, filepath.Join(gen, "protoc-gen-go"), filepath.Join(genGRPC, "protoc-gen-go-grpc")} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("pinned tool %s not installed (make proto-tools); TestProtoHash still checks the .proto", f)
		}
	}
	// The same plugins and options as buf.gen.yaml, but written below a
	// temporary directory instead of the module root.
	dir := t.TempDir()
	out := filepath.Join(dir, "gen")
	tmpl := filepath.Join(dir, "buf.gen.yaml")
	cfg, err := os.ReadFile("../proto/buf.gen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmpl, bytes.ReplaceAll(cfg, []byte("out: ../../.."), []byte("out: "+out)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(buf, "generate", "--template", tmpl)
	cmd.Dir = "../proto"
	cmd.Env = append(os.Environ(), "PATH="+gen+string(os.PathListSeparator)+genGRPC+string(os.PathListSeparator)+os.Getenv("PATH"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buf generate: %v\n%s", err, b)
	}
	for _, name := range []string{"transform.pb.go", "transform_grpc.pb.go"} {
		fresh, err := os.ReadFile(filepath.Join(out, "transform/plugin/pluginpb", name))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fresh, committed) {
			t.Errorf("%s differs from what make proto generates: run make proto", name)
		}
	}
}
