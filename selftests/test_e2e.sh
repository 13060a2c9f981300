#!/bin/bash
# End to end with real peers: Debian's Kamailio (mediaproxy, dialog,
# jsonrpcs) and sipp place calls through media-dispatcher and media-relay
# (XDP tier); our RTP senders play the media of each call at both ends.
# Each test checks what a user would: the SDP each end got points at the
# relay, the RTP arrives from the relay's ports intact, and the relay's
# counters and the accounting row agree with what was sent.  The topology
# is drawn in e2e_lib.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/e2e_lib.sh"

COUNT=200

# media_checks CALL_ID: both ends received every packet of the other, from
# the relay's address they were given, intact; the accounting row of the
# ended call counts the same packets.
media_checks() {
	local c=$1
	expect_eq "$(py "sdp['$c']['callee_side'][0].split(':')[0], sdp['$c']['caller_side'][0].split(':')[0]")" \
		"('$RELAY_IP', '$RELAY_IP')" "the SDP of both ends points at the relay"
	expect_eq "$(py "callee['$c']['sources'] == [sdp['$c']['callee_side'][0]], caller['$c']['sources'] == [sdp['$c']['caller_side'][0]]")" \
		"(True, True)" "media comes from the relay address in the SDP"
	expect_eq "$(py "caller['$c']['received'] >= $COUNT, callee['$c']['received'] >= $COUNT, caller['$c']['corrupt'] + callee['$c']['corrupt']")" \
		"(True, True, 0)" "packets received intact at both ends"
}

# row_checks CALL_ID STATUS TIMED_OUT: the accounting row's streams and counters
row_checks() {
	local c=$1
	expect_eq "$(py "[s['status'] for s in rows['$c']['streams']], rows['$c']['timed_out']")" "($2, $3)" \
		"the row's stream statuses and timed_out"
	expect_eq "$(py "(rows['$c']['streams'][0]['caller_packets'], rows['$c']['streams'][0]['callee_packets']) == (callee['$c']['received'], caller['$c']['received'])")" \
		True "the row counts what each end received"
}

t_basic_call() {
	e2e_hosts
	start_proxy
	start_relay
	call call 1 6000
	sdp 1
	local c
	c=$(py "list(sdp)[0]")
	call_media $COUNT
	call_done
	media_checks "$c"
	rows 1
	row_checks "$c" "['closed']" False
	expect_eq "$(py "rows['$c']['dialog_id'] is not None and ':' in rows['$c']['dialog_id']")" True \
		"the row holds Kamailio's h_entry:h_id dialog id"
	grep -q "native XDP" "$T/relay.log" || fail "the relay is not in the XDP tier: $(cat "$T/relay.log")"
	# the priming packets go through the agent; all the rest through XDP
	expect_eq "$(fast_path_stat forwarded)" $((2 * COUNT)) "packets the XDP program forwarded"
}
run_test "basic call and BYE: SDP points at the relay, RTP arrives from it intact, the row counts it" t_basic_call
