#!/bin/bash
# make demo: starts media-dispatcher and media-relay on the sample
# configuration, shows what they report, and stops them.  The relay runs in a
# network namespace of its own (mp-demo-relay, relay address 198.18.0.50 on a
# veth), so the demo never touches this host's interfaces.  Everything they
# wrote stays in BUILD/demo/.
set -euo pipefail
build=$(realpath "${1:-build}")
top=$(dirname "$(realpath "$0")")/..
demo=$build/demo
ns=mp-demo-relay
pids=()

cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT

ip netns del "$ns" 2>/dev/null || true
ip netns add "$ns"
ip -n "$ns" link add m0 type veth peer name m0-peer
ip -n "$ns" addr add 198.18.0.50/24 dev m0
ip -n "$ns" link set m0 up
ip -n "$ns" link set m0-peer up
ip -n "$ns" route add default via 198.18.0.1 dev m0 onlink

rm -rf "$demo"
mkdir -p "$demo"
cp "$top/config/config.ini.sample" "$demo/config.ini"

section() { printf '\n=== %s\n' "$*"; }

"$build/media-dispatcher" --no-fork --config-dir "$demo" --runtime-dir "$demo/run" 2>"$demo/media-dispatcher.log" &
pids+=($!)
ip netns exec "$ns" "$build/media-relay" --no-fork --config-dir "$demo" --runtime-dir "$demo/run" \
	2>"$demo/media-relay.log" &
pids+=($!)
for daemon in media-dispatcher media-relay; do
	for _ in $(seq 100); do grep -q "started\|ERROR" "$demo/$daemon.log" && sleep 0.3 && break; sleep 0.05; done
	section "$daemon: what it logged at start"
	cat "$demo/$daemon.log"
done

section "runtime directory $demo/run"
ls -l "$demo/run"

section "the relay's interface m0 in $ns: the XDP program is attached"
ip -n "$ns" link show m0

section "the pinned maps, as bpftool shows them"
nsenter -t "${pids[1]}" -m bpftool map show pinned /sys/fs/bpf/mediaproxy/mp_fwd || true

section "the NOTRACK table that keeps the relay ports out of conntrack"
ip netns exec "$ns" nft list table inet mediaproxy || true

section "SIGUSR1 toggles DEBUG logging; SIGTERM stops"
kill -USR1 "${pids[1]}"
sleep 0.2
kill -TERM "${pids[@]}"
wait
pids=()
tail -n 3 "$demo/media-relay.log"
tail -n 2 "$demo/media-dispatcher.log"

section "logs and configuration are in $demo"
