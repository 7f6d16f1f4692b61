"""The inline proxy's cases of `make bench` (`--cases inline`), run by bench/run.py.

Against one tiny upstream (the bare server), in interleaved rounds:

  direct     wrk straight to the upstream
  inline     keygate in front of it (`proxy.upstream`, embedded store), a valid key,
             one proxy worker per core (the default)
  inline1    the same with one proxy worker (`proxy.workers = 1`), as the nginx beside it
  nginx      nginx `proxy_pass` with an upstream `keepalive` pool and no check: a plain
             proxy, the cost of having a proxy at all
  traefik    Traefik with the shipped forwardAuth configuration asking keygate (today's
             shape behind a proxy)

wrk -c64 gives req/s and the CPU of every process on the path; wrk -c1 the latency of
one request at a time (what the proxy adds over direct). Then, each on a fresh keygate:
1 000 WebSocket-style tunnels (`Upgrade: echo`, one byte echoed through each) held at
once, keygate's memory per tunnel; and 1 GiB uploaded and 1 GiB downloaded through the
proxy, keygate's peak RSS growth.
"""
import os
import resource
import shutil
import socket
import subprocess
import time


def _rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


NGINX_KEEPALIVE = """upstream service {
    server {{UPSTREAM}};
    keepalive 64;
}
server {
    listen {{LISTEN}};
    location / {
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host            $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_pass http://service;
    }
}
"""


class Nginx:
    """nginx alone (no check) with keep-alive to the upstream."""

    def __init__(self, h, work, upstream):
        import tempfile
        d = tempfile.mkdtemp(prefix="nginx-inline-", dir=work)
        os.chmod(d, 0o755)
        self.port = h.free_port()
        conf = h.render(NGINX_KEEPALIVE, {"LISTEN": f"127.0.0.1:{self.port}", "UPSTREAM": upstream})
        open(os.path.join(d, "server.conf"), "w").write(conf)
        open(os.path.join(d, "nginx.conf"), "w").write(
            f"worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log error;\n"
            f"events {{ worker_connections 1024; }}\n"
            f"http {{\n  access_log off;\n  client_body_temp_path {d}/client_body;\n"
            f"  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n"
            f"  scgi_temp_path {d}/scgi;\n  include {d}/server.conf;\n}}\n")
        argv = [h.proxy_binary("nginx"), "-e", f"{d}/error.log", "-p", d, "-c", f"{d}/nginx.conf",
                "-g", "daemon off;"]
        self.server = h.Server("nginx", argv, port=self.port, group=True, cwd=d)
        h.wait_http(f"http://127.0.0.1:{self.port}/v1/items", status=204)

    def pids(self):
        return self.server.pids()

    def stop(self):
        self.server.stop()


def _answers(url, timeout=30.0):
    """Waits until `url` answers at all (the proxy port says 401 without a key)."""
    import urllib.error
    import urllib.request
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except Exception:
            time.sleep(0.02)
    raise RuntimeError(f"{url} never answered")


def _inline_keygate(h, name, data_dir, uport, workers=0):
    pport = h.free_port()
    kg = h.keygate(name, data_dir, {"KEYGATE_PROXY__UPSTREAM": f"http://127.0.0.1:{uport}",
                                    "KEYGATE_PROXY__PORT": str(pport),
                                    "KEYGATE_PROXY__WORKERS": str(workers)}, h.free_port())
    kg.proxy_port = pport
    return kg


def _tunnels(port, key, n):
    """n upgraded connections through the proxy, each proven with one echoed byte; the
    sockets (kept open by the caller)."""
    socks = []
    head = (f"GET /ws HTTP/1.1\r\nHost: bench\r\nConnection: Upgrade\r\nUpgrade: echo\r\n"
            f"Authorization: Bearer {key}\r\n\r\n").encode()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(head)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                raise RuntimeError("the proxy closed a tunnel before its 101")
            buf += chunk
        if not buf.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"no 101: {buf[:80]!r}")
        socks.append(s)
    for s in socks:
        s.sendall(b"x")
    for s in socks:
        if s.recv(1) != b"x":
            raise RuntimeError("a tunnel did not echo")
    return socks


def _bodies(port, key, size):
    """size bytes up (chunked, from a pipe) and size bytes down through the proxy."""
    up = subprocess.run(["sh", "-c", f"head -c {size} /dev/zero | curl -sS --noproxy '*' -o /dev/null "
                                     f"-w '%{{http_code}}' -T - -H 'Authorization: Bearer {key}' "
                                     f"http://127.0.0.1:{port}/upload"], capture_output=True, text=True)
    down = subprocess.run(["curl", "-sS", "--noproxy", "*", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                           "-H", f"Authorization: Bearer {key}", f"http://127.0.0.1:{port}/bytes/{size}"],
                          capture_output=True, text=True)
    if up.stdout != "204" or down.stdout != f"200 {size}":
        raise RuntimeError(f"bodies did not pass: up {up.stdout} {up.stderr} down {down.stdout} {down.stderr}")


def run(h, work, emb_dir, valid, seconds, rounds):
    uport = h.free_port()
    upstream = h.Server("upstream", [h.BARE, f"127.0.0.1:{uport}"], port=uport)
    time.sleep(0.3)
    kg = _inline_keygate(h, "inline", emb_dir, uport)
    _answers(f"http://127.0.0.1:{kg.proxy_port}/health")
    # One worker, as the nginx beside it (worker_processes 1), on a copy of the store.
    one_dir = os.path.join(work, "embedded-inline1")
    shutil.copytree(emb_dir, one_dir)
    kg1 = _inline_keygate(h, "inline1", one_dir, uport, workers=1)
    _answers(f"http://127.0.0.1:{kg1.proxy_port}/health")
    nginx = Nginx(h, work, f"127.0.0.1:{uport}")
    traefik = h.Proxy("traefik", "forwardauth", f"127.0.0.1:{kg.port}", f"127.0.0.1:{uport}", work, valid)
    paths = {
        "direct": (uport, upstream.pids()),
        "inline": (kg.proxy_port, upstream.pids() + [kg.proc.pid]),
        "inline1": (kg1.proxy_port, upstream.pids() + [kg1.proc.pid]),
        "nginx": (nginx.port, upstream.pids() + nginx.pids()),
        "traefik": (traefik.port, upstream.pids() + traefik.pids() + [kg.proc.pid]),
    }
    env = {"KEY": valid, "PROXY": "1"}
    runs = {n: [] for n in paths}
    lat = {n: [] for n in paths}
    for _ in range(rounds):
        for n, (port, pids) in paths.items():
            r = h.wrk(port, seconds, env, pids)
            r["cpu_total"] = sum(r["cpu_us"].values())
            runs[n].append(r)
            lat[n].append(h.wrk(port, max(2, seconds // 2), env, [], conns=1))
    out = {}
    for n in paths:
        rs, ls = runs[n], lat[n]
        out[n] = {"rps": h.median([x["rps"] for x in rs]), "cpu_us": h.median([x["cpu_total"] for x in rs]),
                  "p50_ms": h.median([x["p50_ms"] for x in rs]), "p99_ms": h.median([x["p99_ms"] for x in rs]),
                  "c1_p50_ms": h.median([x["p50_ms"] for x in ls]), "c1_p99_ms": h.median([x["p99_ms"] for x in ls]),
                  "non2xx": sum(x["non2xx"] for x in rs), "requests": sum(x["requests"] for x in rs)}
    for n, v in out.items():
        v["x_direct"] = v["rps"] / out["direct"]["rps"]
        v["adds_c1_p50_us"] = (v["c1_p50_ms"] - out["direct"]["c1_p50_ms"]) * 1000
    for s in (traefik, nginx, kg, kg1):
        s.stop()

    # Tunnels, on a fresh keygate: its memory before and with them held.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    kg = _inline_keygate(h, "inline-ws", emb_dir, uport)
    _answers(f"http://127.0.0.1:{kg.proxy_port}/health")
    _tunnels(kg.proxy_port, valid, 10)  # warm: the runtime's first allocations
    before = _rss_kib(kg.proc.pid, "VmRSS")
    n = 1000
    socks = _tunnels(kg.proxy_port, valid, n)
    time.sleep(0.5)
    held = _rss_kib(kg.proc.pid, "VmRSS")
    for s in socks:
        s.close()
    kg.stop()
    tunnels = {"held": n, "rss_before_mib": before / 1024, "rss_held_mib": held / 1024,
               "kib_per_tunnel": (held - before) / n}

    # 1 GiB each way, on a fresh keygate: its peak RSS against its RSS when warm.
    kg = _inline_keygate(h, "inline-bodies", emb_dir, uport)
    _answers(f"http://127.0.0.1:{kg.proxy_port}/health")
    _bodies(kg.proxy_port, valid, 1 << 20)
    warm = _rss_kib(kg.proc.pid, "VmRSS")
    started = time.time()
    _bodies(kg.proxy_port, valid, 1 << 30)
    took = time.time() - started
    peak = _rss_kib(kg.proc.pid, "VmHWM")
    kg.stop()
    upstream.stop()
    bodies = {"bytes_each_way": 1 << 30, "seconds": took, "rss_warm_mib": warm / 1024, "rss_peak_mib": peak / 1024,
              "grew_mib": (peak - warm) / 1024}
    return {"paths": out, "tunnels": tunnels, "bodies": bodies}


def report(v):
    print("\nInline mode (one upstream; wrk -c64 for req/s and CPU of every process on the path, -c1 for latency)")
    print(f"{'path':<9} {'req/s':>8} {'× direct':>8} {'CPU µs/req':>10} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'c1 p50 ms':>9} {'c1 p99 ms':>9} {'adds c1 p50 µs':>14} {'non-2xx':>8}")
    for n, r in v["paths"].items():
        print(f"{n:<9} {r['rps']:>8.0f} {r['x_direct']:>8.2f} {r['cpu_us']:>10.1f} {r['p50_ms']:>7.3f} {r['p99_ms']:>7.3f} "
              f"{r['c1_p50_ms']:>9.3f} {r['c1_p99_ms']:>9.3f} {r['adds_c1_p50_us']:>14.0f} {r['non2xx']:>8}")
    t, b = v["tunnels"], v["bodies"]
    print(f"tunnels: {t['held']} held; keygate RSS {t['rss_before_mib']:.1f} -> {t['rss_held_mib']:.1f} MiB, "
          f"{t['kib_per_tunnel']:.1f} KiB each")
    print(f"bodies: 1 GiB up and 1 GiB down in {b['seconds']:.1f} s; keygate RSS warm {b['rss_warm_mib']:.1f} MiB, "
          f"peak {b['rss_peak_mib']:.1f} MiB (+{b['grew_mib']:.1f})")


def targets(v):
    """(target, figure, met) rows for print_targets."""
    p = v["paths"]
    best = max(p["inline"]["rps"], p["inline1"]["rps"])
    x_nginx = best / p["nginx"]["rps"]
    x_traefik = best / p["traefik"]["rps"]
    adds = p["inline"]["adds_c1_p50_us"]
    return [
        ("inline ≥ 1.0× a plain nginx proxy (req/s; the better of 1 and 2 workers)", f"{x_nginx:.2f}×", x_nginx >= 1.0),
        ("inline ≥ 2.5× Traefik + forwardAuth (req/s)", f"{x_traefik:.2f}×", x_traefik >= 2.5),
        ("inline adds ≤ 0.15 ms p50 over direct (c1)", f"{adds / 1000:.3f} ms", adds <= 150),
        ("1 000 tunnels held; memory per tunnel", f"{v['tunnels']['kib_per_tunnel']:.1f} KiB", True),
        ("1 GiB each way grows RSS ≤ 16 MiB", f"+{v['bodies']['grew_mib']:.1f} MiB", v["bodies"]["grew_mib"] <= 16),
    ]
