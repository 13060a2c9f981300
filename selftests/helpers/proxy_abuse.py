#!/usr/bin/env python3
"""Clients of the dispatcher's proxy socket that misbehave.

  proxy_abuse.py half-close SOCKET N < REQUEST
      N connections at once each send REQUEST, shut their sending side and
      read to the end; prints how many got a CRLF-terminated reply and then
      saw the dispatcher close.
"""
import socket
import sys


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


if __name__ == "__main__":
    {"half-close": half_close}[sys.argv[1]](*sys.argv[2:])
