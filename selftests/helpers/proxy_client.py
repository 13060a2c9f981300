#!/usr/bin/env python3
"""Plays a SIP proxy's mediaproxy module against the dispatcher's socket.

  proxy_client.py SOCKET [SECONDS INTERVAL_MS] < REQUESTS

REQUESTS holds request blocks as the module writes them (CRLF lines, each
block ending in an empty line).  They are sent one at a time on one
connection, like one proxy worker; each reply is read up to its CRLF within
the module's 500 ms and written to stdout as received.  stderr gets one line
per request: the milliseconds it took.  Exits 1 when a reply is late.

With SECONDS and INTERVAL_MS, the blocks are sent again and again, one
every INTERVAL_MS, for SECONDS: a probe of the socket's latency while
something else goes on.
"""
import socket
import sys
import time


def schedule(blocks, seconds, interval_ms):
    """The blocks in turn, each at its time, for `seconds`."""
    if seconds is None:
        yield from blocks
        return
    end = time.monotonic() + float(seconds)
    while time.monotonic() < end:
        for block in blocks:
            yield block
            time.sleep(float(interval_ms) / 1000)


def main(path, seconds=None, interval_ms=None):
    data = sys.stdin.buffer.read()
    blocks = [b + b"\r\n\r\n" for b in data.split(b"\r\n\r\n") if b.strip(b"\r\n")]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    late = False
    for block in schedule(blocks, seconds, interval_ms):
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
    sys.exit(main(*sys.argv[1:]))
