#!/bin/bash
# make demo: one call placed by sipp through Debian's Kamailio, whose
# mediaproxy module asks media-dispatcher for a relay; media-relay forwards
# the call's RTP in XDP.  Every host is a network namespace of its own
# (198.18.0.0/15, drawn in selftests/e2e_lib.sh), so the demo never touches
# this machine's interfaces.  It prints what an operator looks at: the SDP
# before and after the proxy, the relay's forwarding entries in the pinned
# BPF map, the management interface's summary and sessions, what each end
# received, and the accounting row.  Logs and configuration stay in
# BUILD/demo/.
set -euo pipefail
BUILD=$(realpath "${1:-build}")
top=$(dirname "$(realpath "$0")")/..
T=$BUILD/demo NETNS_PREFIX=mp-demo
. "$top/selftests/lib.sh"
. "$top/selftests/e2e_lib.sh"
section() { printf '\n=== %s\n' "$*"; }
# the SDP lines of the first message of FILE's log whose first line matches START
sdp_of() { awk -v start="$2" '$0 ~ start {on = 1} on && /^[cm]=/ {print "    " $0} on && /^a=/ {exit}' "$1"; }

rm -rf "$T"
mkdir -p "$T"
trap 'stop_hosts 2>/dev/null' EXIT
e2e_hosts
start_proxy
start_relay

section "the relay connected to the dispatcher over mutual TLS; its forwarding tier per interface"
grep -h "connected\|forwards in" "$T/dispatcher.log" "$T/relay.log" | cut -d' ' -f3-

section "sipp calls 198.18.1.7 -> Kamailio 198.18.3.10 -> 198.18.2.9; the call lasts 8 s"
call call 1 8000
sdp 1
echo "the INVITE as the caller sent it, and as the callee got it:"
sdp_of "$T/uac.log" "^INVITE"
sdp_of "$T/uas.log" "^INVITE"
echo "the 200 OK as the callee sent it, and as the caller got it:"
sdp_of "$T/uas.log" "^SIP/2.0 200"
sdp_of "$T/uac.log" "^SIP/2.0 200"

section "500 RTP packets each way (172-byte payloads) from the addresses in the SDP"
call_media 500 4 &
media=$!
sleep 2
section "while the media flows: the forwarding entries (bpftool map dump pinned /sys/fs/bpf/mediaproxy/mp_fwd)"
in_relay bpftool map dump pinned /sys/fs/bpf/mediaproxy/mp_fwd
echo "decoded:"
in_relay bpftool -j map dump pinned /sys/fs/bpf/mediaproxy/mp_fwd | python3 -c "
import json, socket, struct, sys
ip = lambda v: socket.inet_ntoa(struct.pack('=I', v))
port = socket.ntohs
for e in json.load(sys.stdin):
    k, v = e['formatted']['key'], e['formatted']['value']
    print(f\"    {ip(k['local_ip'])}:{port(k['local_port'])} from {ip(v['expect_ip'])}:{port(v['expect_port'])}\"
          f\" -> {ip(v['out_saddr'])}:{port(v['out_sport'])} to {ip(v['out_daddr'])}:{port(v['out_dport'])}\"
          f\"  packets {v['packets']} bytes {v['bytes']}\")"
section "the management interface (TLS): summary and sessions"
management summary sessions >"$T/management"
sed -n 1p "$T/management" | python3 -m json.tool
sed -n 2p "$T/management" | python3 -m json.tool
wait $media
section "what each end received"
echo "caller: $(cat "$T/caller.json")"
echo "callee: $(cat "$T/callee.json")"
echo "packets the XDP program forwarded: $(fast_path_stat forwarded) (the agent relayed only the first of each side)"

section "the caller hangs up: Kamailio's BYE, the module's remove, the accounting row (SQLite $T/acct.db)"
call_done
rows 1
python3 -c "
import json, sqlite3, sys
for row in sqlite3.connect(sys.argv[1]).execute('SELECT id, call_id, from_tag, to_tag, info FROM media_sessions'):
    print('id', row[0], 'call_id', row[1], 'from_tag', row[2], 'to_tag', row[3])
    print(json.dumps(json.loads(row[4]), indent=1))" "$T/acct.db"

section "logs and configuration are in $T"
