# chatd — build, run and test. `make run` and `make test` install what they need first.
SWIFT ?= swift
CONFIG ?= etc/chatd.toml
BIN := .build/debug

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
SYSCONFDIR ?= /etc
UNITDIR ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
RELEASE := .build/release
VERSION := $(shell sed -n 's/.*string = "\(.*\)"/\1/p' Sources/chatd/Version.swift)
ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB := dist/chatd_$(VERSION)_$(ARCH).deb

.PHONY: all build deps deps-test run test check lint format test-swift test-e2e fuzz clean release install uninstall deb

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
test: deps-test lint
	$(SWIFT) build --build-tests
	$(MAKE) test-swift test-e2e fuzz

## libFuzzer on the client-command decoder, the upgrade check, raw request heads, JWT claims and
## the config loader: FUZZ_SECONDS each.
FUZZ_SECONDS ?= 30
fuzz:
	./Fuzz/run.sh $(FUZZ_SECONDS)

## The quick loop while working: build and the Swift tests only, nothing installed
## (run `make deps-test` once on a new machine).
check: lint
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

## swift-format's lint (.swift-format) and the 400-line rule for Sources.
lint:
	./scripts/lint.sh

## Formats Sources, Tests and Package.swift in place with .swift-format.
format:
	$(SWIFT) format format --in-place --parallel --recursive Sources Tests Package.swift

test-swift:
	$(SWIFT) test --skip-build

test-e2e:
	CHATD_BIN_DIR=$(BIN) python3 -m pytest -q tests

## Release binaries with Swift's standard library linked in: no Swift runtime needed.
release: deps
	$(SWIFT) build -c release --static-swift-stdlib --product chatd
	$(SWIFT) build -c release --static-swift-stdlib --product chatctl

## Install (PREFIX=/usr/local, DESTDIR= for staging). Units point at $(BINDIR).
install: release
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/chatd/www $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)/chatd \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DATADIR)/doc/chatd
	install -m 0755 -s $(RELEASE)/chatd $(RELEASE)/chatctl $(DESTDIR)$(BINDIR)/
	install -m 0644 $(wildcard web/*.html web/*.js web/*.css web/*.svg web/*.ts) $(DESTDIR)$(DATADIR)/chatd/www/
	install -m 0644 man/chatctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/chatd.toml.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/chatd.8 $(DESTDIR)$(MANDIR)/man8/
	test -e $(DESTDIR)$(SYSCONFDIR)/chatd/chatd.toml || install -m 0640 etc/chatd.toml $(DESTDIR)$(SYSCONFDIR)/chatd/chatd.toml
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g' \
	    packaging/systemd/chatd.service.in > $(DESTDIR)$(UNITDIR)/chatd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/chatd.service
	install -m 0644 packaging/systemd/chatd.socket packaging/systemd/chatd-metrics.socket $(DESTDIR)$(UNITDIR)/
	install -m 0644 packaging/sysusers/chatd.conf $(DESTDIR)$(SYSUSERSDIR)/chatd.conf
	install -m 0644 docs/protocol.md docs/operations.md docs/configuration.md docs/openapi.yaml packaging/nginx/chatd.conf \
	    $(DESTDIR)$(DATADIR)/doc/chatd/

## Remove what `make install` put there; the configuration file stays.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/chatd $(DESTDIR)$(BINDIR)/chatctl
	rm -rf $(DESTDIR)$(DATADIR)/chatd $(DESTDIR)$(DATADIR)/doc/chatd
	rm -f $(DESTDIR)$(MANDIR)/man1/chatctl.1 $(DESTDIR)$(MANDIR)/man5/chatd.toml.5 $(DESTDIR)$(MANDIR)/man8/chatd.8
	rm -f $(DESTDIR)$(UNITDIR)/chatd.service $(DESTDIR)$(UNITDIR)/chatd.socket $(DESTDIR)$(UNITDIR)/chatd-metrics.socket
	rm -f $(DESTDIR)$(SYSUSERSDIR)/chatd.conf

## A .deb built with dpkg-deb, checked with lintian.
deb: release
	./packaging/deb/build.sh $(VERSION) $(ARCH) $(DEB)

clean:
	rm -rf .build dist
