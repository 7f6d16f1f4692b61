"""Envoy's two ext_authz filters in front of one upstream (`make bench`, `--cases envoy`),
run by bench/run.py.

Three Envoys (one worker each, `--concurrency 1`) in front of the same tiny upstream (the
bare server), in interleaved rounds, every request with a valid key:

  none   Envoy proxying alone: deploy/envoy/envoy.yaml without its ext_authz filter
  http   deploy/envoy/envoy.yaml: the HTTP ext_authz filter asking keygate's /ext-authz
  grpc   deploy/envoy/envoy-grpc.yaml: the gRPC filter asking keygate's Check service
         (its stdout access log left out, as the HTTP file has none)

One keygate (embedded store) serves both filters. wrk -c64 through Envoy gives req/s and
the CPU of every process on the path (keygate's apart: CPU per check); wrk -c1 the
latency of one request at a time.
"""
import os
import re
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _alone(text):
    """envoy.yaml without its ext_authz filter."""
    out = re.sub(r"\n                  - name: envoy\.filters\.http\.ext_authz\n.*?(?=\n                  - name: envoy\.filters\.http\.router)",
                 "", text, flags=re.S)
    assert "ext_authz.v3.ExtAuthz" not in out, "deploy/envoy/envoy.yaml changed shape"
    return out


def _quiet(text):
    """envoy-grpc.yaml without its stdout access log."""
    out = re.sub(r"\n                access_log:\n.*?(?=\n                route_config:)", "", text, flags=re.S)
    assert "StdoutAccessLog" not in out, "deploy/envoy/envoy-grpc.yaml changed shape"
    return out


class Envoy:
    def __init__(self, h, work, name, text, keygate, upstream, valid):
        d = tempfile.mkdtemp(prefix=f"envoy-{name}-", dir=work)
        self.port = h.free_port()
        values = {"LISTEN": f"127.0.0.1:{self.port}", "LISTEN_HOST": "127.0.0.1", "LISTEN_PORT": str(self.port),
                  "KEYGATE": keygate, "KEYGATE_HOST": keygate.split(":")[0], "KEYGATE_PORT": keygate.split(":")[1],
                  "UPSTREAM": upstream, "UPSTREAM_HOST": upstream.split(":")[0],
                  "UPSTREAM_PORT": upstream.split(":")[1]}
        path = os.path.join(d, "envoy.yaml")
        with open(path, "w") as f:
            f.write(h.render(text, values))
        argv = [h.proxy_binary("envoy"), "-c", path, "--disable-hot-restart", "--concurrency", "1",
                "--log-level", "error", "--base-id", str(self.port)]
        self.server = h.Server(f"envoy-{name}", argv, port=self.port, group=True, cwd=d)
        h.wait_passing(self.port, valid, f"Envoy ({name})", d)

    def pids(self):
        return self.server.pids()

    def stop(self):
        self.server.stop()


def run(h, work, emb_dir, valid, seconds, rounds):
    uport, gport = h.free_port(), h.free_port()
    upstream = h.Server("upstream", [h.BARE, f"127.0.0.1:{uport}"], port=uport)
    time.sleep(0.3)
    kg = h.keygate("envoy-keygate", emb_dir, {"KEYGATE_GRPC__ENABLED": "true", "KEYGATE_GRPC__PORT": str(gport)},
                   h.free_port())
    http_file = open(os.path.join(ROOT, "deploy/envoy/envoy.yaml")).read()
    grpc_file = open(os.path.join(ROOT, "deploy/envoy/envoy-grpc.yaml")).read()
    up = f"127.0.0.1:{uport}"
    envoys = {
        "none": Envoy(h, work, "none", _alone(http_file), f"127.0.0.1:{kg.port}", up, valid),
        "http": Envoy(h, work, "http", http_file, f"127.0.0.1:{kg.port}", up, valid),
        "grpc": Envoy(h, work, "grpc", _quiet(grpc_file), f"127.0.0.1:{gport}", up, valid),
    }
    env = {"KEY": valid, "PROXY": "1"}
    runs = {n: [] for n in envoys}
    lat = {n: [] for n in envoys}
    for _ in range(rounds):
        for n, e in envoys.items():
            pids = e.pids() + upstream.pids() + [kg.proc.pid]
            r = h.wrk(e.port, seconds, env, pids)
            r["cpu_total"] = sum(r["cpu_us"].values())
            r["cpu_keygate"] = r["cpu_us"].get(kg.proc.pid, 0.0)
            r["cpu_envoy"] = sum(v for p, v in r["cpu_us"].items() if p in e.pids())
            runs[n].append(r)
            lat[n].append(h.wrk(e.port, max(2, seconds // 2), env, [], conns=1))
    out = {}
    for n in envoys:
        rs, ls = runs[n], lat[n]
        out[n] = {"rps": h.median([x["rps"] for x in rs]), "cpu_us": h.median([x["cpu_total"] for x in rs]),
                  "keygate_cpu_us": h.median([x["cpu_keygate"] for x in rs]),
                  "envoy_cpu_us": h.median([x["cpu_envoy"] for x in rs]),
                  "p50_ms": h.median([x["p50_ms"] for x in rs]), "p99_ms": h.median([x["p99_ms"] for x in rs]),
                  "c1_p50_ms": h.median([x["p50_ms"] for x in ls]), "c1_p99_ms": h.median([x["p99_ms"] for x in ls]),
                  "non2xx": sum(x["non2xx"] for x in rs), "requests": sum(x["requests"] for x in rs)}
    for v in out.values():
        v["x_none"] = v["rps"] / out["none"]["rps"]
        v["x_http"] = v["rps"] / out["http"]["rps"]
    for e in envoys.values():
        e.stop()
    kg.stop()
    upstream.stop()
    return out


def report(v):
    print("\nEnvoy in front of one upstream, a valid key (wrk -c64 for req/s and CPU of every process on the path;"
          " -c1 for latency)")
    print(f"{'ext_authz':<9} {'req/s':>8} {'× none':>7} {'× http':>7} {'p50 ms':>7} {'p99 ms':>7} {'c1 p50':>7} "
          f"{'c1 p99':>7} {'CPU µs/req':>10} {'Envoy µs':>9} {'keygate µs':>10} {'non-2xx':>8}")
    for n, r in v.items():
        print(f"{n:<9} {r['rps']:>8.0f} {r['x_none']:>7.2f} {r['x_http']:>7.2f} {r['p50_ms']:>7.3f} {r['p99_ms']:>7.3f} "
              f"{r['c1_p50_ms']:>7.3f} {r['c1_p99_ms']:>7.3f} {r['cpu_us']:>10.1f} {r['envoy_cpu_us']:>9.1f} "
              f"{r['keygate_cpu_us']:>10.1f} {r['non2xx']:>8}")


def targets(v):
    """(target, figure, met) rows for print_targets."""
    g, hp = v["grpc"], v["http"]
    cpu = g["keygate_cpu_us"] / hp["keygate_cpu_us"] if hp["keygate_cpu_us"] else 0.0
    return [
        ("Envoy gRPC ext_authz ≥ 1.2× HTTP ext_authz (req/s)", f"{g['x_http']:.2f}×", g["x_http"] >= 1.2),
        ("Envoy gRPC ext_authz ≥ 0.6× Envoy with no auth (req/s)", f"{g['x_none']:.2f}×", g["x_none"] >= 0.6),
        ("keygate CPU per Check, gRPC against HTTP (µs)",
         f"{g['keygate_cpu_us']:.1f} vs {hp['keygate_cpu_us']:.1f} ({cpu:.2f}×)", True),
    ]
