#!/bin/bash
# The conntrack forwarding tier: one NAT entry per substream, marked as ours,
# forwards both directions in the kernel with the relay's addresses, counts
# what it forwards, and disappears on removal or when idle.
. "$(dirname "$0")/lib.sh"

CALLER=198.18.1.7:49170
CALLEE=198.18.2.9:30000
RELAY_CALLER=$RELAY_IP:40000
RELAY_CALLEE=$RELAY_IP:40002

# udp_no_ports NS: UDP datagrams NS received for a port without a socket
udp_no_ports() { ip netns exec "$1" awk '$1 == "Udp:" && $2 ~ /^[0-9]+$/ { print $3 }' /proc/net/snmp; }

driver() { ip netns exec "$RELAY_NS" "$BUILD/helpers/conntrack_nat_driver" "$1" $CALLER $RELAY_CALLER $RELAY_CALLEE $CALLEE "${@:2}"; }

# exchange N_FORWARD N_BACK SIZE: media both ways; checks what each end receives
exchange() {
	udp_receiver "$CALLEE_NS" "$T/at_callee" 30000 "$1" 20
	udp "$CALLER_NS" send 49170 $RELAY_IP 40000 "$1" "$3"
	wait "$RECEIVER"
	expect_eq "$(sort -u "$T/at_callee")" "$RELAY_CALLEE $3 OK" "what the callee received"
	expect_eq "$(wc -l <"$T/at_callee")" "$1" "packets at the callee"
	udp_receiver "$CALLER_NS" "$T/at_caller" 49170 "$2" 20
	udp "$CALLEE_NS" send 30000 $RELAY_IP 40002 "$2" "$3"
	wait "$RECEIVER"
	expect_eq "$(sort -u "$T/at_caller")" "$RELAY_CALLER $3 OK" "what the caller received"
	expect_eq "$(wc -l <"$T/at_caller")" "$2" "packets at the caller"
}

t_forwards_and_counts() {
	need_root
	three_hosts
	driver install 60 || fail "install failed"
	ip netns exec "$RELAY_NS" conntrack -L -m 0x4d50 2>/dev/null | grep -q "sport=49170 dport=40000" ||
		fail "no entry with our mark: $(ip netns exec "$RELAY_NS" conntrack -L 2>&1)"
	[ -z "$(ip netns exec "$RELAY_NS" nft list chain inet mediaproxy guard | grep notrack)" ] ||
		fail "the transient NOTRACK rules were left in place"
	exchange 5 3 100
	# IPv4 total length: 100 bytes of payload + 8 UDP + 20 IP
	expect_eq "$(driver read)" "5 640 3 384" "counters (caller packets, bytes, callee packets, bytes)"
}
run_test "a NAT entry forwards both ways from the relay's ports and counts L3 bytes" t_forwards_and_counts

t_replaces_ordinary_entries() {
	need_root
	three_hosts
	driver install 60 # prepares the namespace: conntrack now tracks
	driver remove >/dev/null
	# userspace-phase traffic leaves ordinary entries behind
	udp "$CALLER_NS" send 49170 $RELAY_IP 40000 1 20
	udp "$CALLEE_NS" send 30000 $RELAY_IP 40002 1 20
	wait_for 20 eval "ip netns exec $RELAY_NS conntrack -L -p udp 2>/dev/null | grep -q 'dport=40002'" ||
		fail "no ordinary entry to replace; the test proves nothing"
	driver install 60 || fail "install over ordinary entries failed"
	exchange 2 2 60
}
run_test "installation replaces the ordinary entries of the userspace phase" t_replaces_ordinary_entries

t_remove() {
	need_root
	three_hosts
	driver install 60
	exchange 1 1 40
	expect_eq "$(driver remove)" "1 68 1 68" "final counters"
	local rc=0
	driver read >/dev/null || rc=$?
	expect_eq "$rc" 3 "read after remove"
	# the packet ends in the relay's own stack, where no socket takes it
	# (NoPorts): it was not forwarded, and the callee got nothing
	udp_receiver "$CALLEE_NS" "$T/late" 30000 1 20
	local no_ports
	no_ports=$(udp_no_ports "$RELAY_NS")
	udp "$CALLER_NS" send 49170 $RELAY_IP 40000 1 40
	wait_until 20 '[ "$(udp_no_ports "$RELAY_NS")" -gt "$no_ports" ]' ||
		fail "the packet did not end in the relay's stack: $(cat "$T/late")"
	kill "$RECEIVER"
	[ ! -s "$T/late" ] || fail "still forwarded after removal: $(cat "$T/late")"
}
run_test "removal returns the final counters and stops forwarding" t_remove

t_idle_expiry() {
	local start rc
	need_root
	three_hosts
	start=$(date +%s%N)
	driver install 2
	driver read >/dev/null || fail "entry missing right after install"
	entry_gone() { rc=0; driver read >/dev/null || rc=$?; [ "$rc" -ne 0 ]; }
	wait_for 20 entry_gone || fail "the entry outlived its timeout"
	expect_eq "$rc" 3 "read of an idle entry after its timeout"
	[ $(($(date +%s%N) - start)) -ge 2000000000 ] || fail "the entry was gone before its 2 s timeout"
}
run_test "an entry with no packets is gone after its timeout" t_idle_expiry

t_forwarding_off() {
	need_root
	three_hosts
	ip netns exec "$RELAY_NS" sysctl -qw net.ipv4.ip_forward=0
	local rc=0
	driver install 60 2>"$T/err" || rc=$?
	[ "$rc" -ne 0 ] || fail "installed with forwarding off"
	grep -q "IPv4 forwarding is off" "$T/err" || fail "unclear error: $(cat "$T/err")"
}
run_test "the tier refuses to start with IPv4 forwarding off" t_forwarding_off
