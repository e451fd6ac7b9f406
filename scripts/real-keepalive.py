#!/usr/bin/env python3
"""Hold N idle HTTP/1.1 keep-alive connections open to a server (used by capture-real.sh).

    real-keepalive.py HOST PORT PATH N SECONDS

Opens N connections, sends one `GET PATH` on each, reads the whole response (so the
server's connection goroutine goes back to waiting for the next request), then holds the
sockets open and silent for SECONDS (or until SIGTERM/SIGINT) and closes them. Prints
"ready N" on stdout once every connection has had its response. Loopback only; no load.
"""

import signal
import socket
import sys
import time


def read_response(sock):
    """Read one HTTP/1.1 response (Content-Length or chunked); return its status line."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("connection closed before the headers ended")
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower()] = v.strip().lower()
    if b"content-length" in headers:
        want = int(headers[b"content-length"])
        while len(body) < want:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    elif headers.get(b"transfer-encoding") == b"chunked":
        while not body.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return lines[0].decode("latin-1")


def main():
    host, port, path, n, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    stop = {"now": False}

    def on_signal(_sig, _frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    socks = []
    req = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: gorx-keepalive\r\n\r\n".encode()
    statuses = {}
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(req)
        status = read_response(s)
        statuses[status] = statuses.get(status, 0) + 1
        socks.append(s)
    print(f"ready {len(socks)} {statuses}", flush=True)
    deadline = time.monotonic() + seconds
    while not stop["now"] and time.monotonic() < deadline:
        time.sleep(0.2)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
