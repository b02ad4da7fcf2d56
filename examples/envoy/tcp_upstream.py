#!/usr/bin/env python3
"""TCP upstreams for the TCP demo: `tcp_upstream.py NAME:PORT ...`.

Each greets a connection with its name and a newline, then echoes what it
receives.
"""
import socketserver
import sys
import threading


def serve(name, port):
    class H(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.sendall(f"{name}\n".encode())
            while True:
                data = self.request.recv(4096)
                if not data:
                    return
                self.request.sendall(data)

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer(("127.0.0.1", port), H).serve_forever()


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        name, port = arg.rsplit(":", 1)
        threading.Thread(target=serve, args=(name, int(port)), daemon=True).start()
    threading.Event().wait()
