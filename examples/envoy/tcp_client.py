#!/usr/bin/env python3
"""The TCP demo's client: `tcp_client.py PORT N [SNI]` opens N connections
to 127.0.0.1:PORT (each first sending a TLS ClientHello naming SNI, when
given), reads each upstream's greeting and prints the tally."""
import collections
import socket
import struct
import sys


def client_hello(sni):
    # A TLS 1.2-style ClientHello with a server_name extension: all
    # tls_inspector reads (no handshake follows; the upstream is plain TCP).
    name = sni.encode()
    ext = struct.pack("!HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    body = b"\x03\x03" + b"\x07" * 32 + b"\x00" + b"\x00\x04\xc0\x2f\x13\x01" + b"\x01\x00"
    body += struct.pack("!H", len(ext)) + ext
    hs = b"\x01\x00" + struct.pack("!H", len(body)) + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def greeting(port, sni):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        if sni:
            s.sendall(client_hello(sni))
        data = b""
        while b"\n" not in data:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                return "(closed)"
            if not chunk:
                return "(closed)"
            data += chunk
        return data.split(b"\n", 1)[0].decode()


if __name__ == "__main__":
    port, n = int(sys.argv[1]), int(sys.argv[2])
    sni = sys.argv[3] if len(sys.argv) > 3 else None
    tally = collections.Counter(greeting(port, sni) for _ in range(n))
    for name, count in sorted(tally.items()):
        print(f"  {name:<10} {count:4d}  ({100 * count / n:.1f}%)")
