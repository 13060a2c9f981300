#!/usr/bin/env python3
"""Writes the sipp scenarios of the end-to-end suite, built from a few
messages, so that each call flow is a short list of steps.

  scenario.py NAME > NAME.xml      (NAME: one of SCENARIOS below)

The caller (uac-*) and the callee (uas-*) take their media ports from
sipp's injection file (-inf): field0 is the audio port, field1 a second
port (video, or where the callee moves to).  Every call of a run gets its
own line, so concurrent calls use their own ports.
"""
import sys

CALLER_TAG = "[pid]caller[call_number]"


def sdp(audio="[field0]", video=None, ip="[local_ip]", direction="sendrecv"):
    lines = ["v=0", f"o=- [call_number] 1 IN IP4 [local_ip]", "s=-", f"c=IN IP4 {ip}", "t=0 0",
             f"m=audio {audio} RTP/AVP 0", "a=rtpmap:0 PCMU/8000", f"a={direction}"]
    if video is not None:
        lines += [f"m=video {video} RTP/AVP 96", "a=rtpmap:96 H264/90000"]
    return "\n".join(lines)


REASONS = {180: "Ringing", 183: "Session Progress", 200: "OK", 486: "Busy Here", 487: "Request Terminated"}


def message(start, headers, body=None, retransmit=True):
    """A message to send; sipp retransmits it every 500 ms until the next
    message of the scenario arrives, when `retransmit`."""
    text = "\n".join([start] + headers)
    if body:
        text += "\nContent-Type: application/sdp\nContent-Length: [len]\n\n" + body
    else:
        text += "\nContent-Length: 0\n"
    attributes = ' retrans="500"' if retransmit else ""
    return f"  <send{attributes}><![CDATA[\n{text}\n\n]]></send>\n"


def request(method, cseq, body=None, initial=False):
    """A request of the caller: the INVITE that starts the dialog, or one
    within it, routed by the Record-Route it learned."""
    via = "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]"
    common = [f"From: <sip:alice@example.org>;tag={CALLER_TAG}", "Call-ID: [call_id]",
              f"CSeq: {cseq} {method}", "Max-Forwards: 70"]
    if initial:
        return message("INVITE sip:bob@example.net SIP/2.0",
                       [via, "To: <sip:bob@example.net>", *common, "Contact: <sip:alice@[local_ip]:[local_port]>",
                        "User-Agent: sipp-caller"], body)
    return message(f"{method} [next_url] SIP/2.0",
                   [via, "To: <sip:bob@example.net>[peer_tag_param]", *common, "[routes]",
                    "Contact: <sip:alice@[local_ip]:[local_port]>", "User-Agent: sipp-caller"], body,
                   retransmit=method != "ACK")


def same_transaction(method, back):
    """The CANCEL, or the ACK of a failure, of the INVITE sent `back`
    messages earlier: its branch, Request-URI and CSeq number."""
    return message(f"{method} sip:bob@example.net SIP/2.0",
                   [f"Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-{back}]",
                    "To: <sip:bob@example.net>" + ("[peer_tag_param]" if method == "ACK" else ""),
                    f"From: <sip:alice@example.org>;tag={CALLER_TAG}", "Call-ID: [call_id]", f"CSeq: 1 {method}",
                    "Max-Forwards: 70"], retransmit=method != "ACK")


def reply(code, body=None, add_tag=True, cseq="[last_CSeq:]"):
    """A reply of the callee to the request it received last."""
    to = "[last_To:];tag=[pid]callee[call_number]" if add_tag else "[last_To:]"
    return message(f"SIP/2.0 {code} {REASONS[code]}", ["[last_Via:]", "[last_From:]", to, "[last_Call-ID:]", cseq,
                                       "[last_Record-Route:]", "Contact: <sip:bob@[local_ip]:[local_port]>",
                                       "User-Agent: sipp-callee"], body, retransmit=code == 200 and body)


def recv_reply(code, optional=False, record_routes=False):
    return (f"  <recv response=\"{code}\"" + (" optional=\"true\"" if optional else "") +
            (" rrs=\"true\"" if record_routes else "") + "/>\n")


def recv_request(method, record_routes=False, timeout=None):
    return (f"  <recv request=\"{method}\"" + (" rrs=\"true\"" if record_routes else "") +
            (f" timeout=\"{timeout}\"" if timeout else "") + "/>\n")


# waits as long as sipp's -d option says (the suite sets it per run)
PAUSE = "  <pause/>\n"


def invite_answered(body):
    """The caller's INVITE up to its ACK."""
    return (request("INVITE", 1, body, initial=True) + recv_reply(100, optional=True) +
            recv_reply(180, optional=True) + recv_reply(183, optional=True) + recv_reply(200, record_routes=True) +
            request("ACK", 1))


def reinvite(cseq, body):
    return request("INVITE", cseq, body) + recv_reply(100, optional=True) + recv_reply(200) + request("ACK", cseq)


def bye(cseq):
    return request("BYE", cseq) + recv_reply(200)


def answered_by_callee(*replies):
    return recv_request("INVITE", record_routes=True) + "".join(replies) + recv_request("ACK")


def bye_received():
    return recv_request("BYE") + reply(200, add_tag=False)


def reinvite_received(body):
    return recv_request("INVITE") + reply(200, body, add_tag=False) + recv_request("ACK")


SCENARIOS = {
    # a call, its media while the caller waits, the caller's BYE
    "uac-call": invite_answered(sdp()) + PAUSE + bye(2),
    "uas-call": answered_by_callee(reply(180), reply(200, sdp())) + bye_received(),
    # early media: 183 with SDP, then the 200
    "uas-early": answered_by_callee(reply(183, sdp()), PAUSE, reply(200, sdp())) + bye_received(),
    # hold (sendonly, then 0.0.0.0) and back, each a re-INVITE of the caller
    "uac-hold": invite_answered(sdp()) + PAUSE + reinvite(2, sdp(direction="sendonly")) + PAUSE +
                reinvite(3, sdp(ip="0.0.0.0")) + PAUSE + reinvite(4, sdp()) + PAUSE + bye(5),
    "uas-hold": answered_by_callee(reply(180), reply(200, sdp())) + reinvite_received(sdp(direction="recvonly")) +
                reinvite_received(sdp()) + reinvite_received(sdp()) + bye_received(),
    # the caller re-INVITEs, the callee answers from a new port (field1)
    "uac-move": invite_answered(sdp()) + PAUSE + reinvite(2, sdp()) + PAUSE + bye(3),
    "uas-move": answered_by_callee(reply(180), reply(200, sdp())) + reinvite_received(sdp(audio="[field1]")) +
                bye_received(),
    # audio and video offered, the callee rejects the video with port 0
    "uac-video": invite_answered(sdp(video="[field1]")) + PAUSE + bye(2),
    "uas-video": answered_by_callee(reply(200, sdp(video="0"))) + bye_received(),
    # the callee rejects the call
    "uac-rejected": request("INVITE", 1, sdp(), initial=True) + recv_reply(100, optional=True) +
                    recv_reply(180, optional=True) + recv_reply(486) + same_transaction("ACK", 4),
    "uas-rejected": recv_request("INVITE") + reply(180) + reply(486) + recv_request("ACK"),
    # the caller gives up while it rings
    "uac-cancel": request("INVITE", 1, sdp(), initial=True) + recv_reply(100, optional=True) + recv_reply(180) +
                  PAUSE + same_transaction("CANCEL", 4) + recv_reply(200) + recv_reply(487) + same_transaction("ACK", 7),
    "uas-cancel": recv_request("INVITE") + reply(180) + recv_request("CANCEL") + reply(200) + reply(487, cseq="CSeq: 1 INVITE") +
                  recv_request("ACK"),
    # nobody hangs up: the proxy's BYE ends the call (media timed out).  The
    # caller answers its BYE after 1 s: the proxy sends the caller's BYE, then
    # the callee's, and Kamailio's dialog module deletes the dialog on the
    # first final reply, so a reply handled before the second BYE leaves the
    # callee without one (doc/accounting.md §5.4)
    "uac-timeout": invite_answered(sdp()) + recv_request("BYE", timeout=60000) + '  <pause milliseconds="1000"/>\n' +
                   reply(200, add_tag=False),
    "uas-timeout": answered_by_callee(reply(180), reply(200, sdp())) + recv_request("BYE", timeout=60000) +
                   reply(200, add_tag=False),
}


def main(name):
    print('<?xml version="1.0" encoding="ISO-8859-1" ?>')
    print(f'<scenario name="{name}">')
    print(SCENARIOS[name], end="")
    print("</scenario>")


if __name__ == "__main__":
    main(sys.argv[1])
