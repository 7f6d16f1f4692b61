#!/usr/bin/env python3
"""schemathesis against keygate's own /openapi.json, with real credentials.

Starts the real OIDC provider of tests/support/oidc and a keygate (debug build, embedded
store in a temporary directory, OIDC and an admin key configured), then runs schemathesis
over every operation once per way in: the admin key, an administrator's OIDC access token
and an ordinary user's. Checks: no 5xx, no status code or content type the document does
not list, every response body valid against its schema.

    python3 tests/schemathesis/run.py                # what `make test` runs
    ST_EXAMPLES=200 ST_SEED=random python3 tests/schemathesis/run.py   # a longer pass

KEYGATE_BIN picks the binary (default target/debug/keygate). Exits non-zero on any failure.
"""

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "schemathesis-admin-key-0123456789"
SALT = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, proc, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"keygate exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"keygate was not ready at {url} within {seconds} s")


def access_token(issuer, client):
    data = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "scope": "api", "resource": "urn:keygate"}
    ).encode()
    req = urllib.request.Request(f"{issuer}/token", data=data)
    import base64

    basic = base64.b64encode(f"{client}:{client}-secret".encode()).decode()
    req.add_header("Authorization", f"Basic {basic}")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["access_token"]


def main():
    st = shutil.which("schemathesis") or shutil.which("st")
    if not st:
        sys.exit("schemathesis is not installed: run `make deps` (pip install schemathesis)")
    binary = Path(os.environ.get("KEYGATE_BIN", ROOT / "target/debug/keygate"))
    if not binary.is_file():
        sys.exit(f"{binary} not found: run `cargo build` first")
    oidc_dir = ROOT / "tests/support/oidc"
    if not (oidc_dir / "node_modules/oidc-provider").is_dir():
        sys.exit("oidc-provider is not installed: run `make deps`")
    examples = os.environ.get("ST_EXAMPLES", "15")
    seed = os.environ.get("ST_SEED", "1")
    if seed == "random":
        seed = str(random.randrange(1, 2**31))

    procs = []
    tmp = tempfile.TemporaryDirectory(prefix="keygate-schemathesis-")
    try:
        provider = subprocess.Popen(
            ["node", "provider.mjs"],
            cwd=oidc_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        procs.append(provider)
        issuer = json.loads(provider.stdout.readline())["issuer"]

        port = free_port()
        env = dict(
            os.environ,
            KEYGATE_PORT=str(port),
            KEYGATE_ADDRESS="127.0.0.1",
            KEYGATE_DATA_DIR=str(Path(tmp.name) / "data"),
            KEYGATE_TOKEN_SALT=SALT,
            KEYGATE_ADMIN_KEY=ADMIN_KEY,
            KEYGATE_OAUTH__ISSUER_URL=issuer,
            KEYGATE_OAUTH__AUDIENCES="keygate",
            KEYGATE_LOG_FORMAT="json",
            KEYGATE_ACCESS_LOG="false",
            # schemathesis sends many bad credentials on purpose; the failed-attempt
            # throttle (tested elsewhere) would otherwise answer most of the run with 429.
            KEYGATE_THROTTLE__ENABLED="false",
        )
        log = open(Path(tmp.name) / "keygate.log", "w")
        kg = subprocess.Popen([str(binary), "serve"], env=env, stdout=log, stderr=log)
        procs.append(kg)
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/health/ready", kg)

        identities = [
            ("admin key", ADMIN_KEY),
            ("OIDC administrator", access_token(issuer, "admin-svc")),
            ("OIDC user", access_token(issuer, "alice-svc")),
        ]
        failed = []
        for name, credential in identities:
            print(f"== schemathesis as {name}: {examples} examples per operation, seed {seed}", flush=True)
            rc = subprocess.call(
                [
                    st,
                    "run",
                    f"{base}/openapi.json",
                    "--checks",
                    CHECKS,
                    "--header",
                    f"Authorization: Bearer {credential}",
                    "--max-examples",
                    examples,
                    "--seed",
                    seed,
                    "--request-timeout",
                    "10",
                    "--no-color",
                ],
                env=dict(os.environ, SCHEMATHESIS_HOOKS=""),
            )
            if rc != 0:
                failed.append(name)
        if kg.poll() is not None:
            failed.append(f"keygate exited ({kg.returncode})")
        log.close()
        panics = [l for l in open(Path(tmp.name) / "keygate.log") if "panicked" in l]
        if panics:
            failed.append("keygate panicked: " + panics[0].strip())
        passed = len(identities) - len([f for f in failed if f in dict(identities)])
        print(f"schemathesis: {passed} passed, {len(identities) - passed} failed")
        if failed:
            sys.exit("schemathesis found problems as: " + "; ".join(failed))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        tmp.cleanup()


if __name__ == "__main__":
    main()
