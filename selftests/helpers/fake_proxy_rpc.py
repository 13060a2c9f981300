#!/usr/bin/env python3
"""A stand-in for a SIP proxy's JSON-RPC datagram socket (OpenSIPS
mi_datagram, Kamailio jsonrpcs): prints each request datagram on one line
and answers it.

  fake_proxy_rpc.py PATH ok|notfound|silent

ok: {"result": "OK"} (Kamailio-style pretty-printed, several lines);
notfound: {"error": {"code": 404, "message": "Dialog not found"}};
silent: no answer at all.
"""
import json
import os
import socket
import sys


def main(path, answer):
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    while True:
        data, sender = s.recvfrom(65536)
        print(data.decode(), flush=True)
        request = json.loads(data)
        if answer == "silent":
            continue
        reply = {"jsonrpc": "2.0", "id": request["id"]}
        if answer == "ok":
            reply["result"] = "OK"
        else:
            reply["error"] = {"code": 404, "message": "Dialog not found"}
        s.sendto(json.dumps(reply, indent=4).encode(), sender)


if __name__ == "__main__":
    main(*sys.argv[1:])
