#!/usr/bin/python3
"""The control-plane benchmark: media-dispatcher and a media-relay linked by
mutual TLS in a namespace of their own (mpb-cp), and cpload playing the SIP
proxy's module on the dispatcher's UNIX socket; then, side by side on the
same cores, each rtpengine peer in that namespace, cpload playing a proxy's
rtpengine module (ng offer, answer, delete for our update, update, remove).

  control.py BUILD WORKDIR OUT.json [--quick]

First a fixed rate (RATE calls/s, each call held HOLD s, then removed): the
latency of every update.  Then saturation: CONNECTIONS module workers, each
starting its next call (offer, answer, remove) as soon as the last one
ended.  Then HELD calls set up and kept: the sessions the dispatcher and the
relay hold, and the dispatcher's memory for them; and the fixed rate again
with those up.  The relay
quarantines a released port for 10 s: the phases are short enough, and
apart enough, for its port range to last.  Memory per held call: what the
daemons' RSS grew by with the HELD calls up (ours: dispatcher and relay).
"""
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

import lab
from lab import RELAY_IP
from relays import FD_LIMIT, Rtpengine, Rtpengine13

NS = "mpb-cp"
TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
RATE, HOLD, CONNECTIONS, HELD = 2000, 1.0, 16, 2500
QUARANTINE = 10  # seconds, the relay's MP_PORT_QUARANTINE_NS


def cpload(build, target, *args):
    """target: the dispatcher's socket, or rtpengine's ng address (IP:PORT)."""
    out = subprocess.run(["ip", "netns", "exec", NS, f"{build}/bench/cpload", "-g" if ":" in target else "-s", target,
                          *args],
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"cpload: {out.stderr.strip()}")
    return json.loads(out.stdout)


def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def snapshots(perf_data, relay_pid):
    """The relay's state snapshots in a `perf record` of process forks and
    exits: [(fork, exit)] in CLOCK_MONOTONIC seconds.  The relay forks a
    child to write its state file (userspace/agent.c), at most once a second."""
    forks, exits = {}, {}
    for line in lab.sh("perf", "script", "-i", perf_data, "-F", "time,event,trace").splitlines():
        t, event, trace = line.split(None, 2)
        fields = dict(f.split("=", 1) for f in trace.split() if "=" in f)
        if event == "sched:sched_process_fork:" and fields.get("pid") == str(relay_pid):
            forks[fields["child_pid"]] = float(t.rstrip(":"))
        elif event == "sched:sched_process_exit:":
            exits[fields.get("pid")] = float(t.rstrip(":"))
    return sorted((start, exits[child]) for child, start in forks.items() if child in exits)


def latency_by_snapshot(events, windows):
    """The update latencies of cpload's EVENTS, apart for the updates in
    flight while a snapshot was written (sent before its child exited,
    answered after the fork) and the others."""
    during, outside = [], []
    for line in open(events):
        done, _, step, outcome, _, ms = line.rstrip("\n").split("\t")
        if step == "remove" or outcome != "ok":
            continue
        sent = float(done) - float(ms) / 1000
        overlaps = any(sent <= end and float(done) >= start for start, end in windows)
        (during if overlaps else outside).append(float(ms))
    p99 = lambda v: sorted(v)[int(len(v) * 0.99)] if v else None  # noqa: E731
    return {"count": len(windows), "mean_ms": 1000 * sum(e - s for s, e in windows) / max(1, len(windows)),
            "updates_during": len(during), "p99_during": p99(during),
            "updates_outside": len(outside), "p99_outside": p99(outside)}


def phases(build, target, seconds, pids, quarantine, relay_pid=None):
    """Fixed rate, saturation, calls held (with the RSS of `pids` per call),
    fixed rate again with them up.  With `relay_pid`, the fixed rate's
    update latency also apart while that relay wrote its state snapshots."""
    rss = lambda: sum(lab.rss_bytes(p) for p in pids)  # noqa: E731
    # each call up holds 4 sockets on the relay: stay below its file limit
    rate = min(RATE, int((FD_LIMIT - 200) / 4 / HOLD))
    loaded_rate = min(RATE, int((FD_LIMIT - 200 - 4 * HELD) / 4 / HOLD))
    rss0 = rss()
    work = os.path.dirname(target)
    if relay_pid:
        perf = subprocess.Popen(["perf", "record", "-q", "-a", "-k", "CLOCK_MONOTONIC", "-o", f"{work}/forks.data",
                                 "-e", "sched:sched_process_fork", "-e", "sched:sched_process_exit"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # the relay's first snapshot comes a second after the first request: perf is
        # recording by then once it has written its file's header
        while not os.path.exists(f"{work}/forks.data") and perf.poll() is None:
            time.sleep(0.05)
    # the CPU the daemons and cpload take at the fixed rate, in cores
    daemons0, client0, t0 = lab.task_ns(pids), children_cpu_s(), time.monotonic()
    fixed = cpload(build, target, "-c", str(CONNECTIONS), "-r", str(rate), "-d", str(seconds), "-h", str(HOLD),
                   *(["-e", f"{work}/events.tsv"] if relay_pid else []))
    took = time.monotonic() - t0
    if relay_pid:
        perf.send_signal(signal.SIGINT)
        perf.wait(30)
        fixed["snapshots"] = latency_by_snapshot(f"{work}/events.tsv", snapshots(f"{work}/forks.data", relay_pid))
    fixed["daemons_cpu"] = (lab.task_ns(pids) - daemons0) / 1e9 / took
    fixed["client_cpu"] = (children_cpu_s() - client0) / took
    fixed["rate"], fixed["hold"] = rate, HOLD
    print(f"bench:   at {rate} calls/s: {json.dumps(fixed)}", file=sys.stderr, flush=True)
    time.sleep(quarantine + HOLD)
    saturation = cpload(build, target, "-c", str(CONNECTIONS), "-d", str(min(seconds, 3.0)))
    saturation["connections"] = CONNECTIONS
    print(f"bench:   at saturation: {json.dumps(saturation)}", file=sys.stderr, flush=True)
    time.sleep(quarantine)
    held_rss0 = rss()
    held = cpload(build, target, "-c", str(CONNECTIONS), "-n", str(HELD), "-h", "3600", "-d", "60", "-k")
    held["rss_per_call"] = (rss() - held_rss0) / max(1, held["held"])
    # from the start: what the earlier phases left in the heap counts too
    held["rss_per_call_since_start"] = (rss() - rss0) / max(1, held["held"])
    print(f"bench:   holding calls: {json.dumps(held)}", file=sys.stderr, flush=True)
    loaded = cpload(build, target, "-c", str(CONNECTIONS), "-r", str(loaded_rate), "-d", str(seconds), "-h",
                    str(HOLD))
    loaded["rate"], loaded["hold"] = loaded_rate, HOLD
    print(f"bench:   at {loaded_rate} calls/s with calls held: {json.dumps(loaded)}", file=sys.stderr, flush=True)
    return {"fixed": fixed, "saturation": saturation, "held": held, "loaded": loaded}


def ours(build, work, seconds):
    procs = []
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(f"{work}/run")
    subprocess.run([f"{TOP}/tools/make-certs.sh", f"{work}/tls"], check=True, capture_output=True)
    with open(f"{work}/config.ini", "w") as f:
        f.write("[Dispatcher]\nlisten = 127.0.0.1:25060\nlisten_management = 127.0.0.1:25061\n"
                "management_use_tls = no\nlog_level = WARNING\n\n"
                f"[Relay]\nrelay_ip = {RELAY_IP}\ndispatchers = 127.0.0.1:25060\nport_range = 4000:65000\n"
                "forwarding = userspace\nlog_level = WARNING\n")
    try:
        log = open(f"{work}/daemons.log", "w")
        for prog in ("media-dispatcher", "media-relay"):
            procs.append(subprocess.Popen(["ip", "netns", "exec", NS, f"{build}/{prog}", "--no-fork",
                                           "--config-dir", work, "--runtime-dir", f"{work}/run"],
                                          stdout=log, stderr=subprocess.STDOUT))
            time.sleep(0.3)
        for _ in range(100):  # the relay has connected once the summary lists it
            try:
                if lab.management(NS, "summary"):
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"the relay did not connect: {open(log.name).read()}")
        print("bench: control plane: media-dispatcher and media-relay", file=sys.stderr, flush=True)
        out = phases(build, f"{work}/run/dispatcher.sock", seconds, [p.pid for p in procs], QUARANTINE,
                     relay_pid=procs[1].pid)  # ip netns exec execs the daemon
        out["held"]["relay_sessions"] = sum(r.get("session_count", 0) for r in lab.management(NS, "summary"))
        return out
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def peer(build, work, seconds, kind):
    os.makedirs(work, exist_ok=True)
    relay = {"rtpengine": Rtpengine, "rtpengine13": Rtpengine13}[kind](build, work, ns=NS, port_range=(4000, 65000))
    try:
        print(f"bench: control plane: {kind}", file=sys.stderr, flush=True)
        return phases(build, "%s:%d" % relay.NG, seconds, relay.pids, 0)
    finally:
        relay.stop()


def main(build, work, out, quick=False):
    seconds = 2.0 if quick else 5.0
    results = {}
    lab.sh("ip", "netns", "add", NS)
    try:
        lab.sh("ip", "-n", NS, "link", "set", "lo", "up")
        lab.sh("ip", "-n", NS, "addr", "add", f"{RELAY_IP}/32", "dev", "lo")
        results["ours"] = ours(build, f"{work}/ours", seconds)
        for kind in ("rtpengine", "rtpengine13"):
            try:
                results[kind] = peer(build, f"{work}/{kind}", seconds, kind)
            except (RuntimeError, OSError, ValueError) as e:  # reported, the rest still runs
                print(f"bench: control plane: {kind} failed: {e}", file=sys.stderr, flush=True)
                results[kind] = {"error": str(e)}
        json.dump(results, open(out, "w"), indent=1)
    finally:
        lab.sh("ip", "netns", "del", NS, check=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], quick="--quick" in sys.argv[4:])
