# shipgate: `make demo` shows the gateway at work, `make test` runs every
# test. Nothing but Go is needed on the machine.

GO      ?= go
BIN     ?= bin/shipgate
FUZZTIME ?= 10s

.PHONY: all build demo test vet fmt-check unit policy-test fuzz bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/shipgate

demo:
	$(GO) run ./cmd/shipgate demo

test: vet fmt-check unit policy-test

vet:
	$(GO) vet ./...

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# The store tests run against SQLite and a real PostgreSQL server: the
# script installs Debian's postgresql package when it is missing and starts
# a throwaway server on loopback for the run.
unit:
	./scripts/with-postgres.sh $(GO) test -race -count=1 ./...

# The example policies' Rego tests, through the binary's own runner.
policy-test:
	$(GO) run ./cmd/shipgate policy test policies

fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./webhook/ ./workload/ ./config/

clean:
	rm -rf bin
