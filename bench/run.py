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
  noanalytics  the valid key with analytics off (`analytics.enabled = false`): what
           counting costs is `valid` against this
  close    the valid key on a new TCP connection per check (`Connection: close`; wrk
           reconnects), as nginx's auth_request does without an upstream `keepalive`
  shared   (Valkey) two keygate replicas sharing one limited key, one wrk on each; the
           Valkey commands per allowed request are counted from INFO commandstats
  traefik, nginx, nginx-keepalive
           the shipped configurations (deploy/) in front of a bare upstream (the bare
           server again): the proxy alone, checking with the bare server, with keygate
           embedded and on Valkey; nginx without and with the `keygate_auth` upstream's
           `keepalive`. wrk -c64 through the proxy (req/s, CPU of every process on the
           path), then wrk -c1 (latency one request at a time): what keygate adds
  akas     (valid, garbage) a peer in the same interleaved rounds: AKAS, the API-key
           server keygate's key files and /load come from, installed from crates.io
           into target/peers by the bench (`cargo install akas`), holding the same
           100 000 keys (plain) and asked its /auth with the same requests
  inline   keygate as the reverse proxy in front of the bare server, beside the bare
           server directly, a plain nginx proxy (keep-alive, no check) and Traefik +
           forwardAuth to keygate; 1 000 tunnels held; 1 GiB each way (bench/inline.py)
  envoy    Envoy with no auth, with the HTTP ext_authz filter and with the gRPC one
           (deploy/envoy/), in front of the bare server: req/s, latency, CPU per check
           (bench/envoy.py)
  webhooks valid-key req/s with events off and on (an endpoint taking every event, a
           key over its rate limit hit beside it so a ratelimit.exceeded event fires every
           second) (bench/webhooks.py); the outbox's drain rate is `cargo bench --bench
           outbox`
  permissions
           instructions per /forward-auth request for a key with grants: nothing
           required, a three-term query in the proxy's header, and a two-entry
           [[permissions.require]] table (bench/permissions.py)
  instructions
           instructions per request under valgrind's callgrind (independent of the
           machine's load) of the bare server and keygate, valid / garbage / misses /
           close, one request at a time after a warm-up

and prints per case req/s, the ratio to the bare server, server CPU µs per request
(from /proc/PID/stat; Valkey's separately), p50/p99 latency and peak RSS, as a table and
as JSON (bench/results.json), then every target with its figure. The scale case
(skipped with --quick) loads 1 000 000 keys into each store and measures startup time,
RSS, hit/miss throughput, the miss rate and RSS for several sizes of redb's cache, and
RSS after a stream that uses each of the million keys once (cache and analytics on).
"""
import argparse, json, os, random, re, shutil, signal, socket, statistics, string, subprocess, sys, tempfile, time, urllib.request, zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# KEYGATE_BIN / BARE_BIN: other binaries (say, an earlier build, for a before/after).
BIN = os.environ.get("KEYGATE_BIN") or os.path.join(ROOT, "target/release/keygate")
BARE = os.environ.get("BARE_BIN") or os.path.join(ROOT, "target/release/examples/bare")
LUA = os.path.join(ROOT, "bench/keys.lua")
# The peer (AKAS_BIN: another build). Pinned, so runs of record compare the same peer.
AKAS_VERSION = "2.4.19"
AKAS = os.environ.get("AKAS_BIN") or os.path.join(ROOT, "target/peers/bin/akas")
PEER_CASES = ("valid", "garbage")
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


def wait_http(url, timeout=30.0, status=200):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == status:
                    return
        except Exception:
            time.sleep(0.02)
    sys.exit(f"{url} never answered")


class Server:
    def __init__(self, name, argv, env=None, health=None, port=None, timeout=30.0, group=False, cwd=None):
        self.name, self.port = name, port
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     process_group=0 if group else None, cwd=cwd)
        self.group = group
        if health:
            wait_http(health, timeout)

    def pids(self):
        """The process and its children (nginx's workers)."""
        out = [self.proc.pid]
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                out += [int(p) for p in f.read().split()]
        except OSError:
            pass
        return out

    def stop(self):
        if self.group:
            os.killpg(self.proc.pid, signal.SIGTERM)
        else:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


ADMIN = "bench-admin-key-0123456789"


def keygate(name, data_dir, extra_env, port, prefix=()):
    env = {"PATH": os.environ.get("PATH", ""), "KEYGATE_TOKEN_SALT": SALT, "KEYGATE_LOG_FORMAT": "json",
           "KEYGATE_ADMIN_KEY": ADMIN}
    env.update(extra_env)
    argv = [*prefix, BIN, "serve", "--port", str(port), "--data-dir", data_dir]
    return Server(name, argv, env, f"http://127.0.0.1:{port}/health/ready", port, timeout=180.0 if prefix else 30.0)


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


MILLION_WORK = "/tmp/keygate-rss-once"


def million_keys_imported(data_name, extra_env):
    """The 1 000 000 keys of the RSS scripts (bench/rss_once.py, bench/rss_misses.py):
    written once to /tmp/keygate-rss-once/million.txt and imported once into
    /tmp/keygate-rss-once/<data_name>. Returns (keys file, data directory)."""
    os.makedirs(MILLION_WORK, exist_ok=True)
    keys_file = os.path.join(MILLION_WORK, "million.txt")
    if not os.path.exists(keys_file):
        rng = random.Random(11)
        with open(keys_file, "w") as f:
            for _ in range(1_000_000):
                f.write(make_key(rng) + "\n")
    d = os.path.join(MILLION_WORK, data_name)
    if not os.path.exists(os.path.join(d, "imported")):
        t = import_keys(keys_file, d, extra_env)
        os.makedirs(d, exist_ok=True)  # on Valkey the import writes nothing here
        with open(os.path.join(d, "imported"), "w") as f:
            f.write(str(t))
        print(f"imported 1 000 000 keys in {t:.1f} s", flush=True)
    return keys_file, d


def wrk(port, seconds, env, pids, conns=64):
    pids = [p for p in pids if os.path.exists(f"/proc/{p}")]
    before = {p: cpu_ticks(p) for p in pids}
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", LUA, f"http://127.0.0.1:{port}/"]
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


def ensure_akas():
    """AKAS from crates.io, built once into target/peers (about 2 minutes here)."""
    if not os.path.exists(AKAS):
        print(f"installing the peer: cargo install akas {AKAS_VERSION}", flush=True)
        subprocess.run(["cargo", "install", "akas", "--locked", "--version", AKAS_VERSION,
                        "--root", os.path.join(ROOT, "target/peers")], check=True)
    return AKAS


def akas_server(keys_file):
    """AKAS on a free loopback port with every key of `keys_file` loaded through its
    `/load` (plain format), the way its users load a key file."""
    port = free_port()
    srv = Server("akas", [AKAS, "serve", "--local", "--port", str(port), "--admin-key", ADMIN,
                          "--log-level", "error"], env={"PATH": os.environ.get("PATH", "")},
                 health=f"http://127.0.0.1:{port}/health", port=port)
    out = subprocess.run(["curl", "-sS", "-f", "-H", f"Authorization: Bearer {ADMIN}",
                          "-F", f"file=@{keys_file}", "-F", 'json={"format": "plain"};type=application/json',
                          f"http://127.0.0.1:{port}/load"], capture_output=True, text=True)
    if out.returncode != 0:
        srv.stop()
        sys.exit(f"AKAS /load failed: {out.stderr or out.stdout}")
    return srv


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
    ap.add_argument("--no-peer", action="store_true", help="without the AKAS peer (no cargo install)")
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
             ("limited", {}, {}), ("over", {}, {}), ("credits", {}, {}),
             ("noanalytics", {"KEY": valid}, {"KEYGATE_ANALYTICS__ENABLED": "false"}),
             # A new TCP connection per check (`Connection: close`; wrk reconnects).
             ("close", {"KEY": valid, "CLOSE": "1"}, {})]
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
        servers = [bare, emb, vk]
        if case in PEER_CASES and not args.no_peer:
            ensure_akas()
            peer = akas_server(keys_file)
            servers.append(peer)
            runs["akas"] = []
            per_server["akas"] = {**wrk_env, "GATE_PATH": "/auth"}
        if case in LIMITS:
            for srv in (emb, vk):
                key = create_key(srv.port, LIMITS[case])
                if case == "over":
                    use_once(srv.port, key)
                per_server[srv.name] = {"KEY": key}
            per_server["bare"] = {"KEY": valid}
        for r in range(rounds):
            for s in servers:
                pids = [s.proc.pid] + ([valkey.proc.pid] if s is vk else [])
                runs[s.name].append(wrk(s.port, seconds, per_server[s.name], pids))
        summary = {}
        for s in servers:
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
        for s in servers:
            s.stop()

    if not args.cases or "shared" in args.cases.split(","):
        results["shared"] = shared(vk_dir, vurl, vport, seconds)
    wanted = set(args.cases.split(",")) if args.cases else None
    for kind in PROXIES:
        if wanted is None or kind in wanted:
            results.setdefault("proxies", {})[kind] = proxied(kind, work, emb_dir, vk_dir, vurl, valkey, valid,
                                                                seconds, rounds)
    if wanted is None or "instructions" in wanted:
        results["instructions"] = instructions(work, emb_dir, vk_dir, vurl, keys, valid, garbage,
                                               1000 if args.quick else 3000)
    if wanted is None or "inline" in wanted:
        import inline
        results["inline"] = inline.run(sys.modules[__name__], work, emb_dir, valid, seconds, rounds)
    if wanted is None or "envoy" in wanted:
        import envoy
        results["envoy"] = envoy.run(sys.modules[__name__], work, emb_dir, valid, seconds, rounds)
    if wanted is None or "webhooks" in wanted:
        import webhooks
        results["webhooks"] = webhooks.run(sys.modules[__name__], work, emb_dir, valid, seconds, rounds)
    if wanted is None or "permissions" in wanted:
        import permissions
        results["permissions"] = permissions.run(sys.modules[__name__], work, 1000 if args.quick else 3000,
                                                  1 if args.quick else 3)
    if (not args.quick and not args.cases) or (wanted and "scale" in wanted):
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
        if "valid" in c and "noanalytics" in c:
            print(f"; analytics on/off CPU {c['valid'][store]['cpu_us'] / c['noanalytics'][store]['cpu_us']:.3f}×", end="")
        if "over" in c and "unknown" in c:
            print(f"; over-limit refusals {c['over'][store]['rps']:.0f} req/s vs unknown key "
                  f"{c['unknown'][store]['rps']:.0f} = {c['over'][store]['rps'] / c['unknown'][store]['rps']:.3f}×", end="")
    print()
    if "shared" in results:
        v = results["shared"]
        print(f"\nshared   2 replicas on Valkey, one limited key: {v['rps']:.0f} req/s together, "
              f"{v['allowed']} allowed, {v['valkey_calls']} Valkey commands = {v['calls_per_allowed']:.5f} per allowed request")
    if "proxies" in results:
        print("\nBehind a proxy (wrk -c64 through the proxy for req/s and CPU; -c1 for the latency one"
              " request at a time sees; CPU is every process on the request's path)")
        print(f"{'proxy':<16} {'check by':<9} {'req/s':>8} {'× bare':>7} {'p99 ×':>6} {'CPU µs/req':>10} {'auth µs':>8} "
              f"{'c1 p50 ms':>9} {'c1 p99 ms':>9} {'adds CPU µs':>11} {'adds p50 µs':>11} {'adds p99 µs':>11}")
        for kind, rows in results["proxies"].items():
            for n, v in rows.items():
                auth = f"{v['auth_cpu_us']:.1f}" if v["auth_cpu_us"] is not None else "-"
                print(f"{kind:<16} {n:<9} {v['rps']:>8.0f} {v['ratio']:>7.2f} {v['p99_ratio']:>6.2f} {v['cpu_us']:>10.1f} "
                      f"{auth:>8} {v['c1_p50_ms']:>9.3f} {v['c1_p99_ms']:>9.3f} {v['adds_cpu_us']:>11.1f} "
                      f"{v['adds_c1_p50_us']:>11.0f} {v['adds_c1_p99_us']:>11.0f}")
    if "instructions" in results:
        print("\nInstructions per request (callgrind, one request at a time)")
        print(f"{'case':<8} " + " ".join(f"{n:>10} {'×':>5}" for n in ("bare", "embedded", "valkey")))
        for case, v in results["instructions"].items():
            print(f"{case:<8} " + " ".join(f"{v[n]['instructions']:>10.0f} {v[n]['ratio']:>5.2f}" for n in ("bare", "embedded", "valkey") if n in v))
    if "inline" in results:
        import inline
        inline.report(results["inline"])
    if "permissions" in results:
        import permissions
        permissions.report(results["permissions"])
    if "envoy" in results:
        import envoy
        envoy.report(results["envoy"])
    if "webhooks" in results:
        import webhooks
        webhooks.report(results["webhooks"])
    if "scale" in results:
        print()
        for name, v in results["scale"].items():
            print(f"scale {name}: {v}")
    print_targets(results)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nJSON: {args.json}")
    shutil.rmtree(work, ignore_errors=True)

# --- Behind a proxy -----------------------------------------------------------------

def proxy_binary(name):
    out = subprocess.run([os.path.join(ROOT, "scripts/proxy-path.sh"), name], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{name} not found: `make bench` installs it (scripts/deps.sh)\n{out.stderr}")
    return out.stdout.strip()


def render(text, values):
    for k, v in values.items():
        text = text.replace("{{" + k + "}}", v)
    return text


# nginx in front of the service alone: the shipped server block's proxying, no check.
NGINX_ALONE = """server {
    listen {{LISTEN}};
    location / {
        proxy_set_header Host            $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_pass http://{{UPSTREAM}};
    }
}
"""


def nginx_without_keepalive(conf):
    """The shipped nginx block as it would be without the `keygate_auth` upstream: a
    plain `proxy_pass http://KEYGATE/auth`, which auth_request sends as HTTP/1.0 on a new
    connection per check."""
    conf = re.sub(r"upstream keygate_auth \{.*?\n\}\n", "", conf, flags=re.S)
    conf = conf.replace("proxy_pass http://keygate_auth/auth;", "proxy_pass http://{{KEYGATE}}/auth;")
    conf = conf.replace("        proxy_http_version 1.1;\n        proxy_set_header Connection \"\";\n", "")
    assert "upstream keygate_auth" not in conf and "http://keygate_auth" not in conf \
        and "        proxy_http_version" not in conf, "deploy/nginx/keygate.conf changed shape"
    return conf


class Proxy(Server):
    """Traefik or nginx, with the shipped configuration (deploy/), in front of `upstream`,
    asking `auth` (host:port) first — or, with auth None, proxying alone."""

    def __init__(self, kind, name, auth, upstream, work, valid_key):
        d = tempfile.mkdtemp(prefix=f"{kind}-{name}-", dir=work)
        os.chmod(d, 0o755)  # nginx's workers run as another user when started by root
        port = free_port()
        values = {"LISTEN": f"127.0.0.1:{port}", "UPSTREAM": upstream, "KEYGATE": auth or "", "DIR": d}
        if kind == "traefik":
            for f in ("traefik.yml", "dynamic.yml"):
                text = render(open(os.path.join(ROOT, "deploy/traefik", f)).read(), values)
                if f == "traefik.yml":
                    text = text.replace("level: INFO", "level: ERROR")
                if auth is None:
                    text = text.replace("      middlewares: [keygate]\n", "")
                open(os.path.join(d, f), "w").write(text)
            argv = [proxy_binary("traefik"), f"--configFile={d}/traefik.yml"]
        else:
            shipped = open(os.path.join(ROOT, "deploy/nginx/keygate.conf")).read()
            if auth is None:
                shipped = NGINX_ALONE
            elif kind == "nginx":
                shipped = nginx_without_keepalive(shipped)
            open(os.path.join(d, "server.conf"), "w").write(render(shipped, values))
            open(os.path.join(d, "nginx.conf"), "w").write(
                f"worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log error;\n"
                f"events {{ worker_connections 1024; }}\n"
                f"http {{\n  access_log off;\n  client_body_temp_path {d}/client_body;\n"
                f"  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n"
                f"  scgi_temp_path {d}/scgi;\n  include {d}/server.conf;\n}}\n")
            argv = [proxy_binary("nginx"), "-e", f"{d}/error.log", "-p", d, "-c", f"{d}/nginx.conf",
                    "-g", "daemon off;"]
        super().__init__(name, argv, port=port, group=True, cwd=d)
        # Up when a checked request reaches the service (Traefik loads its file provider
        # after it starts listening).
        wait_passing(port, valid_key, f"{kind} ({name})", d)


def wait_passing(port, key, what, files):
    """Waits until a request with `key` through the proxy on `port` reaches the bare
    upstream (its 204)."""
    deadline = time.time() + 30
    while True:
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/items",
                                         headers={"Authorization": f"Bearer {key}"})
            with urllib.request.urlopen(req, timeout=1) as r:
                if r.status == 204:
                    return
        except Exception:
            pass
        if time.time() > deadline:
            sys.exit(f"{what} never passed a request through; its files are in {files}")
        time.sleep(0.05)


PROXIES = ("traefik", "nginx", "nginx-keepalive")


def proxied(kind, work, emb_dir, vk_dir, vurl, valkey, valid, seconds, rounds):
    """`kind` in front of a bare upstream: alone, checking with the bare server (the
    limit), with keygate embedded and with keygate on Valkey. Interleaved rounds of wrk
    -c64 through the proxy (throughput, CPU of every process on the request's path) and
    of wrk -c1 (latency of one request at a time)."""
    uport, aport = free_port(), free_port()
    upstream = Server("upstream", [BARE, f"127.0.0.1:{uport}"], port=uport)
    auth_bare = Server("bare", [BARE, f"127.0.0.1:{aport}"], port=aport)
    time.sleep(0.3)
    emb = keygate("embedded", emb_dir, {}, free_port())
    vk = keygate("valkey", vk_dir, {"KEYGATE_VALKEY_URL": vurl}, free_port())
    behind = {"alone": None, "bare": auth_bare, "embedded": emb, "valkey": vk}
    proxies = {n: Proxy(kind, n, None if a is None else f"127.0.0.1:{a.port}", f"127.0.0.1:{uport}", work, valid)
               for n, a in behind.items()}
    env = {"KEY": valid, "PROXY": "1"}
    runs = {n: [] for n in proxies}
    lat = {n: [] for n in proxies}
    for _ in range(rounds):
        for n, px in proxies.items():
            pids = px.pids() + upstream.pids() + (behind[n].pids() if behind[n] else []) + (
                [valkey.proc.pid] if n == "valkey" else [])
            r = wrk(px.port, seconds, env, pids)
            r["cpu_total"] = sum(r["cpu_us"].values())
            r["cpu_auth"] = sum(v for p, v in r["cpu_us"].items() if behind[n] and p in behind[n].pids())
            runs[n].append(r)
            lat[n].append(wrk(px.port, max(2, seconds // 2), env, [], conns=1))
    out = {}
    for n in proxies:
        rs, ls = runs[n], lat[n]
        out[n] = {"rps": median([x["rps"] for x in rs]), "cpu_us": median([x["cpu_total"] for x in rs]),
                  "auth_cpu_us": median([x["cpu_auth"] for x in rs]) if behind[n] else None,
                  "p50_ms": median([x["p50_ms"] for x in rs]), "p99_ms": median([x["p99_ms"] for x in rs]),
                  "c1_p50_ms": median([x["p50_ms"] for x in ls]), "c1_p99_ms": median([x["p99_ms"] for x in ls]),
                  "non2xx": sum(x["non2xx"] for x in rs), "requests": sum(x["requests"] for x in rs)}
    for n, v in out.items():
        v["ratio"] = v["rps"] / out["bare"]["rps"]
        v["p99_ratio"] = v["p99_ms"] / out["bare"]["p99_ms"]
        v["adds_cpu_us"] = v["cpu_us"] - out["alone"]["cpu_us"]
        v["adds_c1_p50_us"] = (v["c1_p50_ms"] - out["alone"]["c1_p50_ms"]) * 1000
        v["adds_c1_p99_us"] = (v["c1_p99_ms"] - out["alone"]["c1_p99_ms"]) * 1000
    for px in proxies.values():
        px.stop()
    for srv in (upstream, auth_bare, emb, vk):
        srv.stop()
    return out


# --- Instructions per request (callgrind) -----------------------------------------------

def request_bytes(key, close):
    lines = ["GET /forward-auth HTTP/1.1", "Host: 127.0.0.1", "X-Forwarded-Method: GET",
             "X-Forwarded-Proto: https", "X-Forwarded-Host: api.example.com",
             "X-Forwarded-Uri: /v1/items?page=2", "X-Forwarded-For: 203.0.113.7",
             f"Authorization: Bearer {key}"]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock, buf):
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before an answer")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    n = int(m.group(1)) if m else 0
    while len(rest) < n:
        rest += sock.recv(65536)
    return rest[n:]


def send_requests(port, keys, count, close):
    """`count` requests, one at a time, cycling through `keys`: on one kept-alive
    connection, or (close) a new connection each."""
    sock, buf = None, b""
    for i in range(count):
        if sock is None:
            sock = socket.create_connection(("127.0.0.1", port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buf = b""
        sock.sendall(request_bytes(keys[i % len(keys)], close))
        buf = read_response(sock, buf)
        if close:
            sock.close()
            sock = None
    if sock:
        sock.close()


def callgrind_total(pid, out_prefix):
    """Instructions since the last zeroing: dumps the counters and reads the dump."""
    before = set(os.listdir(os.path.dirname(out_prefix)))
    subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        new = [f for f in os.listdir(os.path.dirname(out_prefix)) if f not in before]
        for f in new:
            text = open(os.path.join(os.path.dirname(out_prefix), f)).read()
            m = re.search(r"^(?:totals|summary):\s*(\d+)", text, re.M)
            if m:
                return int(m.group(1))
        time.sleep(0.2)
    sys.exit("callgrind wrote no dump")


INSTR_CASES = ("valid", "garbage", "misses", "close")


def instructions(work, emb_dir, vk_dir, vurl, keys, valid, garbage, count):
    """Instructions per request (callgrind; valgrind's own count, independent of the
    machine's load) of the bare server and keygate, per case: the server runs under
    callgrind, gets 200 warm-up requests, its counters are zeroed, then `count`
    requests, one at a time, and the counters are dumped."""
    out = {}
    # CALLGRIND_DIR keeps the dumps (one per case and server) for `callgrind_annotate`.
    cg_dir = os.environ.get("CALLGRIND_DIR") or tempfile.mkdtemp(prefix="callgrind-", dir=work)
    os.makedirs(cg_dir, exist_ok=True)
    # INSTR_SERVERS=bare,embedded: some of the servers only (while iterating).
    servers = os.environ.get("INSTR_SERVERS", "bare,embedded,valkey").split(",")
    for server in servers:
        # One process for the cases with the cache on, one with it off (misses).
        for group in (("valid", "garbage", "close"), ("misses",)):
            if server == "bare" and group == ("misses",):
                group = ()
            if server == "bare" and "valid" in group:
                group = INSTR_CASES
            if not group:
                continue
            prefix = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg_dir}/{server}.%p",
                      "--dump-line=no", "--compress-strings=no", "--dump-instr=no"]
            port = free_port()
            if server == "bare":
                srv = Server("bare", [*prefix, BARE, f"127.0.0.1:{port}"], port=port)
                deadline = time.time() + 60
                while True:
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=1).close()
                        break
                    except OSError:
                        if time.time() > deadline:
                            sys.exit("bare under callgrind never listened")
                        time.sleep(0.1)
            else:
                env = {"KEYGATE_CACHE__TTL_SECS": "0"} if group == ("misses",) else {}
                # Throttle off: each case measures its own path. With it on, the garbage
                # case's failures throttled the address after 20 attempts, so garbage
                # measured the throttle's refusal and `close` (run next, in the same
                # process) a throttled 429 instead of an allow.
                env["KEYGATE_THROTTLE__ENABLED"] = "false"
                if server == "valkey":
                    env["KEYGATE_VALKEY_URL"] = vurl
                srv = keygate(server, emb_dir if server == "embedded" else vk_dir, env, port, prefix=prefix)
            for case in group:
                use = {"valid": [valid], "close": [valid], "garbage": [garbage], "misses": keys[1:]}[case]
                close = case == "close"
                send_requests(port, use, 200, close)
                subprocess.run(["callgrind_control", "-z", str(srv.proc.pid)], check=True, capture_output=True)
                send_requests(port, use[200:] + use[:200] if case == "misses" else use, count, close)
                total = callgrind_total(srv.proc.pid, f"{cg_dir}/{server}")
                out.setdefault(case, {})[server] = {"instructions": total / count}
                print(f"instructions {case:<8} {server:<9} {total / count:>10.0f} per request", flush=True)
            srv.stop()
    for case, v in out.items():
        for name, x in v.items():
            x["ratio"] = x["instructions"] / v["bare"]["instructions"] if "bare" in v else 0
    return out



def print_targets(results):
    """Every target of docs/benchmarks.md with this run's figure."""
    c, rows = results["cases"], []

    def row(name, value, ok):
        rows.append(f"  {'met' if ok else 'NOT met':<8} {name}: {value}")

    for store in ("embedded", "valkey"):
        if "valid" in c:
            v = c["valid"][store]
            row(f"valid {store} ≥ 0.90× bare req/s, p99 ≤ 1.5×", f"{v['ratio']:.2f}×, p99 {v['p99_ratio']:.2f}×",
                v["ratio"] >= 0.90 and v["p99_ratio"] <= 1.5)
        if "garbage" in c:
            v = c["garbage"][store]
            row(f"garbage {store} ≥ 0.95×", f"{v['ratio']:.2f}×", v["ratio"] >= 0.95)
        if "misses" in c:
            want = 0.60 if store == "valkey" else 0.55
            v = c["misses"][store]
            row(f"misses {store} ≥ {want:.2f}×", f"{v['ratio']:.2f}×", v["ratio"] >= want)
        if "close" in c:
            v = c["close"][store]
            row(f"new connection per check {store} ≥ 0.90×", f"{v['ratio']:.2f}×", v["ratio"] >= 0.90)
        if "valid" in c and "akas" in c["valid"]:
            v, peer = c["valid"][store], c["valid"]["akas"]
            row(f"valid {store} ≥ 0.80× bare req/s, p99 ≤ 1.5×, ≥ 1.25× AKAS",
                f"{v['ratio']:.2f}×, p99 {v['p99_ratio']:.2f}×, {v['rps'] / peer['rps']:.2f}× AKAS",
                v["ratio"] >= 0.80 and v["p99_ratio"] <= 1.5 and v["rps"] >= 1.25 * peer["rps"])
    if "scale" in results:
        e = results["scale"]["embedded"]
        row("1M keys, embedded RSS after the miss stream ≤ 64 MiB", f"{e['rss_mib']} MiB", e["rss_mib"] <= 64)
        for name, v in results["scale"].items():
            row(f"1M keys, {name} startup ≤ 1 s", f"{v['startup_s']} s", v["startup_s"] <= 1)
    if "inline" in results:
        import inline
        for name, value, ok in inline.targets(results["inline"]):
            row(name, value, ok)
    if "permissions" in results:
        import permissions
        for name, value, ok in permissions.targets(results["permissions"]):
            row(name, value, ok)
    if "webhooks" in results:
        import webhooks
        for name, value, ok in webhooks.targets(results["webhooks"]):
            row(name, value, ok)
    if "envoy" in results:
        import envoy
        for name, value, ok in envoy.targets(results["envoy"]):
            row(name, value, ok)
    if rows:
        print("\nTargets (ratios to the bare server in this run):")
        print("\n".join(rows))


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


REDB_CACHE_SWEEP = (8, 16, 32, 64, 1024)


def current_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class RssSampler:
    """Samples a process's (seconds since start, VmRSS MiB, threads) every `every`
    seconds while in a `with` block; the samples are in `.samples`."""

    def __init__(self, pid, every):
        import threading
        self.pid, self.every, self.samples = pid, every, []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self):
        t0 = time.time()
        while not self._done.is_set():
            self.samples.append((round(time.time() - t0, 1), round(current_rss_mib(self.pid)),
                                 len(os.listdir(f"/proc/{self.pid}/task"))))
            time.sleep(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()


def scale(work, vurl, valkey):
    """1 000 000 keys in each store: startup, RSS, hit and miss throughput; the embedded
    store's miss rate and RSS for several sizes of redb's cache (`redb_cache_mib`); and
    a stream that uses each of the million keys once in the default configuration
    (cache and analytics on), with the RSS it leaves."""
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
        miss_cpu = miss["cpu_us"].get(s.proc.pid, 0.0)
        rss = peak_rss_mib(s.proc.pid)
        s.stop()
        # Each key once, in the default configuration: wrk runs until the million have
        # been sent (with the cache on, a new key is also inserted into the cache: the
        # rate is about half the miss rate just measured; 40 % of it, and some).
        s = keygate(name, d, extra, free_port())
        secs = int(n / max(miss["rps"] * 0.4, 1000)) + 2
        once = wrk(s.port, secs, {"KEYS_FILE": keys_file}, [s.proc.pid])
        time.sleep(1)
        once_rss, once_now = peak_rss_mib(s.proc.pid), current_rss_mib(s.proc.pid)
        s.stop()
        out[name] = {"keys": n, "import_s": round(t_import, 1), "startup_s": round(startup, 3),
                     "hit_rps": hit["rps"], "miss_rps": miss["rps"], "miss_cpu_us": miss_cpu,
                     "rss_mib": round(rss, 1),
                     "once_requests": once["requests"], "once_rps": once["rps"],
                     "once_peak_rss_mib": round(once_rss, 1), "once_rss_after_mib": round(once_now, 1)}
        if name == "embedded":
            sweep = {}
            for mib in REDB_CACHE_SWEEP:
                s = keygate(name, d, {"KEYGATE_CACHE__TTL_SECS": "0", "KEYGATE_REDB_CACHE_MIB": str(mib)}, free_port())
                m = wrk(s.port, 10, {"KEYS_FILE": misses_file}, [s.proc.pid])
                sweep[mib] = {"miss_rps": m["rps"], "miss_cpu_us": m["cpu_us"][s.proc.pid],
                              "p99_ms": m["p99_ms"], "rss_mib": round(peak_rss_mib(s.proc.pid), 1)}
                s.stop()
                print(f"scale embedded redb_cache_mib={mib}: {sweep[mib]}", flush=True)
            out[name]["redb_cache_sweep"] = sweep
    return out


if __name__ == "__main__":
    main()
