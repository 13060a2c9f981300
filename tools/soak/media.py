#!/usr/bin/python3
"""The phones of the soak's media calls: every EVERY-th call cpload sets
up gets RTP both ways through its relay, from the addresses and ports its
SDP named (caller CALLER:port, callee CALLEE:port, port = 20000 + 2 *
(call % 20000), as cpload writes them).  Runs in the core namespace.

  media.py EVENTS RESULTS EVERY SECONDS

Follows cpload's event file EVENTS.  Once a media call's answer is
answered, each side sends a 172-byte RTP packet every 20 ms for SECONDS to
the relay port its update's answer named (the caller to the answer's port,
the callee to the offer's), and counts what arrives.  The first packet
that arrives in a direction is where latching is done: every later one
sent that way should arrive.  Writes a JSON line per call into RESULTS
when it is over (sequence number n is sent n * 20 ms after the answer);
runs until SIGTERM.
"""
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "selftests", "helpers"))
from rtp_peer import packet  # noqa: E402  the selftests' RTP payload, checked byte for byte

CALLER, CALLEE = "198.18.1.7", "198.18.2.9"
PTIME = 0.02
SIZE = 172
DRAIN = 0.5  # seconds a call keeps receiving after its last packet


class Direction:
    """One way of a call's media: what was sent, and what arrived from where."""

    def __init__(self, expected_source):
        self.sent = 0
        self.seqs = set()
        self.first = None  # the sequence number of the first packet that arrived
        self.latched_at = None
        self.corrupt = self.wrong_source = 0
        self.expected_source = expected_source

    def received(self, data, source, now):
        seq = struct.unpack("!H", data[2:4])[0] if len(data) >= 12 else -1
        if source != self.expected_source:
            self.wrong_source += 1
        if data != packet(seq, len(data)):
            self.corrupt += 1
            return
        if self.first is None:
            self.first, self.latched_at = seq, now
        self.seqs.add(seq)

    def result(self):
        after = [s for s in self.seqs if self.first is not None and s >= self.first]
        expected = self.sent - self.first if self.first is not None else 0
        return {"sent": self.sent, "first_received": self.first, "expected_after_latching": expected,
                "received_after_latching": len(after), "missing": self.missing(), "corrupt": self.corrupt,
                "wrong_source": self.wrong_source}

    def missing(self):
        """The runs of sequence numbers sent after latching that never arrived: [first, last] each."""
        runs = []
        for seq in range(self.first if self.first is not None else self.sent, self.sent):
            if seq in self.seqs:
                continue
            if runs and runs[-1][1] == seq - 1:
                runs[-1][1] = seq
            else:
                runs.append([seq, seq])
        return runs


class Call:
    def __init__(self, number, relay_ip, callee_side_port, caller_side_port, sel, now):
        port = 20000 + 2 * (number % 20000)
        self.number, self.relay_ip, self.started = number, relay_ip, now
        # each socket receives the other side's packets, from the relay port it sends to
        self.to_callee = Direction((relay_ip, callee_side_port))
        self.to_caller = Direction((relay_ip, caller_side_port))
        self.caller = self._socket(CALLER, port, sel, self.to_caller)
        self.callee = self._socket(CALLEE, port, sel, self.to_callee)
        self.caller_target = (relay_ip, caller_side_port)
        self.callee_target = (relay_ip, callee_side_port)

    @staticmethod
    def _socket(ip, port, sel, direction):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, port))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, direction)
        return s

    def send_due(self, now, seconds):
        due = min(int((now - self.started) / PTIME) + 1, int(seconds / PTIME))
        while self.to_callee.sent < due:
            self.caller.sendto(packet(self.to_callee.sent, SIZE), self.caller_target)
            self.to_callee.sent += 1
        while self.to_caller.sent < due:
            self.callee.sendto(packet(self.to_caller.sent, SIZE), self.callee_target)
            self.to_caller.sent += 1

    def finish(self, sel):
        for s in (self.caller, self.callee):
            sel.unregister(s)
            s.close()
        latched = [d.latched_at for d in (self.to_callee, self.to_caller)]
        return {"call": self.number, "relay": self.relay_ip, "answered_at": self.started,
                "latched_after": max(latched) - self.started if None not in latched else None,
                "caller_to_callee": self.to_callee.result(), "callee_to_caller": self.to_caller.result()}


def main(events_path, results_path, every, seconds):
    every, seconds = int(every), float(seconds)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    sel = selectors.DefaultSelector()
    offers, calls = {}, {}
    events, results = open(events_path), open(results_path, "w", buffering=1)
    pending = ""
    while not stopping:
        now = time.monotonic()
        pending += events.read()
        *lines, pending = pending.split("\n")
        for line in lines:
            _, number, step, outcome, reply = line.split("\t")[:5]
            number = int(number)
            if number % every or outcome != "ok":
                continue
            if step == "offer":
                offers[number] = reply.split()
            elif step == "answer" and number in offers:
                relay_ip, callee_side_port = offers.pop(number)
                calls[number] = Call(number, relay_ip, int(callee_side_port), int(reply.split()[1]), sel, now)
        for number, call in list(calls.items()):
            call.send_due(now, seconds)
            if now - call.started > seconds + DRAIN:
                results.write(json.dumps(calls.pop(number).finish(sel)) + "\n")
        for key, _ in sel.select(PTIME / 4):
            try:
                data, source = key.fileobj.recvfrom(2048)
            except BlockingIOError:
                continue
            key.data.received(data, source, time.monotonic())


if __name__ == "__main__":
    main(*sys.argv[1:])
