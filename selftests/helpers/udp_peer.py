#!/usr/bin/env python3
"""A UDP endpoint for the selftests.

  udp_peer.py send SRC_PORT DST_IP DST_PORT COUNT SIZE
      sends COUNT datagrams of SIZE bytes (byte i of packet n is (n + i) % 256)
  udp_peer.py recv PORT COUNT TIMEOUT
      prints "SRC_IP:SRC_PORT SIZE OK|CORRUPT" per datagram received (payload
      checked against the send pattern), until COUNT arrived or TIMEOUT seconds
      passed without one
"""
import socket
import sys


def payload(n, size):
    return bytes((n + i) % 256 for i in range(size))


def send(src_port, dst_ip, dst_port, count, size):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(src_port)))
    for n in range(int(count)):
        s.sendto(payload(n, int(size)), (dst_ip, int(dst_port)))


def recv(port, count, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(port)))
    s.settimeout(float(timeout))
    for n in range(int(count)):
        try:
            data, (ip, sport) = s.recvfrom(65536)
        except socket.timeout:
            break
        state = "OK" if data == payload(n, len(data)) else "CORRUPT"
        print(f"{ip}:{sport} {len(data)} {state}", flush=True)


if __name__ == "__main__":
    {"send": send, "recv": recv}[sys.argv[1]](*sys.argv[2:])
