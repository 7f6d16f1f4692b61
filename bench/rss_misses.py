"""RSS of keygate over the scale case's miss stream, sampled, for one configuration.

    python3 bench/rss_misses.py [ENV=VALUE ...]

Imports 1 000 000 keys (once, into /tmp/keygate-rss-once, shared with rss_once.py),
serves them with the release binary on the embedded store with the decision cache off
(`KEYGATE_CACHE__TTL_SECS=0`) plus the given environment (`KEYGATE_REDB_CACHE_MIB=16`,
`MALLOC_ARENA_MAX=1`, `KEYGATE_ANALYTICS__ENABLED=false`, ...), runs wrk for 10 s
over every 10th key (100 000 keys, each used several times) as `make bench`'s scale
case does, waits 12 s for the analytics and last-used flushes, and prints requests/s,
CPU per request, peak RSS (VmHWM) and the samples (seconds, VmRSS MiB, threads) every
second.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as b  # noqa: E402

keys_file, d = b.million_keys_imported("embedded", {})
sample_file = os.path.join(b.MILLION_WORK, "million-sample.txt")
if not os.path.exists(sample_file):
    with open(keys_file) as f, open(sample_file, "w") as out:
        for i, line in enumerate(f):
            if i % 10 == 0:
                out.write(line)
extra = {"KEYGATE_CACHE__TTL_SECS": "0"}
for kv in sys.argv[1:]:
    k, v = kv.split("=", 1)
    extra[k] = v
s = b.keygate("keygate", d, extra, b.free_port())
pid = s.proc.pid
with b.RssSampler(pid, 0.25) as rss:
    r = b.wrk(s.port, 10, {"KEYS_FILE": sample_file}, [pid])
    time.sleep(12)
samples = rss.samples
print(f"{extra}: {r['rps']:.0f} req/s, {r['cpu_us'][pid]:.1f} µs CPU a request; "
      f"peak RSS {b.peak_rss_mib(pid):.1f} MiB, {b.current_rss_mib(pid):.1f} MiB at the end")
print("(s, RSS MiB, threads) every second:", samples[::4])
s.stop()
