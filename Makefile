# One command for people and CI: `make test`.
GO ?= go
PKGS := ./...

.PHONY: test unit vet fmt-check golden build deps fuzz

## test: formatting, vet, and every test (mocked program graph, user data against real tools)
test: fmt-check vet
	$(GO) test -count=1 $(PKGS)

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
