"""The soak's network namespaces, on 198.18.0.0/15 addresses only:

    mps-core: media-dispatcher, cpload (the proxy module), the phones
              (caller 198.18.1.7 and callee 198.18.2.9 on lo)
      d1 198.18.10.1 ---- r0 198.18.10.2  mps-relay1
      d2 198.18.11.1 ---- r0 198.18.11.2  mps-relay2
      d3 198.18.12.1 ---- r0 198.18.12.2  mps-relay3

Each relay's only interface is its veth to the core, so it forwards media
back out of the interface it came in on: XDP_TX in the XDP tier, which a
veth delivers only when its peer has an XDP program too (lab facts); the
core's ends of relay1 and relay2 get the bench's program that passes every
frame to the stack (tools/bench/ceiling -p).  Each
relay host also gets a mount namespace of its own, held by a sleeping
process, with a BPF file system of its own: the relay's pinned maps and
links stay apart from the other relays' and outlive its restarts.
"""
import os
import signal
import subprocess
import time

import lab

CORE = "mps-core"
CALLER, CALLEE = "198.18.1.7", "198.18.2.9"
RELAY_COUNT = 3


def relay_ns(i):
    return f"mps-relay{i}"


def relay_ip(i):
    return f"198.18.1{i - 1}.2"


def dispatcher_ip(i):
    """The core's end of relay i's link: where relay i reaches the dispatcher."""
    return f"198.18.1{i - 1}.1"


def cleanup():
    """Ends every process in the soak's namespaces (mps-*) and deletes them, also after a crash."""
    for ns in lab.sh("ip", "netns", "list").split("\n"):
        ns = ns.split(" ")[0]
        if ns.startswith("mps-"):
            for pid in lab.sh("ip", "netns", "pids", ns, check=False).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            lab.sh("ip", "netns", "del", ns, check=False)


def build(bench):
    """The namespaces and links; returns the pid of each relay host's
    mount-namespace holder.  `bench`: where the bench's programs are built."""
    cleanup()
    lab.sh("ip", "netns", "add", CORE)
    lab.sh("ip", "-n", CORE, "link", "set", "lo", "up")
    for ip in (CALLER, CALLEE):
        lab.sh("ip", "-n", CORE, "addr", "add", f"{ip}/32", "dev", "lo")
    holders = {}
    for i in range(1, RELAY_COUNT + 1):
        ns, core_dev = relay_ns(i), f"d{i}"
        lab.sh("ip", "netns", "add", ns)
        lab.sh("ip", "-n", ns, "link", "set", "lo", "up")
        lab.sh("ip", "-n", CORE, "link", "add", core_dev, "type", "veth", "peer", "name", "r0", "netns", ns)
        lab.sh("ip", "-n", CORE, "addr", "add", f"{dispatcher_ip(i)}/24", "dev", core_dev)
        lab.sh("ip", "-n", ns, "addr", "add", f"{relay_ip(i)}/24", "dev", "r0")
        lab.sh("ip", "-n", CORE, "link", "set", core_dev, "up")
        lab.sh("ip", "-n", ns, "link", "set", "r0", "up")
        lab.sh("ip", "-n", ns, "route", "add", "default", "via", dispatcher_ip(i))
        # a relay host routes: without it the BPF programs' FIB lookups fail and every packet goes up to the agent
        lab.in_ns(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        # the phones' packets leave with software checksums (XDP keeps no
        # CHECKSUM_PARTIAL), and GRO gives the core's end the NAPI that
        # the relay's XDP_TX needs (lab facts)
        lab.in_ns(CORE, "ethtool", "-K", core_dev, "tx", "off", "gro", "on")
        holder = subprocess.Popen(["ip", "netns", "exec", ns, "unshare", "-m", "--propagation", "private", "sh",
                                   "-c", "mount -t bpf bpf /sys/fs/bpf && exec sleep infinity"])
        while open(f"/proc/{holder.pid}/comm").read().strip() != "sleep":
            time.sleep(0.05)
        holders[i] = holder.pid
    passer = subprocess.Popen(["ip", "netns", "exec", CORE, f"{bench}/ceiling", "-p", "d1", "d2"],
                              stdout=subprocess.PIPE, text=True)
    if passer.stdout.readline().strip() != "ready":
        raise RuntimeError("soak: cannot attach the XDP pass program to d1 and d2")
    return holders
