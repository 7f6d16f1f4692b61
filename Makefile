# The project's verbs. The README and CI say the same thing: `make run`, `make test`.

CARGO ?= cargo

.PHONY: run test deps lint unit bench fmt

## Serve on 127.0.0.1:8080 with the embedded store (./data).
run:
	$(CARGO) run --release -- serve

## Everything CI checks: install what is missing, then fmt, clippy and every test.
test: deps lint unit

deps:
	@scripts/deps.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

unit:
	VALKEY_SERVER="$$(scripts/valkey-path.sh)" sh -c 'if cargo nextest --version >/dev/null 2>&1; then $(CARGO) nextest run --no-fail-fast; else $(CARGO) test --no-fail-fast; fi'

## Load benchmarks against a bare server (QUICK=1: a short run), then micro-benchmarks.
bench: deps
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(CARGO) build --release --bins --examples
	python3 bench/run.py $(if $(QUICK),--quick)
	$(CARGO) bench --bench hot_path

fmt:
	$(CARGO) fmt
