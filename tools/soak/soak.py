#!/usr/bin/python3
"""The soak (README.md here): calls at a steady rate through media-dispatcher
and three media-relays for MINUTES, some with RTP, accounting into a
PostgreSQL of its own, while the daemons and the database are disturbed on a
schedule; the descriptors and memory of each daemon sampled all along.
Everything the report needs goes into WORK (run.json, the event and media
files, the logs); report.py writes the report from it.

  soak.py BUILD WORK MINUTES
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.append(os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "bench"))
import daemons  # noqa: E402
import lab  # noqa: E402  the bench's laboratory helpers
import report  # noqa: E402
import topology  # noqa: E402
from postgres import Postgres  # noqa: E402

HERE = os.path.dirname(os.path.realpath(__file__))
TOP = os.path.realpath(os.path.join(HERE, "..", ".."))
RATE = 10  # calls started a second
HOLD = 8  # seconds from a call's answer to its remove
CONNECTIONS = 8  # the proxy module's connections to the dispatcher
MEDIA_EVERY = 10  # every tenth call carries RTP ...
MEDIA_SECONDS = HOLD - 2  # ... for this long, ended before the remove
SAMPLE_INTERVAL = 5  # seconds between two samples of the daemons
DATABASE_OUTAGE = 60  # seconds, or less when a slot of the schedule is shorter
KINDS = ("relay_quit", "relay_kill", "dispatcher_restart", "database_outage")


def schedule(seconds):
    """When each disturbance starts: the first tenth of the run warms up, the
    last tenth is quiet, and between them rounds of the four kinds (one a
    round for every ten minutes, at least one) follow at equal intervals."""
    kinds = KINDS * max(1, int(seconds // 600))
    slot = 0.8 * seconds / len(kinds)
    return slot, [(0.1 * seconds + k * slot, kind) for k, kind in enumerate(kinds)]


class Soak:
    def __init__(self, build, work, seconds):
        self.build, self.work, self.seconds = build, work, seconds
        self.slot, self.plan = schedule(seconds)
        self.pg = Postgres(work)
        self.timeline, self.samples = [], []
        self.proxy_rpc = None
        self.stop_sampling = threading.Event()

    # ---- disturbances: each returns what happened -------------------------------

    def relay_quit(self):
        """relay1: SIGQUIT, the restart that keeps the calls, and started again."""
        status = self.relays[1].stop(signal.SIGQUIT)
        daemons.start_relay(self.relays[1], 1)
        return {"target": "relay1", "what": f"relay1 SIGQUIT (exit status {status}), started again"}

    def relay_kill(self):
        """relay2: SIGKILL, started again 2 s later (it takes over its calls from its state file)."""
        self.relays[2].stop(signal.SIGKILL)
        time.sleep(2)
        daemons.start_relay(self.relays[2], 2)
        return {"target": "relay2", "what": "relay2 SIGKILL, started again after 2 s"}

    def dispatcher_restart(self):
        """SIGTERM, started again; done once every relay is connected again."""
        status = self.dispatcher.stop(signal.SIGTERM)
        daemons.start_dispatcher(self.dispatcher)
        daemons.wait_until("the relays reconnected",
                           lambda: len(daemons.connected_relays()) == topology.RELAY_COUNT, 30)
        return {"target": "dispatcher", "what": f"dispatcher SIGTERM (exit status {status}), started again"}

    def database_outage(self):
        outage = min(DATABASE_OUTAGE, 0.75 * self.slot)
        self.pg.stop()
        time.sleep(outage)
        self.pg.start()
        return {"target": "database", "what": f"PostgreSQL stopped for {outage:.0f} s, started again"}

    # ---- the run -----------------------------------------------------------------------

    def check_alive(self):
        """A daemon that exited unasked (a crash, a sanitizer's halt) ends the soak."""
        for d in (self.dispatcher, *self.relays.values()):
            if d.proc.poll() is not None:
                raise RuntimeError(f"soak: {d.name} (pid {d.proc.pid}) exited unasked with status "
                                   f"{d.proc.returncode}: see {d.log} and {self.work}/sanitizer/")

    def sample(self):
        """Every SAMPLE_INTERVAL: descriptors and RSS of each daemon, and the sessions of each relay."""
        everyone = [self.dispatcher, *self.relays.values()]
        while not self.stop_sampling.wait(SAMPLE_INTERVAL):
            sessions = daemons.connected_relays()
            for d in everyone:
                pid = d.pid
                try:
                    fds, rss = len(os.listdir(f"/proc/{pid}/fd")), lab.rss_bytes(pid)
                except (OSError, TypeError):  # not running at this moment
                    continue
                ip = topology.relay_ip(int(d.name[-1])) if d.name.startswith("relay") else None
                self.samples.append({"t": time.monotonic(), "daemon": d.name, "pid": pid, "fds": fds, "rss": rss,
                                     "sessions": sessions.get(ip)})

    def start(self):
        lab.sh(f"{TOP}/tools/make-certs.sh", f"{self.work}/tls")
        self.pg.create()
        self.holders = topology.build(f"{self.build}/bench")
        self.proxy_rpc = subprocess.Popen(
            ["python3", f"{TOP}/selftests/helpers/fake_proxy_rpc.py", f"{self.work}/kamailio-rpc.sock", "ok"],
            stdout=open(f"{self.work}/kamailio-rpc.log", "w"), stderr=subprocess.STDOUT)
        self.dispatcher = daemons.dispatcher(self.build, self.work, self.pg.uri)
        daemons.start_dispatcher(self.dispatcher)
        self.relays = {i: daemons.relay(self.build, self.work, i, self.holders[i])
                       for i in range(1, topology.RELAY_COUNT + 1)}
        for i, r in self.relays.items():
            daemons.start_relay(r, i)

    def run(self):
        events, media_results = f"{self.work}/events.tsv", f"{self.work}/media.jsonl"
        open(events, "w").close()
        media = subprocess.Popen(["ip", "netns", "exec", topology.CORE, "python3", f"{HERE}/media.py", events,
                                  media_results, str(MEDIA_EVERY), str(MEDIA_SECONDS)])
        self.started = time.monotonic()
        load = subprocess.Popen(["ip", "netns", "exec", topology.CORE, f"{self.build}/bench/cpload",
                                 "-s", daemons.proxy_socket(self.dispatcher), "-c", str(CONNECTIONS),
                                 "-r", str(RATE), "-d", str(self.seconds), "-h", str(HOLD), "-e", events, "-R"],
                                stdout=subprocess.PIPE, text=True)
        sampler = threading.Thread(target=self.sample)
        sampler.start()
        try:
            for at, kind in self.plan:
                time.sleep(max(0, self.started + at - time.monotonic()))
                self.check_alive()
                start = time.monotonic()
                print(f"soak: {start - self.started:.0f} s: {kind}", file=sys.stderr, flush=True)
                done = getattr(self, kind)()
                self.timeline.append({"kind": kind, "start": start, "end": time.monotonic(), **done})
            self.cpload = json.loads(load.communicate()[0] or "{}")
            media.send_signal(signal.SIGTERM)
            media.wait()
            self.settle()
            self.check_alive()
        finally:
            self.stop_sampling.set()
            sampler.join()

    def settle(self):
        """The calls whose remove never reached their relay end by its timeouts
        and are accounted; then every record is out of the spool."""
        deadline = time.monotonic() + daemons.STREAM_TIMEOUT + 40
        while sum(daemons.connected_relays().values()) and time.monotonic() < deadline:
            time.sleep(1)
        self.sessions_left = [{"call_id": s["call_id"], "duration": s["duration"],
                               "streams": [x["status"] for x in s["streams"]]} for s in daemons.sessions()]
        spool = f"{self.dispatcher.runtime_dir}/accounting-database.spool"
        daemons.wait_until("the spool written out", lambda: not os.path.exists(spool), 60)
        time.sleep(2)  # the queue behind it

    def stop(self):
        """Stops the daemons (a sanitizer build reports leaks at exit), keeps the rows, stops the rest."""
        self.fast_path = {f"relay{i}": daemons.fast_path_counters(self.holders[i])
                          for i, tier in daemons.TIERS.items() if tier != "userspace"}
        for d in (self.dispatcher, *self.relays.values()):
            if d.pid:
                d.stop()
        self.rows = self.pg.accounting_rows()

    def save(self):
        run = {"minutes": self.seconds / 60, "sanitize": "libasan" in lab.sh("ldd", f"{self.build}/media-dispatcher"),
               "rate": RATE, "hold": HOLD, "connections": CONNECTIONS, "media_every": MEDIA_EVERY, "media_seconds": MEDIA_SECONDS, "tiers": daemons.TIERS,
               "stream_timeout": daemons.STREAM_TIMEOUT, "started": self.started, "slot": self.slot,
               "timeline": self.timeline, "samples": self.samples, "cpload": self.cpload,
               "sessions_left": self.sessions_left, "fast_path": self.fast_path,
               "relay_ips": {f"relay{i}": topology.relay_ip(i) for i in self.relays},
               "instances": {d.name: d.instances for d in (self.dispatcher, *self.relays.values())},
               "rows": [[call_id, info.get("timed_out"), info.get("dialog_id")] for call_id, info in self.rows]}
        with open(f"{self.work}/run.json", "w") as f:
            json.dump(run, f)


def main(build, work, minutes):
    soak = Soak(build, work, float(minutes) * 60)
    try:
        soak.start()
        soak.run()
        soak.stop()
        soak.save()
    finally:
        topology.cleanup()
        soak.pg.stop()
        if soak.proxy_rpc:
            soak.proxy_rpc.kill()
    return report.main(work)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
