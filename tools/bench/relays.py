"""The relays under test, each started in the relay namespace (pinned to the
relay CPU) and given calls.  Every call i is between A_IP:20000+2i and
B_IP:20000+2i; make_calls() returns, per call, the relay address and port
each end sends its RTP to.
"""
import os
import re
import resource
import shutil
import socket
import subprocess
import time

from lab import NS_R, RELAY_IP, A_IP, B_IP, RELAY_CPU, SINK_PORTS, Proc, ns_socket

PORT_RANGE = (4000, 65000)  # 4 ports a call: 15,250 calls, 30,500 RTP streams
# ... if the relay may open that many sockets: one a port
FD_LIMIT = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
MAX_CALLS = min((PORT_RANGE[1] - PORT_RANGE[0]) // 4, (FD_LIMIT - 100) // 4)
# rtpengine's best for one core (README.md): [Debian 12's, Debian 13's]
RTPENGINE_ONE_CORE = (["--num-threads=1"], ["--num-threads=1"])
TRIXIE_ROOT = "bench/trixie-root"  # in the build directory: peers.sh makes it


def end_port(i):
    return SINK_PORTS[0] + 2 * i


def start_in_relay_ns(args, log, ns=NS_R):
    def more_files():  # one socket a relay port
        resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))

    return subprocess.Popen(["ip", "netns", "exec", ns, "taskset", "-c", str(RELAY_CPU), *args],
                            stdout=log, stderr=subprocess.STDOUT, preexec_fn=more_files)


def stop_process(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class MediaRelay:
    """media-relay in one forwarding tier, driven over its control socket;
    kind "xdp-nostats" is the XDP tier with [Relay] rtp_stats off."""

    def __init__(self, build, workdir, kind):
        self.tier, _, variant = kind.partition("-")
        rtp_stats = "no" if variant == "nostats" else "yes"
        shutil.rmtree(f"{workdir}/run", ignore_errors=True)
        os.makedirs(f"{workdir}/run")
        with open(f"{workdir}/config.ini", "w") as f:
            f.write(f"[Relay]\nrelay_ip = {RELAY_IP}\nport_range = {PORT_RANGE[0]}:{PORT_RANGE[1]}\n"
                    f"forwarding = {self.tier}\nrtp_stats = {rtp_stats}\nlog_level = WARNING\n")
        self.log = open(f"{workdir}/media-relay.log", "w")
        self.p = start_in_relay_ns([f"{build}/media-relay", "--no-fork", "--config-dir", workdir,
                                    "--runtime-dir", f"{workdir}/run"], self.log)
        self.ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        for _ in range(200):
            try:
                self.ctl.connect(f"{workdir}/run/relay.sock")
                break
            except OSError:
                if self.p.poll() is not None:
                    raise RuntimeError(f"media-relay exited: {open(self.log.name).read()}")
                time.sleep(0.05)
        else:
            raise RuntimeError("media-relay's control socket does not answer")
        self.buf = b""
        self.seq = 0

    @property
    def pids(self):
        return [self.p.pid]

    def _requests(self, requests):
        """Sends requests (command, headers) pipelined, returns the replies in order."""
        out = []
        for command, headers in requests:
            self.seq += 1
            out.append(f"{command} {self.seq}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n")
        self.ctl.sendall("".join(out).encode())
        replies = []
        while len(replies) < len(requests):
            while b"\r\n" not in self.buf:
                chunk = self.ctl.recv(65536)
                if not chunk:
                    raise RuntimeError("media-relay closed its control socket")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            replies.append(line.decode().partition(" ")[2])
        return replies

    def make_calls(self, n, batch=250):
        calls = []
        for start in range(0, n, batch):
            ids = range(start, min(n, start + batch))
            for kind in ("request", "reply"):
                reqs = []
                for i in ids:
                    h = {"call_id": f"bench-{i}", "from_tag": f"f{i}", "from_uri": "a@example.org",
                         "to_uri": "b@example.net", "cseq": 1, "type": kind}
                    if kind == "request":
                        h.update(user_agent="bench-a", signaling_ip=A_IP, media=f"audio:{A_IP}:{end_port(i)}:sendrecv:ice=no")
                    else:
                        h.update(to_tag=f"t{i}", user_agent="bench-b", signaling_ip=B_IP,
                                 media=f"audio:{B_IP}:{end_port(i)}:sendrecv:ice=no")
                    reqs.append(("update", h))
                replies = self._requests(reqs)
                for i, r in zip(ids, replies):
                    m = re.fullmatch(r"([\d.]+) (\d+)", r)
                    if not m:
                        raise RuntimeError(f"media-relay refused call {i}: {r}")
                    if kind == "request":  # what B was told: where B sends
                        calls.append({"b_to": (m[1], int(m[2]))})
                    else:
                        calls[i]["a_to"] = (m[1], int(m[2]))
        return calls

    def stop(self):
        self.ctl.close()
        stop_process(self.p)
        self.log.close()


def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    return b"d" + b"".join(bencode(k) + bencode(v[k]) for k in sorted(v)) + b"e"


def bdecode(b, i=0):
    """Returns (value, next index)."""
    c = b[i:i + 1]
    if c == b"i":
        end = b.index(b"e", i)
        return int(b[i + 1:end]), end + 1
    if c in (b"l", b"d"):
        i += 1
        items = []
        while b[i:i + 1] != b"e":
            v, i = bdecode(b, i)
            items.append(v)
        return (items if c == b"l" else dict(zip(items[::2], items[1::2]))), i + 1
    colon = b.index(b":", i)
    n = int(b[i:colon])
    return b[colon + 1:colon + 1 + n].decode(errors="replace"), colon + 1 + n


class Rtpengine:
    """rtpengine, userspace only (its kernel module, a DKMS package, cannot be
    built or loaded here), driven over its ng protocol: Debian 12's (10.5)
    from the host, or Debian 13's (12.5) from a root that peers.sh made with
    mmdebstrap, run chrooted in the relay's namespace.  Its best for one
    core (README.md): one worker thread, the relay core's only thread that
    polls; 12.5 with io_uring where the kernel allows it."""

    NG = ("127.0.0.1", 2223)

    def __init__(self, build, workdir, tier=None, root=None, ns=NS_R, port_range=PORT_RANGE):
        self.log = open(f"{workdir}/rtpengine.log", "w")
        self.ns = ns
        args = ["rtpengine", "--config-file=none", "-f", "-E", "--table=-1", "-L", "4",
                f"--interface=pub/{RELAY_IP}", f"--listen-ng={self.NG[0]}:{self.NG[1]}",
                f"--port-min={port_range[0]}", f"--port-max={port_range[1]}",
                "--timeout=600", "--delete-delay=0", *RTPENGINE_ONE_CORE[root is not None]]
        if root:  # a private mount namespace: /dev and /proc for it, none left behind
            args = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                    f'mount --rbind /dev "$0/dev" && mount -t proc proc "$0/proc" && exec chroot "$0" "$@"',
                    root, *args]
        self.p = start_in_relay_ns(args, self.log, ns)
        self.cookie = 0
        self.ng = None
        for _ in range(100):
            try:
                self._ng({"command": "ping"})
                return
            except (OSError, socket.timeout):
                if self.p.poll() is not None:
                    raise RuntimeError(f"rtpengine exited: {open(self.log.name).read()}")
                time.sleep(0.1)
        raise RuntimeError("rtpengine does not answer ng ping")

    @property
    def pids(self):
        return [self.p.pid]

    def _ng(self, msg):
        if self.ng is None:
            self.ng = ns_socket(self.ns, socket.SOCK_DGRAM)
            self.ng.settimeout(2)
        self.cookie += 1
        self.ng.sendto(b"%d " % self.cookie + bencode(msg), self.NG)
        reply = self.ng.recv(65536)
        return bdecode(reply.split(b" ", 1)[1])[0]

    @staticmethod
    def _sdp(ip, port):
        return (f"v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
                f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")

    @staticmethod
    def _where(reply):
        if reply.get("result") != "ok":
            raise RuntimeError(f"rtpengine: {reply}")
        sdp = reply["sdp"]
        return re.search(r"c=IN IP4 ([\d.]+)", sdp)[1], int(re.search(r"m=audio (\d+)", sdp)[1])

    def make_calls(self, n):
        calls = []
        for i in range(n):
            base = {"call-id": f"bench-{i}", "from-tag": f"f{i}"}
            b_to = self._where(self._ng({**base, "command": "offer", "sdp": self._sdp(A_IP, end_port(i))}))
            a_to = self._where(self._ng({**base, "command": "answer", "to-tag": f"t{i}",
                                         "sdp": self._sdp(B_IP, end_port(i))}))
            calls.append({"a_to": a_to, "b_to": b_to})
        return calls

    def stop(self):
        if self.ng:
            self.ng.close()
        stop_process(self.p)
        self.log.close()


class Ceiling:
    """No relay at all: a bare XDP redirect between the relay's interfaces."""

    def __init__(self, build, workdir, tier=None):
        self.proc = Proc(NS_R, RELAY_CPU, f"{build}/bench/ceiling", "mpbr1", "mpbr2", ready=True)

    @property
    def pids(self):
        return []  # its work is all in the NAPI threads

    def make_calls(self, n):
        return [{"a_to": (RELAY_IP, end_port(i)), "b_to": (RELAY_IP, end_port(i))} for i in range(n)]

    def stop(self):
        self.proc.stop()


class Rtpengine13(Rtpengine):
    def __init__(self, build, workdir, tier=None, **kw):
        super().__init__(build, workdir, tier, root=os.path.join(build, TRIXIE_ROOT), **kw)


RELAYS = {"xdp": MediaRelay, "xdp-nostats": MediaRelay, "tc": MediaRelay, "conntrack": MediaRelay, "userspace": MediaRelay,
          "rtpengine": Rtpengine, "rtpengine13": Rtpengine13, "ceiling": Ceiling}
