#!/usr/bin/env python3
"""One direction of a call's RTP through media-relay and `tc netem`, the
receiver measuring what arrived: the callee sends, the caller receives and
computes its own RFC 3550 figures, independently of the relay's code.

  rtp_netem_peer.py RELAY_SOCKET CALLER CALLEE CALLEE_DEV COUNT NETEM...

CALLER and CALLEE as for rtp_peer.py; CALLEE_DEV the callee's interface
in its namespace, whose egress gets `tc qdisc add dev CALLEE_DEV root
netem NETEM...` once the call is set up, and loses it at the end.  A
kernel without netem (CONFIG_NET_SCH_NETEM unset) gets the same kinds of
impairment from the sender itself, seeded (MP_NETEM_SEED): each packet
lost with 2%, sent twice with 2%, swapped with the next with 2%, and sent
0-10 ms late; stderr says which was used.

1. The caller primes (sequence 0) and is latched; the callee sends 0 to 4
   every 20 ms, each reaching the caller, before netem: the relay
   validated the callee's SSRC (RFC 3550 A.1 probation) on clean packets.
2. netem goes on; the callee sends 5..COUNT every 20 ms (RTP timestamps
   160 apart, G.711), the caller receiving with kernel timestamps
   (SO_TIMESTAMPNS).
3. 300 ms after the last (longer than netem can hold a packet), the
   callee sends RTCP BYEs until one arrives: every data packet that
   arrived at all is in by then, as the path after netem is first in,
   first out.

Prints one JSON object, the receiver's view of the callee's stream:
received, lost (highest - first + 1 - distinct), out_of_order (arrived
behind a higher sequence number, not seen before), duplicates, jitter_ms
(RFC 3550 section 6.4.1 in floating point, from the second packet on, as
the relay counts from the validating one), and sent.
"""
import json
import os
import random
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtp_peer import Party, caller_latched, fail, receive, relay_request, wait  # noqa: E402

SO_TIMESTAMPNS = 35   # Linux; Python's socket module lacks it
PACING = 0.020
RATE = 8000           # payload type 0
BYE = b"\x81\xcb\x00\x01" + struct.pack("!I", 0x4D50)


class Receiver(Party):
    """A party that keeps every RTP arrival in order: (sequence, RTP timestamp, arrival ns)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.arrivals, self.bye = [], False

    def drain(self):
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(16))
            except BlockingIOError:
                return
            at = next((struct.unpack("qq", d[:16]) for level, kind, d in anc
                       if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS), None)
            if at is None:
                fail("a datagram without its receive timestamp")
            if data[:2] == BYE[:2]:
                self.bye = True
            elif len(data) >= 12:
                seq, ts = struct.unpack("!HI", data[2:8])
                self.arrivals.append((seq, ts, at[0] * 1_000_000_000 + at[1]))
                self.seqs.add(seq)


def figures(arrivals):
    """RFC 3550 as the receiver computes it, on the arrivals in order."""
    if len(arrivals) < 2 or arrivals[1][0] != arrivals[0][0] + 1:
        fail("the first two packets were not in sequence: %s" % arrivals[:2])
    base = arrivals[1][0]
    seen, highest = set(), -1
    out_of_order = duplicates = 0
    jitter, last_transit = 0.0, None
    for i, (seq, ts, at) in enumerate(arrivals):
        if seq in seen:
            duplicates += 1
            continue
        if seq < highest:
            out_of_order += 1
        seen.add(seq)
        highest = max(highest, seq)
        if i >= 1:
            transit = at * RATE / 1e9 - ts
            if last_transit is not None:
                jitter += (abs(transit - last_transit) - jitter) / 16
            last_transit = transit
    distinct = len([s for s in seen if s >= base])
    return {"received": distinct, "lost": highest - base + 1 - distinct, "out_of_order": out_of_order,
            "duplicates": duplicates, "jitter_ms": jitter * 1000 / RATE}


def netem(netns, dev, *args):
    """tc qdisc ADD|DEL dev DEV root ...: True when tc did it."""
    return subprocess.run(["ip", "netns", "exec", netns, "tc", "qdisc"] + list(args[:1]) + ["dev", dev, "root"] +
                          list(args[1:]), stderr=subprocess.DEVNULL).returncode == 0


def schedule(first, last, impaired):
    """[(send time offset in s, sequence)], in sending order."""
    rng = random.Random(int(os.environ.get("MP_NETEM_SEED", "1624")))
    plan = []
    for seq in range(first, last + 1):
        at = (seq - first) * PACING
        if not impaired:
            plan.append((at, seq))
            continue
        if rng.random() < 0.02:
            continue
        plan += [(at + rng.uniform(0, 0.010), seq)] * (2 if rng.random() < 0.02 else 1)
        if rng.random() < 0.02 and len(plan) >= 2 and plan[-2][1] != seq:
            plan[-2], plan[-1] = (plan[-2][0], plan[-1][1]), (plan[-1][0], plan[-2][1])
    return plan


def main(control, caller_spec, callee_spec, dev, count, *netem_args):
    count = int(count)
    caller, callee = Receiver("caller", caller_spec, 172), Party("callee", callee_spec, 172)
    parties = (caller, callee)
    callee_ns = callee_spec.split(":")[0]

    caller.send(0)
    if not wait(parties, lambda: caller_latched(control, caller), 30):
        fail("the relay did not latch the caller")
    for seq in range(5):
        callee.send(seq)
        if not wait(parties, lambda s=seq: s in caller.seqs, 30):
            fail("packet %d did not reach the caller before netem" % seq)
        if seq == 0:
            relay_request(control, "summary")   # the stream is installed
        time.sleep(PACING)
    with_netem = netem(callee_ns, dev, "add", "netem", *netem_args)
    try:
        print("sending through %s" % ("netem" if with_netem else "impairments of the sender (no netem)"),
              file=sys.stderr, flush=True)
        start = time.monotonic()
        for at, seq in schedule(5, count, not with_netem):
            while time.monotonic() < start + at:
                receive(parties, start + at - time.monotonic())
            callee.send(seq)
        wait(parties, lambda: False, 0.3)
        for _ in range(50):
            callee.sock.sendto(BYE, callee.relay)
            if wait(parties, lambda: caller.bye, PACING * 5):
                break
        else:
            fail("no RTCP BYE arrived")
    finally:
        if with_netem:
            netem(callee_ns, dev, "del")
    print(json.dumps(dict(figures(caller.arrivals), sent=callee.sent)))


if __name__ == "__main__":
    main(*sys.argv[1:])
