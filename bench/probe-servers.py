#!/usr/bin/env python3
"""Loopback endpoints for `bkenv probe`: LIVE TLS registries answering /v2/ and DEAD
listeners that accept connections and never reply (a black-holed endpoint).

Usage: probe-servers.py CERT KEY LIVE DEAD PORTS_FILE
Writes the ports (live first, one per line) to PORTS_FILE once every socket listens,
then serves until killed.
"""
import http.server
import socket
import ssl
import sys
import threading


class Registry(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b"{}" if self.path.startswith("/v2/") else b""
        self.send_response(200 if body else 404)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


def live(ctx):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


held = []


def dead():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)

    def accept_forever():
        while True:
            conn, _ = sock.accept()
            held.append(conn)  # never read, never write, never close

    threading.Thread(target=accept_forever, daemon=True).start()
    return sock.getsockname()[1]


def main():
    cert, key, n_live, n_dead, ports_file = sys.argv[1:6]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ports = [live(ctx) for _ in range(int(n_live))] + [dead() for _ in range(int(n_dead))]
    with open(ports_file + ".tmp", "w") as f:
        f.write("\n".join(map(str, ports)) + "\n")
    import os

    os.rename(ports_file + ".tmp", ports_file)
    threading.Event().wait()


if __name__ == "__main__":
    main()
