#!/usr/bin/env python3
"""One direction of a call's RTP through media-relay and `tc netem`, the
receiver measuring what arrived: the callee sends, the caller receives and
computes its own RFC 3550 figures, independently of the relay's code.

  rtp_netem_peer.py RELAY_SOCKET CALLER CALLEE CALLEE_DEV COUNT NETEM...

CALLER and CALLEE as for rtp_peer.py; CALLEE_DEV the callee's interface
in its namespace, whose egress gets `tc qdisc add dev CALLEE_DEV root
netem NETEM...` once the call is set up, and loses it at the end; a packet
socket on it times each RTP packet as it leaves for the relay (none: no
such interface, the impairments made by the sender, no timing there).  A
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
3. 300 ms after the last (longer than netem can hold a packet), RTCP on
   the RTCP ports (RTP port + 1), RTCP_ROUNDS rounds: the caller sends an
   SR with a report block on the callee's stream carrying its own figures
   (cumulative lost, fraction lost of all, jitter in clock units; LSR/DLSR
   of the callee's last SR); the callee answers each SR it gets after
   HOLD with an SR and a block on the caller's stream of fixed values
   (CALLEE_BLOCK), LSR/DLSR naming the caller's SR.  Without netem the
   callee delays its answer by 15-25 ms more outside DLSR, the delay
   netem would add.  The caller times every answer it gets as RFC 3550
   section 6.4.1 says (arrival - its SR's sending - DLSR).
4. The callee sends RTCP BYEs on the RTP port until one arrives: every
   data packet that arrived at all is in by then, as the path after
   netem is first in, first out.

Prints one JSON object, the receiver's view of the callee's stream:
received, lost (highest - first + 1 - distinct), out_of_order (arrived
behind a higher sequence number, not seen before), duplicates, jitter_ms
(RFC 3550 section 6.4.1 in floating point, from the second packet on, as
the relay counts from the validating one), link_jitter_ms (the same, timed
as the packets left CALLEE_DEV: what the relay received, without the time
the relay took to forward them, which the caller's arrivals hold; null with
CALLEE_DEV none), and sent; then what the RTCP
said: rtcp_sent (the caller's block: fraction, lost, jitter units),
callee_block (the callee's fixed values), rtt_ms (the mean of the
caller's round trips, i.e. to the callee and back), rtt_samples, and
injected_ms: without netem the mean delay the callee added (null with
netem, which adds its own).
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
from rtp_peer import SO_RCVBUFFORCE, Party, caller_latched, fail, receive, relay_request, socket_in, wait  # noqa: E402

SO_TIMESTAMPNS = 35   # Linux; Python's socket module lacks it
ETH_P_ALL = 3
PACING = 0.020
RATE = 8000           # payload type 0
BYE = b"\x81\xcb\x00\x01" + struct.pack("!I", 0x4D50)
SSRC = 0x4D50         # rtp_peer's, both ways
RTCP_ROUNDS = 12
HOLD = 0.010          # the callee's time between an SR and its answer
CALLEE_BLOCK = {"fraction": 13, "lost": 7, "jitter": 80}   # 80 units of 8 kHz: 10 ms


def ntp_middle(ns):
    """The middle 32 bits of the NTP timestamp of UNIX time `ns`."""
    sec, frac = divmod(ns, 1_000_000_000)
    return ((sec + 2208988800) & 0xffff) << 16 | (frac << 32) // 1_000_000_000 >> 16


def sender_report(middle, block):
    """An SR of SSRC (its NTP middle bits `middle`) with one report block (ssrc, fraction, lost, highest,
    jitter, lsr, dlsr)."""
    ssrc, fraction, lost, highest, jitter, lsr, dlsr = block
    body = struct.pack("!IIIIII", SSRC, 0xe0000000 | middle >> 16, (middle & 0xffff) << 16, 0, 0, 0)
    body += struct.pack("!IIIIII", ssrc, fraction << 24 | (lost & 0xffffff), highest, jitter, lsr, dlsr)
    return struct.pack("!BBH", 0x81, 200, (len(body) + 4) // 4 - 1) + body


def report_block(data):
    """(NTP middle, LSR, DLSR) of an SR with one block."""
    if len(data) < 52 or data[1] != 200:
        return None
    ntp_sec, ntp_frac = struct.unpack("!II", data[8:16])
    return (ntp_sec & 0xffff) << 16 | ntp_frac >> 16, *struct.unpack("!II", data[44:52])


def timestamped(sock):
    """The datagrams waiting on `sock` (SO_TIMESTAMPNS set), each with its arrival in UNIX ns and its address."""
    while True:
        try:
            data, anc, _, address = sock.recvmsg(65536, socket.CMSG_SPACE(16))
        except BlockingIOError:
            return
        at = next((struct.unpack("qq", d[:16]) for level, kind, d in anc
                   if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS), None)
        if at is None:
            fail("a datagram without its receive timestamp")
        yield data, at[0] * 1_000_000_000 + at[1], address


class RtcpEnd(Party):
    """A party's RTCP socket: every datagram with its arrival (UNIX ns, SO_TIMESTAMPNS)."""

    def __init__(self, name, spec):
        netns, port, relay_ip, relay_port = spec.split(":")
        super().__init__(name, "%s:%d:%s:%d" % (netns, int(port) + 1, relay_ip, int(relay_port) + 1), 0)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.got = []

    def send_raw(self, data):
        self.sock.sendto(data, self.relay)
        self.sent += 1

    def drain(self):
        self.got += ((data, at) for data, at, _ in timestamped(self.sock))


class Receiver(Party):
    """A party that keeps every RTP arrival in order: (sequence, RTP timestamp, arrival ns)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.arrivals, self.bye = [], False

    def drain(self):
        for data, at, _ in timestamped(self.sock):
            if data[:2] == BYE[:2]:
                self.bye = True
            elif len(data) >= 12:
                seq, ts = struct.unpack("!HI", data[2:8])
                self.arrivals.append((seq, ts, at))
                self.seqs.add(seq)


class LinkTap:
    """The callee's RTP as its link DEV passes it on to the relay (after netem), each packet timed by
    the kernel as it leaves: the stream the relay receives.  The caller's arrivals also hold the
    relay's own time to forward each packet, which in the userspace tier is the agent's scheduling
    delay: on a loaded machine it adds jitter the relay never sees."""

    def __init__(self, netns, dev, port, relay):
        self.sock = socket_in(netns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
        self.sock.bind((dev, ETH_P_ALL))
        self.sock.setblocking(False)
        self.udp = struct.pack("!HH", port, relay[1])
        self.relay_ip = socket.inet_aton(relay[0])
        self.arrivals = []

    def drain(self):
        for frame, at, address in timestamped(self.sock):
            ip = frame[14:]   # Ethernet; the test's IPv4 has no options
            if address[2] != socket.PACKET_OUTGOING or frame[12:14] != b"\x08\x00" or ip[0] != 0x45 or \
                    ip[9] != socket.IPPROTO_UDP or ip[16:20] != self.relay_ip or ip[20:24] != self.udp:
                continue
            rtp = ip[28:]
            if len(rtp) >= 12 and rtp[:2] != BYE[:2]:
                self.arrivals.append(struct.unpack("!HI", rtp[2:8]) + (at,))


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


def rtcp_exchange(caller, callee, receiver_figures, highest, emulate_delay):
    """Step 3; returns what the caller sent and measured."""
    rng = random.Random(int(os.environ.get("MP_NETEM_SEED", "1624")) + 1)
    parties = (caller, callee)
    expected = receiver_figures["received"] + receiver_figures["lost"]
    fraction = min(255, receiver_figures["lost"] * 256 // expected) if expected else 0
    units = int(receiver_figures["jitter_ms"] * RATE / 1000)
    sent_srs, rtts, injected = {}, [], []
    last_callee_sr = None   # (middle, arrival ns)
    seen_by_caller = seen_by_callee = 0

    # both RTCP legs latched first: the callee's answer may be lost on its way
    caller.send_raw(sender_report(0, (SSRC, 0, 0, 0, 0, 0, 0)))
    for _ in range(50):
        callee.send_raw(b"\x80\xc9\x00\x01" + struct.pack("!I", SSRC))   # an empty RR
        if wait(parties, lambda: caller.got, PACING * 5):
            break
    else:
        fail("no RTCP from the callee reached the caller")
    seen_by_caller = len(caller.got)
    callee.got.clear()
    for _ in range(RTCP_ROUNDS):
        middle = ntp_middle(time.time_ns())
        lsr, dlsr = (0, 0) if last_callee_sr is None else \
            (last_callee_sr[0], (time.time_ns() - last_callee_sr[1]) * 65536 // 1_000_000_000)
        sent_srs[middle] = time.time_ns()
        caller.send_raw(sender_report(middle, (SSRC, fraction, receiver_figures["lost"], highest, units, lsr, dlsr)))
        if not wait(parties, lambda: len(callee.got) > seen_by_callee, 1):
            fail("the caller's SR did not reach the callee")
        sr, arrived = callee.got[seen_by_callee]
        seen_by_callee = len(callee.got)
        got = report_block(sr)
        if got is None:
            fail("the callee got something else than the caller's SR: %s" % sr.hex())
        wait(parties, lambda: False, HOLD)
        held = time.time_ns()
        dlsr = (held - arrived) * 65536 // 1_000_000_000
        if emulate_delay:   # what netem would add, outside DLSR; a busy machine adds more, which is measured
            wait(parties, lambda: False, rng.uniform(0.015, 0.025))
            injected.append((time.time_ns() - held) / 1e6)
        callee.send_raw(sender_report(ntp_middle(time.time_ns()),
                                      (SSRC, CALLEE_BLOCK["fraction"], CALLEE_BLOCK["lost"], 0,
                                       CALLEE_BLOCK["jitter"], got[0], dlsr)))
        wait(parties, lambda: len(caller.got) > seen_by_caller, 0.2)
        for data, at in caller.got[seen_by_caller:]:
            rb = report_block(data)
            if rb and rb[1] in sent_srs:
                rtts.append((at - sent_srs[rb[1]] - rb[2] * 1_000_000_000 / 65536) / 1e6)
                last_callee_sr = (rb[0], at)
        seen_by_caller = len(caller.got)
    return {"rtcp_sent": {"fraction": fraction, "lost": receiver_figures["lost"], "jitter": units},
            "callee_block": CALLEE_BLOCK, "rtt_samples": len(rtts),
            "rtt_ms": sum(rtts) / len(rtts) if rtts else None,
            "injected_ms": sum(injected) / len(injected) if injected else None}


def main(control, caller_spec, callee_spec, dev, count, *netem_args):
    count = int(count)
    caller, callee = Receiver("caller", caller_spec, 172), Party("callee", callee_spec, 172)
    caller_rtcp, callee_rtcp = RtcpEnd("caller", caller_spec), RtcpEnd("callee", callee_spec)
    callee_ns = callee_spec.split(":")[0]
    tap = None if dev == "none" else LinkTap(callee_ns, dev, int(callee_spec.split(":")[1]), callee.relay)
    parties = (caller, callee) + ((tap,) if tap else ())

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
        for p in parties:
            p.drain()
        rtcp = rtcp_exchange(caller_rtcp, callee_rtcp, figures(caller.arrivals), max(caller.seqs), not with_netem)
        for _ in range(50):
            callee.sock.sendto(BYE, callee.relay)
            if wait(parties, lambda: caller.bye, PACING * 5):
                break
        else:
            fail("no RTCP BYE arrived")
    finally:
        if with_netem:
            netem(callee_ns, dev, "del")
    link_jitter = figures(tap.arrivals)["jitter_ms"] if tap else None
    print(json.dumps(dict(figures(caller.arrivals), link_jitter_ms=link_jitter, sent=callee.sent, **rtcp)))


if __name__ == "__main__":
    main(*sys.argv[1:])
