#!/usr/bin/env python3
"""A stand-in for a SIP proxy's JSON-RPC datagram socket (OpenSIPS
mi_datagram, Kamailio jsonrpcs): prints each request datagram on one line
and answers it.

  fake_proxy_rpc.py PATH ok|notfound|callid|silent [--unbound]

ok: {"result": "OK"} (Kamailio-style pretty-printed, several lines);
notfound: {"error": {"code": 404, "message": "Dialog not found"}};
callid: OpenSIPS that has the dialog but under another did: 404 to a did
(two reverse-hex numbers joined by a dot), OK to anything else (a Call-ID).
--unbound: answer from an unbound socket of its own, as OpenSIPS 3.6 does,
not from PATH.
silent: no answer at all.
"""
import json
import os
import re
import socket
import sys


def found(request, answer):
    if answer == "callid":
        return not re.fullmatch(r"[0-9a-f]+\.[0-9a-f]+", str(request["params"][0]))
    return answer == "ok"


def main(path, answer, *options):
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) if "--unbound" in options else s
    while True:
        data, sender = s.recvfrom(65536)
        print(data.decode(), flush=True)
        request = json.loads(data)
        if answer == "silent":
            continue
        reply = {"jsonrpc": "2.0", "id": request["id"]}
        if found(request, answer):
            reply["result"] = "OK"
        else:
            reply["error"] = {"code": 404, "message": "Dialog not found"}
        out.sendto(json.dumps(reply, indent=4).encode(), sender)


if __name__ == "__main__":
    main(*sys.argv[1:])
