#!/usr/bin/env python3
"""Loopback upstreams for the demo: `upstream.py NAME:PORT ...`.

Each answers every request with its name (`x-upstream` header and body) and
counts what it saw; `GET /__stats` returns the counts as JSON.
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve(name, port):
    counts = {"requests": 0, "hosts": {}}

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.path == "/__stats":
                body = json.dumps(counts).encode()
            else:
                counts["requests"] += 1
                host = self.headers.get("host", "")
                counts["hosts"][host] = counts["hosts"].get(host, 0) + 1
                body = f"upstream={name} path={self.path} host={host}\n".encode()
            self.send_response(200)
            self.send_header("x-upstream", name)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()


if __name__ == "__main__":
    for spec in sys.argv[1:]:
        n, p = spec.split(":")
        threading.Thread(target=serve, args=(n, int(p)), daemon=True).start()
    threading.Event().wait()
