# One command for people and CI: `make test`.
GO ?= go
PKGS := ./...

.PHONY: test unit vet fmt-check golden build deps fuzz lock tools-lock bench

## test: formatting, vet, and every test (mocked program graph, user data against real tools,
## the real MLflow server end to end). The end-to-end test builds two MLflow venvs on a cold
## cache (~3 min), hence the timeout above go test's default 10 minutes.
test: fmt-check vet
	$(GO) test -count=1 -timeout 45m $(PKGS)

## unit: the fast loop - mocked-graph and pure tests only (`go test -short`: every test that
## needs a real tool asks internal/testenv for it, which skips under -short); no tools needed
unit:
	$(GO) test -short -count=1 $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

## golden: regenerate the rendered user data of each stack under userdata/testdata/
golden:
	$(GO) test -count=1 -run TestGoldenUserData . -update

## build: the program binary (Pulumi.yaml's runtime can point at it)
build:
	$(GO) build -o bin/mlflow-aws .

## deps: install what the tests need on Debian (CI runs this through .ci/run)
deps:
	bash .ci/install-deps

## lock: the hashed lock of the tracking server venv for MLFLOW_VERSION (userdata/lock/), e.g.
## make lock MLFLOW_VERSION=3.17.2; run it when mlflowVersion's default changes (make deps first)
lock:
	@test -n "$(MLFLOW_VERSION)" || { echo "usage: make lock MLFLOW_VERSION=MAJOR.MINOR.PATCH"; exit 2; }
	bash scripts/lock.sh $(MLFLOW_VERSION)

## tools-lock: regenerate .ci/requirements-tools.txt (the pinned Python test tools) from its .in
tools-lock:
	.tools/venv/bin/uv pip compile .ci/requirements-tools.in --quiet --no-header --generate-hashes \
	  --python-version 3.11 --python-platform x86_64-manylinux_2_28 -o .ci/requirements-tools.txt

## bench: our launch against the seed's plain `mlflow server`, side by side on this machine
## (log_batch throughput and latency, start to /health, RSS per worker, artifact MB/s); ends with
## one "bench:" line. Results: docs/performance.md.
bench:
	$(GO) test -count=1 -run '^$$' -bench '^BenchmarkLaunchVsSeed$$' -benchtime 1x -timeout 60m -v ./e2e/ | tee bench.out
	@grep '^bench:' bench.out

# --- Delivery: workflow lint and the local (moto) stack. See docs/delivery.md. ---
ACTIONLINT_VERSION := v1.7.12
ACTIONLINT := bin/actionlint

.PHONY: lint-workflows local-up local-down

# `make test` also lints the GitHub Actions workflows.
test: lint-workflows

## lint-workflows: actionlint over .github/workflows (shellcheck on run: blocks when shellcheck is on PATH), shellcheck over scripts/
lint-workflows: $(ACTIONLINT)
	$(ACTIONLINT)
	@if command -v shellcheck >/dev/null; then shellcheck scripts/*.sh; else echo "shellcheck not on PATH: run: blocks and scripts/ not checked (make deps)"; fi

$(ACTIONLINT):
	GOBIN=$(CURDIR)/bin $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

## local-up: the whole deployment against moto on 127.0.0.1:5555 (needs pulumi, the aws and random plugins, moto_server, aws)
local-up:
	bash scripts/local.sh up

## local-down: pulumi destroy of the local stack, then stop moto
local-down:
	bash scripts/local.sh down

## fuzz: a short run of every fuzz target (FUZZTIME each); the seeds run in `make test` already
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzRender$$' -fuzztime $(FUZZTIME) ./userdata/
	$(GO) test -run '^$$' -fuzz '^FuzzBackendStoreURI$$' -fuzztime $(FUZZTIME) ./userdata/
	$(GO) test -run '^$$' -fuzz '^FuzzEnvLine$$' -fuzztime $(FUZZTIME) ./userdata/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/config/
	$(GO) test -run '^$$' -fuzz '^FuzzDerivedNames$$' -fuzztime $(FUZZTIME) ./internal/config/
