#!/bin/bash
# Calls through media-relay between a caller, the relay and a callee in three
# network namespaces: what arrives at each end, from which address, and what
# the relay counts, in every forwarding tier.  The relay is driven through
# its local control socket with the requests a dispatcher sends.
. "$(dirname "$0")/lib.sh"

HERE=$(dirname "$(realpath "$0")")
CTL=$HERE/../tools/relay-ctl
CALLER=198.18.1.7 CALLEE=198.18.2.9
COUNT=200 SIZE=172 # 172 bytes of RTP: 200 bytes at L3

# start_relay TIER [CONFIG LINES...]: media-relay in the relay namespace on
# ports $PORT_RANGE (default 40000:40100), run through $RELAY_WRAPPER when set.
start_relay() {
	local tier=$1
	shift
	printf '[Relay]\nrelay_ip = %s\nport_range = %s\nforwarding = %s\n' "${RELAY_ADDRESS:-$RELAY_IP}" \
		"${PORT_RANGE:-40000:40100}" "$tier" >"$T/config.ini"
	printf '%s\n' "$@" >>"$T/config.ini"
	spawn nsenter -t "$RELAY_HOST" -m -n ${RELAY_WRAPPER:-} "$BUILD/media-relay" --no-fork --config-dir "$T" --runtime-dir "$T/run" 2>>"$T/relay.log"
	RELAY=$SPAWNED
	# the socket answers (a relay killed earlier leaves its socket file behind)
	wait_for 20 eval 'ctl summary >/dev/null 2>&1' || fail "relay did not start: $(cat "$T/relay.log")"
}

stop_relay() {
	kill -TERM "$RELAY"
	wait "$RELAY" || fail "relay exited with status $?: $(tail "$T/relay.log")"
}

ctl() { "$CTL" -s "$T/run/relay.sock" "$@"; }

# receiver NS DEV: a party's link; it checksums in software, since a veth's
# offloaded checksum does not survive an XDP redirect (lab facts), and it
# takes the frames XDP redirects into its veth peer: through GRO from Linux
# 5.13, before only with an XDP program of its own (an XDP_PASS one, built
# here), as a host behind a veth needs on those kernels.
receiver() {
	ip netns exec "$1" ethtool -K "$2" tx off gro on >/dev/null
	if ip -n "$1" -d link show "$2" | grep -qw veth &&
		[ "$(printf '%s\n' 5.13 "$(uname -r)" | sort -V | head -1)" != 5.13 ]; then
		[ -e "$T/xdp_pass.o" ] || printf '%s\n' 'int pass(void *ctx) __attribute__((section("xdp"))); int pass(void *ctx) { return 2; }' \
			'char _license[] __attribute__((section("license"))) = "GPL";' |
			clang -O2 -target bpf -c -x c - -o "$T/xdp_pass.o" || fail "cannot build an XDP_PASS program"
		ip -n "$1" link set "$2" xdpdrv obj "$T/xdp_pass.o" sec xdp || fail "no XDP_PASS program on $2"
	fi
}

# call_hosts: the three hosts, whose parties are receivers (above)
call_hosts() {
	need_root
	${HOSTS:-three_hosts}
	receiver "$CALLER_NS" c0
	receiver "$CALLEE_NS" e0
	spawn ip netns exec "$RELAY_NS" sleep infinity
	RELAY_HOST=$SPAWNED
	wait_for 20 grep -qx sleep /proc/$RELAY_HOST/comm
}

# offer_answer CALL_ID CALLER_PORT CALLEE_PORT [SIGNALING_IP]: sets
# CALLER_SIDE_IP:CALLER_SIDE and CALLEE_SIDE_IP:CALLEE_SIDE, the relay
# address each party was told to send to.
offer_answer() {
	local reply
	reply=$(ctl update call_id="$1" from_tag=ft-"$1" from_uri=alice@example.org to_uri=bob@example.net \
		cseq=1 user_agent=caller type=request signaling_ip="${4:-$CALLER}" \
		media=audio:$CALLER:"$2":sendrecv:ice=no)
	[[ $reply =~ ^198\.1[89]\.[0-9.]+\ [0-9]+$ ]] || fail "offer: $reply"
	CALLEE_SIDE_IP=${reply% *} CALLEE_SIDE=${reply#* }
	reply=$(ctl update call_id="$1" from_tag=ft-"$1" to_tag=tt-"$1" from_uri=alice@example.org \
		to_uri=bob@example.net cseq=1 user_agent=callee type=reply signaling_ip=$CALLEE \
		media=audio:$CALLEE:"$3":sendrecv:ice=no)
	[[ $reply =~ ^198\.1[89]\.[0-9.]+\ [0-9]+$ ]] || fail "answer: $reply"
	CALLER_SIDE_IP=${reply% *} CALLER_SIDE=${reply#* }
}

# media_start CALLER_PORT CALLEE_PORT [PAUSE...]: a call's media
# (helpers/rtp_peer.py): the caller primes, then the callee once the relay
# latched the caller, then both send $COUNT packets; its progress goes to
# $T/media.log, its pid in $MEDIA.  media_end waits for the results, in
# $T/media.json.
media_start() {
	spawn ${MEDIA_PIN:-} python3 "$HERE/helpers/rtp_peer.py" "$T/run/relay.sock" "$CALLER_NS:$1:$CALLER_SIDE_IP:$CALLER_SIDE" \
		"$CALLEE_NS:$2:$CALLEE_SIDE_IP:$CALLEE_SIDE" $COUNT $SIZE "${@:3}" >"$T/media.json" 2>"$T/media.log"
	MEDIA=$SPAWNED
}
media_end() { wait "$MEDIA" || fail "media: $(cat "$T/media.log")"; }
media() {
	media_start "$@"
	media_end
}

# media_says LINE: waits until the media's progress shows LINE
media_says() { wait_for 60 grep -qx "$1" "$T/media.log" || fail "media: no '$1': $(cat "$T/media.log")"; }

json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

# relay_metrics: the relay's /metrics ([Relay] listen_http, by default
# 127.0.0.1:25081 on the relay host) in $T/metrics, which promtool accepts
relay_metrics() {
	in_relay curl -sf http://127.0.0.1:25081/metrics >"$T/metrics" || fail "no /metrics: $(tail "$T/relay.log")"
	promtool check metrics <"$T/metrics" >"$T/promtool" 2>&1 || fail "promtool: $(cat "$T/promtool")"
}

# metrics SELECTOR...: the values in $T/metrics, space separated (helpers/prom_query.py)
metrics() { python3 "$HERE/helpers/prom_query.py" "$T/metrics" "$@" | tr '\n' ' ' | sed 's/ $//'; }

F=mediaproxy_relay_forwarded_packets_total B=mediaproxy_relay_forwarded_bytes_total
L3=$((SIZE + 28)) # the bytes the relay counts a packet for

# While the call of call_in_tier is up, with the fast path: what came in on
# each side's interface went through the programs, the callee's priming
# packet through the agent; one substream installed, its two entries in
# mp_fwd, two port pairs in use.
bpf_metrics() {
	relay_metrics
	expect_eq "$(metrics "$F{interface=\"rc\"}" "$F{interface=\"re\"}" "$B{interface=\"rc\"}" "$B{interface=\"re\"}")" \
		"$COUNT $COUNT $((COUNT * L3)) $((COUNT * L3))" "forwarded by the programs, per interface"
	expect_eq "$(metrics "$F{tier=\"userspace\"}" "$B{tier=\"userspace\"}" "$F{tier=\"conntrack\"}")" "1 $L3 0" \
		"relayed by the agent; conntrack"
	expect_eq "$(metrics 'mediaproxy_relay_fast_path_packets_total{outcome="forwarded"}' \
		'mediaproxy_relay_fast_path_packets_total{outcome="forwarded_neigh"}')" \
		"$(fast_path_stat forwarded) $(fast_path_stat forwarded_neigh)" "outcomes, as mp_stats has them"
	expect_eq "$(metrics mediaproxy_relay_latches_total mediaproxy_relay_installs_total \
		mediaproxy_relay_install_failures_total)" "2 1 0" "latches, installs, failures"
	expect_eq "$(metrics 'mediaproxy_relay_bpf_map_entries{map="mp_fwd"}' 'mediaproxy_relay_port_pairs{state="in_use"}' \
		'mediaproxy_relay_streams{status="active"}')" "2 2 1" "mp_fwd entries, pairs in use, active streams"
}

# After the remove (at $REMOVED_AT): nothing installed, the two pairs in
# quarantine, unless its 10 s (doc/relay-sessions.md §2) passed before the
# scrape, as on a busy TCG guest
after_remove_metrics() {
	local quarantined=2
	relay_metrics
	[ $(($(date +%s) - REMOVED_AT)) -lt 10 ] || quarantined=0
	expect_eq "$(metrics 'mediaproxy_relay_bpf_map_entries{map="mp_fwd"}' 'mediaproxy_relay_port_pairs{state="in_use"}' \
		'mediaproxy_relay_port_pairs{state="quarantined"}' mediaproxy_relay_sessions)" "0 0 $quarantined 0" \
		"mp_fwd entries, pairs in use and in quarantine, sessions after the remove"
}

# expired_status CALL_ID: the stream statuses and timeout_wait of its
# `expired` report in the log.
expired_status() {
	sed -n "s/.*expired \({\"call_id\": \"$1\".*\)/\1/p" "$T/relay.log" |
		python3 -c "import json,sys; print([(s['status'], s['timeout_wait']) for s in json.loads(sys.stdin.read())['streams']])"
}

# The caller's priming packet latches it but has nowhere to go yet; the
# callee's latches the callee and reaches the caller.  Everything after
# that arrives, from the relay port each side sends to.
expect_delivery() {
	expect_eq "$(json "$T/media.json" "d['caller']['received'], d['caller']['corrupt'], d['caller']['sources']")" \
		"($((COUNT + 1)), 0, ['$CALLER_SIDE_IP:$CALLER_SIDE'])" "caller received, corrupt, from"
	expect_eq "$(json "$T/media.json" "d['callee']['received'], d['callee']['corrupt'], d['callee']['sources']")" \
		"($COUNT, 0, ['$CALLEE_SIDE_IP:$CALLEE_SIDE'])" "callee received, corrupt, from"
}

# expect_counters JSON_FILE: the stream's counters are packets x L3 length.
expect_counters() {
	expect_eq "$(json "$1" "[(s['caller_packets'], s['caller_bytes'], s['callee_packets'], s['callee_bytes']) for s in d['streams']]")" \
		"[($COUNT, $((COUNT * (SIZE + 28))), $((COUNT + 1)), $(((COUNT + 1) * (SIZE + 28))))]" \
		"caller/callee packets and bytes"
	expect_eq "$(json "$1" "[(s['caller_remote'], s['callee_remote'], s['caller_codec']) for s in d['streams']]")" \
		"[('$CALLER:49170', '$CALLEE:30000', 'G711u')]" "latched addresses and codec"
}

# expect_clean_rtp JSON_FILE: both sides sent sequences 0..COUNT in order,
# one SSRC: nothing lost, late or doubled, and a G.711 jitter; in the
# conntrack tier (whichever way the relay came to it) nothing measured, so
# null (doc/relay-sessions.md §12.5).
expect_clean_rtp() {
	local keys="[(s[p + '_lost'], s[p + '_out_of_order'], s[p + '_duplicates'], s[p + '_ssrc_changes'],
		type(s[p + '_jitter_ms']).__name__) for s in d['streams'] for p in ('caller', 'callee')]"
	if grep -q "forwarding: established streams go to kernel conntrack NAT entries" "$T/relay.log"; then
		expect_eq "$(json "$1" "$keys")" "[(None, None, None, None, 'NoneType'), (None, None, None, None, 'NoneType')]" 			"RTP figures: not measured by conntrack"
	else
		expect_eq "$(json "$1" "$keys")" "[(0, 0, 0, 0, 'float'), (0, 0, 0, 0, 'float')]" 			"RTP figures: lost, out of order, duplicates, SSRC changes, jitter"
	fi
}

# call_in_tier TIER [CHECK]: one call with RTP both ways, checked end to
# end; CHECK runs while the call is up.
call_in_tier() {
	call_hosts
	start_relay "$1"
	offer_answer c1 49170 30000
	media 49170 30000
	expect_delivery
	ctl sessions >"$T/sessions.json"
	python3 -c "import json,sys; json.dump(json.load(open(sys.argv[1]))[0], open(sys.argv[2], 'w'))" \
		"$T/sessions.json" "$T/session.json"
	expect_counters "$T/session.json"
	${2:-true}
	REMOVED_AT=$(date +%s)
	ctl remove call_id=c1 from_tag=ft-c1 >"$T/removed.json"
	expect_counters "$T/removed.json"
	expect_clean_rtp "$T/removed.json"
	expect_eq "$(json "$T/removed.json" "[s['status'] for s in d['streams']]")" "['closed']" "status after remove"
	expect_eq "$(ctl sessions)" "[]" "sessions after remove"
}

t_xdp_call() {
	call_in_tier xdp bpf_metrics
	after_remove_metrics
	grep -q "fast path: rc forwards in the $(veth_xdp_tier) tier" "$T/relay.log" ||
		fail "not $(veth_xdp_tier): $(cat "$T/relay.log")"
	# the agent relayed only the callee's first packet: the rest went through XDP
	expect_eq "$(fast_path_stat forwarded)" $((2 * COUNT)) "packets the fast path forwarded"
	[ -z "$(ip netns exec "$RELAY_NS" conntrack -L -p udp 2>/dev/null | grep 'dport=40[01]')" ] ||
		fail "conntrack holds relay-port entries: $(ip netns exec "$RELAY_NS" conntrack -L -p udp)"
	stop_relay
}
run_test "xdp: a call's RTP arrives both ways from the relay ports; counters match; no conntrack entries" t_xdp_call

t_tc_call() {
	call_in_tier tc bpf_metrics
	grep -q "forwards in the tc tier" "$T/relay.log" || fail "not tc: $(cat "$T/relay.log")"
	expect_eq "$(metrics 'mediaproxy_relay_interface_info{interface="rc"}' \
		'mediaproxy_relay_interface_info{interface="rc",tier="tc"}')" "1 1" "the tier of rc"
	expect_eq "$(fast_path_stat forwarded)" $((2 * COUNT)) "packets the fast path forwarded"
	stop_relay
}
run_test "tc: the same call through the clsact program" t_tc_call

expect_marked_entry() {
	ip netns exec "$RELAY_NS" conntrack -L -m 0x4d50 2>/dev/null | grep -q "dport=$CALLER_SIDE" ||
		fail "no marked NAT entry: $(ip netns exec "$RELAY_NS" conntrack -L 2>&1)"
}

# The conntrack tier: the kernel's entry counts what came after the
# callee's priming packet (the agent reads it once a second).
conntrack_checks() {
	expect_marked_entry
	wait_until 3 'relay_metrics && [ "$(metrics "$F{tier=\"conntrack\"}")" = $((2 * COUNT)) ]' ||
		fail "forwarded by conntrack: $(metrics "$F{tier=\"conntrack\"}")"
	expect_eq "$(metrics "$B{tier=\"conntrack\"}" "$F{tier=\"userspace\"}" mediaproxy_relay_installs_total)" \
		"$((2 * COUNT * L3)) 1 1" "conntrack bytes, relayed by the agent, installs"
}

t_conntrack_call() {
	call_in_tier conntrack conntrack_checks
	stop_relay
}
run_test "conntrack: the same call through a marked kernel NAT entry" t_conntrack_call

# Media flowing through the NAT entry keeps its stream alive past
# stream_idle_timeout: in this tier the kernel says when a substream is idle,
# not the agent's own last relayed packet, which stops at the installation
# (doc/relay-sessions.md §10.2).
t_conntrack_flowing_not_idle() {
	call_hosts
	start_relay conntrack "stream_idle_timeout = 2"
	offer_answer c1 49170 30000
	COUNT=2500 media 49170 30000 # 5 s of media
	! grep -q 'expired {"call_id": "c1"' "$T/relay.log" ||
		fail "expired while its media flowed: $(grep 'expired {' "$T/relay.log")"
	COUNT=2500 expect_delivery
	ctl remove call_id=c1 from_tag=ft-c1 >"$T/removed.json"
	COUNT=2500 expect_counters "$T/removed.json"
	stop_relay
}
run_test "conntrack: 5 s of media through the NAT entry with stream_idle_timeout = 2 keep the call up" \
	t_conntrack_flowing_not_idle

# An entry the kernel expires by itself (its UDP timeouts set to 3 s here)
# ends the stream as `conntrack timeout`, and the statistics keep what the
# entry counted when it was last read (doc/relay-sessions.md §15.4).
t_conntrack_expired_counts() {
	call_hosts
	start_relay conntrack
	ip netns exec "$RELAY_NS" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=3 \
		net.netfilter.nf_conntrack_udp_timeout_stream=3
	offer_answer c1 49170 30000
	media 49170 30000
	expect_delivery
	wait_for 15 grep -q 'expired {"call_id": "c1"' "$T/relay.log" || fail "no expiry: $(tail "$T/relay.log")"
	expect_eq "$(expired_status c1)" "[('conntrack timeout', 120)]" "how the stream ended"
	sed -n 's/.*expired \({"call_id": "c1".*\)/\1/p' "$T/relay.log" >"$T/expired.json"
	expect_counters "$T/expired.json"
	stop_relay
}
run_test "conntrack: a NAT entry the kernel expired ends its stream, and its counts stay in the statistics" \
	t_conntrack_expired_counts

# idle_sessions N: N offers, no media, each holding its stream's sockets,
# over one control connection that stays open (so that no descriptor below
# the streams' is free)
idle_sessions() {
	cat >"$T/idle.py" <<-'PY'
		import socket, sys, time
		s = socket.socket(socket.AF_UNIX)
		s.connect(sys.argv[1])
		for n in range(int(sys.argv[2])):
		    s.sendall((f"update {n}\r\ncall_id: idle{n}\r\nfrom_tag: f{n}\r\nfrom_uri: a@b\r\nto_uri: c@d\r\n"
		               f"cseq: 1\r\nuser_agent: t\r\ntype: request\r\nsignaling_ip: 198.18.1.7\r\n"
		               f"media: audio:198.18.1.7:{20000 + 2 * n}:sendrecv:ice=no\r\n\r\n").encode())
		    reply = b""
		    while not reply.endswith(b"\r\n"):
		        reply += s.recv(4096)
		    if reply.endswith(b"error\r\n"):
		        sys.exit(f"offer {n} refused")
		print("ready", flush=True)
		time.sleep(600)
	PY
	spawn python3 "$T/idle.py" "$T/run/relay.sock" "$1" >"$T/idle.out"
	wait_for 30 grep -q ready "$T/idle.out" || fail "idle sessions not made: $(tail "$T/relay.log")"
}

# libnftables select()s on its netlink socket, which aborts on a descriptor
# past FD_SETSIZE (1,024): the relay must not open one once the streams'
# sockets are open
t_conntrack_many_sockets() {
	call_hosts
	PORT_RANGE=40000:42998 start_relay conntrack
	idle_sessions 300
	[ "$(ls "/proc/$RELAY/fd" | wc -l)" -gt 1100 ] || fail "only $(ls "/proc/$RELAY/fd" | wc -l) descriptors open"
	offer_answer c1 49170 30000
	media 49170 30000
	expect_delivery
	expect_marked_entry
	stop_relay
}
run_test "conntrack: with 1,200 sockets open, a new call still gets its NAT entry" t_conntrack_many_sockets

# idle_offer N: an offer for call idleN; fails when the relay refuses it
idle_offer() {
	ctl update call_id=idle"$1" from_tag=f"$1" from_uri=a@b to_uri=c@d cseq=1 user_agent=t type=request \
		signaling_ip=$CALLER media=audio:$CALLER:$((20000 + 2 * $1)):sendrecv:ice=no >/dev/null
}

# Each relay port is a socket: with few descriptors, offers are refused once
# they run out, and no pair is blamed for it, so a call that ends makes room
# at once (before, every free pair went on the bad list and into quarantine).
t_out_of_descriptors() {
	call_hosts
	PORT_RANGE=40000:40400 RELAY_WRAPPER="prlimit --nofile=96:96" start_relay userspace
	grep -q "open files limit 96: room for about 0 of the port range's 400 ports" "$T/relay.log" ||
		fail "no warning about the limit: $(cat "$T/relay.log")"
	local n=0
	while idle_offer $n; do
		n=$((n + 1))
		[ $n -lt 100 ] || fail "100 offers accepted with 96 descriptors"
	done
	[ $n -ge 10 ] || fail "only $n offers accepted"
	grep -q "cannot open sockets for ports .*: Too many open files" "$T/relay.log" ||
		fail "no error about descriptors: $(tail -5 "$T/relay.log")"
	! grep -q "cannot bind ports" "$T/relay.log" || fail "pairs were blamed: $(grep -c "cannot bind" "$T/relay.log")"
	ctl remove call_id=idle0 from_tag=f0 >/dev/null
	ctl remove call_id=idle1 from_tag=f1 >/dev/null
	offer_answer c1 49170 30000
	media 49170 30000
	expect_delivery
	stop_relay
}
run_test "out of descriptors: offers are refused with an error, and two calls ended make room for a new one at once" \
	t_out_of_descriptors

# A kernel without devmap hash (before 5.4), which mp_tx is: no BPF tier,
# auto falls back to the conntrack tier.
t_no_devmap_hash() {
	RELAY_WRAPPER="env MEDIAPROXY_KERNEL_LACKS=devmap_hash" call_in_tier auto expect_marked_entry
	grep -q "this kernel lacks devmap hash" "$T/relay.log" || fail "$(cat "$T/relay.log")"
	grep -q "the BPF fast path cannot run here; trying the conntrack tier" "$T/relay.log" || fail "$(cat "$T/relay.log")"
	stop_relay
}
run_test "auto: without devmap hash the relay falls back to the conntrack tier, and the call goes through" \
	t_no_devmap_hash

# A kernel without bpf_redirect_neigh (before 5.10): the tc program hands
# a packet whose next hop is unresolved to the stack, which resolves it.
t_no_redirect_neigh() {
	RELAY_WRAPPER="env MEDIAPROXY_KERNEL_LACKS=redirect_neigh" call_in_tier tc
	grep -q "without bpf_redirect_neigh the tc program leaves" "$T/relay.log" || fail "$(cat "$T/relay.log")"
	expect_eq "$(fast_path_stat forwarded_neigh)" 0 "packets forwarded by bpf_redirect_neigh"
	[ "$(fast_path_stat forwarded)" -gt 0 ] || fail "the tc program forwarded nothing"
	stop_relay
}
run_test "tc: without bpf_redirect_neigh the relay lets the stack resolve next hops, and the call goes through" \
	t_no_redirect_neigh

# The relay as media-relay.service runs it: user $RELAY_UID with exactly the
# unit's capabilities (its AmbientCapabilities=, e.g. "bpf,net_admin").
RELAY_UID=64210
UNIT_CAPS=$(sed -n 's/^AmbientCapabilities=//p' "$HERE/../tools/systemd/media-relay.service.in" |
	tr 'A-Z ' 'a-z,' | sed 's/cap_//g')

# unprivileged [CAPS]: the next relay runs as $RELAY_UID with CAPS (by
# default the unit's), its runtime directory that user's
unprivileged() {
	chmod 0755 "$T"
	install -d -o $RELAY_UID -g $RELAY_UID "$T/run"
	RELAY_WRAPPER="$HERE/helpers/as_user.sh --pin-dir $PIN_DIR $RELAY_UID ${1-$UNIT_CAPS}"
}

# unit_caps_without CAP: the unit's capabilities but CAP
unit_caps_without() { tr ',' '\n' <<<"$UNIT_CAPS" | grep -vx "$1" | paste -sd,; }

# expect_identity CAPS: the running relay is $RELAY_UID with exactly CAPS
expect_identity() {
	local held
	held=$(capsh --decode="$(sed -n 's/^CapEff:\t//p' "/proc/$RELAY/status")" | sed 's/.*=//; s/cap_//g')
	expect_eq "$(tr ',' '\n' <<<"$held" | sort | paste -sd,)" "$(tr ',' '\n' <<<"$1" | sort | paste -sd,)" \
		"the relay's effective capabilities"
	expect_eq "$(stat -c %u "/proc/$RELAY")" $RELAY_UID "the relay's user"
}

t_unprivileged_xdp() {
	[ -n "$UNIT_CAPS" ] || fail "no AmbientCapabilities= in media-relay.service.in"
	unprivileged
	call_in_tier xdp "expect_identity $UNIT_CAPS"
	grep -q "fast path: rc forwards in the $(veth_xdp_tier) tier" "$T/relay.log" || fail "$(cat "$T/relay.log")"
	expect_eq "$(fast_path_stat forwarded)" $((2 * COUNT)) "packets the fast path forwarded"
	stop_relay
	expect_eq "$(in_relay ls "$PIN_DIR")" "" "what SIGTERM left pinned"
}
run_test "xdp: the same call by the relay as its unit runs it: an unprivileged user with the unit's capabilities only" \
	t_unprivileged_xdp

unit_relay_with_marked_entry() {
	expect_identity "$UNIT_CAPS"
	expect_marked_entry
}

t_unprivileged_conntrack() {
	unprivileged
	call_in_tier conntrack unit_relay_with_marked_entry
	stop_relay
}
run_test "conntrack: the same call by the relay as its unit runs it, through a marked kernel NAT entry" \
	t_unprivileged_conntrack

# A relay short of a capability names it in one line and takes the next
# tier: without CAP_BPF, conntrack; without CAP_NET_ADMIN, userspace.
t_fallback_conntrack() {
	unprivileged "$(unit_caps_without bpf)"
	call_in_tier auto expect_marked_entry
	expect_eq "$(grep -c "lacks CAP" "$T/relay.log")" 1 "lines naming a missing capability"
	grep -q "fast path: the relay lacks CAP_BPF" "$T/relay.log" || fail "$(cat "$T/relay.log")"
	grep -q "the BPF fast path cannot run here; trying the conntrack tier" "$T/relay.log" || fail "$(cat "$T/relay.log")"
	stop_relay
}
run_test "auto: without CAP_BPF the relay says so in one line and falls back to the conntrack tier; the call goes through" \
	t_fallback_conntrack

t_fallback_userspace() {
	unprivileged "$(unit_caps_without net_admin)"
	call_in_tier auto
	for line in "fast path: the relay lacks CAP_NET_ADMIN" "conntrack tier: the relay lacks CAP_NET_ADMIN" \
		"conntrack NAT cannot run here; relaying in userspace" "notrack: the relay lacks CAP_NET_ADMIN"; do
		expect_eq "$(grep -c "$line" "$T/relay.log")" 1 "lines '$line'"
	done
	stop_relay
}
run_test "auto: without CAP_NET_ADMIN the relay says so once per tier and falls back to userspace; the call goes through" \
	t_fallback_userspace

# virtio-net: the calls over the vmtest guest's virtio_net NICs (lib.sh
# virtio_hosts), whose native XDP needs TX queues of its own: a TX queue per
# CPU beside the stack's (userspace/fastpath.c).
need_virtio() {
	need_root
	[ -n "${MP_VIRTIO_NICS:-}" ] || skip "no virtio-net NICs (the vmtest guest has them)"
}

expect_tier() {
	grep -q "fast path: $1 forwards in the $2 tier, driver virtio_net" "$T/relay.log" ||
		fail "$1 is not in the $2 tier: $(cat "$T/relay.log")"
}

t_virtio_redirect() {
	local tier
	need_virtio
	HOSTS=virtio_hosts call_in_tier xdp bpf_metrics
	tier=$(sed -n 's/.*fast path: rc forwards in the \(.*\) tier, driver virtio_net$/\1/p' "$T/relay.log")
	[ -z "${MP_VMTEST_REPORT:-}" ] || echo "vmtest-report: virtio_tier=$tier" >>"$MP_VMTEST_REPORT"
	expect_tier rc "native XDP"
	expect_tier re "native XDP"
	! grep -q "short of TX queues" "$T/relay.log" || fail "short of queues: $(cat "$T/relay.log")"
	expect_eq "$(fast_path_stat forwarded)" $((2 * COUNT)) "packets the fast path forwarded"
	stop_relay
}
run_test "virtio-net: a call redirected between two virtio_net NICs in native XDP" t_virtio_redirect

# Caller and callee on one segment: what comes in on rc goes back out of
# rc, with XDP_TX.
t_virtio_xdp_tx() {
	need_virtio
	CALLEE=198.18.1.9
	HOSTS="virtio_hosts same" call_in_tier xdp
	expect_tier rc "native XDP"
	expect_eq "$(fast_path_stat forwarded)" $((2 * COUNT)) "packets the fast path forwarded"
	relay_metrics
	expect_eq "$(metrics "$F{interface=\"rc\"}")" $((2 * COUNT)) "forwarded by the programs on rc"
	stop_relay
}
run_test "virtio-net: caller and callee behind one virtio_net NIC: XDP_TX back out of it" t_virtio_xdp_tx

# virtio_generic_call MODE LINE: a call over `virtio_hosts MODE` in the xdp
# tier: the relay logs LINE (a regular expression), rc takes generic XDP,
# and the fast path forwards the whole call.
virtio_generic_call() {
	need_virtio
	HOSTS="virtio_hosts $1" call_in_tier xdp
	grep -q "$2" "$T/relay.log" || fail "no line '$2': $(cat "$T/relay.log")"
	expect_tier rc "generic XDP"
	expect_eq "$(fast_path_stat forwarded)" $((2 * COUNT)) "packets the fast path forwarded"
	stop_relay
}

# All queues in use by the stack: one log line says so and the tier taken
# (see short_of_xdp_queues in userspace/fastpath.c).
t_virtio_short_of_queues() {
	virtio_generic_call short "fast path: rc is short of TX queues for native XDP (.*): generic XDP instead$"
}
run_test "virtio-net: NICs short of TX queues for XDP: the relay says so and which tier it took, and the call goes through" \
	t_virtio_short_of_queues

# A NIC whose guest offloads the guest cannot turn off (qemu's
# ctrl_guest_offloads=off): virtio_net refuses native XDP on it, on every
# kernel; generic XDP takes it, and sends the callee's packets back out of
# it (caller and callee on its segment).
t_virtio_refused() {
	CALLEE=198.18.1.9
	virtio_generic_call refused "fast path: rc refused native XDP (.*); trying generic XDP$"
}
run_test "virtio-net: native XDP refused (guest offloads the driver cannot turn off): generic XDP, and the call goes through" \
	t_virtio_refused

# The userspace tier: the agent relayed every packet but the caller's
# priming one, which had nowhere to go yet.
userspace_metrics() {
	relay_metrics
	expect_eq "$(metrics "$F{tier=\"userspace\"}" "$B{tier=\"userspace\"}" "$F{tier=\"conntrack\"}" \
		mediaproxy_relay_installs_total mediaproxy_relay_fast_path_packets_total)" \
		"$((2 * COUNT + 1)) $(((2 * COUNT + 1) * L3)) 0 0 none" "relayed by the agent; nothing in the kernel"
}

t_userspace_call() {
	call_in_tier userspace userspace_metrics
	grep -q "userspace tier" "$T/relay.log" || fail "not userspace: $(cat "$T/relay.log")"
	stop_relay
}
run_test "userspace: the same call relayed by the agent's sockets" t_userspace_call

# A call whose callee sends through netem on its link (loss, delay with
# jitter, reordering, duplicates: helpers/rtp_netem_peer.py; on a kernel
# without netem the sender makes the same kinds of impairment itself, and
# the test notes which it was); the caller
# counts what arrived by RFC 3550 on its own.  The relay saw exactly those
# packets in that order, so its callee_lost, callee_out_of_order and
# callee_duplicates equal the caller's counts.  Its jitter lies within
# 0.5 ms + 20% of the helper's own RFC 3550 jitter of the packets as they
# left the callee's link (a packet socket there): both time each packet by
# the kernel (the relay by its receive timestamp or in its programs), not
# when a process got to read it.  Where the kernel forwards (XDP, tc) the
# caller's own jitter is a reference too; in the userspace tier it is not:
# the caller's arrivals also hold the agent's time to forward, its
# scheduling delay (once seen in a loaded TCG guest: the relay 5.5 ms, the
# caller 7.8).
NETEM="delay 20ms 5ms reorder 2% loss 2% duplicate 2%"
NETEM_COUNT=500 # 10 s at 20 ms; each impairment misses all 500 packets with p < 5e-5

# quality_call TIER [restart]: with "restart" the relay stops for a restart
# (SIGQUIT) once the media ended and starts again before the checks, which
# must then hold all the same: the figures went through the state file.
quality_call() {
	call_hosts
	start_relay "$1"
	offer_answer q1 49170 30000
	spawn python3 "$HERE/helpers/rtp_netem_peer.py" "$T/run/relay.sock" "$CALLER_NS:49170:$CALLER_SIDE_IP:$CALLER_SIDE" 		"$CALLEE_NS:30000:$CALLEE_SIDE_IP:$CALLEE_SIDE" e0 $NETEM_COUNT $NETEM >"$T/receiver.json" 2>"$T/netem.log"
	wait "$SPAWNED" || fail "netem peer: $(cat "$T/netem.log")"
	if [ "${2:-}" = restart ]; then
		kill -QUIT "$RELAY"
		wait "$RELAY" || true
		start_relay "$1"
		grep -q "restart: took over 1 sessions" "$T/relay.log" || fail "no takeover: $(cat "$T/relay.log")"
	fi
	ctl sessions >"$T/sessions.json"
	json "$T/sessions.json" "__import__('json').dumps(d[0])" >"$T/live.json"
	ctl remove call_id=q1 from_tag=ft-q1 >"$T/removed.json"
	note "$(grep sending "$T/netem.log")" "receiver: $(cat "$T/receiver.json")" "stream: $(json "$T/removed.json" "__import__('json').dumps(d['streams'][0])")"
	local figures="(d['lost'], d['out_of_order'], d['duplicates'])"
	local relay="[(s['callee_lost'], s['callee_out_of_order'], s['callee_duplicates']) for s in d['streams']][0]"
	json "$T/receiver.json" "d['lost'] > 0 and d['out_of_order'] > 0 and d['duplicates'] > 0" | grep -qx True ||
		fail "netem did not impair every way: $(cat "$T/receiver.json")"
	expect_eq "$(json "$T/live.json" "$relay")" "$(json "$T/receiver.json" "$figures")" 		"relay's callee lost, out of order, duplicates (live) = the receiver's"
	expect_eq "$(json "$T/removed.json" "$relay")" "$(json "$T/receiver.json" "$figures")" 		"the same in the remove reply (what accounting records)"
	expect_eq "$(json "$T/removed.json" "[(s['callee_ssrc_changes'], s['caller_lost'], s['caller_ssrc_changes']) for s in d['streams']]")" 		"[(0, 0, 0)]" "SSRC changes; the caller's single packet"
	python3 - "$T/removed.json" "$T/receiver.json" "$1" <<-'PY' || fail "jitter: $(cat "$T/receiver.json") vs $(cat "$T/removed.json")"
		import json, sys
		relay = json.load(open(sys.argv[1]))["streams"][0]["callee_jitter_ms"]
		r = json.load(open(sys.argv[2]))
		# the receiver's own figure too where the kernel forwards (above)
		references = [r["link_jitter_ms"]] + ([] if sys.argv[3] == "userspace" else [r["jitter_ms"]])
		sys.exit(0 if all(abs(relay - j) <= 0.5 + 0.2 * j for j in references) else 1)
	PY
	# in a BPF tier the RTCP after installation came as the programs' copies: the
	# callee's answers the caller timed at least; in userspace none
	relay_metrics
	local rtcp=mediaproxy_relay_rtcp_packets_total copied samples
	read -r copied samples <<<"$(metrics "$rtcp{source=\"fast_path\",result=\"report\"}") $(json "$T/receiver.json" "d['rtt_samples']")"
	if [ "$1" = userspace ]; then
		[ "$copied" = 0 ] || fail "$copied RTCP reports from copies in the userspace tier"
	else
		[ "$copied" -ge "$samples" ] || fail "$copied RTCP reports from the programs' copies, the caller timed $samples answers"
	fi
	expect_eq "$(metrics "$rtcp{source=\"socket\",result=\"malformed\"}" "$rtcp{source=\"fast_path\",result=\"malformed\"}" \
		mediaproxy_relay_rtcp_copies_lost_total)" "0 0 0" "no RTCP malformed, no copy lost"
	# the stream ended: the callee's direction in the MOS histogram (the caller's had no estimate)
	expect_eq "$(metrics mediaproxy_relay_stream_mos_count)" 1 "stream directions in the MOS histogram"
	expect_eq "$(python3 -c "print(round($(metrics mediaproxy_relay_stream_mos_sum), 2))")" \
		"$(json "$T/removed.json" "d['streams'][0]['callee_mos']")" "the MOS histogram's sum, to the key's 2 decimals"
	python3 - "$T/removed.json" "$T/receiver.json" <<-'PY' || fail "RTCP figures: $(cat "$T/receiver.json") vs $(cat "$T/removed.json")"
		import json, math, sys
		s = json.load(open(sys.argv[1]))["streams"][0]
		r = json.load(open(sys.argv[2]))
		sent, callee = r["rtcp_sent"], r["callee_block"]
		checks = [
		    ("callee_rtcp_lost = the caller's report", s["callee_rtcp_lost"] == sent["lost"] == r["lost"]),
		    # the relay rounds 8/256 = 0.03125 up, Python's round() to even
		    ("callee_rtcp_fraction_lost", abs(s["callee_rtcp_fraction_lost"] - sent["fraction"] / 256) <= 0.00005),
		    ("callee_rtcp_jitter_ms", abs(s["callee_rtcp_jitter_ms"] - sent["jitter"] / 8) < 0.001),
		    ("caller_rtcp_* = the callee's fixed block",
		     (s["caller_rtcp_lost"], s["caller_rtcp_fraction_lost"], s["caller_rtcp_jitter_ms"]) ==
		     (callee["lost"], round(callee["fraction"] / 256, 4), callee["jitter"] / 8)),
		    # the relay's round trip to the callee holds the delay made on the callee's link
		    # (netem: 20 ms +- 5, a reordered answer not delayed at all; without: what the
		    # sender measured it made) and lies within the caller's own round trip, which
		    # adds the caller's hop to the relay and back (and in userspace the relay's own time)
		    ("callee_rtt_ms within 7 ms of netem's 20 ms, or at least the delay the sender made less 1 ms",
		     abs(s["callee_rtt_ms"] - 20) <= 7 if r["injected_ms"] is None else
		     s["callee_rtt_ms"] >= r["injected_ms"] - 1),
		    ("callee_rtt_ms at most the caller's own round trip + 1 ms", r["rtt_samples"] >= 8 and
		     s["callee_rtt_ms"] <= r["rtt_ms"] + 1),
		    # no delay on the caller's link; the userspace tier adds its own time (4 ms under TCG)
		    ("caller_rtt_ms: no delay on the caller's link", 0 <= s["caller_rtt_ms"] <= 10),
		    ("caller_mos null: the caller's stream expected nothing", s["caller_mos"] is None),
		]
		# G.107 with G.711's Ie 0, Bpl 25.1: the loss the caller reported, half of both round trips + 60 ms
		ppl = 100 * r["lost"] / (r["received"] + r["lost"])
		ta = 60 + (s["callee_rtt_ms"] + s["caller_rtt_ms"]) / 2
		x = math.log2(ta / 100) if ta > 100 else 0
		idd = 25 * ((1 + x ** 6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2) if ta > 100 else 0
		rating = 93.2 - idd - 95 * ppl / (ppl + 25.1)
		mos = 1 + 0.035 * rating + rating * (rating - 60) * (100 - rating) * 7e-6
		checks.append(("callee_mos %.2f = G.107's %.3f" % (s["callee_mos"], mos), abs(s["callee_mos"] - mos) < 0.011))
		bad = [name for name, ok in checks if not ok]
		print("; ".join(bad), file=sys.stderr)
		sys.exit(1 if bad else 0)
	PY
	stop_relay
}

t_quality_xdp() { quality_call xdp; }
run_test "xdp: RTP and RTCP through netem on the callee's link: loss, reordering, duplicates as the receiver counts, jitter close; RTCP's figures, round trip, MOS" \
	t_quality_xdp
t_quality_tc() { quality_call tc; }
run_test "tc: RTP through netem: the same figures as the receiver" t_quality_tc
t_quality_userspace() { quality_call userspace; }
run_test "userspace: RTP through netem: the same figures as the receiver" t_quality_userspace
t_quality_restart() { quality_call userspace restart; }
run_test "userspace: the same figures after a restart (SIGQUIT) between the media and the remove: the agent's RTP and RTCP figures kept in the state file" \
	t_quality_restart

# reinvite CALL_ID FROM_SIDE CSEQ MEDIA_FROM MEDIA_BACK: an in-dialog offer by
# the caller ("caller") or the callee ("callee"), and its answer; prints
# the offer's and the answer's replies.
reinvite() {
	local from_tag=ft-$1 to_tag=tt-$1 from_uri=alice@example.org to_uri=bob@example.net
	if [ "$2" = callee ]; then
		from_tag=tt-$1 to_tag=ft-$1 from_uri=bob@example.net to_uri=alice@example.org
	fi
	ctl update call_id="$1" from_tag="$from_tag" to_tag="$to_tag" from_uri=$from_uri to_uri=$to_uri \
		cseq="$3" user_agent=ua type=request signaling_ip=$CALLER media="$4"
	ctl update call_id="$1" from_tag="$from_tag" to_tag="$to_tag" from_uri=$from_uri to_uri=$to_uri \
		cseq="$3" user_agent=ua type=reply signaling_ip=$CALLEE media="$5"
}

stream_field() { ctl sessions | python3 -c "import json,sys; print([s['$1'] for s in json.load(sys.stdin)[0]['streams']])"; }

fwd_entries() {
	in_relay bpftool -j map dump pinned "$PIN_DIR/mp_fwd" |
		python3 -c "import json,socket,sys; print(sorted(socket.ntohs(e['formatted']['key']['local_port']) for e in json.load(sys.stdin)))"
}

t_spoofed_source() {
	local before
	call_hosts
	start_relay xdp
	offer_answer c1 49170 30000
	media 49170 30000
	expect_delivery
	# a stranger on the caller's network sends to the caller's relay port
	ip -n "$CALLER_NS" addr add 198.18.1.66/24 dev c0
	before=$(fast_path_stat drop_wrong_source)
	# what the callee gets within 2 s: nothing is what is tested
	udp_receiver "$CALLEE_NS" "$T/stray" 30000 1 2
	ip netns exec "$CALLER_NS" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('198.18.1.66', 49170))
for _ in range(50):
    s.sendto(b'x' * 172, ('$CALLER_SIDE_IP', $CALLER_SIDE))"
	wait_until 20 '[ $(($(fast_path_stat drop_wrong_source) - before)) -ge 50 ]' ||
		fail "drop_wrong_source grew by $(($(fast_path_stat drop_wrong_source) - before))"
	expect_eq "$(($(fast_path_stat drop_wrong_source) - before))" 50 "drop_wrong_source"
	wait "$RECEIVER"
	expect_eq "$(cat "$T/stray")" "" "what reached the callee"
	relay_metrics
	expect_eq "$(metrics 'mediaproxy_relay_wrong_source_dropped_packets_total{tier="bpf"}')" \
		"$(fast_path_stat drop_wrong_source)" "the drops on /metrics"
	wait_for 20 grep -q "50 packets from unexpected sources on the caller RTP port dropped" "$T/relay.log" ||
		fail "the drop was not logged: $(cat "$T/relay.log")"
	expect_eq "$(stream_field caller_packets)" "[$COUNT]" "caller packets after the stray ones"
	stop_relay
}
run_test "xdp: a third host sending to a latched port is dropped, counted and logged" t_spoofed_source

# The next hop a leg caches (doc/fast-path.md §3 step 5) must follow the
# relay's routes and neighbours: the callee gets a second link to the relay
# (e1 198.18.5.9, relay side rd 198.18.5.1), and nftables counters on the
# callee's ingress count the call's media by device and destination MAC.
CALLEE_MAC=02:00:c6:12:02:09 CALLEE_NEW_MAC=02:00:c6:12:02:99
next_hop_hosts() {
	call_hosts
	ip -n "$CALLEE_NS" link set e0 address $CALLEE_MAC
	ip -n "$RELAY_NS" link add rd type veth peer name e1 netns "$CALLEE_NS"
	ip -n "$CALLEE_NS" addr add 198.18.5.9/24 dev e1
	ip -n "$RELAY_NS" addr add 198.18.5.1/24 dev rd
	receiver "$CALLEE_NS" e1
	ip -n "$CALLEE_NS" link set e1 up
	ip -n "$RELAY_NS" link set rd up
	ip netns exec "$CALLEE_NS" nft -f - <<-EOF
	table netdev mp {
		counter e0 {}
		counter e1 {}
		counter old_mac {}
		counter new_mac {}
		chain e0 {
			type filter hook ingress device e0 priority 0;
			udp dport 30000 counter name e0
			ether daddr $CALLEE_MAC udp dport 30000 counter name old_mac
			ether daddr $CALLEE_NEW_MAC udp dport 30000 counter name new_mac
		}
		chain e1 {
			type filter hook ingress device e1 priority 0;
			udp dport 30000 counter name e1
		}
	}
	EOF
}

# arrived NAME: what the callee's counter NAME counted
arrived() { ip netns exec "$CALLEE_NS" nft list counter netdev mp "$1" | sed -n 's/.*packets \([0-9]*\).*/\1/p'; }

# follows_within_a_tick TIER OLD NEW CHANGE...: with a call's media flowing
# through TIER, CHANGE is made on the relay host; media must reach counter
# NEW within a second, the agent's tick, and none may reach OLD after that.
# MP_FOLLOW_BOUND_MS widens the second where the test's own polling is slow
# (vmtest's emulated CPUs: vmtest/selftests.sh).
follows_within_a_tick() {
	local tier=$1 old=$2 new=$3 start ms settled calls bound=${MP_FOLLOW_BOUND_MS:-1000}
	shift 3
	next_hop_hosts
	start_relay "$tier"
	offer_answer c1 49170 30000
	COUNT=1500 media 49170 30000 & # 3 s of media from t = 1 s
	calls=$!
	wait_until 5 '[ "$(arrived "$old")" -gt 100 ]' || fail "no media reached the callee: $(cat "$T/relay.log")"
	expect_eq "$(arrived "$new")" 0 "media at $new before the change"
	start=$(date +%s%N)
	"$@"
	wait_until 5 '[ "$(arrived "$new")" -gt 0 ]' || fail "no media at $new after the change"
	ms=$((($(date +%s%N) - start) / 1000000))
	[ $ms -lt "$bound" ] || fail "media took $ms ms to follow (bound $bound ms)"
	# what was in flight to the old hop has arrived once 10 more did
	wait_until 10 '[ "$(arrived "$new")" -ge 10 ]' || fail "media at $new stopped"
	settled=$(arrived "$old")
	wait $calls
	[ "$(arrived "$new")" -gt 500 ] || fail "only $(arrived "$new") packets reached $new"
	expect_eq "$(arrived "$old")" "$settled" "packets at $old after the change"
	stop_relay
}

flip_route() { ip -n "$RELAY_NS" route add $CALLEE/32 via 198.18.5.9 dev rd; }
t_route_flip_xdp() { follows_within_a_tick xdp e0 e1 flip_route; }
run_test "xdp: a route flipped mid-call: media follows within a tick, none to the old hop" t_route_flip_xdp
t_route_flip_tc() { follows_within_a_tick tc e0 e1 flip_route; }
run_test "tc: a route flipped mid-call: media follows within a tick, none to the old hop" t_route_flip_tc

new_mac() {
	ip -n "$CALLEE_NS" link set e0 address $CALLEE_NEW_MAC
	ip -n "$RELAY_NS" neigh replace $CALLEE lladdr $CALLEE_NEW_MAC dev re nud reachable
}
t_neigh_mac_xdp() { follows_within_a_tick xdp old_mac new_mac new_mac; }
run_test "xdp: a neighbour's MAC changed mid-call: media follows within a tick, none to the old MAC" t_neigh_mac_xdp
t_neigh_mac_tc() { follows_within_a_tick tc old_mac new_mac new_mac; }
run_test "tc: a neighbour's MAC changed mid-call: media follows within a tick, none to the old MAC" t_neigh_mac_tc

t_hold_and_move() {
	local reply old_entries
	call_hosts
	start_relay xdp
	offer_answer c1 49170 30000
	media 49170 30000
	expect_delivery
	old_entries=$(fwd_entries)
	expect_eq "$old_entries" "[$CALLER_SIDE, $CALLEE_SIDE]" "forwarding entries (RTP legs)"
	reinvite c1 caller 2 audio:$CALLER:49170:sendonly:ice=no audio:$CALLEE:30000:recvonly:ice=no >/dev/null
	expect_eq "$(stream_field status)" "['on hold']" "status after a sendonly re-INVITE"
	reinvite c1 caller 3 audio:0.0.0.0:49170:sendrecv:ice=no audio:$CALLEE:30000:sendrecv:ice=no >/dev/null
	expect_eq "$(stream_field status)" "['on hold']" "status after a 0.0.0.0 re-INVITE"
	reinvite c1 caller 4 audio:$CALLER:49170:sendrecv:ice=no audio:$CALLEE:30000:sendrecv:ice=no >/dev/null
	expect_eq "$(stream_field status)" "['active']" "status after resuming"
	expect_eq "$(fwd_entries)" "$old_entries" "hold leaves forwarding alone"
	# the callee moves to another port: a new stream with new relay ports
	reply=$(reinvite c1 callee 1 audio:$CALLEE:30010:sendrecv:ice=no audio:$CALLER:49170:sendrecv:ice=no)
	CALLER_SIDE=$(sed -n '1s/.* //p' <<<"$reply") CALLEE_SIDE=$(sed -n '2s/.* //p' <<<"$reply")
	[ "$CALLEE_SIDE" != "${old_entries//[^0-9 ]/}" ] || fail "the moved stream kept its ports: $reply"
	expect_eq "$(stream_field status)" "['closed', 'active']" "old and new stream"
	media 49170 30010
	expect_delivery
	expect_eq "$(fwd_entries)" "[$CALLER_SIDE, $CALLEE_SIDE]" "forwarding entries of the new stream only"
	stop_relay
}
run_test "xdp: hold by sendonly and 0.0.0.0 and back; the callee moving to a new port gets a new stream" t_hold_and_move

t_timeouts() {
	call_hosts
	start_relay xdp "stream_timeout = 2" "stream_idle_timeout = 2" "on_hold_timeout = 3"
	offer_answer silent 49100 30100
	offer_answer idle 49170 30000
	media 49170 30000
	expect_delivery
	# music on hold keeps flowing: the on-hold timer, not idleness, ends it
	# (it runs on legs that had media when the hold began)
	offer_answer held 49180 30020
	COUNT=1000000 media_start 49180 30020 # flowing until the expiry
	media_says sending
	reinvite held caller 2 audio:$CALLER:49180:sendonly:ice=no audio:$CALLEE:30020:recvonly:ice=no >/dev/null
	wait_for 30 grep -q 'expired {"call_id": "held"' "$T/relay.log" || fail "no expiry: $(cat "$T/relay.log")"
	kill "$MEDIA"
	expect_eq "$(expired_status silent)" "[('no-traffic timeout', 2)]" "a call that never sent media"
	expect_eq "$(expired_status idle)" "[('conntrack timeout', 2)]" "a call whose media stopped"
	expect_eq "$(expired_status held)" "[('on hold timeout', 3)]" "a call left on hold"
	expect_eq "$(ctl sessions)" "[]" "sessions after the expiries"
	expect_eq "$(fwd_entries)" "[]" "forwarding entries after the expiries"
	stop_relay
}
run_test "xdp: no-traffic, idle and on-hold timeouts end the streams and expire the sessions" t_timeouts

# restart_mid_call SIGNAL [CHECK]: the relay stops with SIGNAL after a third
# of a call's media, which goes on flowing while a new relay starts and takes
# over; with USR2 the relay restarts in place instead.  CHECK runs once the
# call is taken over.
restart_mid_call() {
	local first
	call_hosts
	start_relay xdp
	first=$RELAY
	offer_answer c1 49170 30000
	COUNT=1500 media_start 49170 30000 500
	media_says "paused 500"
	kill -"$1" "$first"
	[ "$1" = USR2 ] || wait "$first" || true
	kill -USR1 "$MEDIA"
	[ "$1" = USR2 ] || start_relay xdp
	media_end
	COUNT=1500 expect_delivery
	wait_for 20 grep -q "restart: took over 1 sessions" "$T/relay.log" || fail "no takeover: $(cat "$T/relay.log")"
	${2:-true}
	ctl remove call_id=c1 from_tag=ft-c1 >"$T/removed.json"
	COUNT=1500 expect_counters "$T/removed.json"
	expect_eq "$(fwd_entries)" "[]" "forwarding entries after remove"
	stop_relay
}

t_restart_quit() {
	restart_mid_call QUIT
	grep -q "stopping for a restart: 1 sessions saved" "$T/relay.log" || fail "$(cat "$T/relay.log")"
	! grep -q 'expired {' "$T/relay.log" || fail "a restart reported sessions expired"
}
run_test "xdp: a relay stopped with SIGQUIT and started again loses no packet of a call" t_restart_quit

# SIGUSR2 (systemctl reload): the unit's relay runs its program again in
# the same process, which keeps its capabilities
restarted_in_place() {
	expect_eq "$(grep -c "started (pid $RELAY," "$T/relay.log")" 2 "starts of process $RELAY"
	expect_identity "$UNIT_CAPS"
}

t_restart_in_place() {
	unprivileged
	restart_mid_call USR2 restarted_in_place
	! grep -q 'expired {' "$T/relay.log" || fail "a restart in place reported sessions expired"
}
run_test "xdp: SIGUSR2 (systemctl reload) restarts the unit's relay in place: same process, same capabilities, no packet lost" \
	t_restart_in_place

t_restart_kill() {
	restart_mid_call KILL
}
run_test "xdp: a relay killed and started again loses no packet of a call" t_restart_kill

# A saved session with a field no relay writes (a stream status past the
# last) is left out with a log line naming it; the others are taken over,
# and new calls are served (doc/fast-path.md §8).
t_state_bad_field() {
	call_hosts
	start_relay userspace
	offer_answer c0 49100 30100
	offer_answer bad 49110 30110
	kill -QUIT "$RELAY"
	wait "$RELAY" || fail "SIGQUIT: exit status $?"
	python3 - "$T/run/relay-state.json" <<-'PY'
		import json, sys
		state = json.load(open(sys.argv[1]))
		[bad] = [s for s in state["sessions"] if s["call_id"] == "bad"]
		bad["streams"][0]["status"] = 9
		json.dump(state, open(sys.argv[1], "w"))
	PY
	start_relay userspace
	ctl sessions >"$T/sessions.json" || fail "no answer to sessions: $(tail -5 "$T/relay.log")"
	expect_eq "$(json "$T/sessions.json" "[s['call_id'] for s in d]")" "['c0']" "sessions taken over"
	grep -q "session 1 (call_id \"bad\") left out: streams\[0\].status = 9: out of range" "$T/relay.log" ||
		fail "no reason logged: $(cat "$T/relay.log")"
	offer_answer c1 49170 30000
	media 49170 30000
	expect_delivery
	stop_relay
}
run_test "restart: a saved session with a bad field is left out and logged; the relay serves new calls" t_state_bad_field

# A state file that is not JSON: the relay starts without calls, keeps the
# file as relay-state.json.bad and says so, and serves new calls.
t_state_unreadable() {
	local state=$T/run/relay-state.json
	call_hosts
	mkdir -p "$T/run"
	printf '{"version": 1, "sessions": [' >"$state"
	start_relay userspace
	grep -q "restart state $state unreadable (.*); kept as $state.bad; starting without calls" "$T/relay.log" ||
		fail "not said: $(cat "$T/relay.log")"
	expect_eq "$(cat "$state.bad")" '{"version": 1, "sessions": [' "the file kept aside"
	offer_answer c1 49170 30000
	media 49170 30000
	expect_delivery
	stop_relay
}
run_test "restart: an unreadable state file is kept aside as .bad; the relay starts without calls and serves new ones" \
	t_state_unreadable

t_sigterm_expires() {
	call_hosts
	start_relay xdp
	offer_answer c1 49170 30000
	stop_relay
	expect_eq "$(expired_status c1)" "[('closed', 0)]" "the session reported at SIGTERM"
	[ ! -e "$T/run/relay-state.json" ] || fail "SIGTERM left state for a restart"
	! in_relay test -e "$PIN_DIR/mp_fwd" || fail "SIGTERM left the maps pinned"
}
run_test "SIGTERM reports every session expired and leaves nothing for a restart" t_sigterm_expires

t_sighup_drains() {
	call_hosts
	start_relay xdp
	offer_answer c1 49170 30000
	kill -HUP "$RELAY"
	wait_for 20 grep -q "halting: no new sessions" "$T/relay.log" || fail "$(cat "$T/relay.log")"
	expect_eq "$(ctl summary | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["status"], d["session_count"])')" \
		"halting 1" "summary while halting"
	expect_eq "$(ctl update call_id=c2 from_tag=f2 from_uri=a@x to_uri=b@y cseq=1 user_agent=ua type=request \
		signaling_ip=$CALLER media=audio:$CALLER:49300:sendrecv:ice=no)" "halting" "a new session while halting"
	reinvite c1 caller 2 audio:$CALLER:49170:sendrecv:ice=no audio:$CALLEE:30000:sendrecv:ice=no >/dev/null
	kill -0 "$RELAY" || fail "the relay stopped with a session left"
	ctl remove call_id=c1 from_tag=ft-c1 >/dev/null
	wait "$RELAY" || fail "exit status $? after the last session"
	! grep -q 'expired {' "$T/relay.log" || fail "a graceful stop reported sessions expired"
}
run_test "SIGHUP: new sessions get halting, existing ones are served, the relay stops after the last" t_sighup_drains

# Two relay addresses, one per side: with auto_detect_interfaces each side
# of a stream binds on the address that routes to its party.
t_auto_detect() {
	call_hosts
	RELAY_ADDRESS=198.18.1.1 start_relay xdp "auto_detect_interfaces = yes"
	offer_answer c1 49170 30000 "${CALLER}_$CALLEE"
	expect_eq "$CALLEE_SIDE_IP $CALLER_SIDE_IP" "198.18.2.1 198.18.1.1" "relay addresses given to callee and caller"
	media 49170 30000
	expect_delivery
	expect_eq "$(stream_field caller_local) $(stream_field callee_local)" \
		"['198.18.1.1:$CALLER_SIDE'] ['198.18.2.1:$CALLEE_SIDE']" "local addresses in the statistics"
	expect_eq "$(fast_path_stat forwarded)" $((2 * COUNT)) "packets the fast path forwarded"
	stop_relay
}
run_test "xdp: auto_detect_interfaces binds each side on its own interface's address, and media crosses" t_auto_detect

# stun_request SRC_PORT DST_IP DST_PORT: one STUN Binding Request (RFC 5389)
stun_request() {
	python3 -c "
import os, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', int(sys.argv[1])))
s.sendto(struct.pack('!HHI', 1, 0, 0x2112A442) + os.urandom(12), (sys.argv[2], int(sys.argv[3])))" "$@"
}

# STUN latches a leg but is not media: it installs nothing, sets no codec.
t_stun_latches() {
	call_hosts
	start_relay xdp "routable_private_ranges = 198.18.0.0/15"
	offer_answer c1 49170 30000
	udp_receiver "$CALLEE_NS" "$T/at_callee" 30000 1 20
	ip netns exec "$CALLER_NS" bash -c "$(declare -f stun_request); stun_request 49170 $CALLER_SIDE_IP $CALLER_SIDE"
	wait "$RECEIVER"
	# relayed to the callee's SDP address (routable here), from the callee side's port
	expect_eq "$(cut -d' ' -f1,2 "$T/at_callee")" "$CALLEE_SIDE_IP:$CALLEE_SIDE 20" "the STUN request at the callee"
	ip netns exec "$CALLEE_NS" bash -c "$(declare -f stun_request); stun_request 30000 $CALLEE_SIDE_IP $CALLEE_SIDE"
	wait_until 20 '[[ $(stream_field callee_remote) != *Unknown* ]]' || fail "the callee's STUN did not latch it"
	expect_eq "$(stream_field caller_remote) $(stream_field callee_remote)" \
		"['$CALLER:49170'] ['$CALLEE:30000']" "addresses latched by STUN"
	expect_eq "$(stream_field caller_codec)" "['Unknown']" "codec after STUN only"
	expect_eq "$(fwd_entries)" "[]" "forwarding entries after STUN only"
	media 49170 30000
	expect_eq "$(fwd_entries)" "[$CALLER_SIDE, $CALLEE_SIDE]" "forwarding entries once media flowed"
	stop_relay
}
run_test "xdp: STUN latches both legs but installs nothing until media flows" t_stun_latches
