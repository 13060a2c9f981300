#!/bin/bash
# make demo: a call's media through media-relay, between a caller, a relay
# and a callee in three network namespaces of their own (198.18.0.0/15, so
# the demo never touches this host's interfaces).  The relay is driven
# through its local control socket (tools/relay-ctl) with the requests a
# dispatcher sends; the demo prints what an operator would look at: the
# forwarding tier per interface, the live forwarding entries in the pinned
# BPF map, the session statistics, the NOTRACK table.  media-dispatcher is
# started beside it on the sample configuration.  Logs stay in BUILD/demo/.
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
cp "$top/config/config.ini.sample" "$demo/config.ini"
sed -i 's/^;\?relay_ip *=.*/relay_ip = 198.18.0.50/; s/^port_range *=.*/port_range = 40000:40100/' "$demo/config.ini"

"$build/media-dispatcher" --no-fork --config-dir "$demo" --runtime-dir "$demo/run" 2>"$demo/media-dispatcher.log" &
pids+=($!)
# the relay's own mount namespace keeps its BPF file system apart from the host's
ip netns exec $relay "$build/media-relay" --no-fork --config-dir "$demo" --runtime-dir "$demo/run" \
	2>"$demo/media-relay.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$demo/run/relay.sock" ] && break; sleep 0.05; done
ctl() { "$top/tools/relay-ctl" -s "$demo/run/relay.sock" "$@"; }
in_relay() { nsenter -t "${pids[1]}" -m -n "$@"; }

section "media-relay at start: the forwarding tier of each interface"
cat "$demo/media-relay.log"

section "the INVITE's SDP (audio at 198.18.1.7:49170) as an update; the relay answers with the callee side's port"
callee_side=$(ctl update call_id=demo-call from_tag=alice-1 from_uri=alice@example.org to_uri=bob@example.net \
	cseq=1 user_agent=demo-caller type=request signaling_ip=198.18.1.7 media=audio:198.18.1.7:49170:sendrecv:ice=no)
echo "$callee_side"
section "the 200 OK's SDP (audio at 198.18.2.9:30000); the relay answers with the caller side's port"
caller_side=$(ctl update call_id=demo-call from_tag=alice-1 to_tag=bob-1 from_uri=alice@example.org \
	to_uri=bob@example.net cseq=1 user_agent=demo-callee type=reply signaling_ip=198.18.2.9 \
	media=audio:198.18.2.9:30000:sendrecv:ice=no)
echo "$caller_side"

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

section "the relay's sessions (the statistics a dispatcher gets)"
ctl sessions | python3 -m json.tool

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

section "the BYE, as a remove: the final statistics"
ctl remove call_id=demo-call from_tag=alice-1 to_tag=bob-1
ctl summary

kill -TERM "${pids[@]}"
wait "${pids[@]}" || true
pids=()
section "logs and configuration are in $demo"
