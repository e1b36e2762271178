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

.PHONY: all build run test peers vet fmt-check fuzz bench lint imports-check tidy-check check clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/rosetta

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
