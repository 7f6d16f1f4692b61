"""The container image (issue 11, points 1-3), for real: built with buildah from the
static binary, inspected with skopeo, run with podman on loopback (host network)."""
import base64
import os
import re
import json
import ssl
import subprocess
import sys
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from support import (
    ROOT, VERSION, Valkey, admin_key_from, build_image, create_key,
    free_port, http, make_certs, need, run, tmpdir, wait_status,
)

SALT = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
ADMIN = "packaging-admin-key-0123456789"


def loopback(port):
    """The container shares the host's network: keep it on loopback (never 0.0.0.0 here;
    the image's 0.0.0.0 default is checked in its configuration)."""
    return {"KEYGATE_ADDRESS": "127.0.0.1", "KEYGATE_PORT": str(port)}


def test_containerfile_passes_hadolint():
    need("hadolint")
    p = run(["hadolint", "--failure-threshold", "style", str(ROOT / "Containerfile")], check=False)
    assert p.returncode == 0 and not p.stdout.strip(), p.stdout + p.stderr


def test_image_is_reproducible_and_small(built, tmp_path):
    archive, digest = built
    again = build_image(tmp_path / "again.oci.tar", tmp_path / "buildah")
    assert again == digest, "same inputs, different digest"
    size = archive.stat().st_size
    print(f"\nimage archive: {size / 1e6:.1f} MB, digest {digest}")
    assert size < 40_000_000, f"image archive is {size} bytes"


def test_image_config(built):
    archive, _ = built
    cfg = json.loads(run(["skopeo", "inspect", "--config", f"oci-archive:{archive}"]).stdout)["config"]
    assert cfg["User"] == "65532:65532"
    assert cfg["Entrypoint"] == ["/usr/local/bin/keygate"]
    assert cfg["Cmd"] == ["serve"]
    assert "8080/tcp" in cfg["ExposedPorts"]
    assert "/data" in cfg["Volumes"]
    assert "KEYGATE_ADDRESS=0.0.0.0" in cfg["Env"]
    assert "KEYGATE_DATA_DIR=/data" in cfg["Env"]
    labels = cfg["Labels"]
    revision = run(["git", "-C", str(ROOT), "rev-parse", "HEAD"]).stdout.strip()
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.revision"] == revision
    assert labels["org.opencontainers.image.licenses"] == "MIT OR Apache-2.0"
    assert labels["org.opencontainers.image.title"] == "keygate"
    for k in ("source", "description"):
        assert labels[f"org.opencontainers.image.{k}"], k


def test_image_holds_only_the_binary_the_ca_bundle_and_data(built, tmp_path):
    archive, _ = built
    with tarfile.open(archive) as outer:
        outer.extractall(tmp_path / "oci", filter="data")
    index = json.loads((tmp_path / "oci/index.json").read_text())
    blob = lambda d: tmp_path / "oci/blobs/sha256" / d.split(":")[1]  # noqa: E731
    manifest = json.loads(blob(index["manifests"][0]["digest"]).read_text())
    files = {}
    for layer in manifest["layers"]:
        with tarfile.open(blob(layer["digest"])) as t:
            for m in t.getmembers():
                files[m.name.lstrip("./")] = m
                if m.name.endswith("ca-certificates.crt"):
                    bundle = t.extractfile(m).read().decode()
    names = {n for n, m in files.items() if not m.isdir()}
    assert names == {"usr/local/bin/keygate", "etc/ssl/certs/ca-certificates.crt"}, names
    assert (files["data"].uid, files["data"].gid) == (65532, 65532)
    count = bundle.count("BEGIN CERTIFICATE")
    print(f"\nCA bundle in the image: {count} certificates")
    assert count > 50, "the image's CA bundle looks empty"


def test_embedded_store_lifecycle(podman):
    """First start prints the admin key; ready; a key made through the API passes the gate;
    the process is the non-root user; SIGTERM stops it with 0 within 2 s; restarted,
    the same container keeps its keys (the /data volume), all on a read-only root."""
    pm, image = podman
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    volume = pm.create_volume()
    name = pm.start(image, env=loopback(port), volumes=[f"{volume}:/data"])
    pm.wait(name, f"{base}/health/ready")
    admin = admin_key_from(pm.logs(name))[0]
    key = create_key(base, admin)
    assert http("GET", f"{base}/forward-auth", {"Authorization": f"Bearer {key}"})[0] == 204
    assert http("GET", f"{base}/forward-auth")[0] == 401

    pid = pm.inspect(name, "{{.State.Pid}}")
    status = open(f"/proc/{pid}/status").read()
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1:] == ["65532"] * 4, uid_line
    assert pm.inspect(name, "{{.HostConfig.ReadonlyRootfs}}") == "true"

    started = time.monotonic()
    pm("stop", "--time", "10", name)
    took = time.monotonic() - started
    code = pm.inspect(name, "{{.State.ExitCode}}")
    print(f"\nSIGTERM to exit: {took:.2f} s, exit code {code}")
    assert code == "0", pm.logs(name)
    assert took < 2.0, f"stopping took {took:.2f} s"

    pm("start", name)
    pm.wait(name, f"{base}/health/ready")
    assert http("GET", f"{base}/forward-auth", {"Authorization": f"Bearer {key}"})[0] == 204
    assert len(admin_key_from(pm.logs(name))) == 1, "the admin key is printed once, at the first start"
    assert http("GET", f"{base}/api/me", {"Authorization": f"Bearer {admin}"})[0] == 200


@pytest.mark.parametrize("owner,mode", [((0, 65532), 0o2775), ((0, 0), 0o777)],
                         ids=["root-owned-fsgroup-2775", "bind-mount-777"])
def test_a_data_dir_it_does_not_own(podman, owner, mode):
    """/data as Kubernetes mounts a volume with the chart's fsGroup (root:65532, 2775), and
    as a bind mount someone made 777: keygate starts, leaves the directory's mode alone,
    makes its own files owner-only and says once what could be tightened (before, it
    tried to chmod the directory it does not own and exited)."""
    pm, image = podman
    data = tmpdir("kgvol-")
    os.chown(data, *owner)
    data.chmod(mode)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    name = pm.start(image, env=loopback(port), volumes=[f"{data}:/data"])
    pm.wait(name, f"{base}/health/ready")
    admin = admin_key_from(pm.logs(name))[0]
    key = create_key(base, admin)
    assert http("GET", f"{base}/forward-auth", {"Authorization": f"Bearer {key}"})[0] == 204
    st = data.stat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (mode, *owner), oct(st.st_mode)
    for f in ("keygate.redb", "token_salt"):
        fs = (data / f).stat()
        assert (fs.st_mode & 0o777, fs.st_uid) == (0o600, 65532), (f, oct(fs.st_mode), fs.st_uid)
    logs = pm.logs(name)
    warnings = [line for line in logs.splitlines() if "can be reached by" in line]
    assert len(warnings) == 1, logs
    assert f"mode {mode:o}" in warnings[0] and "chmod 700 /data" in warnings[0], warnings[0]
    pm("stop", "--time", "10", name)
    assert pm.inspect(name, "{{.State.ExitCode}}") == "0", pm.logs(name)


def valkey_env(port, url, **more):
    return {**loopback(port), "KEYGATE_VALKEY_URL": url, "KEYGATE_TOKEN_SALT": SALT,
            "KEYGATE_ADMIN_KEY": ADMIN, **more}


@pytest.fixture
def valkey(tmp_path):
    v = Valkey(tmp_path)
    yield v
    v.stop()


def test_valkey_by_host_name(podman, valkey):
    pm, image = podman
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    name = pm.start(image, env=valkey_env(port, f"redis://valkey.test:{valkey.port}/0"),
                    hosts=["valkey.test:127.0.0.1"])
    pm.wait(name, f"{base}/health/ready")
    key = create_key(base, ADMIN)
    assert http("GET", f"{base}/forward-auth", {"Authorization": f"Bearer {key}"})[0] == 204
    assert valkey.command("EXISTS", "kg:ids") == ":1", "the key is not in Valkey"


@pytest.fixture
def certs():
    return make_certs(tmpdir("kg-certs-"), ["valkey.test", "issuer.test"])


def test_rediss_with_a_ca_file(podman, valkey, certs):
    pm, image = podman
    proxy = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/support/tls_proxy.py"), str(certs / "server.pem"),
         str(certs / "server.key"), str(valkey.port)], stdout=subprocess.PIPE, text=True)
    try:
        tls_port = int(proxy.stdout.readline())
        url = f"rediss://valkey.test:{tls_port}/0"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        name = pm.start(image, env=valkey_env(port, url, KEYGATE_VALKEY_TLS_CA_FILE="/certs/ca.pem"),
                        volumes=[f"{certs}:/certs:ro"], hosts=["valkey.test:127.0.0.1"])
        pm.wait(name, f"{base}/health/ready")
        key = create_key(base, ADMIN)
        assert http("GET", f"{base}/forward-auth", {"Authorization": f"Bearer {key}"})[0] == 204

        # Without the CA, the server's certificate is refused: never ready.
        other = free_port()
        name = pm.start(image, env=valkey_env(other, url), hosts=["valkey.test:127.0.0.1"])
        time.sleep(3)
        running = pm.inspect(name, "{{.State.Running}}") == "true"
        if running:
            assert http("GET", f"http://127.0.0.1:{other}/health/ready")[0] == 503
        assert "UnknownIssuer" in pm.logs(name), pm.logs(name)[-2000:]
    finally:
        proxy.terminate()
        proxy.wait(10)


class Issuer:
    """An OpenID provider's two documents (discovery, JWKS) over TLS on loopback, and
    RS256 access tokens signed with openssl."""

    def __init__(self, certs):
        self.dir = certs
        key = certs / "jwt.key"
        run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key)])
        modulus = run(["openssl", "rsa", "-in", str(key), "-noout", "-modulus"]).stdout
        n = bytes.fromhex(modulus.strip().split("=", 1)[1])
        self.key = key
        self.port = free_port()
        self.url = f"https://issuer.test:{self.port}"
        docs = {
            "/.well-known/openid-configuration": {"issuer": self.url, "jwks_uri": f"{self.url}/jwks"},
            "/jwks": {"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
                                "n": b64(n), "e": "AQAB"}]},
        }

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_GET(self):
                doc = docs.get(self.path)
                body = json.dumps(doc).encode()
                self.send_response(200 if doc else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certs / "server.pem", certs / "server.key")
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, sub):
        header = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "k1"}).encode())
        now = int(time.time())
        claims = b64(json.dumps({"iss": self.url, "sub": sub, "iat": now, "exp": now + 600}).encode())
        signing_input = f"{header}.{claims}".encode()
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                             input=signing_input, capture_output=True, check=True).stdout
        return f"{header}.{claims}.{b64(sig)}"

    def stop(self):
        self.server.shutdown()


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def issuer(certs):
    i = Issuer(certs)
    yield i
    i.stop()


@pytest.mark.parametrize("trust", ["ssl_cert_file", "system_roots", "none"])
def test_oidc_issuer_over_tls(podman, issuer, certs, trust):
    """The issuer's CA given in a file (SSL_CERT_FILE), or as the system's roots (the
    image's bundle path, where rustls-native-certs looks), or not at all (refused)."""
    pm, image = podman
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**loopback(port), "KEYGATE_OAUTH__ISSUER_URL": issuer.url}
    volumes = []
    if trust == "ssl_cert_file":
        env["SSL_CERT_FILE"] = "/certs/ca.pem"
        volumes.append(f"{certs}:/certs:ro")
    elif trust == "system_roots":
        volumes.append(f"{certs / 'ca.pem'}:/etc/ssl/certs/ca-certificates.crt:ro")
    name = pm.start(image, env=env, volumes=volumes, hosts=["issuer.test:127.0.0.1"])
    pm.wait(name, f"{base}/health/live")
    auth = {"Authorization": f"Bearer {issuer.token('carol')}"}
    if trust == "none":
        time.sleep(2)
        status, _, body = http("GET", f"{base}/api/me", auth)
        assert status == 503, (status, body)
        return
    _, _, body = pm.wait(name, f"{base}/api/me", headers=auth)
    assert json.loads(body)["subject"] == "carol"


def readme_block(section):
    """The first ```sh block of a README section, as command lines."""
    text = (ROOT / "README.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    block = body.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_container_commands(podman):
    """The README's "Run it in a container" commands, as written, with podman's storage
    and sandbox flags added, `-p 8080:8080` replaced by a free loopback port on the host
    network, and names made unique."""
    pm, _ = podman
    archive = ROOT / "target" / f"keygate-{VERSION}.oci.tar"
    assert archive.exists(), f"{archive} is missing: `make image-test` builds it with `make image`"
    port = free_port()
    name, volume = f"kgtest-readme-{os.getpid()}", f"kgtest-readme-{os.getpid()}-data"
    outputs = []
    for line in readme_block("Run it in a container"):
        cmd = re.sub(r"\s+#.*$", "", line)
        if cmd == "make image":
            continue  # done by `make image-test`'s prerequisite
        assert cmd.startswith(("podman ", "curl ")), f"a command the test does not know: {cmd}"
        cmd = cmd.replace("podman run -d", "podman run -d --label " + pm.label + " --network host "
                          "--ulimit nofile=20000:20000 --ulimit nproc=4096:4096")
        cmd = cmd.replace("podman volume create", f"podman volume create --label {pm.label}")
        cmd = cmd.replace("-p 8080:8080", f"-e KEYGATE_ADDRESS=127.0.0.1 -e KEYGATE_PORT={port}")
        cmd = cmd.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        cmd = cmd.replace("keygate-data", volume).replace("--name keygate ", f"--name {name} ")
        cmd = cmd.replace("podman logs keygate ", f"podman logs {name} ")
        cmd = cmd.replace("podman ", " ".join(pm.base) + " ", 1)
        if cmd.startswith("curl "):
            wait_status(f"http://127.0.0.1:{port}/health/live", 200)
            cmd = cmd.replace("curl ", "curl -sS --retry 20 --retry-connrefused --retry-delay 1 ", 1)
        if "podman logs" in line:
            wait_status(f"http://127.0.0.1:{port}/health/live", 200)  # the banner comes first
        p = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, cwd=ROOT)
        assert p.returncode == 0, f"{line}\n{p.stdout}\n{p.stderr}"
        outputs.append(p.stdout)
    assert any(re.search(r"kgadmin_[0-9A-Za-z]+", o) for o in outputs), outputs
    assert "HTTP/1.1 200" in outputs[-1], outputs[-1]
