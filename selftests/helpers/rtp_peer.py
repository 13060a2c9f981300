#!/usr/bin/env python3
"""Both media endpoints of a call through media-relay, every packet under the
test's control: each step waits for what it needs, never for time, so that
exact counts hold on a loaded machine.

  rtp_peer.py RELAY_SOCKET CALLER CALLEE COUNT SIZE [PAUSE...]

CALLER and CALLEE are NETNS:PORT:RELAY_IP:RELAY_PORT: the party's network
namespace (an `ip netns` name, or - for this one), the port it sends from
and receives on, and the relay address it was told to send to.
RELAY_SOCKET is the relay's local control socket.

1. Both parties bind, each in its namespace.
2. The caller sends its priming packet (sequence 0), and the run waits until
   the relay latched it: `sessions` shows a caller_remote for the stream
   whose caller_local is the caller's RELAY_IP:RELAY_PORT.  It has nowhere
   to go yet.
3. The callee sends its priming packet; the relay latches the callee and
   relays it to the caller.  Once it arrived, one `summary` round trip makes
   sure the relay is done with it (the agent handles one event at a time,
   and installs the stream in its forwarding tier while handling it).
4. Both send sequences 1..COUNT, one each every 2 ms at most (later when
   the machine is busy, never in a burst).  stderr gets "sending" then.
   After each sequence number of PAUSE the sending stops, stderr gets
   "paused N", and it goes on at the next SIGUSR1 (receiving all along).
5. Receiving ends once the caller has sequences 0..COUNT and the callee
   1..COUNT, or 60 s after the last send.

Prints one JSON object: for "caller" and "callee", how many packets each
sent and received, from which sources, and how many payloads differed from
what the far end sent.  Payload: a 12-byte RTP header (version 2, payload
type 0, the sequence number), then byte i = (sequence + i) % 256.
"""
import ctypes
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time

INTERVAL = 0.002   # between two packets of one party
STEP_TIMEOUT = 30  # for the relay to latch a party, or a priming packet to arrive
LAST_WAIT = 60     # for the last packets after the last send
CLONE_NEWNET = 0x40000000
SO_RCVBUFFORCE = 33  # Linux; Python's socket module lacks it


def packet(seq, size):
    header = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, 0x4D50)
    return header + bytes((seq + i) % 256 for i in range(size - len(header)))


def fail(message):
    sys.exit(f"rtp_peer: {message}")


def setns(fd, what):
    if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET):
        fail(f"cannot enter the network namespace {what}: {os.strerror(ctypes.get_errno())}")


def relay_request(path, command):
    """One request on the relay's control socket (doc/relay-protocol.md); its reply's payload."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(STEP_TIMEOUT)
        s.connect(path)
        s.sendall(f"{command} 1\r\n\r\n".encode())
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                fail(f"the relay closed the control connection during {command}")
            reply += chunk
    return reply.decode().rstrip("\r\n").partition(" ")[2]


def socket_in(netns, *args):
    """socket.socket(*args) made in `netns` (an `ip netns` name, or - for this one), where it stays."""
    here, there = os.open("/proc/thread-self/ns/net", os.O_RDONLY), None
    try:
        if netns != "-":
            there = os.open(f"/run/netns/{netns}", os.O_RDONLY)
            setns(there, netns)
        return socket.socket(*args)
    finally:
        if there is not None:
            setns(here, "of this process")
            os.close(there)
        os.close(here)


class Party:
    def __init__(self, name, spec, size):
        netns, port, relay_ip, relay_port = spec.split(":")
        self.name, self.size = name, size
        self.relay = (relay_ip, int(relay_port))
        self.sock = socket_in(netns, socket.AF_INET, socket.SOCK_DGRAM)
        # room for every packet of a run while this process is not scheduled
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
        except PermissionError:
            pass
        self.sock.bind(("0.0.0.0", int(port)))
        self.sock.setblocking(False)
        self.sent = self.received = self.corrupt = 0
        self.sources, self.seqs = set(), set()

    def send(self, seq):
        self.sock.sendto(packet(seq, self.size), self.relay)
        self.sent += 1

    def drain(self):
        while True:
            try:
                data, src = self.sock.recvfrom(65536)
            except BlockingIOError:
                return
            seq = struct.unpack("!H", data[2:4])[0] if len(data) >= 12 else -1
            self.received += 1
            self.corrupt += data != packet(seq, len(data))
            self.sources.add(f"{src[0]}:{src[1]}")
            self.seqs.add(seq)

    def result(self):
        return {"sent": self.sent, "received": self.received, "corrupt": self.corrupt,
                "sources": sorted(self.sources)}


def receive(parties, seconds):
    """Receives on every party for at most `seconds`, returning after the first packets."""
    with selectors.DefaultSelector() as selector:
        for p in parties:
            selector.register(p.sock, selectors.EVENT_READ, p)
        for key, _ in selector.select(max(0, seconds)):
            key.data.drain()


def wait(parties, done, timeout):
    """Receives on every party until done() holds (True) or timeout seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= deadline:
            return False
        receive(parties, min(deadline - time.monotonic(), 0.02))
    return True


def caller_latched(control, caller):
    local = "%s:%d" % caller.relay
    return any(s["caller_local"] == local and s["caller_remote"] != "Unknown"
               for session in json.loads(relay_request(control, "sessions")) for s in session["streams"])


def main(control, caller_spec, callee_spec, count, size, *pauses):
    count, size, pauses = int(count), int(size), [int(n) for n in pauses]
    resumed = [0]  # SIGUSR1s so far
    signal.signal(signal.SIGUSR1, lambda *_: resumed.__setitem__(0, resumed[0] + 1))
    caller, callee = Party("caller", caller_spec, size), Party("callee", callee_spec, size)
    parties = (caller, callee)

    caller.send(0)
    if not wait(parties, lambda: caller_latched(control, caller), STEP_TIMEOUT):
        fail(f"the relay did not latch the caller within {STEP_TIMEOUT} s")
    callee.send(0)
    if not wait(parties, lambda: 0 in caller.seqs, STEP_TIMEOUT):
        fail(f"the callee's priming packet did not reach the caller within {STEP_TIMEOUT} s")
    relay_request(control, "summary")

    print("sending", file=sys.stderr, flush=True)
    next_send = time.monotonic()
    for seq in range(1, count + 1):
        while time.monotonic() < next_send:
            receive(parties, next_send - time.monotonic())
        for p in parties:
            p.send(seq)
        next_send = time.monotonic() + INTERVAL
        if seq in pauses:
            print(f"paused {seq}", file=sys.stderr, flush=True)
            wait(parties, lambda n=pauses.index(seq) + 1: resumed[0] >= n, float("inf"))

    if not wait(parties, lambda: set(range(count + 1)) <= caller.seqs and set(range(1, count + 1)) <= callee.seqs,
                LAST_WAIT):
        print(f"rtp_peer: packets missing {LAST_WAIT} s after the last was sent", file=sys.stderr)
    for p in parties:
        p.drain()
    print(json.dumps({p.name: p.result() for p in parties}))


if __name__ == "__main__":
    main(*sys.argv[1:])
