#!/usr/bin/env python3
"""A webhook receiver for keygate's tests: verifies every delivery with the reference
Standard Webhooks library (PyPI `standardwebhooks`), not keygate's code, and behaves as
the test asks (fail, redirect, answer slowly, huge, 410, Retry-After, never answer).

Prints its port on the first line of stdout. Control:
  POST /control  {"secrets": [...], "mode": "ok"|"fail"|"gone"|"redirect"|"huge"|"slow"|"hang",
                  "fail_next": N, "retry_after": "120", "delay": seconds}
  GET  /received  every request so far: [{"id", "timestamp", "verified", "error", "body",
                  "status", "path", "at"}]
Any other POST is a delivery.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

state = {
    "secrets": [],
    "mode": "ok",
    "fail_next": 0,
    "retry_after": None,
    "delay": 0.0,
    "received": [],
}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    def do_GET(self):
        if self.path == "/received":
            with lock:
                body = json.dumps(state["received"]).encode()
            self._send(200, body, {"Content-Type": "application/json"})
        else:
            self._send(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path == "/control":
            with lock:
                state.update(json.loads(raw))
            self._send(204)
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        with lock:
            secrets = list(state["secrets"])
            mode = state["mode"]
            failing = state["fail_next"] > 0
            if failing:
                state["fail_next"] -= 1
            retry_after = state["retry_after"]
            delay = state["delay"]
        verified, error = False, None
        for s in secrets:
            try:
                Webhook(s).verify(raw, headers)
                verified = True
                break
            except WebhookVerificationError as e:
                error = str(e)
        status = 200
        if failing or mode == "fail":
            status = 503
        elif mode == "gone":
            status = 410
        elif mode == "redirect":
            status = 307
        entry = {
            "id": headers.get("webhook-id"),
            "timestamp": headers.get("webhook-timestamp"),
            "signature": headers.get("webhook-signature"),
            "verified": verified,
            "error": error,
            "body": raw.decode("utf-8", "replace"),
            "status": status,
            "path": self.path,
            "at": time.time(),
        }
        if mode == "hang":
            with lock:
                state["received"].append(entry)
            time.sleep(3600)
            return
        if mode == "slow" or delay:
            time.sleep(delay or 30)
        with lock:
            state["received"].append(entry)
        extra = {}
        if retry_after and status != 200:
            extra["Retry-After"] = retry_after
        if status == 307:
            extra["Location"] = "http://127.0.0.1:9/elsewhere"
        if mode == "huge":
            self._send(200, b"x" * (8 * 1024 * 1024), extra)
            return
        self._send(status, b'{"received": true}' if status == 200 else b"not now", extra)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
