# Rosetta build, test and check targets. `make run` starts a broker on
# loopback; `make test` is what CI runs (.ci/run).

GO       ?= go
BIN      := bin/rosetta
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
FUZZTIME ?= 30s
# staticcheck 0.8.2 (2026.2.2) is the newest release and builds with go1.26.
STATICCHECK_VERSION := v0.8.2
# Extra arguments for `make run`, e.g. make run ARGS='--log-level debug'.
ARGS ?=

.PHONY: all build plugins proto proto-tools run test peers vet fmt-check fuzz bench lint imports-check tidy-check check clean

all: build

build: plugins
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/rosetta

# Example transformer plugins, one binary each in bin/plugins/ (every main
# package under plugins/). Configure the broker with the binary's path and
# its sha256sum.
PLUGINS := $(patsubst plugins/%/,%,$(sort $(dir $(wildcard plugins/*/main.go))))
plugins:
	@mkdir -p bin/plugins
	$(foreach p,$(PLUGINS),$(GO) build -o bin/plugins/$(p) ./plugins/$(p) &&) true

# Regenerate transform/plugin/pluginpb from the .proto (and the protojson
# plugin's test descriptor set) with pinned tools,
# installed by `go install` into bin/tools/<tool>-<version>/ (a new pin
# installs afresh; no protoc, no network once installed). The generated
# code is committed; TestGeneratedUpToDate and TestProtoHash in transform/plugin/pluginpb check it.
TOOLS                      := $(CURDIR)/bin/tools
BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
BUF                := $(TOOLS)/buf-$(BUF_VERSION)/buf
PROTOC_GEN_GO      := $(TOOLS)/protoc-gen-go-$(PROTOC_GEN_GO_VERSION)/protoc-gen-go
PROTOC_GEN_GO_GRPC := $(TOOLS)/protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VERSION)/protoc-gen-go-grpc

$(BUF):
	GOBIN=$(dir $@) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(PROTOC_GEN_GO):
	GOBIN=$(dir $@) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(PROTOC_GEN_GO_GRPC):
	GOBIN=$(dir $@) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

proto-tools: $(BUF) $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC)

proto: proto-tools
	cd transform/plugin/proto && $(BUF) lint && \
	PATH="$(dir $(PROTOC_GEN_GO)):$(dir $(PROTOC_GEN_GO_GRPC)):$$PATH" $(BUF) generate
	sha256sum transform/plugin/proto/rosetta/transform/v1/transform.proto | cut -d' ' -f1 > transform/plugin/pluginpb/transform.proto.sha256
	cd plugins/protojson/testdata && $(BUF) build --as-file-descriptor-set -o sensor.binpb

run: build
	$(BIN) serve $(ARGS)

# The race detector and shuffled order on every package; fuzz targets run
# their seed corpora as plain tests. Two packages build and run at a time
# (go test's default -p is the CPU count), which suits a 2-core machine.
test: peers vet fmt-check imports-check
	$(GO) test -race -shuffle=on -timeout 20m ./...

peers:
	scripts/install-peers.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The same `rosetta bench` scenarios against Mosquitto, RabbitMQ and
# Rosetta (installs the first two from Debian when missing); QUICK=1 for
# a short smoke run, ROUNDS=N for more rounds. See docs/benchmarks.md.
compare: build
	integration/bench/compare.sh

lint: vet imports-check
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

imports-check:
	scripts/imports-check.sh

# go mod tidy -diff changes nothing: it prints what tidy would change and
# fails if that is anything.
tidy-check:
	$(GO) mod tidy -diff

check: lint test tidy-check

clean:
	rm -rf bin
