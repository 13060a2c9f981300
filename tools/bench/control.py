#!/usr/bin/python3
"""The control-plane benchmark: media-dispatcher and a media-relay linked by
mutual TLS in a namespace of their own (mpb-cp), and cpload playing the SIP
proxy's module on the dispatcher's UNIX socket.

  control.py BUILD WORKDIR OUT.json [--quick]

First a fixed rate (RATE calls/s, each call held HOLD s, then removed): the
latency of every update.  Then saturation: CONNECTIONS module workers, each
starting its next call (offer, answer, remove) as soon as the last one
ended.  Then HELD calls set up and kept: the sessions the dispatcher and the
relay hold, and the dispatcher's memory for them; and the fixed rate again
with those up.  The relay
quarantines a released port for 10 s: the phases are short enough, and
apart enough, for its port range to last.
"""
import json
import os
import shutil
import subprocess
import sys
import time

import lab
from lab import RELAY_IP
from relays import FD_LIMIT

NS = "mpb-cp"
TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
RATE, HOLD, CONNECTIONS, HELD = 2000, 1.0, 16, 2500
QUARANTINE = 10  # seconds, the relay's MP_PORT_QUARANTINE_NS


def cpload(build, sock, *args):
    out = subprocess.run(["ip", "netns", "exec", NS, f"{build}/bench/cpload", "-s", sock, *args],
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"cpload: {out.stderr.strip()}")
    return json.loads(out.stdout)


def main(build, work, out, quick=False):
    seconds = 2.0 if quick else 5.0
    procs = []
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(f"{work}/run")
    subprocess.run([f"{TOP}/tools/make-certs.sh", f"{work}/tls"], check=True, capture_output=True)
    with open(f"{work}/config.ini", "w") as f:
        f.write("[Dispatcher]\nlisten = 127.0.0.1:25060\nlisten_management = 127.0.0.1:25061\n"
                "management_use_tls = no\nlog_level = WARNING\n\n"
                f"[Relay]\nrelay_ip = {RELAY_IP}\ndispatchers = 127.0.0.1:25060\nport_range = 4000:65000\n"
                "forwarding = userspace\nlog_level = WARNING\n")
    lab.sh("ip", "netns", "add", NS)
    try:
        lab.sh("ip", "-n", NS, "link", "set", "lo", "up")
        lab.sh("ip", "-n", NS, "addr", "add", f"{RELAY_IP}/32", "dev", "lo")
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
        dispatcher = procs[0].pid
        sock = f"{work}/run/dispatcher.sock"
        # each call up holds 4 sockets on the relay: stay below its file limit
        rate = min(RATE, int((FD_LIMIT - 200) / 4 / HOLD))
        loaded_rate = min(RATE, int((FD_LIMIT - 200 - 4 * HELD) / 4 / HOLD))
        rss0 = lab.rss_bytes(dispatcher)
        fixed = cpload(build, sock, "-c", str(CONNECTIONS), "-r", str(rate), "-d", str(seconds), "-h", str(HOLD))
        fixed["rate"], fixed["hold"] = rate, HOLD
        print(f"bench: control plane at {rate} calls/s: {json.dumps(fixed)}", file=sys.stderr, flush=True)
        time.sleep(QUARANTINE + HOLD)
        saturation = cpload(build, sock, "-c", str(CONNECTIONS), "-d", str(min(seconds, 3.0)))
        saturation["connections"] = CONNECTIONS
        print(f"bench: control plane at saturation: {json.dumps(saturation)}", file=sys.stderr, flush=True)
        time.sleep(QUARANTINE)
        held = cpload(build, sock, "-c", str(CONNECTIONS), "-n", str(HELD), "-h", "3600", "-d", "60", "-k")
        held["relay_sessions"] = sum(r.get("session_count", 0) for r in lab.management(NS, "summary"))
        # from the start: what the earlier phases left in the heap counts too
        held["dispatcher_rss_per_session"] = (lab.rss_bytes(dispatcher) - rss0) / max(1, held["held"])
        print(f"bench: control plane holding calls: {json.dumps(held)}", file=sys.stderr, flush=True)
        loaded = cpload(build, sock, "-c", str(CONNECTIONS), "-r", str(loaded_rate), "-d", str(seconds), "-h",
                        str(HOLD))
        loaded["rate"], loaded["hold"] = loaded_rate, HOLD
        print(f"bench: control plane at {loaded_rate} calls/s with calls held: {json.dumps(loaded)}", file=sys.stderr,
              flush=True)
        json.dump({"fixed": fixed, "saturation": saturation, "held": held, "loaded": loaded}, open(out, "w"),
                  indent=1)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        lab.sh("ip", "netns", "del", NS, check=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], quick="--quick" in sys.argv[4:])
