#!/usr/bin/env python3
"""One HTTP(S) request to a daemon's HTTP interface (doc/management.md §8).

  http_get.py [--certs DIR [--cert NAME]] [--method M] URL [OUT]

Prints "STATUS CONTENT-TYPE" and writes the body to OUT (if given).  With
https://, the server must show a certificate of DIR/ca.pem (its name is not
checked, as the daemons do not check names); the client shows DIR/NAME.crt
(default: management), or none with --cert none.  A connection the server
refuses or closes prints "refused: REASON" and exits 1.
"""
import argparse
import http.client
import ssl
import sys
import urllib.parse


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--certs")
    parser.add_argument("--cert", default="management")
    parser.add_argument("--method", default="GET")
    parser.add_argument("url")
    parser.add_argument("out", nargs="?")
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    if url.scheme == "https":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(f"{args.certs}/ca.pem")
        if args.cert != "none":
            ctx.load_cert_chain(f"{args.certs}/{args.cert}.crt", f"{args.certs}/{args.cert}.key")
        conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=10)
    else:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request(args.method, url.path + (f"?{url.query}" if url.query else ""))
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as e:
        print(f"refused: {e}")
        return 1
    print(response.status, response.getheader("Content-Type"))
    if args.out:
        with open(args.out, "wb") as f:
            f.write(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
