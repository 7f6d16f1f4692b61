"""Shared pieces of the packaging tests (tests/packaging): the static binary, podman with
its own storage, free loopback ports, a real valkey-server, certificates made with
openssl, a recording HTTP upstream, and HTTP helpers. Nothing here skips: a missing tool fails the test, saying what
to install (scripts/deps.sh packaging installs everything)."""
import http.server as http_server
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VERSION = re.search(r'^version = "(.*)"$', (ROOT / "Cargo.toml").read_text(), re.M).group(1)
SESSION = uuid.uuid4().hex[:8]


def need(tool):
    path = shutil.which(tool)
    assert path, f"{tool} is not installed: run scripts/deps.sh packaging"
    return path


def dist_bin():
    path = os.environ.get("KEYGATE_DIST_BIN") or str(
        ROOT / "target/x86_64-unknown-linux-gnu/release/keygate"
    )
    assert os.access(path, os.X_OK), f"no static keygate at {path}: run `make dist`"
    return path


def run(args, check=True, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, headers=None, body=None, timeout=5, context=None):
    """(status, headers, body) for a request; never raises on an HTTP error status.
    `context`: the ssl.SSLContext for https:// URLs."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def wait_status(url, want, timeout=20, headers=None, context=None):
    """Polls url until it answers `want`; fails with the last answer seen."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = http("GET", url, headers=headers, timeout=2, context=context)
            if last[0] == want:
                return last
        except OSError as e:
            last = repr(e)
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer {want} within {timeout}s; last: {last}")


class Podman:
    """podman with its own storage under `state`, the runtime and flags that work in this
    sandbox (runc, vfs, host network, explicit ulimits). Every container and volume it
    makes carries a label and is removed by cleanup(), also when a test failed."""

    def __init__(self, state):
        need("podman")
        need("runc")
        self.state = Path(state)
        # podman refuses a runroot path over 50 characters, and a checkout's target/ can be
        # deep: the runroot (sockets, locks; nothing to keep) lives in a short /tmp dir.
        self.runroot = tempfile.mkdtemp(prefix="kgpm-", dir="/tmp")
        self.base = [
            "podman", "--root", str(self.state / "root"), "--runroot", self.runroot,
            "--storage-driver", "vfs", "--runtime", "runc", "--cgroup-manager", "cgroupfs",
            "--events-backend", "file",
        ]
        self.label = f"keygate-test={SESSION}"

    def __call__(self, *args, check=True, **kw):
        return run([*self.base, *args], check=check, **kw)

    def load(self, archive):
        out = self("load", "-q", "-i", str(archive)).stdout
        return out.strip().split()[-1]

    def create_volume(self):
        name = f"kgtest-{uuid.uuid4().hex[:8]}"
        self("volume", "create", "--label", self.label, name)
        return name

    def start(self, image, *args, env=None, volumes=(), hosts=(), read_only=True, extra=()):
        """Starts a detached container; returns its name."""
        name = f"kgtest-{uuid.uuid4().hex[:8]}"
        cmd = [
            "run", "-d", "--name", name, "--label", self.label, "--network", "host",
            "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096",
        ]
        if read_only:
            cmd.append("--read-only")
        for k, v in (env or {}).items():
            cmd += ["-e", f"{k}={v}"]
        for v in volumes:
            cmd += ["-v", v]
        for h in hosts:
            cmd += ["--add-host", h]
        cmd += [*extra, image, *args]
        self(*cmd)
        return name

    def wait(self, name, url, want=200, **kw):
        """wait_status, with the container's log in the failure."""
        try:
            return wait_status(url, want, **kw)
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- log of {name} ---\n{self.logs(name)[-4000:]}") from None

    def logs(self, name):
        p = self("logs", name, check=False)
        return p.stdout + p.stderr

    def inspect(self, name, fmt):
        return self("inspect", "--format", fmt, name).stdout.strip()

    def cleanup(self):
        ids = self("ps", "-aq", "--filter", f"label={self.label}", check=False).stdout.split()
        if ids:
            self("rm", "-f", "-v", "-t", "0", *ids, check=False)
        vols = self("volume", "ls", "-q", "--filter", f"label={self.label}", check=False).stdout.split()
        if vols:
            self("volume", "rm", "-f", *vols, check=False)
        left = self("ps", "-aq", "--filter", f"label={self.label}", check=False).stdout.split()
        shutil.rmtree(self.runroot, ignore_errors=True)
        assert not left, f"containers left behind: {left}"


def build_image(out, state):
    """scripts/image.sh: the static binary into an OCI archive. Returns its digest."""
    need("buildah")
    need("skopeo")
    line = run([str(ROOT / "scripts/image.sh"), dist_bin(), str(out), str(state)]).stdout
    return line.split()[-1]


class Valkey:
    """A real valkey-server on a free loopback port (scripts/valkey-path.sh finds it)."""

    def __init__(self, tmp):
        path = run([str(ROOT / "scripts/valkey-path.sh")], check=False).stdout.strip()
        assert path and os.access(path, os.X_OK), "no valkey-server: run scripts/deps.sh"
        self.port = free_port()
        self.proc = subprocess.Popen(
            [path, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(tmp)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while self.command("PING") != "+PONG":
            assert time.monotonic() < deadline, "valkey-server did not start"
            time.sleep(0.05)

    def command(self, *words):
        """One command in RESP; the first line of the answer (or '' when unreachable)."""
        msg = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(msg.encode())
                return s.recv(65536).decode().split("\r\n")[0]
        except OSError:
            return ""

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


class Upstream:
    """A service to put keygate in front of: Python's http.server on a free loopback port,
    in a thread, answering every request 200 with a JSON echo of its method, path and
    headers, and keeping the requests it saw (`seen`: (method, path, headers) tuples)."""

    def __init__(self):
        seen = self.seen = []

        class Handler(http_server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else ~40 ms per keep-alive request

            def answer(self):
                seen.append((self.command, self.path, dict(self.headers)))
                body = json.dumps({"method": self.command, "path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_POST = answer

            def log_message(self, *args):
                pass

        self.server = http_server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def make_certs(dir, names):
    """A CA (ca.pem) and a server certificate (server.pem, server.key) for `names`."""
    need("openssl")
    dir = Path(dir)
    o = lambda *a: run(["openssl", *a], cwd=dir)  # noqa: E731
    o("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
      "-days", "2", "-subj", "/CN=keygate packaging test CA")
    o("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
      "-subj", f"/CN={names[0]}")
    san = ",".join(f"DNS:{n}" for n in names)
    (dir / "ext.cnf").write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n")
    o("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
      "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    for f in dir.iterdir():
        f.chmod(0o644)
    return dir


# gRPC health (grpc.health.v1.Health/Check) over raw HTTP/2 with prior knowledge: no
# grpcio here. Frames: 9-byte header (length, type, flags, stream id); HPACK literals
# without indexing (0x00, name, value; no Huffman) are all a request needs, and only
# the answer's DATA is read (the status is protobuf field 1 of the message).
H2_DATA, H2_HEADERS, H2_RST_STREAM, H2_SETTINGS, H2_GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x7
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def h2_frame(kind, flags, stream, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def _hpack_literal(name, value):
    def string(s):
        assert len(s) < 127
        return bytes([len(s)]) + s.encode()
    return b"\x00" + string(name) + string(value)


def _read_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(out)} of {n} bytes")
        out += chunk
    return out


def h2_read_frame(sock):
    """(type, flags, stream, payload) of the next frame."""
    head = _read_exact(sock, 9)
    length = int.from_bytes(head[:3], "big")
    return head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF, _read_exact(sock, length)


def grpc_health(port, service="", host="127.0.0.1", timeout=5):
    """The serving status grpc.health.v1.Health/Check answers for `service` (1: SERVING,
    2: NOT_SERVING), over HTTP/2 cleartext. Fails if the server's first frame is not
    SETTINGS (not HTTP/2) or the call ends without a message."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(H2_PREFACE + h2_frame(H2_SETTINGS, 0, 0))
        kind, flags, _, _ = h2_read_frame(s)
        assert (kind, flags & 1) == (H2_SETTINGS, 0), f"not an HTTP/2 server: first frame of type {kind}"
        s.sendall(h2_frame(H2_SETTINGS, 1, 0))  # ACK
        headers = b"".join(_hpack_literal(n, v) for n, v in [
            (":method", "POST"), (":scheme", "http"), (":path", "/grpc.health.v1.Health/Check"),
            (":authority", f"{host}:{port}"), ("content-type", "application/grpc"), ("te", "trailers"),
        ])
        request = (b"\x0a" + bytes([len(service)]) + service.encode()) if service else b""
        message = b"\x00" + len(request).to_bytes(4, "big") + request
        s.sendall(h2_frame(H2_HEADERS, 0x4, 1, headers) + h2_frame(H2_DATA, 0x1, 1, message))
        data = b""
        while True:
            kind, flags, stream, payload = h2_read_frame(s)
            if kind == H2_SETTINGS and not flags & 1:
                s.sendall(h2_frame(H2_SETTINGS, 1, 0))
            elif kind in (H2_RST_STREAM, H2_GOAWAY):
                raise AssertionError(f"the server ended the call (frame type {kind}): {payload.hex()}")
            elif stream == 1 and kind == H2_DATA:
                data += payload
            if stream == 1 and kind in (H2_DATA, H2_HEADERS) and flags & 1:  # END_STREAM
                break
    assert len(data) >= 5 and data[0] == 0, f"no gRPC message in the answer: {data.hex()}"
    body = data[5:5 + int.from_bytes(data[1:5], "big")]
    # HealthCheckResponse: field 1 (varint) is the status; absent means 0 (UNKNOWN).
    return body[1] if body[:1] == b"\x08" else 0


def tmpdir(prefix):
    """A temporary directory other users (the container's) can read."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    d.chmod(0o755)
    return d


def admin_key_from(logs):
    keys = re.findall(r"\b(kgadmin_[0-9A-Za-z]+)", logs)
    assert keys, f"no admin key printed:\n{logs}"
    return keys


def create_key(base, admin, owner="alice"):
    status, _, body = http(
        "POST", f"{base}/api/users/{owner}/tokens",
        headers={"Authorization": f"Bearer {admin}"}, body={"name": "packaging"},
    )
    assert status == 201, (status, body)
    return json.loads(body)["key"]
