#!/usr/bin/env python3
"""Packet fixtures for the fast path (bpf/mp_fwd.bpf.c), run through
BPF_PROG_TEST_RUN by build/helpers/bpf_fixture_runner inside a private
network namespace.

Each case of CASES is an input frame built with scapy, the programs it runs
through, the verdict expected, the output expected (a frame that scapy builds
from scratch, checksums included, or UNCHANGED) and the one mp_stats counter
expected to move by exactly 1; a case may first change the namespace's
routes or neighbours, or bump the next-hop generation.  Cases run in order,
and a leg's cached next hop carries over from one to the next.  The leg
counters of the entry the frame is addressed to are checked after every run
as well.  A seeded randomized case then forwards random datagrams against
random entries, byte-exact.

Prints TAP; exits 0 only if every case passes.  Needs root (SKIPs otherwise).
Environment: BUILD (default build/), MP_FIXTURE_SEED (default 1624).
"""
import os
import random
import signal
import struct
import subprocess
import sys
import time

try:
    import logging
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    from scapy.all import ARP, ICMP, IP, IPv6, TCP, UDP, Dot1Q, Ether, IPOption_NOP, Raw
except ImportError:
    # Debian's python3-scapy belongs to /usr/bin/python3, which may not be
    # the python3 first in PATH.
    if os.path.exists("/usr/bin/python3") and not os.environ.get("MP_FIXTURES_REEXEC"):
        os.environ["MP_FIXTURES_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("1..1\nok 1 - BPF packet fixtures # SKIP python3-scapy is not installed")
    sys.exit(0)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers"))
import mp_abi  # noqa: E402

BUILD = os.environ.get("BUILD", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build"))
RUNNER = os.path.join(BUILD, "helpers", "bpf_fixture_runner")
SEED = int(os.environ.get("MP_FIXTURE_SEED", "1624"))
# BPF_PROG_TEST_RUN takes an xdp_md context, the ingress interface the XDP
# cases need, from Linux 5.15; before, the XDP cases SKIP (the object, XDP
# program included, still loads, and test_relay_media.sh's calls run it).
XDP_CONTEXT = tuple(int(n) for n in os.uname().release.split("-")[0].split(".")[:2]) >= (5, 15)
NO_XDP_CONTEXT = "BPF_PROG_TEST_RUN takes no xdp_md context (ingress interface) before Linux 5.15"
NS = "mpfix-%d" % os.getpid()
CLOCK_MONOTONIC_COARSE = 6  # Linux's clock id; Python names it not

DROP_OTHERS = mp_abi.macro("MP_FWD_DROP_OTHERS")
IS_RTCP = mp_abi.macro("MP_FWD_IS_RTCP")
DECREMENT_TTL = mp_abi.macro("MP_CFG_DECREMENT_TTL")
RTP_STATS = mp_abi.macro("MP_CFG_RTP_STATS")
PORT_MIN, PORT_MAX = 40000, 40100

VERDICTS = {  # XDP_* and TC_ACT_* values
    "xdp": {"pass": 2, "drop": 1, "tx": 3, "redirect": 4},
    "tc": {"pass": 0, "drop": 2, "tx": 7, "redirect": 7},
}
UNCHANGED = None

RELAY = "198.18.0.50"
CALLER, CALLER_PORT, CALLER_MAC = "198.18.1.7", 49170, "02:00:c6:12:01:07"
CALLEE, CALLEE_PORT, CALLEE_MAC = "198.18.2.9", 30000, "02:00:c6:12:02:09"
HAIRPIN, HAIRPIN_MAC = "198.18.1.8", "02:00:c6:12:01:08"       # a second host behind c0
NO_NEIGH = "198.18.2.77"                                       # on c1's subnet, no neighbour
OTHER, OTHER_MAC = "198.18.3.3", "02:00:c6:12:03:03"           # behind c2, not in mp_tx
SMALL_MTU, SMALL_MTU_MAC = "198.18.9.9", "02:00:c6:12:09:09"   # route with mtu lock 576
GATEWAY, GATEWAY_MAC = "198.18.2.254", "02:00:c6:12:02:fe"     # router behind c1 for 198.18.11.0/24
MOVER, MOVER_MAC, MOVER_NEW_MAC = "198.18.2.20", "02:00:c6:12:02:14", "02:00:c6:12:02:41"  # changes its MAC
FLIPPED, FLIPPED_NET = "198.18.12.9", "198.18.12.0/24"          # routed via GATEWAY, then via HAIRPIN
TOS_TABLE, TOS_RULE = "100", 0x10                               # packets of that TOS: via GATEWAY
# device: (MAC, address, in mp_tx)
DEVICES = {
    "c0": ("02:00:00:00:00:c0", "198.18.0.50/24", True),   # caller side, the relay address
    "c1": ("02:00:00:00:00:c1", "198.18.2.1/24", True),    # callee side
    "c2": ("02:00:00:00:00:c2", "198.18.3.1/24", False),   # not in mp_tx
    "c3": ("02:00:00:00:00:c3", "198.18.4.1/24", True),    # forwarding off
}
MAC = {dev: v[0] for dev, v in DEVICES.items()}
# random-case neighbours: address -> (device, MAC)
POOL = {"198.18.1.%d" % (100 + i): ("c0", "02:00:c6:12:01:%02x" % (100 + i)) for i in range(8)}
POOL.update({"198.18.2.%d" % (100 + i): ("c1", "02:00:c6:12:02:%02x" % (100 + i)) for i in range(16)})
NEIGHBOURS = [("c0", CALLER, CALLER_MAC), ("c0", HAIRPIN, HAIRPIN_MAC), ("c1", CALLEE, CALLEE_MAC),
              ("c2", OTHER, OTHER_MAC), ("c1", SMALL_MTU, SMALL_MTU_MAC), ("c1", GATEWAY, GATEWAY_MAC),
              ("c1", MOVER, MOVER_MAC)] + \
             [(dev, ip, mac) for ip, (dev, mac) in POOL.items()]

# Fixed entries, by local port: expect, out source, out destination, flags.
# Destination (address, port, egress device, next-hop MAC) for the forwarding ones.
ENTRIES = {
    40000: ((CALLER, CALLER_PORT), (RELAY, 40002), (CALLEE, CALLEE_PORT), DROP_OTHERS),
    40002: ((CALLEE, CALLEE_PORT), (RELAY, 40000), (CALLER, CALLER_PORT), 0),
    40004: ((CALLER, CALLER_PORT), (RELAY, 40005), (HAIRPIN, 49200), 0),
    40006: ((CALLER, CALLER_PORT), (RELAY, 40007), (NO_NEIGH, 30006), 0),
    40008: ((CALLER, CALLER_PORT), (RELAY, 40009), ("198.18.6.9", 30008), 0),    # unreachable
    40010: ((CALLER, CALLER_PORT), (RELAY, 40011), ("198.18.7.9", 30010), 0),    # blackhole
    40012: ((CALLER, CALLER_PORT), (RELAY, 40013), ("198.18.8.9", 30012), 0),    # prohibit
    40014: ((CALLER, CALLER_PORT), (RELAY, 40015), (OTHER, 30014), 0),
    40016: ((CALLER, CALLER_PORT), (RELAY, 40017), (SMALL_MTU, 30016), 0),
    40018: ((CALLER, CALLER_PORT), (RELAY, 40019), (RELAY, 30018), 0),           # local: not forwarded
    40001: ((CALLER, CALLER_PORT), (RELAY, 40003), ("198.18.10.9", 30001), 0),   # lightweight tunnel
    40022: ((CALLER, CALLER_PORT), (RELAY, 40023), ("198.18.11.9", 30022), 0),   # via GATEWAY
    40024: ((CALLER, CALLER_PORT), (RELAY, 40025), ("198.18.3.77", 30024), 0),   # c2, no neighbour
    40026: ((CALLER, CALLER_PORT), (RELAY, 40027), (MOVER, 30026), 0),           # its MAC changes
    40028: ((CALLER, CALLER_PORT), (RELAY, 40029), (FLIPPED, 30028), 0),         # its route changes
    40099: ((CALLER, CALLER_PORT), (RELAY, 40098), (CALLEE, 30099), 0),          # last port of the range
    39999: ((CALLER, CALLER_PORT), (RELAY, 39998), (CALLEE, 29999), 0),          # below the range
    40100: ((CALLER, CALLER_PORT), (RELAY, 40101), (CALLEE, 30100), 0),          # at port_max: outside
    40030: ((CALLER, CALLER_PORT), (RELAY, 40031), (CALLEE, 30030), DROP_OTHERS),  # RTP statistics, xdp
    40032: ((CALLER, CALLER_PORT), (RELAY, 40033), (CALLEE, 30032), DROP_OTHERS),  # RTP statistics, tc
    40034: ((CALLER, CALLER_PORT), (RELAY, 40035), (CALLEE, 30034), DROP_OTHERS | IS_RTCP),  # an RTCP leg
}
# Legs whose RTP statistics the agent would seed: clock rate, payload type.
RTP_LEGS = {40030: (8000, 0), 40032: (8000, 0), 40034: (8000, 0)}
NO_ENTRY_PORT = 40050

PAYLOAD = bytes((7 * i) & 0xff for i in range(160))
DEFAULT = dict(smac=CALLER_MAC, dmac=MAC["c0"], src=CALLER, dst=RELAY, sport=CALLER_PORT, dport=40000,
               ttl=64, tos=0, id=1, df=False, payload=PAYLOAD, vlan=None, chksum=None)


def udp_frame(**kw):
    """An Ethernet/[802.1Q]/IPv4/UDP frame; scapy fills in lengths and checksums."""
    p = dict(DEFAULT, **kw)
    l2 = Ether(src=p["smac"], dst=p["dmac"])
    if p["vlan"] is not None:
        l2 = l2 / Dot1Q(vlan=p["vlan"])
    ip = IP(src=p["src"], dst=p["dst"], ttl=p["ttl"], tos=p["tos"], id=p["id"], flags="DF" if p["df"] else 0)
    udp = UDP(sport=p["sport"], dport=p["dport"])
    if p["chksum"] is not None:
        udp.chksum = p["chksum"]
    return l2 / ip / udp / Raw(p["payload"])


def relayed(port, egress, nh_mac, ttl_dec=1, macs=True, **kw):
    """The frame the fast path should emit for udp_frame(**kw) hitting ENTRIES[port],
    built from scratch with the new field values."""
    p = dict(DEFAULT, **kw)
    _, (saddr, sport), (daddr, dport), _ = ENTRIES[port]
    p.update(src=saddr, sport=sport, dst=daddr, dport=dport, ttl=p["ttl"] - ttl_dec)
    if macs:
        p.update(smac=MAC[egress], dmac=nh_mac)
    p["chksum"] = 0 if p["chksum"] == 0 else None   # scapy computes it, unless "none"
    return udp_frame(**p)


def zero_sum_payload():
    """A payload with which the relayed datagram's UDP checksum computes to 0."""
    out = relayed(40000, "c1", CALLEE_MAC, payload=b"\0\0" + PAYLOAD)
    c = bytes(out)[14 + 20 + 6:14 + 20 + 8]
    assert c != b"\xff\xff"
    out = relayed(40000, "c1", CALLEE_MAC, payload=c + PAYLOAD)
    assert bytes(out)[14 + 20 + 6:14 + 20 + 8] == b"\xff\xff"   # scapy's from-scratch sum is 0
    return c + PAYLOAD


def case(desc, pkt, verdict, out, stat, progs=("xdp", "tc"), dev="c0", cfg=DECREMENT_TTL, gso=None,
         refused=None, before=(), rtp=None, copied=False):
    """refused: the SKIP reason when BPF_PROG_TEST_RUN refuses the frame (EINVAL).
    before: what to do first, each an `ip` command line for the namespace or "gen"
    (bump the next-hop generation, as the agent does when it hears of a change).
    rtp: the RTP statistics of the frame's leg afterwards, exactly (the keys given).
    copied: the frame's UDP payload goes to mp_rtcp, an RTCP copy (every other case: nothing does)."""
    return dict(desc=desc, pkt=bytes(pkt), verdict=verdict, out=None if out is None else bytes(out),
                stat=stat, progs=progs, dev=dev, cfg=cfg, gso=gso, refused=refused, before=before, rtp=rtp,
                copied=copied)


def rtp_payload(seq, ssrc=0x11223344, ts=None, pt=0, first=0x80):
    """An RTP header (version 2) and 160 bytes of G.711."""
    ts = seq * 160 if ts is None else ts
    return struct.pack("!BBHII", first, pt, seq & 0xffff, ts & 0xffffffff, ssrc) + bytes(160)


STUN_REQUEST = bytes.fromhex("000100002112a442") + bytes(12)               # binding request, no attributes
DTLS_HELLO = bytes.fromhex("16fefd0000000000000000002f010000230000")     # a DTLS 1.2 record, first byte 22
RTCP_RR = bytes.fromhex("80c90001") + struct.pack("!I", 0x11223344)       # an empty receiver report (PT 201)
# a sender report with one report block, then an SDES with a CNAME (RFC 3550 sections 6.4.1 and 6.5)
RTCP_SR_SDES = (bytes.fromhex("81c8000c") + struct.pack("!IIIIII", 0x11223344, 0xe1234567, 0x89abcdef, 160000, 100,
                                                        17200) +
                struct.pack("!IIIIII", 0x55667788, 0x05000003, 0x10064, 80, 0x456789ab, 3277) +
                bytes.fromhex("81ca0003") + struct.pack("!I", 0x11223344) + b"\x01\x02ab\0\0\0\0")


RTP_SEQUENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "rtp_sequence.txt")


def sequence_payload(spec):
    """The UDP payload a line of selftests/data/rtp_sequence.txt describes."""
    words = spec.split()
    if words[0] == "rtp":
        opts = dict(w.split("=") for w in words[2:])
        return rtp_payload(int(words[1]), ssrc=int(opts.get("ssrc", "11223344"), 16),
                           first=int(opts.get("first", "80"), 16))
    if words[0] == "short":
        return bytes(int(words[1]))
    return {"stun": STUN_REQUEST, "dtls": DTLS_HELLO, "rtcp": RTCP_RR}[words[0]]


def rtp_cases(prog, port):
    """RFC 3550 A.1 on one leg: selftests/data/rtp_sequence.txt, the cumulative
    statistics checked after each frame; selftests/unit/test_rtp_stats.c runs
    the same lines through the agent's copy of the code."""
    cfg = DECREMENT_TTL | RTP_STATS
    c = []
    with open(RTP_SEQUENCE) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            desc, spec, want = (x.strip() for x in line.split("|"))
            payload = sequence_payload(spec)
            c.append(case("RTP statistics: " + desc, udp_frame(dport=port, payload=payload), "redirect",
                          relayed(port, "c1", CALLEE_MAC, dport=port, payload=payload), "forwarded",
                          progs=(prog,), cfg=cfg, rtp={k: int(v) for k, v in (w.split("=") for w in want.split())}))
    return c


def build_cases():
    zs = zero_sum_payload()
    caller_eth = Ether(src=CALLER_MAC, dst=MAC["c0"])
    to_relay = IP(src=CALLER, dst=RELAY)
    c = [
        # forwarded
        case("caller to callee: redirect out of c1, addresses, ports, MACs rewritten, TTL - 1",
             udp_frame(), "redirect", relayed(40000, "c1", CALLEE_MAC), "forwarded"),
        case("DECREMENT_TTL clear: TTL untouched",
             udp_frame(), "redirect", relayed(40000, "c1", CALLEE_MAC, ttl_dec=0), "forwarded", cfg=0),
        case("TTL 2 leaves with TTL 1",
             udp_frame(ttl=2), "redirect", relayed(40000, "c1", CALLEE_MAC, ttl=2), "forwarded"),
        case("TOS, DF and IP ID are kept",
             udp_frame(tos=0xb8, df=True, id=0xbeef), "redirect",
             relayed(40000, "c1", CALLEE_MAC, tos=0xb8, df=True, id=0xbeef), "forwarded"),
        case("zero UDP checksum stays zero",
             udp_frame(chksum=0), "redirect", relayed(40000, "c1", CALLEE_MAC, chksum=0), "forwarded"),
        case("UDP checksum computing to zero is sent as 0xffff",
             udp_frame(payload=zs), "redirect", relayed(40000, "c1", CALLEE_MAC, payload=zs), "forwarded"),
        case("empty UDP payload",
             udp_frame(payload=b""), "redirect", relayed(40000, "c1", CALLEE_MAC, payload=b""), "forwarded"),
        case("802.1Q tagged: the tag stays, the headers behind it are rewritten",
             udp_frame(vlan=5), "redirect", relayed(40000, "c1", CALLEE_MAC, vlan=5), "forwarded"),
        case("callee to caller (no DROP_OTHERS): redirect out of c0",
             udp_frame(smac=CALLEE_MAC, dmac=MAC["c1"], src=CALLEE, sport=CALLEE_PORT, dport=40002),
             "redirect", relayed(40002, "c0", CALLER_MAC, smac=CALLEE_MAC, dmac=MAC["c1"], src=CALLEE,
                                 sport=CALLEE_PORT, dport=40002), "forwarded", dev="c1"),
        case("egress device = ingress device: XDP_TX (tc: redirect)",
             udp_frame(dport=40004), "tx", relayed(40004, "c0", HAIRPIN_MAC, dport=40004), "forwarded"),
        case("last port of the range (port_max - 1) is forwarded",
             udp_frame(dport=40099), "redirect", relayed(40099, "c1", CALLEE_MAC, dport=40099), "forwarded"),
        case("next hop is a gateway: its MAC, the destination's address",
             udp_frame(dport=40022), "redirect", relayed(40022, "c1", GATEWAY_MAC, dport=40022), "forwarded"),
        case("tc, no neighbour: bpf_redirect_neigh, addresses rewritten, MACs left to the kernel",
             udp_frame(dport=40006), "redirect", relayed(40006, "c1", None, macs=False, dport=40006),
             "forwarded_neigh", progs=("tc",)),
        # dropped
        case("wrong source address with DROP_OTHERS: dropped, dropped_src counted",
             udp_frame(src="198.18.1.99"), "drop", UNCHANGED, "drop_wrong_source"),
        case("wrong source port with DROP_OTHERS: dropped",
             udp_frame(sport=CALLER_PORT + 1), "drop", UNCHANGED, "drop_wrong_source"),
        # passed before any lookup
        case("wrong source without DROP_OTHERS passes",
             udp_frame(smac=CALLEE_MAC, dmac=MAC["c1"], src="198.18.2.10", sport=CALLEE_PORT, dport=40002),
             "pass", UNCHANGED, "pass_wrong_source", dev="c1"),
        case("no entry passes", udp_frame(dport=NO_ENTRY_PORT), "pass", UNCHANGED, "pass_no_entry"),
        case("port below port_min passes (entry exists)",
             udp_frame(dport=39999), "pass", UNCHANGED, "pass_out_of_range"),
        case("port = port_max passes (entry exists; the range is [min, max))",
             udp_frame(dport=40100), "pass", UNCHANGED, "pass_out_of_range"),
        case("mp_cfg all zero (the programs' read-only data) forwards nothing",
             udp_frame(), "pass", UNCHANGED, "pass_out_of_range", cfg=None),
        case("TTL 1 passes (the stack sends time exceeded)",
             udp_frame(ttl=1), "pass", UNCHANGED, "pass_ttl"),
        case("TTL 0 passes", udp_frame(ttl=0), "pass", UNCHANGED, "pass_ttl"),
        case("IP options pass",
             caller_eth / IP(src=CALLER, dst=RELAY, options=[IPOption_NOP()] * 4) /
             UDP(sport=CALLER_PORT, dport=40000) / Raw(PAYLOAD), "pass", UNCHANGED, "pass_ip_options"),
        case("first fragment (MF) passes",
             caller_eth / IP(src=CALLER, dst=RELAY, flags="MF") / UDP(sport=CALLER_PORT, dport=40000) /
             Raw(PAYLOAD), "pass", UNCHANGED, "pass_fragment"),
        case("later fragment (offset > 0) passes",
             caller_eth / IP(src=CALLER, dst=RELAY, frag=185, proto=17) /
             Raw(bytes(UDP(sport=CALLER_PORT, dport=40000)) + PAYLOAD), "pass", UNCHANGED, "pass_fragment"),
        case("TCP passes", caller_eth / to_relay / TCP(sport=CALLER_PORT, dport=40000),
             "pass", UNCHANGED, "pass_not_udp"),
        case("ICMP passes", caller_eth / to_relay / ICMP(), "pass", UNCHANGED, "pass_not_udp"),
        case("ARP passes", Ether(src=CALLER_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=CALLER, pdst=RELAY),
             "pass", UNCHANGED, "pass_not_ipv4"),
        case("IPv6 passes", caller_eth / IPv6(src="2001:db8::7", dst="2001:db8::50") /
             UDP(sport=CALLER_PORT, dport=40000) / Raw(PAYLOAD), "pass", UNCHANGED, "pass_not_ipv4"),
        case("802.1Q tagged IPv6 passes", caller_eth / Dot1Q(vlan=5) / IPv6() /
             UDP(sport=CALLER_PORT, dport=40000), "pass", UNCHANGED, "pass_not_ipv4"),
        case("ethertype IPv4 with IP version 6 passes",
             bytes(caller_eth / IPv6() / UDP(sport=CALLER_PORT, dport=40000))[:12] + b"\x08\x00" +
             bytes(IPv6() / UDP(sport=CALLER_PORT, dport=40000)), "pass", UNCHANGED, "pass_not_ipv4"),
        # The kernel refuses test frames shorter than an Ethernet header (and
        # on 6.18 also skbs whose IPv4 header is short): such cases SKIP
        # when refused; the 802.1Q variant reaches the same IPv4 check.
        case("truncated Ethernet header (10 bytes) passes",
             bytes(udp_frame())[:10], "pass", UNCHANGED, "pass_truncated", progs=("xdp",),
             refused="BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header"),
        case("truncated 802.1Q tag passes",
             bytes(udp_frame(vlan=5))[:16], "pass", UNCHANGED, "pass_truncated"),
        case("truncated IPv4 header passes",
             bytes(udp_frame())[:14 + 12], "pass", UNCHANGED, "pass_truncated",
             refused="BPF_PROG_TEST_RUN refuses this skb (short IPv4 header); see the 802.1Q variant"),
        case("truncated IPv4 header behind an 802.1Q tag passes",
             bytes(udp_frame(vlan=5))[:18 + 12], "pass", UNCHANGED, "pass_truncated"),
        case("truncated UDP header passes",
             bytes(udp_frame())[:14 + 20 + 4], "pass", UNCHANGED, "pass_truncated"),
        # routing
        case("fib: unreachable route passes",
             udp_frame(dport=40008), "pass", UNCHANGED, "pass_fib_unreachable"),
        case("fib: blackhole route passes",
             udp_frame(dport=40010), "pass", UNCHANGED, "pass_fib_blackhole"),
        case("fib: prohibit route passes",
             udp_frame(dport=40012), "pass", UNCHANGED, "pass_fib_prohibit"),
        case("fib: route with a lightweight tunnel encap passes",
             udp_frame(dport=40001), "pass", UNCHANGED, "pass_fib_unsupp_lwt"),
        case("fib: local destination is not forwarded, passes",
             udp_frame(dport=40018), "pass", UNCHANGED, "pass_fib_not_fwded"),
        case("fib: a small packet over a route with MTU 576 is forwarded, its length cached",
             udp_frame(dport=40016, payload=bytes(100)), "redirect",
             relayed(40016, "c1", SMALL_MTU_MAC, dport=40016, payload=bytes(100)), "forwarded"),
        case("fib: a longer one within the MTU looks the route up again and is forwarded",
             udp_frame(dport=40016, payload=bytes(500)), "redirect",
             relayed(40016, "c1", SMALL_MTU_MAC, dport=40016, payload=bytes(500)), "forwarded"),
        case("fib: larger than the route's MTU passes, though the route is cached",
             udp_frame(dport=40016, payload=bytes(600)), "pass", UNCHANGED, "pass_fib_frag_needed"),
        case("xdp, no neighbour: passes unchanged (the agent's send resolves it)",
             udp_frame(dport=40006), "pass", UNCHANGED, "pass_fib_no_neigh", progs=("xdp",)),
        case("forwarding off on the ingress device passes",
             udp_frame(dmac=MAC["c3"]), "pass", UNCHANGED, "pass_fib_fwd_disabled", dev="c3"),
        case("no neighbour behind a device not in mp_tx passes",
             udp_frame(dport=40024), "pass", UNCHANGED, "pass_no_tx_dev"),
        case("egress device not in mp_tx passes",
             udp_frame(dport=40014), "pass", UNCHANGED, "pass_no_tx_dev"),
        case("tc: a GSO skb (GRO aggregate) passes",
             udp_frame(), "pass", UNCHANGED, "pass_gso", progs=("tc",), gso=1000),
        # the next hop cached in the entry
        case("next hop: the first packet looks the route up and caches it",
             udp_frame(dport=40026), "redirect", relayed(40026, "c1", MOVER_MAC, dport=40026), "forwarded"),
        case("next hop: a neighbour's new MAC is not looked up while the generation stands",
             udp_frame(dport=40026), "redirect", relayed(40026, "c1", MOVER_MAC, dport=40026), "forwarded",
             before=["neigh replace %s lladdr %s dev c1 nud permanent" % (MOVER, MOVER_NEW_MAC)]),
        case("next hop: after a generation bump the next packet goes to the neighbour's new MAC",
             udp_frame(dport=40026), "redirect", relayed(40026, "c1", MOVER_NEW_MAC, dport=40026), "forwarded",
             before=["gen"]),
        case("next hop: routed via a gateway on c1",
             udp_frame(dport=40028), "redirect", relayed(40028, "c1", GATEWAY_MAC, dport=40028), "forwarded"),
        case("next hop: the route flipped to c0, the cache still in use until a generation bump",
             udp_frame(dport=40028), "redirect", relayed(40028, "c1", GATEWAY_MAC, dport=40028), "forwarded",
             before=["route replace %s via %s dev c0" % (FLIPPED_NET, HAIRPIN)]),
        case("next hop: after a generation bump the flipped route: back out of c0 to its gateway",
             udp_frame(dport=40028), "tx", relayed(40028, "c0", HAIRPIN_MAC, dport=40028), "forwarded",
             before=["gen"]),
        case("next hop: another TOS looks the route up again (a rule sends TOS 0x%x via the gateway)" % TOS_RULE,
             udp_frame(tos=TOS_RULE), "redirect", relayed(40000, "c1", GATEWAY_MAC, tos=TOS_RULE), "forwarded"),
        case("next hop: and TOS 0 again its own route",
             udp_frame(), "redirect", relayed(40000, "c1", CALLEE_MAC), "forwarded"),
        case("RTP statistics off (mp_cfg without RTP_STATS): the leg's statistics stay zero",
             udp_frame(dport=40030, payload=rtp_payload(7)), "redirect",
             relayed(40030, "c1", CALLEE_MAC, dport=40030, payload=rtp_payload(7)), "forwarded",
             rtp=dict(sources=0, received=0, not_rtp=0, probation=0)),
        case("RTP statistics: an RTCP leg keeps none",
             udp_frame(dport=40034, payload=RTCP_RR), "redirect",
             relayed(40034, "c1", CALLEE_MAC, dport=40034, payload=RTCP_RR), "forwarded",
             cfg=DECREMENT_TTL | RTP_STATS, rtp=dict(sources=0, received=0, not_rtp=0), copied=True),
        case("RTCP copy: an SR and an SDES on the RTCP leg forwarded, and copied to mp_rtcp as they arrived",
             udp_frame(dport=40034, payload=RTCP_SR_SDES), "redirect",
             relayed(40034, "c1", CALLEE_MAC, dport=40034, payload=RTCP_SR_SDES), "forwarded",
             cfg=DECREMENT_TTL | RTP_STATS, copied=True),
        case("RTCP copy: 802.1Q tagged, the payload found behind the tag",
             udp_frame(dport=40034, payload=RTCP_SR_SDES, vlan=5), "redirect",
             relayed(40034, "c1", CALLEE_MAC, dport=40034, payload=RTCP_SR_SDES, vlan=5), "forwarded",
             cfg=DECREMENT_TTL | RTP_STATS, copied=True),
        case("RTCP copy: none with rtp_stats = no (mp_cfg without RTP_STATS)",
             udp_frame(dport=40034, payload=RTCP_SR_SDES), "redirect",
             relayed(40034, "c1", CALLEE_MAC, dport=40034, payload=RTCP_SR_SDES), "forwarded"),
        case("RTCP copy: none of a packet from another source, dropped (DROP_OTHERS)",
             udp_frame(dport=40034, payload=RTCP_SR_SDES, sport=CALLER_PORT + 1), "drop", UNCHANGED,
             "drop_wrong_source", cfg=DECREMENT_TTL | RTP_STATS),
        case("RTCP copy: none of RTCP-looking bytes on an RTP leg (counted not_rtp there)",
             udp_frame(payload=RTCP_SR_SDES), "redirect",
             relayed(40000, "c1", CALLEE_MAC, payload=RTCP_SR_SDES), "forwarded",
             cfg=DECREMENT_TTL | RTP_STATS),
    ]
    return c + rtp_cases("xdp", 40030) + rtp_cases("tc", 40032)


class Runner:
    def __init__(self):
        self.proc = subprocess.Popen(["ip", "netns", "exec", NS, RUNNER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        hello = self.proc.stdout.readline().strip()
        if hello != "ready":
            raise RuntimeError("runner did not start: %r" % hello)

    def __call__(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError("runner died on: %s" % line[:80])
        return answer.strip()

    def ok(self, line):
        answer = self(line)
        if answer != "ok":
            raise RuntimeError("%s: %s" % (line, answer))

    def stats(self):
        return {k: int(v) for k, v in (kv.split("=") for kv in self("stats").split())}

    def rtp(self, port, local=RELAY):
        return {k: int(v) for k, v in (kv.split("=") for kv in self("rtp %s %d" % (local, port)).split())}

    def leg(self, port, local=RELAY):
        return [int(x) for x in self("leg %s %d" % (local, port)).split()]

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def ns(*args):
    sh("ip", "-n", NS, *args)


def sysctl(name, value):
    sh("ip", "netns", "exec", NS, "sysctl", "-qw", "%s=%s" % (name, value))


def make_netns():
    sh("ip", "netns", "add", NS)
    ns("link", "set", "lo", "up")
    sysctl("net.ipv6.conf.all.disable_ipv6", 1)
    sysctl("net.ipv6.conf.default.disable_ipv6", 1)
    for dev, (mac, addr, _) in DEVICES.items():
        ns("link", "add", dev, "address", mac, "type", "veth", "peer", "name", dev + "p")
        ns("addr", "add", addr, "dev", dev)
        ns("link", "set", dev + "p", "up")
        ns("link", "set", dev, "up")
    ns("route", "add", "198.18.1.0/24", "dev", "c0")
    ns("route", "add", "198.18.9.0/24", "dev", "c1", "mtu", "lock", "576")
    ns("route", "add", "unreachable", "198.18.6.0/24")
    ns("route", "add", "blackhole", "198.18.7.0/24")
    ns("route", "add", "prohibit", "198.18.8.0/24")
    ns("route", "add", "198.18.11.0/24", "via", GATEWAY, "dev", "c1")
    ns("route", "add", FLIPPED_NET, "via", GATEWAY, "dev", "c1")
    ns("route", "add", CALLEE, "via", GATEWAY, "dev", "c1", "table", TOS_TABLE)
    ns("rule", "add", "tos", "0x%x" % TOS_RULE, "table", TOS_TABLE)
    ns("route", "add", "198.18.10.0/24", "encap", "ip", "id", "1", "dst", "198.18.2.200", "dev", "c1")
    for dev, ip, mac in NEIGHBOURS:
        ns("neigh", "replace", ip, "lladdr", mac, "dev", dev, "nud", "permanent")
    sysctl("net.ipv4.ip_forward", 1)
    sysctl("net.ipv4.conf.c3.forwarding", 0)


def entry_cmd(local, port, expect, out_src, out_dst, flags):
    rtp = " %d %d" % RTP_LEGS[port] if local == RELAY and port in RTP_LEGS else ""
    return "entry %s %d %s %d %s %d %s %d %d%s" % (local, port, expect[0], expect[1], out_src[0], out_src[1],
                                                  out_dst[0], out_dst[1], flags, rtp)


def key_of(raw):
    """(daddr, dport) of an IPv4/UDP frame, or None."""
    try:
        p = Ether(raw)
        if IP in p and UDP in p and p[IP].frag == 0:
            return p[IP].dst, p[UDP].dport
    except Exception:
        pass
    return None


def ip_len(raw):
    return Ether(raw)[IP].len


def diff_note(got, want):
    at = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), min(len(got), len(want)))
    return ["first difference at byte %d (got %d bytes, expected %d)" % (at, len(got), len(want)),
            "got:      " + got.hex(), "expected: " + want.hex()]


class Fixtures:
    def __init__(self, run):
        self.run = run
        self.legs = {}      # (local ip, port) -> expected [packets, bytes, dropped]

    def add_entry(self, local, port, expect, out_src, out_dst, flags):
        self.run.ok(entry_cmd(local, port, expect, out_src, out_dst, flags))
        self.legs[(local, port)] = [0, 0, 0]

    def check_run(self, prog, dev, raw, verdict, want, stat, cfg, gso=None):
        """Runs one frame; returns a list of problems (empty: as expected)."""
        run = self.run
        run.ok("cfg %d %d %d" % ((PORT_MIN, PORT_MAX, cfg) if cfg is not None else (0, 0, 0)))
        key = key_of(raw)
        if key not in self.legs:
            key = None
        before, leg_before = run.stats(), key and run.leg(key[1], key[0])
        clock = time.clock_gettime_ns(CLOCK_MONOTONIC_COARSE)
        answer = run("run %s %s %s%s" % (prog, dev, raw.hex(), " %d" % gso if gso else ""))
        if answer.startswith("error"):
            return [answer]
        rc, out = answer.split() if " " in answer else (answer, "")
        out = bytes.fromhex(out)
        after = run.stats()
        problems = []
        if int(rc) != VERDICTS[prog][verdict]:
            problems.append("verdict %s, expected %d (%s)" % (rc, VERDICTS[prog][verdict], verdict))
        expected = raw if want is None else want
        if out != expected:
            problems += diff_note(out, expected)
        moved = {k: after[k] - before[k] for k in after if after[k] != before[k]}
        if moved != {stat: 1}:
            problems.append("mp_stats moved %s, expected %s=1" % (moved, stat))
        if key:
            forwarded, dropped = verdict in ("redirect", "tx"), verdict == "drop"
            exp = self.legs[key]
            if forwarded:
                exp[0] += 1
                exp[1] += ip_len(raw)
            exp[2] += dropped
            leg_after = run.leg(key[1], key[0])
            delta = [a - b for a, b in zip(leg_after, leg_before)]
            want_delta = [int(forwarded), ip_len(raw) if forwarded else 0, int(dropped)]
            if [delta[0], delta[1], delta[3]] != want_delta:
                problems.append("leg %s:%d moved packets/bytes/dropped_src by %s, expected %s" %
                                (key[0], key[1], [delta[0], delta[1], delta[3]], want_delta))
            # the programs' clock may be the coarse one: it moves once a tick
            if (leg_after[2] < clock) if forwarded else (leg_after[2] != leg_before[2]):
                problems.append("leg last_seen_ns %d -> %d (the clock read %d before)" %
                                (leg_before[2], leg_after[2], clock))
        return problems

    def check_legs(self, keys):
        problems = []
        for key in keys:
            packets, nbytes, last_seen, dropped = self.run.leg(key[1], key[0])
            want = self.legs[key]
            if [packets, nbytes, dropped] != want:
                problems.append("leg %s:%d packets/bytes/dropped_src %s, expected %s" %
                                (key[0], key[1], [packets, nbytes, dropped], want))
            if bool(last_seen) != bool(want[0]):
                problems.append("leg %s:%d last_seen_ns %d with %d packets" % (key[0], key[1], last_seen, want[0]))
        return problems


def check_copies(run, c):
    """The RTCP copies the run sent: the frame's UDP payload with its entry's
    stream (its port, in the runner) when c["copied"], else none."""
    got = run("rtcp").split()
    if got and got[0] == "error":
        return [" ".join(got)]
    want = ["0"]
    if c["copied"]:
        local, port = key_of(c["pkt"])
        payload = bytes(Ether(c["pkt"])[UDP].payload)
        want = ["1", str(port), local, str(port), payload.hex()]
    return [] if got == want else ["RTCP copies %s, expected %s" % (" ".join(got)[:200], " ".join(want)[:200])]


def random_entries(rng):
    ports = rng.sample([p for p in range(40020, 40099) if p != NO_ENTRY_PORT and p not in ENTRIES], 24)
    entries = []
    for port in ports:
        local = rng.choice([RELAY, "198.18.0.51"])
        expect = ("198.18.%d.%d" % (rng.choice([1, 2]), rng.randint(1, 254)), rng.randint(1, 65535))
        out_src = ("198.18.%d.%d" % (rng.randint(0, 255), rng.randint(1, 254)), rng.randint(1, 65535))
        out_dst = (rng.choice(sorted(POOL)), rng.randint(1, 65535))
        entries.append((local, port, expect, out_src, out_dst, rng.choice([0, DROP_OTHERS])))
    return entries


def random_packets(rng, entries, count):
    """[(ingress, input frame, verdict name, expected frame, cfg flags)]"""
    packets = []
    for _ in range(count):
        local, port, expect, out_src, out_dst, _ = rng.choice(entries)
        ingress = rng.choice(["c0", "c1"])
        egress, nh_mac = POOL[out_dst[0]]
        cfg = rng.choice([0, DECREMENT_TTL])
        kw = dict(src=expect[0], sport=expect[1], dst=local, dport=port, smac="02:00:c6:12:%02x:%02x" %
                  (rng.randint(0, 255), rng.randint(0, 255)), dmac=MAC[ingress], ttl=rng.randint(2, 255),
                  tos=rng.randint(0, 255), id=rng.randint(0, 65535), df=rng.random() < 0.5,
                  payload=rng.randbytes(rng.randint(0, 1400)))
        raw = bytes(udp_frame(**kw))
        kw.update(smac=MAC[egress], dmac=nh_mac, src=out_src[0], sport=out_src[1], dst=out_dst[0],
                  dport=out_dst[1], ttl=kw["ttl"] - (cfg & DECREMENT_TTL))
        want = bytes(udp_frame(**kw))
        packets.append((ingress, raw, "tx" if egress == ingress else "redirect", want, cfg))
    return packets


def main():
    cases = build_cases()
    total = sum(len(c["progs"]) for c in cases) + 4
    print("1..%d" % total)
    if os.geteuid() != 0:
        for i in range(total):
            print("ok %d - BPF packet fixture %d # SKIP needs root" % (i + 1, i + 1))
        return 0
    print("# seed %d (MP_FIXTURE_SEED)" % SEED)
    number, failed = 0, 0

    def tap(desc, problems, skip=None):
        nonlocal number, failed
        number += 1
        if skip:
            print("ok %d - %s # SKIP %s" % (number, desc, skip))
            return
        print("%sok %d - %s" % ("not " if problems else "", number, desc))
        for p in problems[:8]:
            print("# " + p)
        failed += bool(problems)

    run = None
    try:
        if not os.access(RUNNER, os.X_OK):
            raise RuntimeError("%s is not built (make %s)" % (RUNNER, RUNNER))
        make_netns()
        run = Runner()
        fx = Fixtures(run)
        for dev, (_, _, tx) in DEVICES.items():
            if tx:
                run.ok("tx " + dev)
        for port, (expect, out_src, out_dst, flags) in ENTRIES.items():
            fx.add_entry(RELAY, port, expect, out_src, out_dst, flags)
        for c in cases:
            for action in c["before"]:
                run.ok("gen") if action == "gen" else ns(*action.split())
            for prog in c["progs"]:
                desc = "%s: %s" % (prog, c["desc"])
                if prog == "xdp" and not XDP_CONTEXT:
                    tap(desc, [], skip=NO_XDP_CONTEXT)
                    continue
                problems = fx.check_run(prog, c["dev"], c["pkt"], c["verdict"], c["out"], c["stat"], c["cfg"],
                                        c["gso"])
                problems += check_copies(run, c)
                if c["rtp"]:
                    got = run.rtp(key_of(c["pkt"])[1])
                    problems += ["RTP statistics %s=%d, expected %d" % (k, got[k], v)
                                 for k, v in c["rtp"].items() if got[k] != v]
                if c["refused"] and problems == ["error test run: Invalid argument"]:
                    tap(desc, [], skip=c["refused"])
                else:
                    tap(desc, problems)
        tap("leg counters of the fixed entries: packets, bytes (IPv4 total length), last_seen_ns, dropped_src",
            fx.check_legs([(RELAY, p) for p in ENTRIES]))

        rng = random.Random(SEED)
        entries = random_entries(rng)
        for e in entries:
            fx.add_entry(*e)
        packets = random_packets(rng, entries, 200)
        for prog in ("xdp", "tc"):
            problems = []
            if prog == "xdp" and not XDP_CONTEXT:
                tap("xdp: randomized UDP datagrams against random entries", [], skip=NO_XDP_CONTEXT)
                continue
            for i, (ingress, raw, verdict, want, cfg) in enumerate(packets):
                p = fx.check_run(prog, ingress, raw, verdict, want, "forwarded", cfg)
                if p:
                    problems += ["packet %d (%d bytes, in %s, cfg %d):" % (i, len(raw), ingress, cfg)] + p
            tap("%s: randomized, %d UDP datagrams against %d random entries, byte-exact" %
                (prog, len(packets), len(entries)), problems)
        tap("leg counters of the random entries after both programs",
            fx.check_legs([(e[0], e[1]) for e in entries]))
    except Exception as e:
        print("# %s: %s" % (type(e).__name__, e))
        while number < total:
            tap("not run", ["aborted"])
    finally:
        if run:
            run.close()
        subprocess.run(["ip", "netns", "del", NS], stderr=subprocess.DEVNULL)
    return 1 if failed else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
