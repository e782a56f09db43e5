# shipgate: `make demo` shows the gateway at work, `make test` runs every
# test. Nothing but Go is needed on the machine.

GO      ?= go
BIN     ?= bin/shipgate
FUZZTIME ?= 10s
# Where scripts/e2e-build.sh puts etcd, kube-apiserver,
# kube-controller-manager, kubectl and helm (git ignores it).
export SHIPGATE_E2E_CACHE ?= $(CURDIR)/test/e2e/.cache
E2E_TIMEOUT ?= 30m
# The real cosign CLI the signer's tests sign and verify with, built from
# the module version shipgate's signer uses (a few minutes, once).
COSIGN_VERSION ?= v2.6.5
export SHIPGATE_COSIGN ?= $(shell $(GO) env GOPATH)/bin/cosign

.PHONY: all build demo test vet fmt-check unit policy-test chart-test e2e e2e-build fuzz bench bench-go clean cosign

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/shipgate

demo:
	$(GO) run ./cmd/shipgate demo

test: vet fmt-check unit policy-test chart-test e2e

vet:
	$(GO) vet ./...

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# The store tests run against SQLite and a real PostgreSQL server: the
# script installs Debian's postgresql package when it is missing and starts
# a throwaway server on loopback for the run.
unit: cosign
	./scripts/with-postgres.sh $(GO) test -race -count=1 ./...

cosign:
	@if ! "$(SHIPGATE_COSIGN)" version 2>/dev/null | grep -q "$(COSIGN_VERSION:v%=%)"; then \
		echo "installing cosign $(COSIGN_VERSION) (go install)"; \
		GOBIN="$$(dirname "$(SHIPGATE_COSIGN)")" $(GO) install github.com/sigstore/cosign/v2/cmd/cosign@$(COSIGN_VERSION); \
	fi

# The example policies' Rego tests, through the binary's own runner.
policy-test:
	$(GO) run ./cmd/shipgate policy test policies

# The Helm chart: helm lint and template (helm.sh/helm/v3 pinned in
# scripts/e2e-build.sh), in each shape users install it, and the renders it
# must refuse.
chart-test:
	./scripts/e2e-build.sh helm
	./scripts/chart-test.sh

# The end-to-end suite (its own module, test/e2e): a real etcd,
# kube-apiserver and kube-controller-manager on loopback, calling shipgate
# over TLS. The first run builds the control plane (several minutes on two
# cores); later runs reuse it.
e2e-build:
	./scripts/e2e-build.sh

e2e: e2e-build
	cd test/e2e && $(GO) vet ./... && $(GO) test -count=1 -v -timeout $(E2E_TIMEOUT) ./...

fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

# staticcheck and govulncheck (pinned, run with go run / go install), the
# latter against a vulnerability DB built offline from a pinned
# golang.org/x/vulndb snapshot (cached in .cache/security). See the script.
.PHONY: security
security:
	GO=$(GO) ./scripts/security-checks.sh

# The benchmark harness (bench/): shipgate against a plain OPA server and
# the cosign CLI, side by side, in three or four minutes. Longer runs:
# make bench BENCH_FLAGS='-duration 30s -clients 64 -rate 2000'.
# bench-go runs every Go benchmark once (audit on SQLite and PostgreSQL,
# the signer beside the cosign CLI, policy beside an OPA server).
BENCH_FLAGS ?=
bench:
	$(GO) run ./bench $(BENCH_FLAGS)

bench-go: cosign
	./scripts/with-postgres.sh $(GO) test -run '^$$' -bench . -benchmem ./webhook/ ./workload/ ./config/ ./policy/... ./audit/ ./signer/ ./bench/

clean:
	rm -rf bin
