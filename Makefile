# gantry build and test entry points. `make test` is the whole suite; CI
# (.ci/run) calls it once on SQLite and once with GANTRY_TEST_POSTGRES_URL set.

GO        ?= go
VERSION   ?= $(shell git describe --tags --abbrev=0 2>/dev/null | sed 's/^v//')
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS   := -s -w -X gantry/internal/buildinfo.tag=$(VERSION) -X gantry/internal/buildinfo.commit=$(COMMIT)
FUZZTIME  ?= 10s

.PHONY: build test test-unit test-compat fuzz lint fmt vet bench bench-full bench-peers bench-reference bench-crosscheck update-golden

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/gantry ./cmd/gantry

## test: the whole suite (unit, integration, compatibility, short fuzzing).
test: vet test-unit fuzz test-compat

test-unit:
	$(GO) test -race -count=1 -timeout 15m ./...

test-compat:
	@if [ -f compat/go.mod ]; then cd compat && $(GO) test -count=1 -timeout 15m ./...; fi

## fuzz: run every fuzz target briefly (FUZZTIME each).
fuzz:
	@./scripts/fuzz.sh $(FUZZTIME)

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

## lint: golangci-lint (.golangci.yml), pinned and installed into .tools/bin.
lint:
	@GO=$(GO) ./scripts/lint.sh

update-golden:
	$(GO) test ./internal/config/... ./internal/cli/... -run Golden -update

## bench: gateway and General API benchmarks (docs/benchmarks.md); pass
## extra flags with BENCH_FLAGS, e.g. BENCH_FLAGS='-postgres-url postgres://...'.
BENCH_FLAGS ?=

bench:
	$(GO) run ./bench -profile quick $(BENCH_FLAGS)

bench-full:
	$(GO) run ./bench -profile full $(BENCH_FLAGS)

## bench-peers: the quick profile with the Portkey 1.15.2 peer beside gantry,
## installed from npm by scripts/install-peers.sh into bench/.peers/.
bench-peers:
	./scripts/install-peers.sh
	$(GO) run ./bench -profile quick -peers portkey $(BENCH_FLAGS)

## bench-crosscheck: METHOD's closed-loop cross-check for raw maximum RPS:
## bombardier v1.2.6 (installed by scripts/install-bombardier.sh into
## .tools/bin) against the rig and each subject, beside the open-loop
## saturation ladder of the same run.
bench-crosscheck:
	@bin="$$(GO=$(GO) ./scripts/install-bombardier.sh)" && \
	$(GO) run ./bench -profile quick -only rig,saturation,crosscheck -bombardier "$$bin" $(BENCH_FLAGS)

## bench-reference: the startup and api phases side by side with the
## reference server, a coder v2.36.1 (AGPL) built by scripts/build-reference.sh
## into compat/.cache/ and run as a separate process on its own database.
REFERENCE_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/gantry_bench_ref?sslmode=disable

bench-reference:
	@bin="$$(GO=$(GO) ./scripts/build-reference.sh)" && \
	$(GO) run ./bench -profile quick -only startup,api -reference-bin "$$bin" \
		-reference-postgres-url '$(REFERENCE_POSTGRES_URL)' $(BENCH_FLAGS)
