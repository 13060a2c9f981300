#!/usr/bin/env python3
"""A management client of the dispatcher (doc/management.md).

  management_client.py HOST PORT CERTDIR|- COMMAND...

Sends each COMMAND as one CRLF line over TLS with CERTDIR's management
certificate (CERTDIR "-": plain TCP) and prints each reply line.
"""
import socket
import ssl
import sys


def main(host, port, certs, *commands):
    sock = socket.create_connection((host, int(port)), timeout=5)
    if certs != "-":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(f"{certs}/ca.pem")
        ctx.load_cert_chain(f"{certs}/management.crt", f"{certs}/management.key")
        sock = ctx.wrap_socket(sock)
    buf = b""
    for command in commands:
        sock.sendall(command.encode() + b"\r\n")
        if command in ("quit", "exit"):
            break
        while b"\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                sys.exit("management_client: connection closed")
            buf += chunk
        line, buf = buf.split(b"\r\n", 1)
        print(line.decode())


if __name__ == "__main__":
    main(*sys.argv[1:])
