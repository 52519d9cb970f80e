# One command for people and CI: `make test`.
GO ?= go
PKGS := ./...

.PHONY: test check vet fmt-check unit golden build deps fuzz

## test: formatting, vet, and every test (mocked program graph, user data against real tools)
test: fmt-check vet
	$(GO) test -count=1 $(PKGS)

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
