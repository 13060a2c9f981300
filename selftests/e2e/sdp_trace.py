#!/usr/bin/env python3
"""Reads the message logs of the caller's and the callee's sipp (-trace_msg)
and prints, per Call-ID, one JSON object with the media addresses each
party sent and was given, as the last SDP of each kind said:

  sdp_trace.py CALLER_LOG CALLEE_LOG

  caller        the caller's own address (its last INVITE)
  caller_side   where the caller was told to send (the last SDP it received)
  callee_side   where the callee was told to send (the last INVITE it received)
  callee        the callee's own address (its last reply with SDP)
  each a list "ip:port", one per m= line; plus "sdp_at_callee" and
  "sdp_at_caller": every SDP each party received, by CSeq (so that
  retransmissions count once), as {"media": [ip:port, ...], "direction": a=}.
"""
import json
import re
import sys

SEPARATOR = re.compile(r"^-{10,} .*$", re.M)


def messages(path):
    """(direction, message text) for each message of a sipp message log."""
    with open(path, errors="replace") as f:
        for block in SEPARATOR.split(f.read()):
            head, _, text = block.strip().partition("\n")
            if "message sent" in head or "message received" in head:
                yield ("sent" if "sent" in head else "received"), text.strip().replace("\r\n", "\n")


def media(text):
    """The Call-ID, CSeq, [ip:port per m= line] and direction of a message's
    SDP; Nones without SDP."""
    headers, _, body = text.partition("\n\n")
    call_id = re.search(r"^(?:Call-ID|i):\s*(\S+)", headers, re.M | re.I)
    cseq = re.search(r"^CSeq:\s*(\d+)", headers, re.M | re.I)
    connection = re.search(r"^c=IN IP4 (\S+)", body, re.M)
    ports = re.findall(r"^m=\S+ (\d+)", body, re.M)
    direction = re.search(r"^a=(sendrecv|sendonly|recvonly|inactive)", body, re.M)
    if not call_id or not cseq or not connection or not ports:
        return None, None, None, None
    return (call_id.group(1), cseq.group(1), [f"{connection.group(1)}:{p}" for p in ports],
            direction.group(1) if direction else "sendrecv")


def main(caller_log, callee_log):
    calls = {}
    for role, path in (("caller", caller_log), ("callee", callee_log)):
        for direction, text in messages(path):
            call_id, cseq, addresses, attribute = media(text)
            if not call_id:
                continue
            call = calls.setdefault(call_id, {"sdp_at_callee": {}, "sdp_at_caller": {}})
            if direction == "sent":
                call[role] = addresses
            else:
                call[f"{role}_side"] = addresses
                call[f"sdp_at_{role}"][cseq] = {"media": addresses, "direction": attribute}
    print(json.dumps(calls, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:])
