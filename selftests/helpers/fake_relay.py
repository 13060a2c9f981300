#!/usr/bin/env python3
"""A stand-in relay that checks, byte for byte, what the dispatcher sends it
in doc/proxy-protocol.md §11.1-§11.3 (examples A, B and C), and answers as doc/relay-protocol.md's relay
does; after B it reports the session expired (example E), so the proxy's
remove (C) must then be answered by the dispatcher alone.

  fake_relay.py DISPATCHER_IP CERTDIR [no-streams | empty-stats | late-remove]

With no-streams the expiry report lacks its "streams" array (malformed).
With empty-stats it reports no expiry, but answers the remove of C with
the statistics {}.  With late-remove it answers the remove of C with the
session's statistics 1 s late, after the dispatcher's timer for it.
Prints one line per step ("ok ..." / "MISMATCH ...") and exits 0 when every
step matched.
"""
import socket
import ssl
import sys
import time

A = (b"update 1\r\ntype: request\r\ndialog_id: 3021:17\r\ncall_id: 7f3c9a21e5b04d2c@10.0.0.23\r\ncseq: 101\r\n"
     b"from_uri: alice@example.org\r\nto_uri: bob@example.net\r\nfrom_tag: a73kszlfl\r\n"
     b"user_agent: ExamplePhone/2.1\r\nsignaling_ip: 198.18.1.7\r\n"
     b"media: audio:10.0.0.23:49170:sendrecv:ice=no,video:10.0.0.23:51372:sendrecv:ice=no\r\n\r\n")
B = (b"update 2\r\ntype: reply\r\ndialog_id: 3021:17\r\ncall_id: 7f3c9a21e5b04d2c@10.0.0.23\r\ncseq: 101\r\n"
     b"from_uri: alice@example.org\r\nto_uri: bob@example.net\r\nfrom_tag: a73kszlfl\r\nto_tag: 8321234356\r\n"
     b"user_agent: OtherPhone 5.0\r\nsignaling_ip: 198.18.2.9\r\n"
     b"media: audio:192.168.5.9:30000:sendrecv:ice=no,video:192.168.5.9:30002:sendrecv:ice=no\r\n\r\n")
C = b"remove 3\r\ncall_id: 7f3c9a21e5b04d2c@10.0.0.23\r\nfrom_tag: a73kszlfl\r\nto_tag: 8321234356\r\n\r\n"
EXPIRED = (b'expired {"call_id": "7f3c9a21e5b04d2c@10.0.0.23", "from_tag": "a73kszlfl", "from_uri": "alice@example.org", '
           b'"to_tag": "8321234356", "to_uri": "bob@example.net", "start_time": 1767225612.482913, "duration": 305, '
           b'"caller_ua": "ExamplePhone/2.1", "callee_ua": "OtherPhone 5.0", "username": null, "streams": '
           b'[{"media_type": "audio", "status": "conntrack timeout", "timeout_wait": 180}]}\r\n')


def read_block(sock, buf):
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None, buf
        buf += chunk
    block, buf = buf.split(b"\r\n\r\n", 1)
    return block + b"\r\n\r\n", buf


def main(dispatcher, certs, variant="spec"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(f"{certs}/ca.pem")
    ctx.load_cert_chain(f"{certs}/relay.crt", f"{certs}/relay.key")
    sock = ctx.wrap_socket(socket.create_connection((dispatcher, 25060), timeout=10))
    buf, good = b"", True
    block, buf = read_block(sock, buf)
    good &= block == b"sessions 0\r\n\r\n"
    print("ok sessions 0" if block == b"sessions 0\r\n\r\n" else f"MISMATCH first command {block!r}", flush=True)
    sock.sendall(b"0 []\r\n")
    for name, expected, reply in (("A", A, b"1 198.18.0.50 40002 40006\r\n"), ("B", B, b"2 198.18.0.50 40000 40004\r\n")):
        block, buf = read_block(sock, buf)
        good &= block == expected
        print(f"ok example {name}" if block == expected else f"MISMATCH example {name}: {block!r}", flush=True)
        sock.sendall(reply)
    if variant in ("empty-stats", "late-remove"):
        block, buf = read_block(sock, buf)
        good &= block == C
        print("ok example C" if block == C else f"MISMATCH example C: {block!r}", flush=True)
        if variant == "late-remove":
            time.sleep(1)
            sock.sendall(b"3 " + EXPIRED[len(b"expired "):])
        else:
            sock.sendall(b"3 {}\r\n")
        return 0 if good else 1
    expired = EXPIRED
    if variant == "no-streams":
        expired = EXPIRED[:EXPIRED.index(b', "streams"')] + b"}\r\n"
    sock.sendall(expired)
    sock.settimeout(2)
    try:
        block, buf = read_block(sock, buf)
    except socket.timeout:
        block = None
    good &= block is None
    print("ok nothing after expired" if block is None else f"MISMATCH sent after expired: {block!r}", flush=True)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
