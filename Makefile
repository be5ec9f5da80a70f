# chatd — build, run and test. `make run` and `make test` install what they need first.
SWIFT ?= swift
CONFIG ?= etc/chatd.toml
BIN := .build/debug

.PHONY: all build deps deps-test run test test-swift test-e2e clean

all: build

deps:
	./scripts/install-deps.sh run

deps-test:
	./scripts/install-deps.sh test

build: deps
	$(SWIFT) build

## Build and run chatd with the example config: http://localhost:8080
run: build
	$(BIN)/chatd --config $(CONFIG)

## Every test: Swift unit and integration tests, then the end-to-end suites (browser, article).
test: deps-test
	$(SWIFT) build --build-tests
	$(MAKE) test-swift test-e2e

test-swift:
	$(SWIFT) test --skip-build

test-e2e:
	CHATD_BIN_DIR=$(BIN) python3 -m pytest -q tests

clean:
	rm -rf .build
