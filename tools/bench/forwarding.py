#!/usr/bin/python3
"""The media benchmarks: every relay's throughput (RFC 2544: the highest
rate it carries with under 0.1% loss for 5 s, searched on the offered
rate) and its CPU per packet there; every relay at one common rate they all
sustain; the XDP tier with [Relay] rtp_stats on and off, alternately at one
rate both sustain; every relay saturated (overload behaviour, reported,
never a target); the XDP tier's cost per packet from 10 streams to the most
this machine holds, repeated; and the relay's memory there.

  forwarding.py BUILD WORKDIR OUT.json [--quick]

A call's RTP runs both ways and is latched both ways; the loss-free search
and the common rate send A to B only, from one generator evenly paced (two
paced generators on one CPU would take turns and send in bursts), one
stream a call.  A trial counts what the generator sent in exactly its
duration (it stops itself) and what the sinks received once the last
packet is through, so loss is exact; the relay's CPU time (its processes
and its interfaces' NAPI threads, from schedstat) and the run time of its
BPF programs are read around it.
"""
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time

import lab
from lab import NS_A, NS_B, NS_R, A_IP, B_IP, GEN_CPU, RELAY_CPU, SINK_PORTS, Proc
from relays import RELAYS, FD_LIMIT, MAX_CALLS, MediaRelay, end_port

TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
RELAY_DEVS, END_DEVS = ("mpbr1", "mpbr2"), ("mpbe1", "mpbe2")
KINDS = ("ceiling", "xdp", "xdp-nostats", "tc", "conntrack", "userspace", "rtpengine", "rtpengine13")
WARM_PPS = 20000  # both directions together, to latch: every relay carries it
CALLS = 1000  # the throughput runs: 1,000 streams A to B
TRIAL_S = 5  # RFC 2544: loss under LOSS_OK for this long
LOSS_OK = 0.001
RESOLUTION = 0.05  # the search stops when the bounds are this close
# where each relay's search starts (packets/s A to B); it doubles or halves from there
FIRST_GUESS = {"ceiling": 1.6e6, "xdp": 1.2e6, "xdp-nostats": 1.2e6, "tc": 4e5, "conntrack": 3e5, "userspace": 2e4,
               "rtpengine": 2e4, "rtpengine13": 2e4}
SCALE_WINDOWS, SCALE_S = 5, 3  # the scale runs: windows of so many seconds, saturated
RTP_STATS_PAIRS = 5  # the rtp_stats comparison: runs of each, alternating
GENERATOR_PPS = 2e6  # about what one generator sends at most: beyond, a rate falling short is its own
# Relays that, once overloaded, keep losing a share of every stream's packets
# at any rate (rtpengine: "UDP receive queue exceeded" in its log, measured
# at 17-33% loss down to 2 kpps): set up afresh after a trial they failed.
RENEW_AFTER_FAILURE = ("rtpengine", "rtpengine13")


def stat_names():
    header = open(f"{TOP}/include/mp_stats.h").read()
    return re.findall(r'X\([A-Z0-9_]+, "([a-z0-9_]+)"\)', header)


def fastpath_stats(relay):
    """mp_stats summed over CPUs, by name; {} when the relay has no BPF tier."""
    if not isinstance(relay, MediaRelay) or relay.tier not in ("xdp", "tc"):
        return {}
    out = subprocess.run(["nsenter", "-t", str(relay.p.pid), "-m", "-n", "bpftool", "-j", "map", "dump", "pinned",
                          "/sys/fs/bpf/mediaproxy/mp_stats"], capture_output=True, text=True).stdout
    names = stat_names()
    return {names[e["formatted"]["key"]]: sum(v["value"] for v in e["formatted"]["values"])
            for e in json.loads(out or "[]")}


class Run:
    """One relay in fresh namespaces with `calls` calls, latched both ways."""

    def __init__(self, build, workdir, kind, calls):
        self.build, self.workdir, self.kind, self.calls = build, workdir, kind, calls
        os.makedirs(workdir, exist_ok=True)
        self.log = open(f"{workdir}/tools.log", "w")  # what gen and sink say
        self.topo = lab.Topology().__enter__()
        self.awake = lab.keep_awake(NS_R, RELAY_CPU)
        self.gens = []
        self.sinks = [Proc(ns, GEN_CPU, f"{build}/bench/sink", "-i", dev, "-p", "%d:%d" % SINK_PORTS, ready=True,
                           log=self.log) for ns, dev in ((NS_A, "mpbe1"), (NS_B, "mpbe2"))]
        # relays not in XDP need a program there all the same (ceiling.bpf.c says why)
        self.passer = None if kind in ("xdp", "xdp-nostats", "ceiling") else \
            Proc(NS_R, RELAY_CPU, f"{build}/bench/ceiling", "-p", *RELAY_DEVS, ready=True, log=self.log)
        self.relay = RELAYS[kind](build, workdir, kind)
        self.place_threads()
        self.mem_before = self.memory()
        t = time.monotonic()
        calls = self.relay.make_calls(calls)
        self.setup_s = time.monotonic() - t
        self.streams = {}
        for side, ip in (("a", A_IP), ("b", B_IP)):
            path = f"{workdir}/{side}.streams"
            with open(path, "w") as f:
                for i, c in enumerate(calls):
                    f.write(f"{ip} {end_port(i)} {c[side + '_to'][0]} {c[side + '_to'][1]}\n")
            self.streams[side] = path

    def gen(self, side, rate=0, batch=16, seconds=0):
        ns, dev, peer = {"a": (NS_A, "mpbe1", "mpbr1"), "b": (NS_B, "mpbe2", "mpbr2")}[side]
        args = ["-i", dev, "-m", self.topo.mac[peer], "-f", self.streams[side], "-b", str(batch)]
        args += ["-r", str(int(rate))] * bool(rate) + ["-d", str(seconds)] * bool(seconds)
        gen = Proc(ns, GEN_CPU, f"{self.build}/bench/gen", *args, ready=True, log=self.log)
        lab.pin([gen.p.pid], GEN_CPU, rt=5, policy="-r")  # two generators busy at once take turns
        return gen

    def stop_gens(self):
        for g in self.gens:
            g.stop()
        self.gens = []

    def latch(self, timeout=60):
        """Paced traffic both ways until every stream is carried end to end
        (and, in the BPF tiers, no packet misses the forwarding map any more)."""
        self.gens = [self.gen(side, WARM_PPS / 2) for side in "ab"]
        deadline = time.monotonic() + timeout
        prev = self.snapshot(sent=True)
        while time.monotonic() < deadline and not self.relay_died():
            time.sleep(0.5 if self.calls < 5000 else 1.0)
            cur = self.snapshot(sent=True)
            sent, got = cur["sent"] - prev["sent"], cur["received"] - prev["received"]
            missed = cur["fastpath"].get("pass_no_entry", 0) - prev["fastpath"].get("pass_no_entry", 0)
            prev = cur
            if sent and got >= 0.98 * sent and missed == 0:
                self.stop_gens()
                return time.monotonic() - deadline + timeout
        self.stop_gens()
        raise RuntimeError(self.relay_died() or f"the streams did not all latch within {timeout} s")

    def relay_died(self):
        """What a relay that exited last said, else None."""
        p = getattr(self.relay, "p", None)
        if p is None or p.poll() is None:
            return None
        self.relay.log.flush()
        last = open(self.relay.log.name).read().strip().split("\n")[-1]
        return f"the relay exited ({p.returncode}): {last}"

    def snapshot(self, sent=False):
        s = {"t": time.monotonic(), "relay_ns": lab.task_ns(self.relay.pids + lab.napi_threads(RELAY_DEVS))}
        if sent:
            s["sent"] = sum(g.poll()["sent"] for g in self.gens)
        hist = {}
        s["received"] = 0
        for sink in self.sinks:
            r = sink.poll()
            s["received"] += r["received"]
            for b, n in r["latency"]:
                hist[b] = hist.get(b, 0) + n
        s["hist"] = hist
        s["prog_ns"], s["prog_runs"] = lab.prog_stats(lab.xdp_tc_progs(NS_R))
        s["fastpath"] = fastpath_stats(self.relay)
        return s

    def place_threads(self):
        """The relay's tasks (its processes' threads and its interfaces'
        NAPI threads) on the relay CPU, before anything else that runs there
        on this shared machine: a veth's ring of 256 frames overflows while
        they wait a few milliseconds.  The sinks' NAPI threads likewise on
        theirs, and the generator after them but before anything else: it
        takes what CPU they leave.
        """
        lab.pin(lab.napi_threads(RELAY_DEVS), RELAY_CPU, rt=10)
        # media-relay's agent is no part of the kernel tiers' data path: at
        # the NAPI threads' priority its once-a-second scan of the counters
        # held them off long enough to overflow the ring (0.25% loss at
        # 75 kpps, none without it); softirqs preempt it just the same
        in_kernel = isinstance(self.relay, MediaRelay) and self.relay.tier != "userspace"
        lab.pin(self.relay.pids, RELAY_CPU, rt=0 if in_kernel else 10, threads=True)
        lab.pin(lab.napi_threads(END_DEVS), GEN_CPU, rt=10)

    def memory(self):
        pids = self.relay.pids
        return {"rss": sum(lab.rss_bytes(p) for p in pids), "bpf_maps": sum(lab.bpf_map_bytes(p) for p in pids)}

    def trial(self, rate=0, seconds=TRIAL_S, sides="a"):
        """The generators of `sides` send for exactly `seconds`, at `rate` in
        all (0: as fast as they go); what arrived once all is through."""
        self.place_threads()
        s0 = self.snapshot()
        self.gens = [self.gen(side, rate / len(sides), batch=16 if rate else 64, seconds=seconds) for side in sides]
        sent = 0
        for g in self.gens:
            sent += json.loads(g.p.stdout.readline())["sent"]
            g.p.wait()
        self.gens = []
        time.sleep(0.2)  # the last packets cross the relay
        s1 = self.snapshot()
        r = summarize(self.kind, self.calls * len(sides), seconds, sent, s0, s1)
        r["asked_pps"] = rate
        time.sleep(0.3)  # a userspace relay empties its sockets
        return r

    def renew(self):
        """The same relay and calls, set up afresh and latched."""
        self.close()
        self.__init__(self.build, self.workdir, self.kind, self.calls)
        self.latch()

    def close(self):
        self.stop_gens()
        self.relay.stop()
        for p in self.sinks + [self.passer] * bool(self.passer):
            p.stop()
        self.awake.kill()
        self.awake.wait()
        self.topo.__exit__(None, None, None)
        self.log.close()


def bucket_us(b):
    """The middle of histogram bucket b, in microseconds (bench.h)."""
    if b < 2048:
        return b + 0.5
    return 2048 + (b - 2048 + 0.5) * 64


def percentiles(hist, ps=(50, 99, 99.9)):
    total = sum(hist.values())
    out = {}
    for p in ps:
        want, seen = total * p / 100, 0
        for b in sorted(hist):
            seen += hist[b]
            if seen >= want:
                out[f"p{p:g}"] = bucket_us(b)
                break
    return out


def summarize(kind, streams, seconds, sent, s0, s1):
    got = s1["received"] - s0["received"]
    relay_s = (s1["relay_ns"] - s0["relay_ns"]) / 1e9
    runs = s1["prog_runs"] - s0["prog_runs"]
    fp = {k: s1["fastpath"][k] - s0["fastpath"].get(k, 0) for k in s1["fastpath"]}
    hist = {b: n - s0["hist"].get(b, 0) for b, n in s1["hist"].items() if n - s0["hist"].get(b, 0) > 0}
    r = {"relay": kind, "streams": streams, "seconds": seconds, "sent": sent, "received": got,
         "offered_pps": sent / seconds, "delivered_pps": got / seconds,
         "loss": max(0.0, 1 - got / sent) if sent else None,
         "relay_cpu": relay_s / seconds,  # cores busy
         "relay_ns_per_pkt": relay_s * 1e9 / got if got else None,
         "pps_per_cpu_s": got / relay_s if relay_s else None,
         "prog_ns_per_run": (s1["prog_ns"] - s0["prog_ns"]) / runs if runs else None,
         "latency_us": percentiles(hist) if hist else {}}
    if fp:
        seen = sum(fp.values())
        r["fastpath_share"] = (fp.get("forwarded", 0) + fp.get("forwarded_neigh", 0)) / seen if seen else None
    return r


def search(run, guess, log):
    """RFC 2544 throughput: the highest offered rate with loss under LOSS_OK
    for TRIAL_S, bracketed by doubling or halving from `guess`, then
    narrowed to RESOLUTION.  Returns (the trial at that rate, every trial)."""
    trials, best, fail = [], None, None
    rate = guess

    def passes(rate):
        r = run.trial(rate)
        trials.append(r)
        ok = r["loss"] is not None and r["loss"] < LOSS_OK
        log(f"  {rate / 1e3:,.0f} kpps asked, {r['offered_pps'] / 1e3:,.0f} sent: loss {r['loss']:.4%}")
        if not ok and run.kind in RENEW_AFTER_FAILURE:
            run.renew()
        return r, ok

    while best is None or fail is None:
        r, ok = passes(rate)
        if ok:
            best = r
            if r["offered_pps"] < 0.95 * rate and rate >= GENERATOR_PPS:  # its ceiling, not the relay's
                best["generator_bound"] = True
                return best, trials
            rate *= 2
        else:
            fail = r
            rate /= 2
            if rate < 1000:
                return None, trials
    while fail["asked_pps"] / best["asked_pps"] > 1 + RESOLUTION:
        rate = math.sqrt(best["asked_pps"] * fail["asked_pps"])
        r, ok = passes(rate)
        best, fail = (r, fail) if ok else (best, r)
    return best, trials


def in_fresh_run(build, workdir, kind, calls, measure, log, latch_timeout=60):
    """`kind` set up afresh with `calls` calls and latched: measure(run,
    seconds it took to latch).  A relay that fails is reported, and the
    others still run."""
    run = None
    try:
        run = Run(build, workdir, kind, calls)
        return measure(run, run.latch(latch_timeout))
    except Exception as e:
        log(f"  {kind} with {calls:,} calls failed: {e}")
        return {"relay": kind, "calls": calls, "streams": calls, "error": str(e)}
    finally:
        if run:
            run.close()


def throughput(run, latch_s, log):
    """The loss-free search, then a saturated trial for overload."""
    out = {"relay": run.kind, "calls": run.calls, "setup_s": run.setup_s, "latch_s": latch_s}
    out["best"], out["trials"] = search(run, FIRST_GUESS[run.kind], log)
    out["saturated"] = run.trial(0)
    log(f"  saturated: {json.dumps(out['saturated'])}")
    return out


def scale_point(run, windows, seconds, log):
    """`windows` saturated trials both ways."""
    trials = [run.trial(0, seconds, sides="ab") for _ in range(windows)]
    cost = [t["relay_ns_per_pkt"] for t in trials]
    prog = [t["prog_ns_per_run"] for t in trials]
    out = {"streams": 2 * run.calls, "calls": run.calls, "trials": trials,
           "relay_ns_per_pkt": statistics.median(cost), "relay_ns_min": min(cost), "relay_ns_max": max(cost),
           "prog_ns_per_run": statistics.median(prog), "prog_ns_min": min(prog), "prog_ns_max": max(prog),
           "delivered_pps": statistics.median(t["delivered_pps"] for t in trials),
           "memory_before": run.mem_before, "memory": run.memory()}
    log(f"  {out['streams']:,} streams: {out['relay_ns_per_pkt']:.0f} ns/packet ({min(cost):.0f}-{max(cost):.0f}), "
        f"program {out['prog_ns_per_run']:.0f} ns")
    return out


def rtp_stats_cost(build, work, throughputs, calls, pairs, log):
    """The XDP tier with rtp_stats on and off at one rate both carried
    without loss (below the lower of their throughputs), in fresh runs that
    alternate, so that the machine's drift meets both alike: each one's
    median program run time and relay CPU a packet.  None without both
    throughputs."""
    kinds = ("xdp", "xdp-nostats")
    best = {r["relay"]: r["best"]["offered_pps"] for r in throughputs if r["relay"] in kinds and r.get("best")}
    if len(best) < 2:
        return None
    rate = round_down(0.9 * min(best.values()))
    runs = {k: [] for k in kinds}
    for i in range(pairs):
        for kind in kinds if i % 2 == 0 else kinds[::-1]:
            log(f"{kind}: rtp_stats comparison, run {i + 1} of {pairs}, {rate:,.0f} packets/s")
            runs[kind].append(in_fresh_run(build, f"{work}/{kind}-rtp-stats-{i}", kind, calls,
                                           lambda run, _: run.trial(rate), log))
    out = {"rate_pps": rate, "pairs": pairs, "runs": runs}
    for kind, rs in runs.items():
        ok = [r for r in rs if "error" not in r and r.get("prog_ns_per_run")]
        out[kind] = {"prog_ns_per_run": statistics.median(r["prog_ns_per_run"] for r in ok) if ok else None,
                     "relay_ns_per_pkt": statistics.median(r["relay_ns_per_pkt"] for r in ok) if ok else None,
                     "max_loss": max((r["loss"] for r in ok), default=None), "runs": len(ok)}
    return out


def round_down(x):
    """x to one significant digit, downwards: 33,300 -> 30,000."""
    unit = 10 ** math.floor(math.log10(x))
    return math.floor(x / unit) * unit


def main(build, work, out, quick=False):
    def log(msg):
        print(f"bench: {msg}", file=sys.stderr, flush=True)

    global TRIAL_S
    calls = 100 if quick else CALLS
    windows = 2 if quick else SCALE_WINDOWS
    TRIAL_S = 2 if quick else TRIAL_S
    results = {"calls": calls, "trial_s": TRIAL_S, "loss_ok": LOSS_OK, "max_calls": MAX_CALLS, "fd_limit": FD_LIMIT,
               "throughput": [], "common": [], "scale": []}
    for kind in KINDS:
        log(f"{kind}: the highest loss-free rate with {calls:,} streams")
        results["throughput"].append(in_fresh_run(build, f"{work}/{kind}", kind, calls,
                                                  lambda run, latch_s: throughput(run, latch_s, log), log))
    carried = [r["best"]["offered_pps"] for r in results["throughput"] if r.get("best")]
    common = round_down(0.9 * min(carried))  # below every relay's throughput
    results["common_pps"] = common
    for kind in KINDS:
        log(f"{kind}: at the common rate, {common:,.0f} packets/s")
        results["common"].append(in_fresh_run(build, f"{work}/{kind}-common", kind, calls,
                                              lambda run, _: run.trial(common), log))
    results["rtp_stats"] = rtp_stats_cost(build, work, results["throughput"], calls, 2 if quick else RTP_STATS_PAIRS,
                                          log)
    points = (5, MAX_CALLS) if quick else (5, 500, MAX_CALLS)
    for n in points:
        log(f"xdp: saturated with {2 * n:,} streams, {windows} windows of {SCALE_S} s")
        point = in_fresh_run(build, f"{work}/scale-{n}", "xdp", n, lambda run, _: scale_point(run, windows, SCALE_S, log),
                             log, latch_timeout=120)
        results["scale"].append({**point, "streams": 2 * n})
    json.dump(results, open(out, "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], quick="--quick" in sys.argv[4:])
