"""The bench's laboratory: three network namespaces joined by veth, the
programs run in them, and what is read off the kernel (CPU time per task,
BPF program run time, memory).

    mpb-a  (198.18.1.7 on mpbe1) ---- mpbr1 198.18.1.1 \
                                                      mpb-r (relay address 198.18.0.50 on lo)
    mpb-b  (198.18.2.9 on mpbe2) ---- mpbr2 198.18.2.1 /

CPU 0 carries the traffic generators and the receivers; CPU 1 is the relay
node: its processes and the NAPI threads of its two interfaces.  Threaded
NAPI makes the cost of XDP on veth visible as the run time of a task
(napi/DEV-N) instead of softirq time charged to whoever happened to run.
"""
import ctypes
import glob
import json
import os
import signal
import socket
import subprocess
import threading

NS_A, NS_R, NS_B = "mpb-a", "mpb-r", "mpb-b"
A_IP, B_IP, RELAY_IP = "198.18.1.7", "198.18.2.9", "198.18.0.50"
GEN_CPU, RELAY_CPU = 0, 1
SINK_PORTS = (20000, 50002)  # the ends' media ports: 20000 + 2 * call


def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, capture_output=True, text=True, **kw).stdout


def in_ns(ns, *args, **kw):
    return sh("ip", "netns", "exec", ns, *args, **kw)


def ns_socket(ns, kind, family=socket.AF_INET):
    """A socket of namespace `ns`: made by a thread that entered it (setns
    moves only the calling thread), usable from any thread afterwards."""
    made = []

    def make():
        fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        if ctypes.CDLL(None, use_errno=True).setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), f"setns {ns}")
        os.close(fd)
        made.append(socket.socket(family, kind))

    t = threading.Thread(target=make)
    t.start()
    t.join()
    if not made:
        raise OSError(f"cannot make a socket in {ns}")
    return made[0]


def management(ns, command, address=("127.0.0.1", 25061)):
    """One command on a dispatcher's management port (plain TCP) in namespace `ns`: its JSON answer."""
    s = ns_socket(ns, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(address)
        s.sendall(command.encode() + b"\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    finally:
        s.close()
    return json.loads(reply)


def write_sysfs(ns, path, value):
    in_ns(ns, "sh", "-c", f"echo {value} > {path}")


def cleanup():
    """Ends every process in our namespaces (mpb-*) and deletes them, also after a crash."""
    for ns in sh("ip", "netns", "list").split("\n"):
        ns = ns.split(" ")[0]
        if ns.startswith("mpb-"):
            for pid in sh("ip", "netns", "pids", ns, check=False).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            sh("ip", "netns", "del", ns, check=False)


class Topology:
    def __enter__(self):
        cleanup()
        for ns in (NS_A, NS_R, NS_B):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", NS_R, "addr", "add", f"{RELAY_IP}/32", "dev", "lo")
        in_ns(NS_R, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.mac = {}
        for ns, dev, ip, rdev, rip in ((NS_A, "mpbe1", A_IP, "mpbr1", "198.18.1.1"),
                                       (NS_B, "mpbe2", B_IP, "mpbr2", "198.18.2.1")):
            sh("ip", "-n", NS_R, "link", "add", rdev, "type", "veth", "peer", "name", dev, "netns", ns)
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", NS_R, "addr", "add", f"{rip}/24", "dev", rdev)
            for n, d in ((ns, dev), (NS_R, rdev)):
                # GRO gives a veth its NAPI without an XDP program: frames
                # the generator transmits need one to be received at all
                in_ns(n, "ethtool", "-K", d, "gro", "on")
                sh("ip", "-n", n, "link", "set", d, "up")
                self.mac[d] = in_ns(n, "cat", f"/sys/class/net/{d}/address").strip()
            for n, d in ((ns, dev), (NS_R, rdev)):  # once the NAPI exists: both ends up
                write_sysfs(n, f"/sys/class/net/{d}/threaded", 1)
            sh("ip", "-n", ns, "route", "add", "default", "via", rip)
            # no ARP on the measured path: the ends never answer, their sink drops everything
            sh("ip", "-n", NS_R, "neigh", "replace", ip, "lladdr", self.mac[dev], "dev", rdev, "nud", "permanent")
            sh("ip", "-n", ns, "neigh", "replace", rip, "lladdr", self.mac[rdev], "dev", dev, "nud", "permanent")
        return self

    def __exit__(self, *exc):
        cleanup()


class Proc:
    """A program in a namespace, pinned to a CPU, that answers SIGUSR1 with a JSON line."""

    def __init__(self, ns, cpu, *args, ready=False, log=None):
        self.p = subprocess.Popen(["ip", "netns", "exec", ns, "taskset", "-c", str(cpu), *args],
                                  stdout=subprocess.PIPE, stderr=log or subprocess.DEVNULL, text=True)
        if ready and self.p.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{args[0]} did not start")

    def poll(self):
        self.p.send_signal(signal.SIGUSR1)
        return json.loads(self.p.stdout.readline())

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def keep_awake(ns, cpu):
    """A busy loop at the lowest priority (SCHED_IDLE) on `cpu`, in namespace
    `ns` (so that cleanup() ends it too): the vCPU never halts.  Waking a
    halted vCPU of this VM takes milliseconds, in which a veth ring of 256
    frames overflows; anything else that wants the CPU preempts the loop at
    once, and its time is no relay's."""
    return subprocess.Popen(["ip", "netns", "exec", ns, "taskset", "-c", str(cpu), "chrt", "-i", "0",
                             "/usr/bin/python3", "-c", "while True: pass"])


def task_ns(pids):
    """CPU time (ns) of every thread of the processes `pids`, from schedstat."""
    total = 0
    for pid in pids:
        for f in glob.glob(f"/proc/{pid}/task/*/schedstat"):
            try:
                total += int(open(f).read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total


def napi_threads(devs):
    """The pids of the NAPI threads of the interfaces `devs`."""
    pids = []
    for comm in glob.glob("/proc/[0-9]*/comm"):
        try:
            name = open(comm).read().strip()
        except OSError:
            continue
        if name.startswith("napi/") and name[5:].rsplit("-", 1)[0] in devs:
            pids.append(int(comm.split("/")[2]))
    return pids


def pin(pids, cpu, rt=0, threads=False, policy="-f"):
    """Moves the tasks to `cpu`; `rt`: and lets them run before any normal
    task there, at that real-time priority (`policy` -f FIFO, or -r round
    robin: tasks of one priority that never sleep take turns); `threads`:
    every thread of each process (a daemon may set its threads' affinity
    itself)."""
    for pid in pids:
        sh("taskset", *["-a"] * threads, "-pc", str(cpu), str(pid), check=False)
        if rt:
            sh("chrt", *["-a"] * threads, policy, "-p", str(rt), str(pid), check=False)


def xdp_tc_progs(ns):
    """Ids of the BPF programs attached to the namespace's interfaces (XDP and tc)."""
    out = json.loads(in_ns(ns, "bpftool", "-j", "net", "show") or "[]")
    ids = set()
    for section in out:
        for kind in ("xdp", "tc", "tcx"):
            for entry in section.get(kind, []):
                if "id" in entry:
                    ids.add(entry["id"])
    return sorted(ids)


def prog_stats(ids):
    """Summed run time (ns) and runs of the programs `ids` (kernel.bpf_stats_enabled)."""
    ns = cnt = 0
    for i in ids:
        info = json.loads(sh("bpftool", "-j", "prog", "show", "id", str(i), check=False) or "{}")
        ns += info.get("run_time_ns", 0)
        cnt += info.get("run_cnt", 0)
    return ns, cnt


def rss_bytes(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def bpf_map_bytes(pid):
    """Kernel memory of the BPF maps the process holds open (memlock of each, once)."""
    seen = {}
    for fdinfo in glob.glob(f"/proc/{pid}/fdinfo/*"):
        try:
            fields = dict(l.split(":", 1) for l in open(fdinfo) if ":" in l)
        except OSError:
            continue
        if "map_id" in fields:
            seen[fields["map_id"].strip()] = int(fields.get("memlock", "0").strip())
    return sum(seen.values())
