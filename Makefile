# The project's verbs. The README and CI say the same thing: `make run`, `make test`.

CARGO ?= cargo
NPM ?= npm
# Where cargo builds (CARGO_TARGET_DIR when set), for the binary the browser tests run.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
# target/debug/keygate as the integration tests build it: with their dev-dependencies'
# features, so that after `make unit` nothing is rebuilt (a plain `cargo build` would
# build keygate and what depends on those features a second time).
KEYGATE_DEBUG_BIN := $(CARGO) test --no-run --test api

.PHONY: run test test-debug-bin test-dist deps lint deny unit bench fmt web web-check e2e schemathesis scanners dist image image-test chart-test

## Serve on 127.0.0.1:8080 with the embedded store (./data) and the web UI.
run: web
	$(CARGO) run --release -- serve

## Everything CI checks: install what is missing, then fmt, clippy, the dependency
## policy, the UI's lint, types and component tests, every Rust test, the browser tests,
## schemathesis against the API, the secret-scanner rules, and the container image and
## Helm chart.
test: deps lint deny web web-check unit
	@$(MAKE) --no-print-directory -j2 --output-sync=recurse test-debug-bin test-dist

# The last two stretches of `make test`, side by side: the browser tests, schemathesis and
# the scanner rules (mostly waiting on browsers and servers) beside the release build of
# the shipped binary and its image and chart tests (mostly one core: fat LTO). Each
# stretch runs its steps in order; the output of each comes whole when it ends.
test-debug-bin:
	@$(MAKE) --no-print-directory -j1 e2e schemathesis scanners
test-dist:
	@$(MAKE) --no-print-directory -j1 image-test chart-test

deps:
	@scripts/deps.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

## Licences, duplicate versions and sources of every dependency (deny.toml).
deny:
	cargo deny check licenses bans sources

unit:
	VALKEY_SERVER="$$(scripts/valkey-path.sh)" sh -c 'if cargo nextest --version >/dev/null 2>&1; then $(CARGO) nextest run --no-fail-fast; else $(CARGO) test --no-fail-fast; fi'

## Build the web UI into web/dist, which release builds of keygate embed. Only when a
## source changed: a rebuilt web/dist would make cargo rebuild the release binary.
web: web/dist/index.html

WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) \
	web/index.html web/vite.config.ts web/tsconfig.json web/package.json
web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && $(NPM) run build
	@touch $@

# npm ci only when the lock file is newer than what is installed.
web/node_modules/.package-lock.json: web/package-lock.json web/package.json
	cd web && $(NPM) ci --no-audit --no-fund
	@touch $@

tests/support/oidc/node_modules/.package-lock.json: tests/support/oidc/package-lock.json
	cd tests/support/oidc && $(NPM) ci --no-audit --no-fund
	@touch $@

## The UI's ESLint, TypeScript check and vitest component tests.
web-check: web/node_modules/.package-lock.json
	cd web && $(NPM) run lint && $(NPM) run typecheck && $(NPM) test

## The UI in Debian's Chromium against a real keygate and a real OIDC provider.
e2e: web tests/support/oidc/node_modules/.package-lock.json
	$(KEYGATE_DEBUG_BIN)
	cd web && KEYGATE_BIN="$(TARGET_DIR)/debug/keygate" $(NPM) run e2e

## schemathesis over every operation of /openapi.json, as admin key, OIDC admin and user.
schemathesis: tests/support/oidc/node_modules/.package-lock.json
	$(KEYGATE_DEBUG_BIN)
	KEYGATE_BIN="$(TARGET_DIR)/debug/keygate" python3 tests/schemathesis/run.py

## The secret-scanner rules for keygate keys (deploy/scanners), run by the real
## detect-secrets and gitleaks over a generated tree of keys, broken keys and lookalikes.
scanners:
	@scripts/scanners-deps.sh
	KEYGATE_REQUIRE_GITLEAKS=1 python3 -m pytest -q -p no:cacheprovider tests/scanners

## Load benchmarks against a bare server, directly and behind Traefik and nginx, and
## instructions per request under callgrind (QUICK=1: a short run; CASES=valid,nginx:
## only those; ROUNDS=3 SECS=5: fewer, shorter rounds), then micro-benchmarks. `deps` brings Valkey, Traefik and nginx; wrk and
## valgrind come from Debian; the peer, AKAS, from crates.io (built once into target/peers).
bench: deps
	@missing=""; for t in wrk valgrind; do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	  if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
	$(CARGO) build --release --bins --examples
	python3 bench/run.py $(if $(QUICK),--quick) $(if $(CASES),--cases $(CASES)) \
		$(if $(ROUNDS),--rounds $(ROUNDS)) $(if $(SECS),--seconds $(SECS))
	$(CARGO) bench --bench hot_path
	$(CARGO) bench --bench outbox

fmt:
	$(CARGO) fmt

## The static, self-contained keygate (glibc, crt-static, UI embedded, release profile):
## runs on an empty filesystem. The image and its tests use exactly this binary.
DIST_TARGET := x86_64-unknown-linux-gnu
DIST_BIN := $(TARGET_DIR)/$(DIST_TARGET)/release/keygate
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n1)
IMAGE := $(TARGET_DIR)/keygate-$(VERSION).oci.tar
dist: web
	RUSTFLAGS="-C target-feature=+crt-static" CARGO_PROFILE_RELEASE_STRIP=symbols \
		$(CARGO) build --release --locked --target $(DIST_TARGET)

## The container image (Containerfile, FROM scratch) as an OCI archive in target/.
image: dist
	@scripts/deps.sh packaging
	scripts/image.sh $(DIST_BIN) $(IMAGE) $(TARGET_DIR)/image-build

## Build the image twice (same digest), inspect it and run it with podman (tests/packaging).
image-test: image
	@scripts/deps.sh packaging
	KEYGATE_DIST_BIN=$(DIST_BIN) python3 -m pytest -q -s -p no:cacheprovider tests/packaging/test_image.py

## Lint, render, validate the Helm chart; run keygate with the configuration it renders.
chart-test: dist
	@scripts/deps.sh packaging
	KEYGATE_DIST_BIN=$(DIST_BIN) python3 -m pytest -q -s -p no:cacheprovider tests/packaging/test_chart.py
