#!/usr/bin/env python3
"""Clients of the dispatcher's proxy socket that misbehave.

  proxy_abuse.py half-close SOCKET N < REQUEST
      N connections at once each send REQUEST, shut their sending side and
      read to the end; prints how many got a CRLF-terminated reply and then
      saw the dispatcher close.
  proxy_abuse.py idle-tcp HOST PORT N
  proxy_abuse.py idle-unix SOCKET N
      opens N connections that never send a byte, prints "ready" once every
      connect was started (TCP: the kernel completes it once the server
      accepts) or made (UNIX: a connect the full backlog refused is tried
      again), and holds them until killed.
"""
import errno
import resource
import socket
import sys
import time


def half_close(path, n):
    request = sys.stdin.buffer.read()
    conns = []
    for _ in range(int(n)):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        conns.append(s)
    answered = 0
    for s in conns:
        s.settimeout(5)
        data = b""
        try:
            while chunk := s.recv(4096):
                data += chunk
        except socket.timeout:
            continue
        answered += data.endswith(b"\r\n")
    print(answered)


def hold(family, address, n):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    conns = []
    for _ in range(int(n)):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setblocking(False)
        # TCP: in progress, or waiting in the backlog; UNIX: in the backlog,
        # or EAGAIN when it is full, until the server accepts more
        while s.connect_ex(address) == errno.EAGAIN:
            time.sleep(0.001)
        conns.append(s)
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "half-close":
        half_close(*args)
    elif mode == "idle-tcp":
        hold(socket.AF_INET, (args[0], int(args[1])), args[2])
    elif mode == "idle-unix":
        hold(socket.AF_UNIX, args[0], args[1])
