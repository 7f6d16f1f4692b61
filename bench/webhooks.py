"""The `webhooks` case of `make bench` (issue 27): what events cost the hot path.

Two keygates on copies of the same embedded store, in interleaved rounds, each under the
same load: wrk -c64 on one valid key (the figure compared), and beside it a second wrk
(-c2) cycling through 20 keys over their rate limit, so that every one of its requests
is a refusal that notes `ratelimit.exceeded` (each key's cached entry notes one every
10 s: two events a second):

  off   events.enabled = false
  on    events on, an endpoint (the bare server, answering 204) taking every event, and
        events.limit_cooldown = 1s, so the refusals become an event every second that
        goes through the outbox to the endpoint all the time

    python3 bench/run.py --cases webhooks
"""
import json
import os
import shutil
import subprocess
import time
import urllib.request


def _register(h, port, url):
    body = json.dumps({"url": url}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/webhooks", data=body, method="POST",
                                 headers={"Authorization": f"Bearer {h.ADMIN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["endpoint"]["id"]


def _delivered(h, port, ep):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/webhooks/{ep}/deliveries?limit=200",
                                 headers={"Authorization": f"Bearer {h.ADMIN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return sum(1 for d in json.load(r)["deliveries"] if d["state"] == "delivered")


def run(h, work, emb_dir, valid, seconds, rounds):
    uport = h.free_port()
    upstream = h.Server("receiver", [h.BARE, f"127.0.0.1:{uport}"], port=uport)
    time.sleep(0.3)
    servers, over, endpoint = {}, {}, None
    for name, env in [("off", {"KEYGATE_EVENTS__ENABLED": "false"}),
                      ("on", {"KEYGATE_EVENTS__ALLOW_PRIVATE_ADDRESSES": "true",
                              "KEYGATE_EVENTS__LIMIT_COOLDOWN": "1s"})]:
        d = os.path.join(work, f"webhooks-{name}")
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(emb_dir, d)
        kg = h.keygate(f"webhooks-{name}", d, env, h.free_port())
        servers[name] = kg
        keys = [h.create_key(kg.port, h.LIMITS["over"]) for _ in range(20)]
        for k in keys:
            h.use_once(kg.port, k)
        over[name] = os.path.join(work, f"webhooks-over-{name}.txt")
        with open(over[name], "w") as f:
            f.write("\n".join(keys) + "\n")
        if name == "on":
            endpoint = _register(h, kg.port, f"http://127.0.0.1:{uport}/hook")
    runs = {n: [] for n in servers}
    for _ in range(rounds):
        for n, kg in servers.items():
            side = subprocess.Popen(
                ["wrk", "-t1", "-c2", f"-d{seconds}s", "-s", h.LUA, f"http://127.0.0.1:{kg.port}/"],
                env={**os.environ, "KEYS_FILE": over[n]}, stdout=subprocess.DEVNULL)
            r = h.wrk(kg.port, seconds, {"KEY": valid}, [kg.proc.pid])
            side.wait()
            r["cpu"] = r["cpu_us"].get(kg.proc.pid, 0.0)
            runs[n].append(r)
    out = {n: {"rps": h.median([x["rps"] for x in rs]), "cpu_us": h.median([x["cpu"] for x in rs]),
               "p99_ms": h.median([x["p99_ms"] for x in rs]), "non2xx": sum(x["non2xx"] for x in rs),
               "rounds": [round(x["rps"]) for x in rs]}
           for n, rs in runs.items()}
    out["on"]["delivered"] = _delivered(h, servers["on"].port, endpoint)
    out["on"]["x_off"] = out["on"]["rps"] / out["off"]["rps"]
    for kg in servers.values():
        kg.stop()
    upstream.stop()
    return out


def report(v):
    print("\nWebhooks: a valid key under wrk -c64 while a second wrk (-c2) hits 20 keys over their rate limit")
    print(f"{'events':<7} {'req/s':>8} {'CPU µs/req':>10} {'p99 ms':>7} {'non-2xx':>8}  rounds")
    for n, r in v.items():
        print(f"{n:<7} {r['rps']:>8.0f} {r['cpu_us']:>10.1f} {r['p99_ms']:>7.3f} {r['non2xx']:>8}  {r['rounds']}")
    print(f"on / off: {v['on']['x_off']:.3f}; ratelimit.exceeded deliveries made while on: {v['on']['delivered']}")


def targets(v):
    x = v["on"]["x_off"]
    return [("valid-key req/s with webhooks on and a rate-limit event firing ≥ 0.98× off",
             f"{x:.3f}× ({v['on']['delivered']} events delivered)", x >= 0.98 and v["on"]["delivered"] > 0)]
