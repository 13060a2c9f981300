#!/bin/bash
# media-relay's start and stop as the kernel sees them: which forwarding tier
# each interface gets, the pinned maps, the NOTRACK table, and that nothing
# is left attached after a stop.
. "$(dirname "$0")/lib.sh"

RELAY_IP=198.18.0.50

# start_relay NS [CONFIG LINES...]: starts media-relay in NS; log in $T/relay.log
start_relay() {
	local ns=$1
	shift
	printf '[Relay]\nport_range = 50000:50100\n' >"$T/config.ini"
	printf '%s\n' "$@" >>"$T/config.ini"
	spawn ip netns exec "$ns" "$BUILD/media-relay" --no-fork --config-dir "$T" --runtime-dir "$T/run" \
		2>"$T/relay.log"
	RELAY=$SPAWNED
	# generous: under TCG the iptables fallback's dozen iptables runs take seconds
	wait_for 20 grep -q "relay port range" "$T/relay.log" || fail "relay did not start: $(cat "$T/relay.log")"
}

stop_relay() {
	local rc=0
	kill -TERM "$RELAY"
	wait "$RELAY" || rc=$?
	expect_eq "$rc" 0 "exit status after SIGTERM"
}

# in the relay's own mount namespace, where it mounted its bpffs
in_relay() { nsenter -t "$RELAY" -m -n "$@"; }

expect_log() { grep -q "$1" "$T/relay.log" || fail "log lacks '$1': $(cat "$T/relay.log")"; }

expect_nothing_left() {
	! ip -n "$1" link show m0 | grep -q "prog/xdp" || fail "an XDP program is still attached"
	[ -z "$(tc -n "$1" filter show dev m0 ingress 2>/dev/null)" ] || fail "a tc filter is still attached"
	! ip netns exec "$1" nft list table inet mediaproxy >/dev/null 2>&1 || fail "the NOTRACK table is left"
}

t_native_xdp() {
	need_root
	local ns
	ns=$(relay_netns $RELAY_IP veth)
	start_relay "$ns"
	expect_log "fast path: m0 forwards in the $(veth_xdp_tier) tier"
	if kernel_has native_xdp_veth; then
		ip -n "$ns" link show m0 | grep -q "xdp qdisc" || fail "no native XDP program on m0: $(ip -n "$ns" link show m0)"
	else
		expect_log "m0 refused native XDP"
	fi
	in_relay test -e "$PIN_DIR/xdp_link_m0" || fail "the XDP link is not pinned"
	in_relay bpftool map show pinned "$PIN_DIR/mp_fwd" | grep -q "max_entries 100 " ||
		fail "mp_fwd is not sized to the port range: $(in_relay bpftool map show pinned "$PIN_DIR/mp_fwd")"
	in_relay bpftool map dump pinned "$PIN_DIR/mp_stats" >/dev/null || fail "mp_stats not dumpable"
	stop_relay
	expect_nothing_left "$ns"
}
run_test "auto: a veth gets native XDP, maps are pinned, a stop detaches" t_native_xdp

# The relay's probes find what this kernel has (vmtest/kernels says what
# that is, through MP_KERNEL_FEATURES); with MP_VMTEST_REPORT set, the
# kernel, the features and the tier of a veth are written there.
yes_no() { if kernel_has "$1"; then echo yes; else echo no; fi; }
t_features() {
	need_root
	local ns line tier
	ns=$(relay_netns $RELAY_IP veth)
	start_relay "$ns"
	line=$(grep -o "fast path: kernel .*" "$T/relay.log" | head -1)
	[ -n "$line" ] || fail "no feature probe logged: $(cat "$T/relay.log")"
	tier=$(sed -n 's/.*fast path: m0 forwards in the \(.*\) tier, driver veth$/\1/p' "$T/relay.log")
	if [ -n "${MP_VMTEST_REPORT:-}" ]; then
		{
			echo "vmtest-report: kernel=$(uname -r)"
			echo "vmtest-report: tier=$tier"
			echo "vmtest-report: features=${line#*: kernel $(uname -r): }"
		} >>"$MP_VMTEST_REPORT"
	fi
	expect_eq "${line#*: kernel $(uname -r): }" \
		"lookup-and-delete on hash maps $(yes_no lookup_and_delete), bpf_redirect_neigh $(yes_no redirect_neigh), devmap hash $(yes_no devmap_hash)" \
		"probed features"
	expect_eq "$tier" "$(veth_xdp_tier)" "tier of a veth"
	stop_relay
}
run_test "the relay's feature probes find what this kernel has, and a veth gets the tier they allow" t_features

t_no_native_xdp() {
	need_root
	local ns
	ns=$(relay_netns $RELAY_IP veth)
	MEDIAPROXY_KERNEL_LACKS=native_xdp_veth start_relay "$ns"
	expect_log "native XDP off"
	expect_log "fast path: m0 forwards in the generic XDP tier"
	ip -n "$ns" link show m0 | grep -q "xdpgeneric" || fail "no generic XDP program on m0: $(ip -n "$ns" link show m0)"
	stop_relay
	expect_nothing_left "$ns"
}
run_test "auto on a kernel without native XDP on veth: generic XDP" t_no_native_xdp

t_generic_xdp() {
	need_root
	local ns
	ns=$(relay_netns $RELAY_IP bridge)
	start_relay "$ns" "forwarding = xdp"
	expect_log "fast path: m0 forwards in the generic XDP tier"
	ip -n "$ns" link show m0 | grep -q "xdpgeneric" || fail "no generic XDP program on m0"
	stop_relay
	expect_nothing_left "$ns"
}
run_test "xdp: an interface without native XDP gets generic XDP" t_generic_xdp

t_tc() {
	need_root
	local ns
	ns=$(relay_netns $RELAY_IP veth)
	start_relay "$ns" "forwarding = tc"
	expect_log "fast path: m0 forwards in the tc tier"
	tc -n "$ns" filter show dev m0 ingress | grep -q "mp_tc" || fail "no tc filter on m0 ingress"
	! ip -n "$ns" link show m0 | grep -q "prog/xdp" || fail "XDP attached although tc was asked for"
	stop_relay
	expect_nothing_left "$ns"
}
run_test "tc: the program goes on the clsact ingress hook and comes off at stop" t_tc

# notrack_case [iptables]: the relay ports, and only those, stay out of
# conntrack; with "iptables" nftables refuses (libnftables is made to fail)
# and the relay falls back to iptables raw chains.
notrack_case() {
	need_root
	local ns peer
	ns=$(relay_netns $RELAY_IP veth)
	peer=$(make_netns peer)
	ip -n "$ns" link set m0-peer netns "$peer"
	ip -n "$peer" addr add 198.18.0.1/24 dev m0-peer
	ip -n "$peer" link set m0-peer up
	# a namespace tracks nothing until a rule uses conntrack
	ip netns exec "$ns" nft -f - <<-'NFT'
		table ip probe {
			chain input {
				type filter hook input priority 0;
				ct state established accept
			}
		}
	NFT
	if [ "${1:-}" = iptables ]; then
		printf 'struct nft_ctx;\nint nft_run_cmd_from_buffer(struct nft_ctx *c, const char *b) { return -1; }\n' |
			cc -shared -fPIC -x c -o "$T/no-nft.so" -
		# AddressSanitizer (SANITIZE=1) wants its runtime first: the shim may come before it
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 LD_PRELOAD=$T/no-nft.so start_relay "$ns"
		ip netns exec "$ns" iptables -t raw -S MEDIAPROXY | grep -q -- "--dport 50000:50099 -j CT --notrack" ||
			fail "no iptables NOTRACK rule: $(ip netns exec "$ns" iptables -t raw -S)"
	else
		start_relay "$ns"
		ip netns exec "$ns" nft list table inet mediaproxy | grep -q "udp dport 50000-50099 notrack" ||
			fail "no NOTRACK rule: $(ip netns exec "$ns" nft list ruleset)"
	fi
	for port in 50000 50099 9999; do
		ip netns exec "$peer" bash -c "echo media >/dev/udp/$RELAY_IP/$port"
	done
	wait_for 20 eval "ip netns exec $ns conntrack -L -p udp 2>/dev/null | grep -q 'dport=9999'" ||
		fail "conntrack is not tracking at all, the test proves nothing"
	# the original direction's dport: the reply's may be the peer's ephemeral port
	! ip netns exec "$ns" conntrack -L -p udp 2>/dev/null | grep -Eq "dst=$RELAY_IP sport=[0-9]+ dport=500[0-9]{2} " ||
		fail "relay ports are tracked: $(ip netns exec "$ns" conntrack -L -p udp 2>&1)"
	stop_relay
	expect_nothing_left "$ns"
	! ip netns exec "$ns" iptables -t raw -S 2>/dev/null | grep -q MEDIAPROXY || fail "iptables chains are left"
}

t_notrack() { notrack_case; }
run_test "NOTRACK keeps the relay ports, and only those, out of conntrack" t_notrack

t_notrack_iptables() { notrack_case iptables; }
run_test "without nftables, NOTRACK falls back to iptables raw chains, removed at stop" t_notrack_iptables

t_stale_table() {
	need_root
	local ns
	ns=$(relay_netns $RELAY_IP veth)
	ip netns exec "$ns" nft -f - <<-'NFT'
		table inet mediaproxy {
			chain leftover {
				type filter hook prerouting priority raw;
				udp dport 1 drop
			}
		}
	NFT
	start_relay "$ns"
	! ip netns exec "$ns" nft list table inet mediaproxy | grep -q leftover || fail "the stale table survived"
	kill -KILL "$RELAY"
	wait "$RELAY" || true
	start_relay "$ns"
	expect_log "notrack: relay ports 50000-50099"
	stop_relay
	expect_nothing_left "$ns"
}
run_test "a crashed relay's leftovers are replaced at the next start" t_stale_table

t_bad_relay_ip() {
	need_root
	local ns rc=0
	ns=$(relay_netns $RELAY_IP veth)
	printf '[Relay]\nrelay_ip = 198.18.9.9\n' >"$T/config.ini"
	ip netns exec "$ns" "$BUILD/media-relay" --no-fork --config-dir "$T" --runtime-dir "$T/run" 2>"$T/err" ||
		rc=$?
	[ "$rc" -ne 0 ] || fail "started with a relay_ip that is not local"
	grep -q "relay_ip 198.18.9.9 is not an address of this host" "$T/err" || fail "unclear error: $(cat "$T/err")"
	expect_nothing_left "$ns"

	ns=$(make_netns bare)
	rc=0
	: >"$T/config.ini"
	ip netns exec "$ns" "$BUILD/media-relay" --no-fork --config-dir "$T" --runtime-dir "$T/run" 2>"$T/err" ||
		rc=$?
	[ "$rc" -ne 0 ] || fail "started without any address"
	grep -q "relay_ip is not set and no interface holds a default route" "$T/err" ||
		fail "unclear error: $(cat "$T/err")"
}
run_test "a relay_ip that is not local, or none at all, stops the start with a clear error" t_bad_relay_ip
