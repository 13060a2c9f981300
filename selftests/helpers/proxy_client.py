#!/usr/bin/env python3
"""Plays a SIP proxy's mediaproxy module against the dispatcher's socket.

  proxy_client.py SOCKET < REQUESTS

REQUESTS holds request blocks as the module writes them (CRLF lines, each
block ending in an empty line).  They are sent one at a time on one
connection, like one proxy worker; each reply is read up to its CRLF within
the module's 500 ms and written to stdout as received.  stderr gets one line
per request: the milliseconds it took.  Exits 1 when a reply is late.
"""
import socket
import sys
import time


def main(path):
    data = sys.stdin.buffer.read()
    blocks = [b + b"\r\n\r\n" for b in data.split(b"\r\n\r\n") if b.strip(b"\r\n")]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    late = False
    for block in blocks:
        start = time.monotonic()
        s.sendall(block)
        s.settimeout(0.5)
        reply = b""
        try:
            while not reply.endswith(b"\r\n"):
                chunk = s.recv(8192)
                if not chunk:
                    break
                reply += chunk
        except socket.timeout:
            late = True
        sys.stdout.buffer.write(reply)
        sys.stdout.flush()
        print(f"{(time.monotonic() - start) * 1000:.1f}", file=sys.stderr)
    return 1 if late else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
