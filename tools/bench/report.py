#!/usr/bin/python3
"""Writes the bench's results as a markdown table and a plot.

  report.py FORWARDING.json CONTROL.json PROG_COST.json RESULTS_DIR SECONDS_TAKEN

Writes RESULTS_DIR/YYYY-MM-DD.md and .png, and copies them to latest.md
and latest.png.  Every ratio is taken between points of this one run, and
says which points.
"""
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NAMES = {"ceiling": "bare XDP redirect (ceiling)", "xdp": "media-relay XDP tier",
         "xdp-nostats": "media-relay XDP tier, rtp_stats = no", "tc": "media-relay tc tier",
         "conntrack": "media-relay conntrack tier", "userspace": "media-relay userspace tier",
         "rtpengine": "rtpengine 10.5 (Debian 12)", "rtpengine13": "rtpengine 12.5 (Debian 13)"}
PEERS = ("rtpengine", "rtpengine13")


def fmt(v, scale=1, digits=2, unit=""):
    return "–" if v is None else f"{v * scale:,.{digits}f}{unit}"


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    return (f"{os.cpu_count()} × {cpu}, {mem / 2**20:.1f} GiB; kernel {platform.release()}; "
            f"commit {commit or '?'}")


def point(fw, relay):
    """A relay's throughput point (its trial at the highest loss-free rate), or None."""
    r = next((r for r in fw["throughput"] if r["relay"] == relay), None)
    return r.get("best") if r else None


def target(name, value, basis, goal, met, why):
    if value is None:
        return f"| {name} | not measured | {basis} | {goal} | – | {why} |"
    verdict = "–" if goal == "reported" else "yes" if met else "**no**"
    return f"| {name} | {value} | {basis} | {goal} | {verdict} | {'' if met else why} |"


def throughput_section(fw):
    L = ["## Media forwarding: throughput", "",
         f"{fw['calls']:,} calls latched both ways; the load is {fw['calls']:,} streams from A to B, 200-byte IPv4 "
         "packets (172 bytes of RTP), from one evenly paced generator.  *Throughput* (RFC 2544): the highest "
         f"offered rate carried with under {fw['loss_ok']:.1%} loss for {fw['trial_s']} s, searched on the rate "
         "(doubling or halving from a first guess, then narrowing to 5%); at that rate, the relay's CPU: the CPU "
         "time of its processes and of its interfaces' NAPI threads, all pinned to one core.", "",
         "| relay | throughput Mpps | loss there | relay CPU (cores) | relay ns/packet | Mpps per relay CPU-second | "
         "BPF program ns/packet | trials |", "|---|---|---|---|---|---|---|---|"]
    notes = []
    for r in fw["throughput"]:
        name = NAMES[r["relay"]]
        b = r.get("best")
        if not b:
            L.append(f"| {name} | failed: {r.get('error', 'no rate carried without loss')} |||||||")
            continue
        if b.get("generator_bound"):
            name += " ¹"
            notes.append(f"¹ {NAMES[r['relay']]}: the generator's ceiling ({b['offered_pps'] / 1e6:.2f} Mpps) was "
                         f"reached first, with the relay's core {b['relay_cpu']:.0%} busy: its throughput is at least "
                         "this; its CPU per packet is from a core not saturated.")
        L.append(f"| {name} | {fmt(b['offered_pps'], 1e-6, 3)} | {fmt(b['loss'], 100, 3, '%')} | "
                 f"{fmt(b['relay_cpu'])} | {fmt(b['relay_ns_per_pkt'], 1, 0)} | {fmt(b['pps_per_cpu_s'], 1e-6, 3)} | "
                 f"{fmt(b.get('prog_ns_per_run'), 1, 0) if r['relay'] in ('xdp', 'xdp-nostats', 'tc', 'ceiling') else '–'} | "
                 f"{len(r['trials'])} |")
    L += [""] + notes if notes else []
    return L


def common_section(fw):
    rate = fw.get("common_pps")
    L = ["", "## Every relay at one rate", "",
         f"{rate:,.0f} packets/s from A to B, a round rate below every relay's throughput, 5 s; latency one-way, "
         "sender to receiver.  Below a relay's throughput its CPU per packet includes waking its threads, "
         "more so the lighter the load.", "",
         "| relay | loss | relay CPU (cores) | relay ns/packet | Mpps per relay CPU-second | latency p50 µs | "
         "p99 µs | p99.9 µs |", "|---|---|---|---|---|---|---|---|"]
    for r in fw["common"]:
        if "error" in r:
            L.append(f"| {NAMES[r['relay']]} | failed: {r['error']} |||||||")
            continue
        lat = r.get("latency_us", {})
        L.append(f"| {NAMES[r['relay']]} | {fmt(r['loss'], 100, 3, '%')} | {fmt(r['relay_cpu'])} | "
                 f"{fmt(r['relay_ns_per_pkt'], 1, 0)} | {fmt(r['pps_per_cpu_s'], 1e-6, 3)} | "
                 f"{fmt(lat.get('p50'), 1, 0)} | {fmt(lat.get('p99'), 1, 0)} | {fmt(lat.get('p99.9'), 1, 0)} |")
    L += ["", "### Overload (saturated, not a basis for any target)", "",
          "The generator sends as fast as it can for 5 s, A to B.  What a relay cannot take is lost on its way "
          "in (a veth's ring holds 256 frames, a socket's buffer overflows); a userspace relay also spends its "
          "core receiving what it then drops.", "",
          "| relay | offered Mpps | delivered Mpps | loss | relay CPU (cores) |", "|---|---|---|---|---|"]
    for r in fw["throughput"]:
        s = r.get("saturated")
        if s:
            L.append(f"| {NAMES[r['relay']]} | {fmt(s['offered_pps'], 1e-6)} | {fmt(s['delivered_pps'], 1e-6)} | "
                     f"{fmt(s['loss'], 100, 1, '%')} | {fmt(s['relay_cpu'])} |")
    return L


def prog_cost_section(pc):
    paths = list(pc["xdp"])
    L = ["", "## Where the programs' time goes", "",
         f"The mean run time of mp_xdp and mp_tc on one packet of each path (BPF_PROG_TEST_RUN, "
         f"the median of {pc['rounds']} rounds of {pc['packets']:,} packets, `prog_cost.py`); a path's "
         "cost over the one above it is what its extra step costs.", "",
         "| program | " + " | ".join(paths) + " |", "|---" * (len(paths) + 1) + "|"]
    for prog in ("xdp", "tc"):
        L.append(f"| mp_{prog} | " + " | ".join(f"{pc[prog][p]:.0f} ns" for p in paths) + " |")
    return L


def rtp_stats_section(fw):
    rs = fw.get("rtp_stats")
    if not rs:
        return []
    L = ["", "## rtp_stats on and off", "",
         f"The XDP tier with [Relay] rtp_stats = yes and = no, set up afresh for each run, the runs alternating, "
         f"{rs['rate_pps']:,.0f} packets/s for {fw['trial_s']} s each (a rate below both throughputs): the BPF "
         "program's mean run time (bpf_stats) and the relay's CPU a packet, run by run.", "",
         "| run | rtp_stats | program ns/packet | relay ns/packet | loss |", "|---|---|---|---|---|"]
    for i in range(rs["pairs"]):
        for kind, name in (("xdp", "yes"), ("xdp-nostats", "no")):
            r = rs["runs"][kind][i]
            if "error" in r:
                L.append(f"| {i + 1} | {name} | failed: {r['error']} | | |")
            else:
                L.append(f"| {i + 1} | {name} | {fmt(r['prog_ns_per_run'], 1, 0)} | {fmt(r['relay_ns_per_pkt'], 1, 0)} | "
                         f"{fmt(r['loss'], 100, 3, '%')} |")
    return L


def scale_section(fw):
    ok = [r for r in fw["scale"] if "error" not in r]
    n = len(ok[0]["trials"]) if ok else 0
    L = ["", "## Scale: the XDP tier, saturated both ways", "",
         f"Each point: {n} windows of {ok[0]['trials'][0]['seconds'] if ok else '?'} s on one setup; the median, "
         "and in brackets the lowest and highest window.", "",
         "| streams | delivered Mpps | relay ns/packet | BPF program ns/packet |", "|---|---|---|---|"]
    for r in fw["scale"]:
        if "error" in r:
            L.append(f"| {r['streams']:,} | failed: {r['error']} |||")
            continue
        L.append(f"| {r['streams']:,} | {fmt(r['delivered_pps'], 1e-6)} | {r['relay_ns_per_pkt']:,.0f} "
                 f"({r['relay_ns_min']:,.0f}–{r['relay_ns_max']:,.0f}) | {r['prog_ns_per_run']:,.0f} "
                 f"({r['prog_ns_min']:,.0f}–{r['prog_ns_max']:,.0f}) |")
    if 2 * fw["max_calls"] < 30000:
        L += ["", f"At most {2 * fw['max_calls']:,} streams fit here: the relay holds a socket for each of a "
              f"call's 4 ports, and this machine's hard limit on open files is {fw['fd_limit']:,} (no "
              "CAP_SYS_RESOURCE to raise it)."]
    big = ok[-1] if ok else None
    if big:
        m, m0, s = big["memory"], big["memory_before"], big["streams"]
        L += ["", f"Memory at {s:,} streams: relay RSS {m['rss'] / 2**20:.1f} MiB ({m0['rss'] / 2**20:.1f} MiB "
              f"before the calls), BPF maps {m['bpf_maps'] / 2**20:.1f} MiB (sized for the whole port range at "
              f"start); {(m['rss'] - m0['rss']) / s:,.0f} bytes of RSS came with each stream."]
    return L


def control_section(cp):
    cols = [k for k in ("ours",) + PEERS if k in cp]
    names = {"ours": "media-dispatcher + media-relay (TLS)", **{k: NAMES[k] for k in PEERS}}
    L = ["", "## Control plane, side by side", "",
         "cpload plays the proxy's module: for us `update` (offer), `update` (answer) and `remove` on the "
         "dispatcher's UNIX socket, the dispatcher handing each to a relay over mutual TLS; for rtpengine ng "
         "`offer`, `answer` and `delete` over UDP.  16 connections, each one request outstanding; a call held "
         "1 s at the fixed rate; everything on the machine's two cores.  Memory per held call: what the "
         "daemons' RSS grew by with 2,500 calls set up and held.", "",
         "| | " + " | ".join(names[k] for k in cols) + " |", "|---" * (len(cols) + 1) + "|"]

    def row(label, f):
        cells = []
        for k in cols:
            c = cp[k]
            try:
                cells.append(f(c) if "error" not in c else "failed")
            except (KeyError, TypeError):
                cells.append("–")
        L.append(f"| {label} | " + " | ".join(cells) + " |")

    row("calls/s at saturation", lambda c: f"{c['saturation']['calls_per_s']:,.0f}")
    row("calls/s started at 2,000 offered", lambda c: f"{c['fixed']['started_per_s']:,.0f}")
    row("offer/answer p50 ms at 2,000 calls/s", lambda c: fmt(c["fixed"]["update_ms"].get("p50"), 1, 3))
    row("offer/answer p99 ms at 2,000 calls/s", lambda c: fmt(c["fixed"]["update_ms"].get("p99"), 1, 3))
    row("remove/delete p99 ms at 2,000 calls/s", lambda c: fmt(c["fixed"]["remove_ms"].get("p99"), 1, 3))
    row("the same p99 with 2,500 calls held", lambda c: fmt(c["loaded"]["update_ms"].get("p99"), 1, 3))
    row("CPU at 2,000 calls/s: the daemons, cpload (cores of 2)",
        lambda c: f"{c['fixed']['daemons_cpu']:.2f}, {c['fixed']['client_cpu']:.2f}")
    row("memory per held call (bytes of RSS)", lambda c: f"{c['held']['rss_per_call']:,.0f}")
    row("failed requests (all phases)", lambda c: f"{sum(c[p]['failed'] for p in ('fixed', 'saturation', 'held', 'loaded')):,}")
    return L


def update_p99_why(u):
    """What the update latency was while the relay wrote its state snapshots, and otherwise."""
    why = (f"p50 is {fmt(u['update_ms'].get('p50'), 1, 3)} ms; the dispatcher and the relay took "
           f"{u.get('daemons_cpu', 0):.2f} cores and cpload {u.get('client_cpu', 0):.2f} of the two")
    s = u.get("snapshots")
    if not s or not s["count"]:
        return why
    return (why + f". The relay forks a child to write its state file, at most once a second: {s['count']} "
            f"snapshots, {s['mean_ms']:.0f} ms each from fork to exit. Updates in flight while one was written: "
            f"p99 {fmt(s['p99_during'], 1, 3)} ms ({s['updates_during']:,}); the others: p99 "
            f"{fmt(s['p99_outside'], 1, 3)} ms ({s['updates_outside']:,})")


def prog_cost_why(pc):
    """The measured steps of the XDP program, from prog_cost.py."""
    if not pc:
        return "its steps were not timed in this run"
    t = pc["xdp"]
    return (f"by BPF_PROG_TEST_RUN (its own overhead in every figure), a packet parsed and passed takes "
            f"{t['outside the port range']:.0f} ns; the lookup of a port without an entry adds "
            f"{t['in the range, no entry'] - t['outside the port range']:.0f} ns, forwarding (rewrite, "
            f"next hop, counters, redirect) {t['forwarded, rtp_stats off'] - t['in the range, no entry']:.0f} ns "
            f"more, the RTP statistics {t['forwarded, rtp_stats on'] - t['forwarded, rtp_stats off']:.0f} ns more")


def rtp_stats_why(x, off, pc):
    """Where the statistics' ns go: counting, and the jitter's clock read (prog_cost.py)."""
    why = f"{x['prog_ns_per_run'] - off['prog_ns_per_run']:.0f} ns more in the program"
    if pc:
        t = pc["xdp"]
        why += (f"; by BPF_PROG_TEST_RUN, counting (the RTP header, sequence, SSRC) "
                f"{t['forwarded, rtp_stats on, untimed'] - t['forwarded, rtp_stats off']:+.0f} ns, the jitter's "
                f"precise clock read and arithmetic {t['forwarded, rtp_stats on'] - t['forwarded, rtp_stats on, untimed']:+.0f} ns")
    return why


def targets_section(fw, cp, pc):
    x, ce, tc = point(fw, "xdp"), point(fw, "ceiling"), point(fw, "tc")
    peers = [(k, point(fw, k)) for k in PEERS if point(fw, k)]
    best_peer = max(peers, key=lambda kp: kp[1]["pps_per_cpu_s"], default=(None, None))
    basis = "each relay at its throughput point"
    L = ["", "## Targets", "", "| target | measured | basis | goal | met | why not (measured) |",
         "|---|---|---|---|---|---|"]
    if x and best_peer[1]:
        k, p = best_peer
        r = x["pps_per_cpu_s"] / p["pps_per_cpu_s"]
        L.append(target(f"XDP tier against the better rtpengine ({NAMES[k]}), packets per relay CPU-second",
                        f"{r:.1f}×", basis, "≥ 10×", r >= 10,
                        f"short by {(1 - r / 10):.0%}: the XDP tier costs {x['relay_ns_per_pkt']:,.0f} ns a packet "
                        f"of relay CPU, {NAMES[k]} {p['relay_ns_per_pkt']:,.0f} ns"))
    if x and ce:
        r = x["prog_ns_per_run"] / ce["prog_ns_per_run"]
        L.append(target("XDP program's ns a packet against the bare redirect's", f"{r:.2f}× "
                        f"({x['prog_ns_per_run']:.0f} against {ce['prog_ns_per_run']:.0f} ns)",
                        basis + ", bpf_stats", "≤ 2×", r <= 2,
                        f"over by {r / 2 - 1:.0%}: " + prog_cost_why(pc)))
        r = x["pps_per_cpu_s"] / ce["pps_per_cpu_s"]
        L.append(target("XDP tier against the bare redirect, packets per relay CPU-second", f"{r:.2f}×", basis,
                        "≥ 0.85×", r >= 0.85,
                        f"short by {1 - r / 0.85:.0%}: relay ns a packet {x['relay_ns_per_pkt']:,.0f} against "
                        f"{ce['relay_ns_per_pkt']:,.0f}, of which the programs {x['prog_ns_per_run']:.0f} against "
                        f"{ce['prog_ns_per_run']:.0f} ns" +
                        (f"; the bare redirect's point is the generator's ceiling, its core {ce['relay_cpu']:.0%} busy"
                         if ce.get("generator_bound") else "")))
    rs = fw.get("rtp_stats")
    if rs and rs["xdp"]["prog_ns_per_run"] and rs["xdp-nostats"]["prog_ns_per_run"]:
        # issue 19's bound is on the program; the relay's CPU a packet is said beside it
        on, off = rs["xdp"], rs["xdp-nostats"]
        L.append(target("what [Relay] rtp_stats costs the XDP program a packet (issue 19: ≤ 15%)",
                        f"{on['prog_ns_per_run'] / off['prog_ns_per_run'] - 1:+.0%} ({on['prog_ns_per_run']:.0f} "
                        f"against {off['prog_ns_per_run']:.0f} ns); the relay's CPU "
                        f"{on['relay_ns_per_pkt'] / off['relay_ns_per_pkt'] - 1:+.0%} a packet "
                        f"({on['relay_ns_per_pkt']:,.0f} against {off['relay_ns_per_pkt']:,.0f} ns)",
                        f"both at {rs['rate_pps']:,.0f} packets/s (a rate both carry: loss at most "
                        f"{max(on['max_loss'], off['max_loss']):.3%}), the medians of {rs['pairs']} runs each, "
                        "alternating, bpf_stats", "≤ +15%",
                        on["prog_ns_per_run"] <= 1.15 * off["prog_ns_per_run"], rtp_stats_why(on, off, pc)))
    if tc and ce:
        r = tc["pps_per_cpu_s"] / ce["pps_per_cpu_s"]
        L.append(target("tc tier against the bare redirect, packets per relay CPU-second (measured the same way)",
                        f"{r:.2f}× (program {fmt(tc.get('prog_ns_per_run'), 1, 0)} ns)", basis, "reported", True, ""))
    ok = [r for r in fw["scale"] if "error" not in r]
    if len(ok) >= 2:
        lo, hi = ok[0], ok[-1]
        growth = hi["relay_ns_per_pkt"] / lo["relay_ns_per_pkt"] - 1
        spread = max((r["relay_ns_max"] - r["relay_ns_min"]) / r["relay_ns_per_pkt"] for r in (lo, hi))
        L.append(target(f"relay cost per packet at {hi['streams']:,} streams (this machine's limit: open files) "
                        f"against {lo['streams']:,}", f"{growth:+.0%}",
                        f"medians of {len(hi['trials'])} saturated windows each (spread up to {spread:.0%})",
                        "within 10%", abs(growth) <= 0.10,
                        f"the program's run time went from {lo['prog_ns_per_run']:.0f} to "
                        f"{hi['prog_ns_per_run']:.0f} ns a packet: {hi['streams']:,} entries and their next hops "
                        "no longer stay in the CPU's caches"))
    ours = cp.get("ours", {})
    peer_cp = [(k, cp[k]) for k in PEERS if k in cp and "error" not in cp[k]]
    if ours and peer_cp:
        k, p = max(peer_cp, key=lambda kp: kp[1]["saturation"]["calls_per_s"])
        a, b = ours["saturation"]["calls_per_s"], p["saturation"]["calls_per_s"]
        L.append(target(f"calls/s at saturation against {NAMES[k]}", f"{a:,.0f} against {b:,.0f}",
                        "16 connections each, same cores", "≥", a >= b,
                        f"short by {1 - a / b:.0%}: an update is a round trip through the dispatcher and over TLS "
                        f"to the relay (p50 {ours['saturation']['update_ms'].get('p50', 0):.3f} ms), an ng offer "
                        f"one datagram to rtpengine (p50 {p['saturation']['update_ms'].get('p50', 0):.3f} ms)"))
        k, p = min(peer_cp, key=lambda kp: kp[1]["held"]["rss_per_call"])
        a, b = ours["held"]["rss_per_call"], p["held"]["rss_per_call"]
        L.append(target(f"memory per held call against {NAMES[k]}", f"{a:,.0f} against {b:,.0f} bytes",
                        "RSS growth with 2,500 calls held", "≤", a <= b,
                        f"over by {a / b - 1:.0%}"))
    if ours:
        u = ours["fixed"]
        L.append(target(f"update p99 at {u['rate']:,} calls/s", fmt(u["update_ms"].get("p99"), 1, 3, " ms"),
                        f"{u['update_ms'].get('count', 0):,} updates, calls held {u['hold']:g} s", "< 2 ms",
                        u["update_ms"].get("p99") is not None and u["update_ms"]["p99"] < 2 and u["rate"] >= 2000,
                        update_p99_why(u)))
    return L


def write(fw, cp, pc, out_dir, taken):
    today = datetime.date.today().isoformat()
    L = [f"# MediaProxy benchmarks, {today}", "",
         f"Machine: {machine()}.  `make bench` took {taken / 60:.1f} minutes.  "
         "How it is measured: [tools/bench/README.md](../README.md).", ""]
    L += throughput_section(fw) + common_section(fw) + rtp_stats_section(fw) + scale_section(fw)
    if pc:
        L += prog_cost_section(pc)
    if cp:
        L += control_section(cp)
    L += targets_section(fw, cp, pc)
    L += ["", "![throughput, latency and scale](" + today + ".png)", ""]
    with open(f"{out_dir}/{today}.md", "w") as f:
        f.write("\n".join(L))
    plot(fw, f"{out_dir}/{today}.png")
    shutil.copy(f"{out_dir}/{today}.md", f"{out_dir}/latest.md")
    shutil.copy(f"{out_dir}/{today}.png", f"{out_dir}/latest.png")
    # latest.md shows the plot next to it
    text = open(f"{out_dir}/latest.md").read().replace(f"]({today}.png)", "](latest.png)")
    open(f"{out_dir}/latest.md", "w").write(text)


def plot(fw, path):
    fig, ax = plt.subplots(1, 3, figsize=(17, 5))
    pts = [(r["relay"], r["best"]) for r in fw["throughput"] if r.get("best")]
    xs = range(len(pts))
    ax[0].bar(xs, [b["pps_per_cpu_s"] / 1e6 for _, b in pts])
    ax[0].set_yscale("log")
    ax[0].set_xticks(list(xs), [NAMES[k].replace(" (", "\n(") for k, _ in pts], rotation=30, ha="right", fontsize=7)
    ax[0].set_ylabel("Mpps per relay CPU-second")
    ax[0].set_title("at each relay's throughput (RFC 2544)")
    common = [r for r in fw["common"] if "error" not in r and r.get("latency_us")]
    xs = range(len(common))
    ax[1].bar([x - 0.2 for x in xs], [r["latency_us"].get("p50", 0) for r in common], 0.4, label="p50")
    ax[1].bar([x + 0.2 for x in xs], [r["latency_us"].get("p99", 0) for r in common], 0.4, label="p99")
    ax[1].set_xticks(list(xs), [NAMES[r["relay"]].replace(" (", "\n(") for r in common], rotation=30, ha="right",
                     fontsize=7)
    ax[1].set_ylabel("one-way latency, µs")
    ax[1].set_title(f"at {fw.get('common_pps', 0):,.0f} packets/s, every relay")
    ax[1].legend()
    ok = [r for r in fw["scale"] if "error" not in r]
    for key, label in (("relay_ns", "relay CPU ns/packet"), ("prog_ns", "XDP program ns/packet")):
        mid = [r[key + ("_per_pkt" if key == "relay_ns" else "_per_run")] for r in ok]
        ax[2].errorbar([r["streams"] for r in ok], mid,
                       yerr=[[m - r[key + "_min"] for m, r in zip(mid, ok)], [r[key + "_max"] - m for m, r in zip(mid, ok)]],
                       fmt="o-", capsize=4, label=label)
    ax[2].set_xscale("log")
    ax[2].set_xlabel("streams")
    ax[2].set_ylim(bottom=0)
    ax[2].set_title("XDP tier saturated: cost per packet")
    ax[2].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    fw = json.load(open(sys.argv[1]))
    cp, pc = (json.load(open(f)) if os.path.exists(f) else {} for f in sys.argv[2:4])
    write(fw, cp, pc, sys.argv[4], float(sys.argv[5]))
