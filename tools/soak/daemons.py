"""The soak's daemons: media-dispatcher in the core namespace and a
media-relay on each relay host, each with its configuration directory under
the work directory and one log that every start appends to.  Each start is
an instance of its own (its pid, when it started and ended), for the
descriptor and memory samples."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import lab
import topology

sys.path.append(os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "selftests", "helpers"))
import mp_abi  # noqa: E402  the BPF ABI's names, read from include/

MANAGEMENT = ("127.0.0.1", 25061)
# how each relay forwards established media: one relay per tier
TIERS = {1: "xdp", 2: "tc", 3: "userspace"}
# short timeouts, so that calls whose remove never reached a relay end
# (and are accounted) before the soak does; a call is held less than this
STREAM_TIMEOUT = 20


class Daemon:
    def __init__(self, name, program, ns_command, config_dir, log):
        self.name, self.log = name, log
        self.runtime_dir = f"{config_dir}/run"
        self.command = [*ns_command, program, "--no-fork", "--config-dir", config_dir, "--runtime-dir", self.runtime_dir]
        self.proc = None
        self.instances = []

    def start(self):
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        self.instances.append({"pid": self.proc.pid, "started": time.monotonic(), "ended": None})

    @property
    def pid(self):
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Sends `sig` and waits for the exit; its status (a signal: negative)."""
        self.proc.send_signal(sig)
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait()
        self.instances[-1]["ended"] = time.monotonic()
        self.instances[-1]["status"] = status
        return status


def fast_path_counters(holder):
    """The outcome counters of a relay's BPF programs (mp_stats, summed over CPUs), by name, those not 0."""
    dump = json.loads(lab.sh("nsenter", "-t", str(holder), "-m", "bpftool", "-j", "map", "dump", "pinned",
                             f"{mp_abi.macro('MP_PIN_DIR')}/mp_stats"))
    names = mp_abi.stat_names()
    counts = {names[e["formatted"]["key"]]: sum(v["value"] for v in e["formatted"]["values"]) for e in dump}
    return {name: n for name, n in counts.items() if n}


def sessions():
    """The sessions the relays hold, as the dispatcher's management port lists them."""
    return lab.management(topology.CORE, "sessions", MANAGEMENT)


def connected_relays():
    """The relay addresses the dispatcher's summary lists as answering."""
    try:
        summary = lab.management(topology.CORE, "summary", MANAGEMENT)
    except (OSError, ValueError):
        return {}
    return {r["ip"]: r.get("session_count", 0) for r in summary if r.get("status") != "error"}


def wait_until(what, condition, timeout):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"soak: {what} within {timeout} s")
        time.sleep(0.1)


def dispatcher(build, work, dburi):
    d = f"{work}/dispatcher"
    os.makedirs(d)
    shutil.copytree(f"{work}/tls", f"{d}/tls")
    with open(f"{d}/config.ini", "w") as f:
        f.write(f"[Dispatcher]\nlisten = 0.0.0.0:25060\nlisten_management = {MANAGEMENT[0]}:{MANAGEMENT[1]}\n"
                f"management_use_tls = no\naccounting = database\n\n[Database]\ndburi = {dburi}\n\n"
                f"[Kamailio]\nsocket_path = {work}/kamailio-rpc.sock\n")
    return Daemon("dispatcher", f"{build}/media-dispatcher", ["ip", "netns", "exec", topology.CORE], d,
                  f"{work}/dispatcher.log")


def proxy_socket(dispatcher_daemon):
    return f"{dispatcher_daemon.runtime_dir}/dispatcher.sock"


def start_dispatcher(daemon):
    daemon.start()
    wait_until("the dispatcher's proxy socket", lambda: os.path.exists(proxy_socket(daemon)), 10)


def relay(build, work, i, holder):
    d = f"{work}/relay{i}"
    os.makedirs(f"{d}/tls")
    for f in ("ca.pem", "crl.pem", "relay.crt", "relay.key"):
        shutil.copy(f"{work}/tls/{f}", f"{d}/tls/")
    with open(f"{d}/config.ini", "w") as f:
        f.write(f"[Relay]\nrelay_ip = {topology.relay_ip(i)}\ndispatchers = {topology.dispatcher_ip(i)}\n"
                f"port_range = 40000:50000\nforwarding = {TIERS[i]}\nreconnect_delay = 1\n"
                f"stream_timeout = {STREAM_TIMEOUT}\nstream_idle_timeout = {STREAM_TIMEOUT}\n")
    return Daemon(f"relay{i}", f"{build}/media-relay", ["nsenter", "-t", str(holder), "-m", "-n"], d,
                  f"{work}/relay{i}.log")


def start_relay(daemon, i):
    """Starts relay i and waits until the dispatcher counts it among its relays."""
    daemon.start()
    wait_until(f"relay{i} connected", lambda: topology.relay_ip(i) in connected_relays(), 20)
