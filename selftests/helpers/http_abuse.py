#!/usr/bin/env python3
"""HTTP clients that misbehave, against a daemon's HTTP interface.

  http_abuse.py idle HOST PORT N
      opens N connections that never send a byte, prints "ready" once every
      connect was started, and holds them until killed
  http_abuse.py big-header HOST PORT MIB
      one request with a header line of MIB MiB; prints the answer's status
      line, or "closed" when the server closed without one
  http_abuse.py flood HOST PORT PATH SECONDS INTERVAL_MS
      a GET of PATH on a new connection every INTERVAL_MS for SECONDS,
      answers read as they come; prints "sent N answered N status S:N..."
"""
import selectors
import socket
import sys
import time


def idle(host, port, n):
    conns = []
    for _ in range(int(n)):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((host, int(port)))
        conns.append(s)
    print("ready", flush=True)
    while True:
        time.sleep(3600)


def big_header(host, port, mib):
    s = socket.create_connection((host, int(port)), timeout=10)
    line = b"X-Big: " + b"a" * (int(mib) << 20) + b"\r\n"
    answer = b""
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + line + b"\r\n")
    except OSError:
        pass  # the server stopped reading: its answer may be waiting
    try:
        while chunk := s.recv(65536):
            answer += chunk
    except OSError:
        pass
    print(answer.split(b"\r\n", 1)[0].decode() if answer else "closed")


def flood(host, port, path, seconds, interval_ms):
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    selector = selectors.DefaultSelector()
    sent = answered = 0
    statuses = {}
    start = time.monotonic()
    end = start + float(seconds)
    next_at = start
    while time.monotonic() < end or selector.get_map():
        now = time.monotonic()
        if now >= next_at and now < end:
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((host, int(port)))
            selector.register(s, selectors.EVENT_WRITE, [b"", now])
            sent += 1
            next_at += float(interval_ms) / 1000
        if now > end + 15:
            break  # answers that never come
        for key, events in selector.select(timeout=max(0.0, min(next_at - time.monotonic(), 0.01))):
            s, data = key.fileobj, key.data
            try:
                if events & selectors.EVENT_WRITE:
                    s.send(request)
                    selector.modify(s, selectors.EVENT_READ, data)
                    continue
                chunk = s.recv(65536)
            except OSError:
                chunk = b""
            if chunk:
                data[0] += chunk
                continue
            selector.unregister(s)
            s.close()
            status = data[0].split(b" ", 2)[1].decode() if data[0].startswith(b"HTTP/") else "none"
            statuses[status] = statuses.get(status, 0) + 1
            answered += status != "none"
    print(f"sent {sent} answered {answered} status " + " ".join(f"{k}:{v}" for k, v in sorted(statuses.items())))


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    {"idle": idle, "big-header": big_header, "flood": flood}[mode](*args)
