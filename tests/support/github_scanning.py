#!/usr/bin/env python3
"""Stands in for GitHub's secret scanning in keygate's tests: makes a P-256 key pair with
the `cryptography` library (not keygate's code), publishes the public key as GitHub does
(`GET /keys`: {"public_keys": [{"key_identifier", "key", "is_current"}]}), and signs
report bodies with the private key (`POST /sign` → the base64 DER signature).

Prints its port on the first line of stdout. `GET /fetches`: how many times /keys was
read; `POST /control {"down": true}`: /keys answers 503 until set back.
"""

import base64
import hashlib
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

KEY = ec.generate_private_key(ec.SECP256R1())
OTHER = ec.generate_private_key(ec.SECP256R1())  # signs what GitHub never would
PEM = KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
).decode()
KEY_ID = hashlib.sha256(PEM.encode()).hexdigest()
state = {"fetches": 0, "down": False}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body=b"", ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/keys":
            with lock:
                state["fetches"] += 1
                down = state["down"]
            if down:
                self._send(503, b"down")
                return
            doc = {"public_keys": [{"key_identifier": KEY_ID, "key": PEM, "is_current": True}]}
            self._send(200, json.dumps(doc).encode())
        elif self.path == "/fetches":
            with lock:
                self._send(200, json.dumps(state["fetches"]).encode())
        elif self.path == "/key-id":
            self._send(200, json.dumps(KEY_ID).encode())
        else:
            self._send(404)

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/control":
            with lock:
                state.update(json.loads(raw))
            self._send(204)
        elif self.path in ("/sign", "/sign-other"):
            key = KEY if self.path == "/sign" else OTHER
            sig = key.sign(raw, ec.ECDSA(hashes.SHA256()))
            self._send(200, base64.b64encode(sig), "text/plain")
        else:
            self._send(404)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
