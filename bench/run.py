#!/usr/bin/env python3
"""keygate's benchmark harness (`make bench`, `make bench QUICK=1`).

Runs, side by side and interleaved (A B C A B C …, so that machine drift cancels out), a
bare hyper server answering 204 (the limit), keygate on its embedded store and keygate
on a real valkey-server, under wrk, in the default configuration (access log and
metrics on, logs to /dev/null), for three cases:

  valid    one valid key, warm cache
  garbage  a key with a wrong checksum
  misses   every request a different valid key from 100 000, with the cache turned off
           (cache.ttl_secs = 0): every request goes to the store
  unknown  a well-formed key that is in no store (the negative cache answers; throttle
           off, or the throttle would answer instead after 20 attempts)
  limited  a key with a rate limit far from exhaustion (10^12 per day)
  over     a key over its rate limit (1 per day, used once): every request a 429
  credits  a key with a quota far from exhaustion (10^15 credits)
  shared   (Valkey) two keygate replicas sharing one limited key, one wrk on each; the
           Valkey commands per allowed request are counted from INFO commandstats

and prints per case req/s, the ratio to the bare server, server CPU µs per request
(from /proc/PID/stat; Valkey's separately), p50/p99 latency and peak RSS, as a table and
as JSON (bench/results.json). The scale case (skipped with --quick) loads 1 000 000
keys into each store and measures startup time, RSS, and hit/miss throughput.
"""
import argparse, json, os, random, re, shutil, signal, socket, statistics, string, subprocess, sys, tempfile, time, urllib.request, zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/keygate")
BARE = os.path.join(ROOT, "target/release/examples/bare")
LUA = os.path.join(ROOT, "bench/keys.lua")
SALT = "5a" * 32
TICK = os.sysconf("SC_CLK_TCK")
B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def b62(n, width):
    s = ""
    for _ in range(width):
        s = B62[n % 62] + s
        n //= 62
    return s


def make_key(rng):
    """A keygate key, made here the way keygate makes them (format in DESIGN §2)."""
    body = "kg_" + b62(rng.getrandbits(256), 43)
    return body + b62(zlib.crc32(body.encode()), 6)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def valkey_binary():
    out = subprocess.run([os.path.join(ROOT, "scripts/valkey-path.sh")], capture_output=True, text=True)
    path = out.stdout.strip()
    if not path:
        sys.exit("valkey-server not found: run `make deps`")
    return path


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def wait_http(url, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.02)
    sys.exit(f"{url} never answered")


class Server:
    def __init__(self, name, argv, env=None, health=None, port=None):
        self.name, self.port = name, port
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if health:
            wait_http(health)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


ADMIN = "bench-admin-key-0123456789"


def keygate(name, data_dir, extra_env, port):
    env = {"PATH": os.environ.get("PATH", ""), "KEYGATE_TOKEN_SALT": SALT, "KEYGATE_LOG_FORMAT": "json",
           "KEYGATE_ADMIN_KEY": ADMIN}
    env.update(extra_env)
    argv = [BIN, "serve", "--port", str(port), "--data-dir", data_dir]
    return Server(name, argv, env, f"http://127.0.0.1:{port}/health/ready", port)


def import_keys(keys_file, data_dir, extra_env):
    env = {"PATH": os.environ.get("PATH", ""), "KEYGATE_TOKEN_SALT": SALT}
    env.update(extra_env)
    started = time.time()
    out = subprocess.run(
        [BIN, "keys", "import", keys_file, "--owner", "bench", "--data-dir", data_dir],
        env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"import failed: {out.stderr}")
    return time.time() - started


def wrk(port, seconds, env, pids):
    before = {p: cpu_ticks(p) for p in pids}
    cmd = ["wrk", "-t1", "-c64", f"-d{seconds}s", "--latency", "-s", LUA, f"http://127.0.0.1:{port}/"]
    out = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True).stdout
    after = {p: cpu_ticks(p) for p in pids}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def lat(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v

    cpu = {p: (after[p] - before[p]) / TICK * 1e6 / max(total, 1) for p in pids}
    return {"rps": rps, "requests": total, "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "p50_ms": lat(50), "p99_ms": lat(99), "cpu_us": cpu}


def create_key(port, limits):
    """A key with `limits`, made through the API of the keygate on `port`."""
    body = json.dumps({"name": "bench-limited", "limits": limits}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/users/bench-limits/tokens", data=body, method="POST",
                                 headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["key"]


def use_once(port, key):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/forward-auth", headers={"Authorization": f"Bearer {key}"})
    try:
        urllib.request.urlopen(req, timeout=5)
    except urllib.error.HTTPError:
        pass


LIMITS = {
    "limited": {"rate_limits": [{"name": "day", "limit": 10**12, "window": "1d"}]},
    "over": {"rate_limits": [{"name": "day", "limit": 1, "window": "1d"}]},
    "credits": {"credits": {"remaining": 10**15}},
}


def valkey_calls(port):
    """Commands Valkey has run so far (the sum of INFO commandstats), asked over RESP."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            data += chunk
            m = re.match(rb"\$(\d+)\r\n", data)
            if m and len(data) >= m.end() + int(m.group(1)):
                break
            if not chunk:
                break
    return sum(int(n) for n in re.findall(rb"calls=(\d+)", data))


def median(xs):
    return statistics.median(xs) if xs else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="short runs, one round, no scale case")
    ap.add_argument("--json", default=os.path.join(ROOT, "bench/results.json"))
    ap.add_argument("--cases", default="", help="comma-separated cases to run (default: all)")
    ap.add_argument("--seconds", type=int, default=0, help="seconds per run (default 10, --quick 3)")
    ap.add_argument("--rounds", type=int, default=0, help="interleaved rounds (default 5, --quick 1)")
    args = ap.parse_args()
    seconds, rounds, n_keys = (3, 1, 20_000) if args.quick else (10, 5, 100_000)
    seconds, rounds = args.seconds or seconds, args.rounds or rounds
    for tool in (BIN, BARE):
        if not os.path.exists(tool):
            sys.exit(f"{tool} is missing: `make bench` builds it")
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: `make bench` installs it (apt-get install wrk)")

    work = tempfile.mkdtemp(prefix="keygate-bench-")
    rng = random.Random(7)
    keys = [make_key(rng) for _ in range(n_keys)]
    keys_file = os.path.join(work, "keys.txt")
    with open(keys_file, "w") as f:
        f.write("\n".join(keys) + "\n")
    valid = keys[0]
    garbage = valid[:-1] + ("A" if valid[-1] != "A" else "B")

    vport = free_port()
    valkey = Server("valkey", [valkey_binary(), "--port", str(vport), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", work])
    time.sleep(0.3)
    vurl = f"redis://127.0.0.1:{vport}"
    emb_dir, vk_dir = os.path.join(work, "embedded"), os.path.join(work, "valkey")
    t_emb = import_keys(keys_file, emb_dir, {})
    t_vk = import_keys(keys_file, vk_dir, {"KEYGATE_VALKEY_URL": vurl})
    print(f"imported {n_keys} keys: embedded {t_emb:.1f} s, valkey {t_vk:.1f} s", flush=True)

    results = {"machine": {"cores": os.cpu_count()}, "seconds": seconds, "rounds": rounds, "keys": n_keys, "cases": {}}
    unknown = make_key(random.Random(99))
    cases = [("valid", {"KEY": valid}, {}), ("garbage", {"KEY": garbage}, {}),
             ("misses", {"KEYS_FILE": keys_file}, {"KEYGATE_CACHE__TTL_SECS": "0"}),
             # Throttle off: the unknown key's own path (hash, negative cache, 401), not
             # the throttle's refusal that the 21st failed attempt from one address gets.
             ("unknown", {"KEY": unknown}, {"KEYGATE_THROTTLE__ENABLED": "false"}),
             ("limited", {}, {}), ("over", {}, {}), ("credits", {}, {})]
    if args.cases:
        wanted = set(args.cases.split(","))
        cases = [c for c in cases if c[0] in wanted]
    for case, wrk_env, kg_env in cases:
        bport = free_port()
        bare = Server("bare", [BARE, f"127.0.0.1:{bport}"], port=bport)
        time.sleep(0.3)
        emb = keygate("embedded", emb_dir, kg_env, free_port())
        vk = keygate("valkey", vk_dir, {**kg_env, "KEYGATE_VALKEY_URL": vurl}, free_port())
        runs = {"bare": [], "embedded": [], "valkey": []}
        per_server = {"bare": dict(wrk_env), "embedded": dict(wrk_env), "valkey": dict(wrk_env)}
        if case in LIMITS:
            for srv in (emb, vk):
                key = create_key(srv.port, LIMITS[case])
                if case == "over":
                    use_once(srv.port, key)
                per_server[srv.name] = {"KEY": key}
            per_server["bare"] = {"KEY": valid}
        for r in range(rounds):
            for s in (bare, emb, vk):
                pids = [s.proc.pid] + ([valkey.proc.pid] if s is vk else [])
                runs[s.name].append(wrk(s.port, seconds, per_server[s.name], pids))
        summary = {}
        for s in (bare, emb, vk):
            rs = runs[s.name]
            summary[s.name] = {
                "rps": median([x["rps"] for x in rs]),
                "cpu_us": median([x["cpu_us"][s.proc.pid] for x in rs]),
                "valkey_cpu_us": median([x["cpu_us"].get(valkey.proc.pid, 0.0) for x in rs]) if s is vk else None,
                "p50_ms": median([x["p50_ms"] for x in rs]),
                "p99_ms": median([x["p99_ms"] for x in rs]),
                "rss_mib": peak_rss_mib(s.proc.pid),
                "non2xx": sum(x["non2xx"] for x in rs),
                "requests": sum(x["requests"] for x in rs),
            }
        base = summary["bare"]
        for name, v in summary.items():
            v["ratio"] = v["rps"] / base["rps"] if base["rps"] else 0.0
            v["cpu_ratio"] = v["cpu_us"] / base["cpu_us"] if base["cpu_us"] else 0.0
            v["p99_ratio"] = v["p99_ms"] / base["p99_ms"] if base["p99_ms"] else 0.0
        results["cases"][case] = summary
        for s in (bare, emb, vk):
            s.stop()

    if not args.cases or "shared" in args.cases.split(","):
        results["shared"] = shared(vk_dir, vurl, vport, seconds)
    if not args.quick and not args.cases:
        results["scale"] = scale(work, vurl, valkey)
    valkey.stop()

    print()
    print(f"{'case':<8} {'server':<9} {'req/s':>9} {'× bare':>7} {'CPU µs/req':>11} {'× bare':>7} {'valkey µs':>9} {'p50 ms':>7} {'p99 ms':>7} {'p99 ×':>6} {'RSS MiB':>8}")
    for case, summary in results["cases"].items():
        for name, v in summary.items():
            vk_cpu = f"{v['valkey_cpu_us']:.1f}" if v["valkey_cpu_us"] is not None else "-"
            print(f"{case:<8} {name:<9} {v['rps']:>9.0f} {v['ratio']:>7.2f} {v['cpu_us']:>11.1f} {v['cpu_ratio']:>7.2f} {vk_cpu:>9} "
                  f"{v['p50_ms']:>7.3f} {v['p99_ms']:>7.3f} {v['p99_ratio']:>6.2f} {v['rss_mib']:>8.1f}")
    c = results["cases"]
    for store in ("embedded", "valkey"):
        if "valid" in c and "limited" in c:
            print(f"\n{store}: limited key CPU {c['limited'][store]['cpu_us']:.2f} µs/req vs unlimited "
                  f"{c['valid'][store]['cpu_us']:.2f} = {c['limited'][store]['cpu_us'] / c['valid'][store]['cpu_us']:.3f}×", end="")
        if "valid" in c and "credits" in c:
            print(f"; credits key {c['credits'][store]['cpu_us'] / c['valid'][store]['cpu_us']:.3f}×", end="")
        if "over" in c and "unknown" in c:
            print(f"; over-limit refusals {c['over'][store]['rps']:.0f} req/s vs unknown key "
                  f"{c['unknown'][store]['rps']:.0f} = {c['over'][store]['rps'] / c['unknown'][store]['rps']:.3f}×", end="")
    print()
    if "shared" in results:
        v = results["shared"]
        print(f"\nshared   2 replicas on Valkey, one limited key: {v['rps']:.0f} req/s together, "
              f"{v['allowed']} allowed, {v['valkey_calls']} Valkey commands = {v['calls_per_allowed']:.5f} per allowed request")
    if "scale" in results:
        print()
        for name, v in results["scale"].items():
            print(f"scale {name}: {v}")
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nJSON: {args.json}")
    shutil.rmtree(work, ignore_errors=True)


def shared(vk_dir, vurl, vport, seconds):
    """Two replicas on one Valkey, one key with a limit far from exhaustion, one wrk on
    each replica at once; Valkey's commands per allowed request."""
    a = keygate("replica-a", vk_dir, {"KEYGATE_VALKEY_URL": vurl}, free_port())
    b = keygate("replica-b", vk_dir + "-b", {"KEYGATE_VALKEY_URL": vurl}, free_port())
    key = create_key(a.port, LIMITS["limited"])
    use_once(b.port, key)
    before = valkey_calls(vport)
    procs = []
    for s in (a, b):
        cmd = ["wrk", "-t1", "-c32", f"-d{seconds}s", "-s", LUA, f"http://127.0.0.1:{s.port}/"]
        procs.append(subprocess.Popen(cmd, env={**os.environ, "KEY": key}, stdout=subprocess.PIPE, text=True))
    outs = [p.communicate()[0] for p in procs]
    after = valkey_calls(vport)
    a.stop()
    b.stop()
    total = sum(int(re.search(r"(\d+) requests in", o).group(1)) for o in outs)
    non2xx = sum(int(m.group(1)) for o in outs for m in [re.search(r"Non-2xx or 3xx responses: (\d+)", o)] if m)
    rps = sum(float(re.search(r"Requests/sec:\s+([\d.]+)", o).group(1)) for o in outs)
    allowed = total - non2xx
    calls = after - before - 1  # the INFO that read `before`
    return {"rps": rps, "allowed": allowed, "valkey_calls": calls,
            "calls_per_allowed": calls / allowed if allowed else float("nan")}


def scale(work, vurl, valkey):
    """1 000 000 keys in each store: startup, RSS, hit and miss throughput."""
    rng = random.Random(11)
    n = 1_000_000
    keys_file = os.path.join(work, "million.txt")
    with open(keys_file, "w") as f:
        for _ in range(n):
            f.write(make_key(rng) + "\n")
    with open(keys_file) as f:
        first = f.readline().strip()
    misses_file = os.path.join(work, "million-sample.txt")
    with open(keys_file) as f, open(misses_file, "w") as out:
        for i, line in enumerate(f):
            if i % 10 == 0:
                out.write(line)
    out = {}
    for name, extra in (("embedded", {}), ("valkey", {"KEYGATE_VALKEY_URL": vurl})):
        d = os.path.join(work, f"scale-{name}")
        t_import = import_keys(keys_file, d, extra)
        port = free_port()
        started = time.time()
        s = keygate(name, d, extra, port)
        startup = time.time() - started
        hit = wrk(port, 10, {"KEY": first}, [s.proc.pid])
        s.stop()
        s = keygate(name, d, {**extra, "KEYGATE_CACHE__TTL_SECS": "0"}, free_port())
        miss = wrk(s.port, 10, {"KEYS_FILE": misses_file}, [s.proc.pid])
        rss = peak_rss_mib(s.proc.pid)
        s.stop()
        out[name] = {"keys": n, "import_s": round(t_import, 1), "startup_s": round(startup, 3),
                     "hit_rps": hit["rps"], "miss_rps": miss["rps"], "rss_mib": round(rss, 1)}
    return out


if __name__ == "__main__":
    main()
