#!/usr/bin/env python3
"""The media of many calls at once, for one side of them:

  rtp_calls.py ROLE CALLS_JSON COUNT SIZE INTERVAL_MS [PRIME_AT]

ROLE is caller or callee; CALLS_JSON is what sdp_trace.py printed.  For the
first stream of every call it binds the party's own port, sends one priming
packet at PRIME_AT seconds (latching it at the relay), then from 1 s on
COUNT packets of SIZE bytes, INTERVAL_MS apart, to the relay address the
party was given; it receives until nothing came for 1.5 s.  Prints one JSON
object: per Call-ID how many it sent and received, from which sources, and
how many payloads differ from what the far end sends (rtp_peer.py's format).
"""
import json
import os
import selectors
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers"))
from rtp_peer import packet  # noqa: E402


def address(text):
    ip, port = text.rsplit(":", 1)
    return ip, int(port)


def main(role, calls_json, count, size, interval_ms, prime_at="0"):
    count, size, interval, prime_at = int(count), int(size), float(interval_ms) / 1000, float(prime_at)
    with open(calls_json) as f:
        calls = json.load(f)
    selector = selectors.DefaultSelector()
    streams = {}
    for call_id, call in calls.items():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(address(call[role][0]))
        s.setblocking(False)
        selector.register(s, selectors.EVENT_READ, call_id)
        streams[call_id] = {"socket": s, "to": address(call[f"{role}_side"][0]), "sent": 0, "received": 0,
                            "corrupt": 0, "sources": set()}
    start = time.monotonic()
    schedule = [(prime_at, 0)] + [(1.0 + n * interval, n) for n in range(1, count + 1)]
    last_activity = start
    while True:
        now = time.monotonic() - start
        while schedule and schedule[0][0] <= now:
            seq = schedule.pop(0)[1]
            for stream in streams.values():
                stream["socket"].sendto(packet(seq, size), stream["to"])
                stream["sent"] += 1
            last_activity = time.monotonic()
        timeout = max(0.0, min(schedule[0][0] - now, 0.05)) if schedule else 0.05
        for key, _ in selector.select(timeout):
            stream = streams[key.data]
            while True:
                try:
                    data, source = stream["socket"].recvfrom(65536)
                except BlockingIOError:
                    break
                seq = struct.unpack("!H", data[2:4])[0] if len(data) >= 12 else -1
                stream["received"] += 1
                stream["corrupt"] += data != packet(seq, len(data))
                stream["sources"].add(f"{source[0]}:{source[1]}")
                last_activity = time.monotonic()
        if not schedule and time.monotonic() - last_activity > 1.5:
            break
    print(json.dumps({call_id: {k: sorted(v) if k == "sources" else v for k, v in stream.items() if k not in
                                ("socket", "to")} for call_id, stream in streams.items()}))


if __name__ == "__main__":
    main(*sys.argv[1:])
