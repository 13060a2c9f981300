#!/usr/bin/env python3
"""One media endpoint for the relay selftests: binds PORT, sends RTP-like
datagrams to DST_IP:DST_PORT and reports what came back.

  rtp_peer.py PORT DST_IP DST_PORT COUNT SIZE [PRIME_AT]

At PRIME_AT seconds (default 0) it sends one priming packet (sequence 0),
which latches this endpoint at the relay; at 1 s it sends COUNT more
(sequences 1..COUNT, 2 ms apart), then receives until nothing came for
1 s.  Prints one JSON line: how many it sent and received, from which
sources, and how many payloads differed from what the far end sent.
Payload: a 12-byte RTP header (version 2, payload type 0, the sequence
number), then byte i = (sequence + i) % 256.
"""
import json
import socket
import struct
import sys
import time


def packet(seq, size):
    header = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, 0x4D50)
    return header + bytes((seq + i) % 256 for i in range(size - len(header)))


def main(port, dst_ip, dst_port, count, size, prime_at="0"):
    count, size, prime_at = int(count), int(size), float(prime_at)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(port)))
    s.setblocking(False)
    dst = (dst_ip, int(dst_port))
    start = time.monotonic()
    schedule = [(prime_at, 0)] + [(1.0 + n * 0.002, n) for n in range(1, count + 1)]
    received, corrupt, sources, sent = 0, 0, set(), 0
    last_activity = start
    while True:
        now = time.monotonic() - start
        while schedule and schedule[0][0] <= now:
            s.sendto(packet(schedule.pop(0)[1], size), dst)
            sent += 1
            last_activity = time.monotonic()
        try:
            data, src = s.recvfrom(65536)
            seq = struct.unpack("!H", data[2:4])[0] if len(data) >= 12 else -1
            received += 1
            corrupt += data != packet(seq, len(data))
            sources.add(f"{src[0]}:{src[1]}")
            last_activity = time.monotonic()
            continue
        except BlockingIOError:
            pass
        if not schedule and time.monotonic() - last_activity > 1.0:
            break
        time.sleep(0.0005)
    print(json.dumps({"sent": sent, "received": received, "corrupt": corrupt, "sources": sorted(sources)}))


if __name__ == "__main__":
    main(*sys.argv[1:])
