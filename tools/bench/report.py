#!/usr/bin/python3
"""Writes the bench's results as a markdown table and a plot.

  report.py FORWARDING.json CONTROL.json RESULTS_DIR SECONDS_TAKEN

Writes RESULTS_DIR/YYYY-MM-DD.md and .png, and copies them to latest.md
and latest.png.
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

NAMES = {"ceiling": "bare XDP redirect (ceiling)", "xdp": "media-relay XDP tier", "tc": "media-relay tc tier",
         "conntrack": "media-relay conntrack tier", "userspace": "media-relay userspace tier",
         "rtpengine": "rtpengine 10.5 (userspace)"}


def fmt(v, scale=1, digits=2, unit=""):
    return "–" if v is None else f"{v * scale:,.{digits}f}{unit}"


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    return (f"{os.cpu_count()} × {cpu}, {mem / 2**20:.1f} GiB; kernel {platform.release()}; "
            f"commit {commit or '?'}")


def by(runs, relay, paced):
    return next((r for r in runs if r["relay"] == relay and bool(r.get("paced")) == paced), None)


def best_rate(runs, relay):
    """A relay's best packets per relay CPU-second, saturated or paced."""
    vals = [r.get("pps_per_cpu_s") for r in runs if r["relay"] == relay and r.get("pps_per_cpu_s")]
    return max(vals) if vals else None


def target(name, value, goal, met, why):
    if value is None:
        return f"| {name} | not measured | {goal} | – | {why} |"
    return f"| {name} | {value} | {goal} | {'yes' if met else '**no**'} | {'' if met else why} |"


def ratio_row(name, a, b, goal, why):
    if a is None or b is None:
        return target(name, None, f"≥ {goal}×", False, why)
    r = a / b
    return target(name, f"{r:.1f}×", f"≥ {goal}×", r >= goal, f"short by {(1 - r / goal) * 100:.0f}%: {why}")


def write(fw, cp, out_dir, taken):
    today = datetime.date.today().isoformat()
    runs, scale = fw["forwarding"], fw["scale"]
    L = [f"# MediaProxy benchmarks, {today}", "",
         f"Machine: {machine()}.  `make bench` took {taken / 60:.1f} minutes.  "
         "How it is measured: [tools/bench/README.md](../README.md).", "",
         "## Media forwarding", "",
         f"{fw['flows']:,} streams ({fw['flows'] // 2:,} calls, RTP both ways), 200-byte IPv4 packets "
         "(172 bytes of RTP).  *Saturated*: the generators send as fast as they can; *paced*: "
         f"{fw['paced_pps'] / 1000:,.0f} kpps evenly spaced, from A to B only.  Relay CPU is the CPU time of the relay's "
         "processes and of its interfaces' NAPI threads, all pinned to one core.  Paced, that CPU per packet "
         "is mostly the cost of waking those threads every few packets, which is why it is compared saturated.", "",
         "| relay | offered Mpps | delivered Mpps | loss | relay CPU (cores) | relay ns/packet | "
         "Mpps per relay CPU-second | BPF program ns/packet | paced: offered kpps | paced: loss | paced: relay ns/packet |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for relay in NAMES:
        s, p = by(runs, relay, False), by(runs, relay, True)
        if not s or "error" in s:
            L.append(f"| {NAMES[relay]} | failed: {(s or {}).get('error', 'not run')} ||||||||||")
            continue
        p = p if p and "error" not in p else {}
        name = NAMES[relay]
        if "failed_at" in s:
            name += f" ({s['flows']:,} streams)"
            notes.append(f"{NAMES[relay]} failed with {s['failed_at']['flows']:,} streams "
                         f"({s['failed_at']['error']}), so it ran with {s['flows']:,}.")
        L.append(f"| {name} | {fmt(s['offered_pps'], 1e-6)} | {fmt(s['delivered_pps'], 1e-6)} | "
                 f"{fmt(s['loss'], 100, 1, '%')} | {fmt(s['relay_cpu'])} | {fmt(s['relay_ns_per_pkt'], 1, 0)} | "
                 f"{fmt(s['pps_per_cpu_s'], 1e-6)} | {fmt(s.get('prog_ns_per_run'), 1, 0) if relay in ('xdp', 'tc', 'ceiling') else '–'} | "
                 f"{fmt(p.get('offered_pps'), 1e-3, 1)} | {fmt(p.get('loss'), 100, 2, '%')} | "
                 f"{fmt(p.get('relay_ns_per_pkt'), 1, 0)} |")
    if notes:
        L += [""] + notes
    sat = [r for r in runs if not r.get("paced") and "error" not in r and r["relay"] != "ceiling"]
    if sat:
        least = min(r["offered_pps"] / r["delivered_pps"] for r in sat)
        L += ["", f"The generators are not the limit: saturated, each relay was offered at least {least:.1f} times "
              "what it delivered; the rest was lost on the way in (a veth's ring holds 256 frames; a userspace "
              "relay's socket buffer overflows too)."]
    ceiling = by(runs, "ceiling", False)
    if ceiling and "error" not in ceiling and ceiling["relay_cpu"] < 0.9:
        L += [f"The bare redirect needed only {ceiling['relay_cpu']:.2f} cores for what the generators "
              f"sent ({ceiling['offered_pps'] / 1e6:.2f} Mpps): it is bounded by them, so it is compared by "
              "CPU per packet, not by packets per second."]
    L += ["", "## Latency", "",
          f"One-way, sender to receiver, at the paced load ({fw['paced_pps'] / 1000:,.0f} kpps, A to B); "
          "*added p50* is over the bare redirect's p50, i.e. what the relay adds to the same path.  Tails of "
          "milliseconds turn up in any run, the bare redirect's too: this VM's scheduling, which one run "
          "cannot tell apart from the relay's; only the medians compare.", "",
          "| relay | p50 µs | p99 µs | p99.9 µs | added p50 µs |", "|---|---|---|---|---|"]
    base = (by(runs, "ceiling", True) or {}).get("latency_us", {})
    for relay in NAMES:
        p = by(runs, relay, True)
        if not p or not p.get("latency_us"):
            continue
        lat = p["latency_us"]
        added = fmt(lat["p50"] - base["p50"], 1, 0) if "p50" in base and relay != "ceiling" else "–"
        L.append(f"| {NAMES[relay]} | {fmt(lat.get('p50'), 1, 0)} | {fmt(lat.get('p99'), 1, 0)} | "
                 f"{fmt(lat.get('p99.9'), 1, 0)} | {added} |")

    L += ["", "## Scale: the XDP tier, saturated", "",
          "| streams | delivered Mpps | loss | relay ns/packet | BPF program ns/packet | Mpps per relay CPU-second |",
          "|---|---|---|---|---|---|"]
    for r in scale:
        if "error" in r:
            L.append(f"| {r['flows']:,} | failed: {r['error']} |||||")
            continue
        L.append(f"| {r['flows']:,} | {fmt(r['delivered_pps'], 1e-6)} | {fmt(r['loss'], 100, 1, '%')} | "
                 f"{fmt(r['relay_ns_per_pkt'], 1, 0)} | {fmt(r['prog_ns_per_run'], 1, 0)} | {fmt(r['pps_per_cpu_s'], 1e-6)} |")
    if fw["max_flows"] < 30000:
        L += ["", f"At most {fw['max_flows']:,} streams fit here: the relay holds a socket for each of a call's "
              f"4 ports, and this machine's hard limit on open files is {fw['fd_limit']:,} (no CAP_SYS_RESOURCE "
              "to raise it); 30,000 streams need 15,000 calls, i.e. 60,000 sockets."]

    L += ["", "## Memory", ""]
    big = next((r for r in reversed(scale) if "memory" in r), None)
    per_stream = None
    if big:
        m, m0, n = big["memory"], big["memory_before"], big["flows"]
        per_stream = (m["rss"] + m["bpf_maps"]) / n
        L += [f"At {n:,} streams: relay RSS {m['rss'] / 2**20:.1f} MiB ({m0['rss'] / 2**20:.1f} MiB before the calls), "
              f"BPF maps {m['bpf_maps'] / 2**20:.1f} MiB (sized for the whole port range at start): "
              f"**{per_stream:,.0f} bytes per stream** in all, of which "
              f"{(m['rss'] - m0['rss']) / n:,.0f} bytes of RSS came with the calls.  "
              "The kernel's socket memory for the relay ports is not counted."]
    fixed, sat, held, loaded = (cp.get(k, {}) for k in ("fixed", "saturation", "held", "loaded"))
    if held:
        L += ["", f"Dispatcher: {held['dispatcher_rss_per_session']:,.0f} bytes of RSS per session "
              f"({held['held']:,} sessions set up and held; the relay reports {held['relay_sessions']:,})."]

    L += ["", "## Control plane", "",
          "cpload plays the proxy module on the dispatcher's UNIX socket; the dispatcher hands every request "
          "to a relay over mutual TLS (both daemons and the client share the machine's two cores).", "",
          "| | calls/s offered | calls/s started | calls/s completed | update p50 ms | update p99 ms | "
          "update p99.9 ms | remove p99 ms | failed | sessions held at the end |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r, offered in ((f"fixed rate, calls held {fixed.get('hold', 0):g} s", fixed, fixed.get("rate")),
                             (f"saturation, {sat.get('connections', '?')} connections", sat, None),
                             ("calls set up and held", held, None),
                             (f"fixed rate again, with {held.get('held', 0):,} calls held", loaded,
                              loaded.get("rate"))):
        if r:
            u, rm = r["update_ms"], r["remove_ms"]
            L.append(f"| {name} | {fmt(offered, 1, 0)} | {r['started_per_s']:,.0f} | {r['calls_per_s']:,.0f} | "
                     f"{fmt(u.get('p50'), 1, 3)} | {fmt(u.get('p99'), 1, 3)} | {fmt(u.get('p99.9'), 1, 3)} | "
                     f"{fmt(rm.get('p99'), 1, 3)} | {r['failed']:,} | {r.get('relay_sessions', r['held']):,} |")
    if held:
        L += ["", "A call is started with the INVITE's update and completed with its remove, sent when its "
              "hold is up (also after the run's last start); the calls set up and held are never removed.  "
              "With a fixed rate, a call starts only on a connection that is free, as in the proxy's workers, "
              "so a slow reply lowers the rate started."]

    x, rt, ct, ce = (best_rate(runs, k) for k in ("xdp", "rtpengine", "conntrack", "ceiling"))
    sx, sct, sce = (by(runs, k, False) or {} for k in ("xdp", "conntrack", "ceiling"))
    prog = (f"the XDP tier's program runs {fmt(sx.get('prog_ns_per_run'), 1, 0)} ns a packet, the bare "
            f"redirect's {fmt(sce.get('prog_ns_per_run'), 1, 0)} ns (bpf_stats): its lookups in mp_cfg, mp_fwd "
            "and mp_tx, bpf_fib_lookup, the checksum rewrite and the atomic counters")
    L += ["", "## Targets", "", "Packets per relay CPU-second, each relay at its best of the saturated and the "
          "paced run.", "", "| target | measured | goal | met | why not |", "|---|---|---|---|---|",
          ratio_row("XDP tier against rtpengine", x, rt, 10, "see the forwarding table"),
          ratio_row("XDP tier against our conntrack tier", x, ct, 3,
                    f"the conntrack tier costs {fmt(sct.get('relay_ns_per_pkt'), 1, 0)} ns a packet, the XDP "
                    f"tier {fmt(sx.get('relay_ns_per_pkt'), 1, 0)}; {prog}"),
          ratio_row("XDP tier against the bare redirect", x, ce, 0.8, prog)]
    ok = [r for r in scale if "error" not in r]
    if len(ok) >= 2:
        lo, hi = ok[0], ok[-1]
        growth = hi["relay_ns_per_pkt"] / lo["relay_ns_per_pkt"] - 1
        L.append(target(f"cost per packet at {hi['flows']:,} streams against {lo['flows']:,} (goal at 30,000)",
                        f"{growth * 100:+.0f}%", "within 10%", abs(growth) <= 0.10,
                        f"the program's run time went from {fmt(lo['prog_ns_per_run'], 1, 0)} to "
                        f"{fmt(hi['prog_ns_per_run'], 1, 0)} ns a packet"))
    if fixed:
        u = fixed["update_ms"]
        L.append(target(f"update p99 at {fixed['rate']:,} calls/s", fmt(u.get("p99"), 1, 3, " ms"), "< 2 ms",
                        u.get("p99") is not None and u["p99"] < 2 and fixed["rate"] >= 2000,
                        f"p50 is {fmt(u.get('p50'), 1, 3)} ms: most updates are fast, the tail waits behind "
                        "stalls in the daemons, and a call starts only on a free connection, so only "
                        f"{fixed['started_per_s']:,.0f} calls/s started; the client, the dispatcher and the relay "
                        "share two cores"))
    if sat:
        u = sat["update_ms"]
        L.append(target("calls/s at saturation", f"{sat['calls_per_s']:,.0f}", "> 5,000",
                        sat["calls_per_s"] > 5000,
                        f"short by {(1 - sat['calls_per_s'] / 5000) * 100:.0f}% ({sat['failed']:,} calls failed): "
                        "a call is three requests, each "
                        f"a round trip through the dispatcher and over TLS to the relay (update p50 "
                        f"{fmt(u.get('p50'), 1, 3)} ms, p99 {fmt(u.get('p99'), 1, 3)} ms), on two cores shared "
                        "by the client, the dispatcher and the relay; and a relay quarantines a released port "
                        "for 10 s, so its port range (61,000 ports here) sustains about 1,500 calls/s"))
    if per_stream is not None:
        L.append(target(f"relay memory per stream at {big['flows']:,} streams (goal at 30,000)",
                        f"{per_stream:,.0f} bytes", "< 1,024 bytes", per_stream < 1024,
                        f"over by {(per_stream / 1024 - 1) * 100:.0f}%; RSS grew by "
                        f"{(big['memory']['rss'] - big['memory_before']['rss']) / big['flows']:,.0f} bytes a "
                        "stream with the calls (a call's session, stream and offer records, its 4 sockets' "
                        "records and libevent events, the allocator's overhead), and the BPF maps, sized for "
                        f"the whole port range, are {big['memory']['bpf_maps'] / big['flows']:,.0f} bytes a stream "
                        f"here, {big['memory']['bpf_maps'] / 30000:,.0f} at 30,000"))

    L += ["", "![packets per second and latency](" + today + ".png)", ""]
    with open(f"{out_dir}/{today}.md", "w") as f:
        f.write("\n".join(L))
    plot(runs, scale, f"{out_dir}/{today}.png")
    shutil.copy(f"{out_dir}/{today}.md", f"{out_dir}/latest.md")
    shutil.copy(f"{out_dir}/{today}.png", f"{out_dir}/latest.png")
    # latest.md shows the plot next to it
    text = open(f"{out_dir}/latest.md").read().replace(f"]({today}.png)", "](latest.png)")
    open(f"{out_dir}/latest.md", "w").write(text)


def plot(runs, scale, path):
    relays = [k for k in NAMES if by(runs, k, False) and "error" not in by(runs, k, False)]
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.8))
    sat = [by(runs, k, False) for k in relays]
    xs = range(len(relays))
    ax[0].bar([x - 0.2 for x in xs], [r["delivered_pps"] / 1e6 for r in sat], 0.4, label="delivered Mpps")
    ax[0].bar([x + 0.2 for x in xs], [r["pps_per_cpu_s"] / 1e6 for r in sat], 0.4, label="Mpps per relay CPU-s")
    ax[0].set_xticks(list(xs), relays, rotation=20)
    ax[0].set_title("Saturated forwarding")
    ax[0].legend()
    lat = [(k, by(runs, k, True)) for k in relays]
    lat = [(k, r["latency_us"]) for k, r in lat if r and r.get("latency_us")]
    for i, q in enumerate(("p50", "p99", "p99.9")):
        ax[1].bar([x + (i - 1) * 0.27 for x in range(len(lat))], [l[q] for _, l in lat], 0.27, label=q)
    ax[1].set_xticks(range(len(lat)), [k for k, _ in lat], rotation=20)
    ax[1].set_yscale("log")
    ax[1].set_ylabel("one-way latency, µs")
    ax[1].set_title("Latency at the paced load")
    ax[1].legend()
    ok = [r for r in scale if "error" not in r]
    ax[2].plot([r["flows"] for r in ok], [r["relay_ns_per_pkt"] for r in ok], "o-", label="relay CPU ns/packet")
    ax[2].plot([r["flows"] for r in ok], [r["prog_ns_per_run"] for r in ok], "s-", label="XDP program ns/packet")
    ax[2].set_xscale("log")
    ax[2].set_xlabel("streams")
    ax[2].set_ylim(bottom=0)
    ax[2].set_title("XDP tier: cost per packet")
    ax[2].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    fw = json.load(open(sys.argv[1]))
    cp = json.load(open(sys.argv[2])) if os.path.exists(sys.argv[2]) else {}
    write(fw, cp, sys.argv[3], float(sys.argv[4]))
