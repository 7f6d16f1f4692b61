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

# gitleaks: Debian packages it from trixie on (8.16), not in bookworm. Without it the
# gitleaks test skips (GITLEAKS=/path/to/gitleaks points the test at another build).
if ! have gitleaks && [ -z "${GITLEAKS:-}" ]; then
  known() { [ -n "$(apt-cache policy gitleaks 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v '(none)')" ]; }
  # Refresh the package lists only when no `apt-get update` ran in the last day, so that a
  # release without gitleaks does not cost one on every run. (apt dates the list files
  # as the server does; the mtime of lists/partial is when an update last ran.)
  if ! known && [ -z "$(find /var/lib/apt/lists/partial -maxdepth 0 -mmin -1440 2>/dev/null)" ]; then
    apt-get update -qq || echo "scanners-deps: apt-get update failed" >&2
  fi
  if known; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gitleaks >/dev/null \
      || echo "scanners-deps: gitleaks could not be installed; the gitleaks test will be skipped" >&2
  else
    echo "scanners-deps: this Debian release has no gitleaks package; the gitleaks test will be skipped" >&2
  fi
fi
