#!/bin/bash
# make demo: a call's media through media-dispatcher and media-relay,
# between a caller, a relay host and a callee in three network namespaces of
# their own (198.18.0.0/15, so the demo never touches this host's
# interfaces).  The dispatcher and the relay run on the relay host, linked by
# mutual TLS with certificates made for the demo; the demo plays the SIP
# proxy's mediaproxy module on the dispatcher's socket and prints what an
# operator would look at: the forwarding tier per interface, the SDP
# addresses before and after, the live forwarding entries in the pinned BPF
# map, the management interface's summary and sessions, the final
# statistics.  Logs and configuration stay in BUILD/demo/.
set -euo pipefail
build=$(realpath "${1:-build}")
top=$(dirname "$(realpath "$0")")/..
demo=$build/demo
caller=mp-demo-caller relay=mp-demo-relay callee=mp-demo-callee
pids=()

cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for ns in $caller $relay $callee; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT
section() { printf '\n=== %s\n' "$*"; }

# host NS DEV IP RELAY_DEV RELAY_DEV_IP: a host on a veth to the relay
host() {
	ip netns add "$1"
	ip -n "$1" link set lo up
	ip -n $relay link add "$4" type veth peer name "$2" netns "$1"
	ip -n "$1" addr add "$3/24" dev "$2"
	ip -n $relay addr add "$5/24" dev "$4"
	ip -n "$1" link set "$2" up
	ip -n $relay link set "$4" up
	ip -n "$1" route add default via "$5"
	# software checksums and GRO: what an XDP redirect into a veth needs
	ip netns exec "$1" ethtool -K "$2" tx off gro on >/dev/null
}

cleanup
ip netns add $relay
ip -n $relay link set lo up
ip -n $relay addr add 198.18.0.50/32 dev lo
ip netns exec $relay sysctl -qw net.ipv4.ip_forward=1
host $caller c0 198.18.1.7 rc 198.18.1.1
host $callee e0 198.18.2.9 re 198.18.2.1

rm -rf "$demo"
mkdir -p "$demo"
"$top/tools/make-certs.sh" "$demo/tls" >/dev/null 2>&1
cat >"$demo/config.ini" <<'INI'
[Dispatcher]
listen = 127.0.0.1:25060
listen_management = 127.0.0.1:25061

[Relay]
relay_ip = 198.18.0.50
dispatchers = 127.0.0.1:25060
port_range = 40000:40100
INI

# each in its own mount namespace: the relay's BPF file system stays apart from the host's
ip netns exec $relay "$build/media-dispatcher" --no-fork --config-dir "$demo" --runtime-dir "$demo/run" \
	2>"$demo/media-dispatcher.log" &
pids+=($!)
ip netns exec $relay "$build/media-relay" --no-fork --config-dir "$demo" --runtime-dir "$demo/run" \
	2>"$demo/media-relay.log" &
pids+=($!)
for _ in $(seq 100); do grep -q "connected" "$demo/media-dispatcher.log" && break; sleep 0.05; done
in_relay() { nsenter -t "${pids[1]}" -m -n "$@"; }
# the proxy's mediaproxy module: one request on the dispatcher's socket, the reply line
proxy() {
	printf '%s\r\n' "$@" '' >"$demo/request"
	python3 "$top/selftests/proxy_client.py" "$demo/run/dispatcher.sock" <"$demo/request" 2>/dev/null | tr -d '\r'
}
management() { ip netns exec $relay python3 "$top/selftests/management_client.py" 127.0.0.1 25061 "$demo/tls" "$@"; }

section "at start: the dispatcher accepted the relay over TLS; the relay's forwarding tier per interface"
cat "$demo/media-dispatcher.log" "$demo/media-relay.log"

section "the INVITE's SDP says audio at 198.18.1.7:49170; the module sends update, the dispatcher answers"
callee_side=$(proxy update "type: request" "dialog_id: 3021:17" "call_id: demo-call" "cseq: 1" \
	"from_uri: alice@example.org" "to_uri: bob@example.net" "from_tag: alice-1" "to_tag: " \
	"user_agent: demo-caller" "signaling_ip: 198.18.1.7" "media_relay: " "media: audio:198.18.1.7:49170:sendrecv:ice=no")
echo "$callee_side   (the INVITE goes on with c=IN IP4 ${callee_side% *}, m=audio ${callee_side#* })"
section "the 200 OK's SDP says audio at 198.18.2.9:30000"
caller_side=$(proxy update "type: reply" "dialog_id: 3021:17" "call_id: demo-call" "cseq: 1" \
	"from_uri: alice@example.org" "to_uri: bob@example.net" "from_tag: alice-1" "to_tag: bob-1" \
	"user_agent: demo-callee" "signaling_ip: 198.18.2.9" "media_relay: " "media: audio:198.18.2.9:30000:sendrecv:ice=no")
echo "$caller_side   (the 200 OK goes on with c=IN IP4 ${caller_side% *}, m=audio ${caller_side#* })"

section "500 RTP packets each way (172-byte payloads); what each end received"
ip netns exec $caller python3 "$top/selftests/rtp_peer.py" 49170 ${caller_side/ / } 500 172 0 >"$demo/caller.json" &
peers=($!)
ip netns exec $callee python3 "$top/selftests/rtp_peer.py" 30000 ${callee_side/ / } 500 172 0.3 >"$demo/callee.json" &
peers+=($!)
sleep 1.5
section "while the call is up: its forwarding entries in the pinned map mp_fwd (bpftool map dump, decoded)"
in_relay bpftool -j map dump pinned /sys/fs/bpf/mediaproxy/mp_fwd | python3 -c "
import json, socket, struct, sys
ip = lambda v: socket.inet_ntoa(struct.pack('=I', v))
port = socket.ntohs
for e in json.load(sys.stdin):
    k, v = e['formatted']['key'], e['formatted']['value']
    print(f\"{ip(k['local_ip'])}:{port(k['local_port'])} from {ip(v['expect_ip'])}:{port(v['expect_port'])}\"
          f\" -> {ip(v['out_saddr'])}:{port(v['out_sport'])} to {ip(v['out_daddr'])}:{port(v['out_dport'])}\"
          f\"  packets {v['packets']} bytes {v['bytes']} dropped {v['dropped_src']}\")"
wait "${peers[@]}"
echo "caller: $(cat "$demo/caller.json")"
echo "callee: $(cat "$demo/callee.json")"

section "the management interface (TLS): summary and sessions"
management summary sessions quit >"$demo/management"
sed -n 1p "$demo/management" | python3 -m json.tool
sed -n 2p "$demo/management" | python3 -m json.tool

section "the fast path's outcome counters (mp_stats, summed over CPUs)"
in_relay bpftool -j map dump pinned /sys/fs/bpf/mediaproxy/mp_stats | python3 -c "
import json, re, sys
names = re.findall(r'X\(\w+, \"(\w+)\"\)', open('$top/include/mp_stats.h').read())
for e in json.load(sys.stdin):
    total = sum(v['value'] for v in e['formatted']['values'])
    if total:
        print(f\"{names[e['formatted']['key']]:>24} {total}\")"

section "the NOTRACK table that keeps the relay ports out of conntrack"
ip netns exec $relay nft list table inet mediaproxy

section "the BYE: the module sends remove; the dispatcher gets the final statistics"
proxy remove "call_id: demo-call" "from_tag: alice-1" "to_tag: bob-1"
grep "session demo-call ended" "$demo/media-dispatcher.log" | sed 's/.*ended: //' | python3 -m json.tool

kill -TERM "${pids[@]}"
wait "${pids[@]}" || true
pids=()
section "logs and configuration are in $demo"
