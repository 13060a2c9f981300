#!/usr/bin/env python3
"""What [Relay] rtp_stats costs the fast path (doc/fast-path.md §11): the
mean run time of mp_xdp and mp_tc on a forwarded G.711 packet, with
MP_CFG_RTP_STATS off and on, by BPF_PROG_TEST_RUN in the fixtures'
namespace (build/helpers/bpf_fixture_runner `time`).  Each packet has the
next sequence number, so every one takes the full path: counted, timed
for the jitter.  Rounds alternate off and on; the medians are printed.

  rtp_stats_cost.py [ROUNDS [PACKETS]]     (root; take /work/.selftest.lock
                                            and /tmp/mp-heavy.lock around it)
"""
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "selftests"))
import test_bpf_fixtures as fx  # noqa: E402


def main(rounds=7, packets=20000):
    rounds, packets = int(rounds), int(packets)
    frame = bytes(fx.udp_frame(dport=40030, payload=fx.rtp_payload(1))).hex()
    run = None
    try:
        fx.make_netns()
        run = fx.Runner()
        run.ok("tx c0")
        run.ok("tx c1")
        expect, out_src, out_dst, flags = fx.ENTRIES[40030]
        run.ok(fx.entry_cmd(fx.RELAY, 40030, expect, out_src, out_dst, flags))
        times = {}
        for prog in ("xdp", "tc"):
            for _ in range(rounds):
                for name, cfg in (("off", fx.DECREMENT_TTL), ("on", fx.DECREMENT_TTL | fx.RTP_STATS)):
                    run.ok("cfg %d %d %d" % (fx.PORT_MIN, fx.PORT_MAX, cfg))
                    times.setdefault((prog, name), []).append(float(run("time %s c0 %s %d" % (prog, frame, packets))))
        stats = run.rtp(40030)
        for prog in ("xdp", "tc"):
            off, on = statistics.median(times[(prog, "off")]), statistics.median(times[(prog, "on")])
            print("%s: rtp_stats off %.1f ns/packet, on %.1f ns/packet: %+.1f ns (%+.1f%%)  [%d rounds of %d]" %
                  (prog, off, on, on - off, 100 * (on - off) / off, rounds, packets))
        print("leg statistics after the runs:", stats)
    finally:
        if run:
            run.close()
        subprocess.run(["ip", "netns", "del", fx.NS], stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main(*sys.argv[1:])
