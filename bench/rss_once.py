"""RSS of keygate over a long stream of keys each used once, then again: the memory
bound of the decision cache, the pending usage tallies and last-used times.

    [KEYGATE_…=…] python3 bench/rss_once.py [VALKEY_URL] [SECONDS]

Imports 1 000 000 keys (once, into /tmp/keygate-rss-once), serves them with the release
binary in its default configuration (cache and analytics on; embedded store, or Valkey
when VALKEY_URL is given) and runs wrk cycling through the million keys for SECONDS
(default 300), sampling VmRSS every 2 s. Prints the samples and the peak.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as b  # noqa: E402

vurl = sys.argv[1] if len(sys.argv) > 1 else ""
extra = {"KEYGATE_VALKEY_URL": vurl} if vurl else {}
keys_file, d = b.million_keys_imported("valkey" if vurl else "embedded", extra)
# Settings to try come from the environment (`KEYGATE_CACHE__MAX_MIB=8 python3 …`).
settings = {k: v for k, v in os.environ.items() if k.startswith("KEYGATE_")}
s = b.keygate("keygate", d, {**extra, **settings}, b.free_port())
pid = s.proc.pid
secs = int(sys.argv[2]) if len(sys.argv) > 2 else 300
with b.RssSampler(pid, 2) as rss:
    r = b.wrk(s.port, secs, {"KEYS_FILE": keys_file}, [pid])
samples = [(t, mib) for t, mib, _ in rss.samples]
time.sleep(12)  # a flush
print(f"{r['requests']} requests in {secs} s ({r['rps']:.0f}/s, {r['requests'] / 1e6:.2f} passes over the keys); "
      f"peak RSS {b.peak_rss_mib(pid):.0f} MiB, {b.current_rss_mib(pid):.0f} MiB after the next flush")
print("RSS every 2 s (s, MiB):", samples)
s.stop()
