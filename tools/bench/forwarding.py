#!/usr/bin/python3
"""The media benchmarks: forwarding (every relay side by side), scale (the
XDP tier from 10 to 30,000 streams), latency (XDP against userspace, over
the bare redirect) and the relay's memory at 30,000 streams.

  forwarding.py BUILD WORKDIR OUT.json [--quick]

A stream is one direction of a call's RTP: a call carries two, A to B and
B to A, each with its own generator (gen, on the ends' CPU) and sink.
Every run builds the namespaces anew, latches every stream at a low rate
(so that the relay has installed them all), then offers the load, lets it
settle and measures a window: packets the generators sent and the sinks
received, the relay's CPU time (its processes and its interfaces' NAPI
threads, from schedstat) and the run time of its BPF programs.
"""
import json
import os
import re
import subprocess
import sys
import time

import lab
from lab import NS_A, NS_B, NS_R, A_IP, B_IP, GEN_CPU, RELAY_CPU, SINK_PORTS, Proc
from relays import RELAYS, FD_LIMIT, MAX_CALLS, MediaRelay, end_port

TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
RELAY_DEVS, END_DEVS = ("mpbr1", "mpbr2"), ("mpbe1", "mpbe2")
WARM_PPS = 20000  # per direction: every relay carries it
FLOWS = 1000  # the side-by-side runs: 500 calls
FALLBACK_FLOWS = 400  # for a relay that fails with FLOWS
# Paced: one direction only (A to B), each frame sent on its own.  Two
# generators pacing on one CPU would take turns, each sending in bursts
# after the other's time slice.
PACED_PPS = 10000  # the userspace tier here takes about 40 kpps with a whole core


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
    """One relay in fresh namespaces with `flows` streams (flows / 2 calls)."""

    def __init__(self, build, workdir, kind, flows):
        self.build, self.kind, self.flows = build, kind, flows
        os.makedirs(workdir, exist_ok=True)
        self.log = open(f"{workdir}/tools.log", "w")  # what gen and sink say
        self.topo = lab.Topology().__enter__()
        self.gens = []
        self.sinks = [Proc(ns, GEN_CPU, f"{build}/bench/sink", "-i", dev, "-p", "%d:%d" % SINK_PORTS, ready=True,
                           log=self.log) for ns, dev in ((NS_A, "mpbe1"), (NS_B, "mpbe2"))]
        # relays not in XDP need a program there all the same (ceiling.bpf.c says why)
        self.passer = None if kind in ("xdp", "ceiling") else \
            Proc(NS_R, RELAY_CPU, f"{build}/bench/ceiling", "-p", *RELAY_DEVS, ready=True, log=self.log)
        self.relay = RELAYS[kind](build, workdir, kind)
        self.place_threads()
        self.mem_before = self.memory()
        t = time.monotonic()
        calls = self.relay.make_calls(max(1, flows // 2))
        self.setup_s = time.monotonic() - t
        self.streams = {}
        for side, ip, dev in (("a", A_IP, "mpbe1"), ("b", B_IP, "mpbe2")):
            path = f"{workdir}/{side}.streams"
            with open(path, "w") as f:
                for i, c in enumerate(calls):
                    f.write(f"{ip} {end_port(i)} {c[side + '_to'][0]} {c[side + '_to'][1]}\n")
            self.streams[side] = path

    def start_gens(self, rate=0, batch=64, sides="ab"):
        self.stop_gens()
        for side, ns, dev, peer in (("a", NS_A, "mpbe1", "mpbr1"), ("b", NS_B, "mpbe2", "mpbr2")):
            if side not in sides:
                continue
            args = ["-i", dev, "-m", self.topo.mac[peer], "-f", self.streams[side], "-b", str(batch)]
            self.gens.append(Proc(ns, GEN_CPU, f"{self.build}/bench/gen", *args, *(["-r", str(rate)] if rate else []),
                                  ready=True, log=self.log))

    def stop_gens(self):
        for g in self.gens:
            g.stop()
        self.gens = []

    def latch(self, timeout=60):
        """Paced traffic until every stream is carried end to end (and, in
        the BPF tiers, no packet misses the forwarding map any more)."""
        self.start_gens(WARM_PPS, batch=16)
        deadline = time.monotonic() + timeout
        prev = self.snapshot()
        while time.monotonic() < deadline and not self.relay_died():
            time.sleep(0.5 if self.flows < 10000 else 1.0)
            cur = self.snapshot()
            sent, got = cur["sent"] - prev["sent"], cur["received"] - prev["received"]
            missed = cur["fastpath"].get("pass_no_entry", 0) - prev["fastpath"].get("pass_no_entry", 0)
            prev = cur
            if sent and got >= 0.98 * sent and missed == 0:
                self.stop_gens()
                return time.monotonic() - deadline + timeout
        raise RuntimeError(self.relay_died() or f"the streams did not all latch within {timeout} s")

    def relay_died(self):
        """What a relay that exited last said, else None."""
        p = getattr(self.relay, "p", None)
        if p is None or p.poll() is None:
            return None
        self.relay.log.flush()
        last = open(self.relay.log.name).read().strip().split("\n")[-1]
        return f"the relay exited ({p.returncode}): {last}"

    def snapshot(self):
        s = {"t": time.monotonic(),
             "relay_ns": lab.task_ns(self.relay.pids + lab.napi_threads(RELAY_DEVS)),
             "ends_ns": lab.task_ns([g.p.pid for g in self.gens] + lab.napi_threads(END_DEVS)),
             "sent": sum(g.poll()["sent"] for g in self.gens)}
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
        """The relay's NAPI threads on the relay CPU; the sinks' before the
        generators on theirs, so that a generator never starves a sink: the
        generators take what CPU is left, and send less when the sinks have more to do.
        """
        lab.pin(lab.napi_threads(RELAY_DEVS), RELAY_CPU)
        lab.pin(lab.napi_threads(END_DEVS), GEN_CPU, rt=True)

    def memory(self):
        pids = self.relay.pids
        return {"rss": sum(lab.rss_bytes(p) for p in pids), "bpf_maps": sum(lab.bpf_map_bytes(p) for p in pids)}

    def measure(self, rate=0, batch=64, settle=1.0, duration=5.0, sides="ab"):
        self.start_gens(rate, batch, sides)
        self.place_threads()
        time.sleep(settle)
        s0 = self.snapshot()
        time.sleep(duration)
        s1 = self.snapshot()
        self.stop_gens()
        return summarize(self.kind, self.flows, s0, s1)

    def close(self):
        self.stop_gens()
        self.relay.stop()
        for p in self.sinks + [self.passer] * bool(self.passer):
            p.stop()
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


def summarize(kind, flows, s0, s1):
    dt = s1["t"] - s0["t"]
    sent, got = s1["sent"] - s0["sent"], s1["received"] - s0["received"]
    relay_s = (s1["relay_ns"] - s0["relay_ns"]) / 1e9
    runs = s1["prog_runs"] - s0["prog_runs"]
    fp = {k: s1["fastpath"][k] - s0["fastpath"].get(k, 0) for k in s1["fastpath"]}
    hist = {b: n - s0["hist"].get(b, 0) for b, n in s1["hist"].items() if n - s0["hist"].get(b, 0) > 0}
    r = {"relay": kind, "flows": flows, "seconds": dt,
         "offered_pps": sent / dt, "delivered_pps": got / dt,
         # the two counters are read a moment apart: a hair below zero is zero
         "loss": max(0.0, 1 - got / sent) if sent else None,
         "relay_cpu": relay_s / dt,  # cores busy
         "ends_cpu": (s1["ends_ns"] - s0["ends_ns"]) / 1e9 / dt,
         "relay_ns_per_pkt": relay_s * 1e9 / got if got else None,
         "pps_per_cpu_s": got / relay_s if relay_s else None,
         "prog_ns_per_run": (s1["prog_ns"] - s0["prog_ns"]) / runs if runs else None,
         "latency_us": percentiles(hist) if hist else {}}
    if fp:
        seen = sum(fp.values())
        r["fastpath_share"] = (fp.get("forwarded", 0) + fp.get("forwarded_neigh", 0)) / seen if seen else None
    return r


def one(build, work, kind, flows, memory=False, **measure):
    print(f"bench: {kind}, {flows} streams{', paced at %d pps' % measure['rate'] if measure.get('rate') else ''}",
          file=sys.stderr, flush=True)
    run = None
    try:
        run = Run(build, f"{work}/{kind}-{flows}", kind, flows)
        latch_s = run.latch()
        r = run.measure(**measure)
        r["setup_s"], r["latch_s"] = run.setup_s, latch_s
        if memory:
            r["memory_before"], r["memory"] = run.mem_before, run.memory()
        print(f"bench:   {json.dumps(r)}", file=sys.stderr, flush=True)
        return r
    except Exception as e:  # a relay that fails is reported, the others still run
        print(f"bench:   {kind} failed: {e}", file=sys.stderr, flush=True)
        return {"relay": kind, "flows": flows, "error": str(e)}
    finally:
        if run:
            run.close()


def main(build, work, out, quick=False):
    dur = {"settle": 0.5, "duration": 1.5} if quick else {"settle": 1.0, "duration": 5.0}
    max_flows = 2 * MAX_CALLS
    results = {"flows": FLOWS, "paced_pps": PACED_PPS, "max_flows": max_flows, "fd_limit": FD_LIMIT,
               "forwarding": [], "scale": []}
    for kind in ("ceiling", "xdp", "tc", "conntrack", "userspace", "rtpengine"):
        # paced: well below every relay's capacity, evenly spaced, for latency without queues
        for paced in ({}, {"rate": PACED_PPS, "batch": 1, "sides": "a"}):
            r = one(build, work, kind, FLOWS, **paced, **dur)
            if "error" in r:
                r = {**one(build, work, kind, FALLBACK_FLOWS, **paced, **dur), "failed_at": r}
            results["forwarding"].append({**r, "paced": bool(paced)})
    points = (10, max_flows) if quick else sorted({10, 1000, min(10000, max_flows), min(30000, max_flows)})
    for n in points:
        results["scale"].append(one(build, work, "xdp", n, memory=(n == points[-1]), **dur))
    json.dump(results, open(out, "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], quick="--quick" in sys.argv[4:])
