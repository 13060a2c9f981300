#!/usr/bin/env python3
"""Where the fast path's time goes (doc/fast-path.md §11): the mean run time
of mp_xdp and mp_tc on one packet of each path through them, by
BPF_PROG_TEST_RUN in the fixtures' namespace (build/helpers/bpf_fixture_runner
`time`): a UDP packet outside the relay's port range (parsed, passed), one
to a port of the range without an entry (parsed, looked up, passed), and a
forwarded G.711 packet with [Relay] rtp_stats off and on (looked up,
rewritten, redirected; with the statistics counted and the jitter timed),
and between these one of a payload type the leg has no clock rate for:
counted, but neither the clock read nor the jitter's arithmetic.
Rounds alternate the paths; the medians are written as JSON.

  prog_cost.py OUT.json [ROUNDS [PACKETS]]    (root; make bench runs it
                                              under /tmp/mp-heavy.lock)
"""
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "selftests"))
import test_bpf_fixtures as fx  # noqa: E402

FORWARDED_PORT = 40030
UNTIMED_PT = 8  # the leg times payload type 0 (fx.RTP_LEGS): PCMA's packets are counted only
# path name: (destination port, config flags, RTP payload type)
PATHS = {"outside the port range": (fx.PORT_MAX + 1000, fx.DECREMENT_TTL, 0),
         "in the range, no entry": (fx.NO_ENTRY_PORT, fx.DECREMENT_TTL, 0),
         "forwarded, rtp_stats off": (FORWARDED_PORT, fx.DECREMENT_TTL, 0),
         "forwarded, rtp_stats on, untimed": (FORWARDED_PORT, fx.DECREMENT_TTL | fx.RTP_STATS, UNTIMED_PT),
         "forwarded, rtp_stats on": (FORWARDED_PORT, fx.DECREMENT_TTL | fx.RTP_STATS, 0)}


def main(out, rounds=7, packets=20000):
    rounds, packets = int(rounds), int(packets)
    run = None
    try:
        fx.make_netns()
        run = fx.Runner()
        run.ok("tx c0")
        run.ok("tx c1")
        expect, out_src, out_dst, flags = fx.ENTRIES[FORWARDED_PORT]
        run.ok(fx.entry_cmd(fx.RELAY, FORWARDED_PORT, expect, out_src, out_dst, flags))
        frames = {name: bytes(fx.udp_frame(dport=port, payload=fx.rtp_payload(1, pt=pt))).hex()
                  for name, (port, _, pt) in PATHS.items()}
        times = {}
        for prog in ("xdp", "tc"):
            for _ in range(rounds):
                for name, (_, cfg, _) in PATHS.items():
                    run.ok("cfg %d %d %d" % (fx.PORT_MIN, fx.PORT_MAX, cfg))
                    times.setdefault(prog, {}).setdefault(name, []).append(
                        float(run("time %s c0 %s %d" % (prog, frames[name], packets))))
        result = {prog: {name: statistics.median(t) for name, t in paths.items()} for prog, paths in times.items()}
        result["rounds"], result["packets"] = rounds, packets
        for prog in ("xdp", "tc"):
            print("bench: %s: " % prog + ", ".join("%s %.1f ns" % kv for kv in result[prog].items()),
                  file=sys.stderr, flush=True)
        json.dump(result, open(out, "w"), indent=1)
    finally:
        if run:
            run.close()
        subprocess.run(["ip", "netns", "del", fx.NS], stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main(*sys.argv[1:])
