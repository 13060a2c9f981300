#!/bin/bash
# End to end with real peers: a SIP proxy with its mediaproxy module and
# dialog control (Debian's Kamailio with dialog and jsonrpcs, or with
# SIP_PROXY=opensips OpenSIPS with dialog and mi_datagram:
# test_e2e_opensips.sh) and sipp place calls through media-dispatcher and
# media-relay (XDP tier); our RTP senders play the media of each call at
# both ends.  Each test checks what a user would: the SDP each end got
# points at the relay, the RTP arrives from the relay's ports intact, and
# the relay's counters and the accounting row agree with what was sent.
# The topology is drawn in e2e_lib.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/e2e_lib.sh"
find_proxy # once: OpenSIPS may have to be built first, a Kamailio root made
[ -z "${PROXY_VERSION:-}" ] || echo "# $SIP_PROXY: $PROXY_VERSION"

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
	# Kamailio's module sends h_entry:h_id, OpenSIPS's one decimal number
	expect_eq "$(py "bool(re.fullmatch({'kamailio': r'\d+:\d+', 'opensips': r'\d+'}['$SIP_PROXY'], rows['$c']['dialog_id'] or ''))")" \
		True "the row holds the $SIP_PROXY dialog id"
	grep -q "native XDP" "$T/relay.log" || fail "the relay is not in the XDP tier: $(cat "$T/relay.log")"
	# the priming packets go through the agent; all the rest through XDP
	expect_eq "$(fast_path_stat forwarded)" $((2 * COUNT)) "packets the XDP program forwarded"
}
run_test "basic call and BYE: SDP points at the relay, RTP arrives from it intact, the row counts it" t_basic_call

t_media_timeout() {
	e2e_hosts
	start_proxy
	start_relay "stream_idle_timeout = 2"
	call timeout 1
	sdp 1
	local c
	c=$(py "list(sdp)[0]")
	call_media $COUNT
	# nobody hangs up: the relay sees the media stop, the dispatcher asks
	# the proxy to end the dialog, the proxy sends BYE to both ends
	call_done
	grep -q "BYE" "$T/uac.log" && grep -q "BYE" "$T/uas.log" || fail "no BYE at the ends"
	expect_eq "$(grep -A3 'message received' "$T/uas.log" | grep -c '^BYE')" 1 "BYEs the callee received"
	media_checks "$c"
	rows 1
	row_checks "$c" "['conntrack timeout']" True
	# the dialog was found by its id, with no Call-ID fallback: for OpenSIPS
	# by the did of the Record-Route the callee got
	local found="h_entry:h_id [0-9]*:[0-9]*"
	[ "$SIP_PROXY" = kamailio ] || found="did $(grep -o -m1 'did=[0-9a-f.]*' "$T/uas.log" | cut -d= -f2)"
	grep -q "the dialog of $c was ended, found by its $found$" "$T/dispatcher.log" ||
		fail "$SIP_PROXY did not confirm the end of the dialog by its $found: $(cat "$T/dispatcher.log")"
	note "$SIP_PROXY ended the dialog; the dispatcher's log:" \
		"$(grep -E 'proxy control: (OpenSIPS dialog id|asked|the proxy answered|the dialog)' "$T/dispatcher.log")"
}
run_test "media stops without BYE: the dispatcher ends the dialog through the proxy, both ends get BYE, the row says timed out" \
	t_media_timeout

# unanswered NAME: a call that never gets an answer leaves no session and no row
unanswered() {
	e2e_hosts
	start_proxy "$@"
	start_relay
	call "$NAME" 1 500
	call_done
	no_sessions
	sleep 1
	expect_eq "$(py 'len(rows)')" 0 "accounting rows of an unanswered call"
	grep -q "session .* ended" "$T/dispatcher.log" || fail "the session was not removed: $(cat "$T/dispatcher.log")"
}
t_cancel() { NAME=cancel unanswered; }
run_test "the caller cancels while it rings: the session is removed, no accounting row" t_cancel
t_rejected() { NAME=rejected unanswered; }
run_test "the callee answers 486: the session is removed, no accounting row" t_rejected

t_early_media() {
	e2e_hosts
	start_proxy
	start_relay
	UAC_SCENARIO=call call early 1 4000
	sdp 1 # the 183's SDP: media flows before the answer
	local c
	c=$(py "list(sdp)[0]")
	call_media $COUNT
	expect_eq "$(py "len(sdp['$c']['sdp_at_caller'])")" 1 "SDPs the caller has while the media flows (the 183 only)"
	media_checks "$c"
	call_done
	rows 1
	expect_eq "$(py "[s['status'] for s in rows['$c']['streams']]")" "['closed']" "the row's streams"
}
run_test "183 with early media, then 200: the media flows before the answer" t_early_media

t_hold() {
	e2e_hosts
	start_proxy
	start_relay
	call hold 1 4000
	sdp 1
	local c
	c=$(py "list(sdp)[0]")
	exchanges "$c" 4
	expect_eq "$(py "[(e['media'][0].split(':')[0], e['direction']) for e in sdp['$c']['sdp_at_callee'].values()]")" \
		"[('$RELAY_IP', 'sendrecv'), ('$RELAY_IP', 'sendonly'), ('0.0.0.0', 'sendrecv'), ('$RELAY_IP', 'sendrecv')]" \
		"the offers the callee got: relay address, hold kept, 0.0.0.0 left alone"
	expect_eq "$(py "len({e['media'][0] for e in sdp['$c']['sdp_at_callee'].values() if not e['media'][0].startswith('0.')})")" \
		1 "one relay port for the stream throughout"
	call_media $COUNT # after the call is back from hold
	media_checks "$c"
	call_done
	rows 1
	row_checks "$c" "['closed']" False
}
run_test "re-INVITEs to hold (sendonly, then 0.0.0.0) and back: the SDP stays on the relay, media flows again" t_hold

t_callee_moves() {
	e2e_hosts
	start_proxy
	start_relay
	call move 1 4000
	sdp 1
	local c
	c=$(py "list(sdp)[0]")
	exchanges "$c" 2
	expect_eq "$(py "sdp['$c']['callee']")" "['$CALLEE:30002']" "the callee's new port"
	call_media $COUNT
	media_checks "$c"
	call_done
	rows 1
	expect_eq "$(py "rows['$c']['streams'][0]['callee_remote']")" "$CALLEE:30002" "the row's latched callee address"
}
run_test "a re-INVITE moves the callee to a new port: the relay follows it" t_callee_moves

t_video_rejected() {
	e2e_hosts
	start_proxy
	start_relay
	call video 1 4000
	sdp 1
	local c
	c=$(py "list(sdp)[0]")
	expect_eq "$(py "[a.split(':')[0] for a in sdp['$c']['callee_side']]")" "['$RELAY_IP', '$RELAY_IP']" \
		"both streams offered to the callee through the relay"
	expect_eq "$(py "sdp['$c']['caller_side'][1].split(':')[1]")" 0 "the rejected video keeps port 0 in the answer"
	call_media $COUNT
	media_checks "$c"
	call_done
	rows 1
	expect_eq "$(py "[(s['media_type'], s['status']) for s in rows['$c']['streams']]")" \
		"[('audio', 'closed'), ('video', 'rejected')]" "the row's streams"
}
run_test "audio and video offered, video rejected with port 0: audio flows, the row lists both" t_video_rejected

t_relay_stopped_before_setup() {
	e2e_hosts
	second_relay_host
	start_proxy
	start_relay
	start_relay2
	# the XDP relay stops answering without closing its connection: every
	# call must still get the other inside the module's 500 ms
	kill -STOP "$RELAY"
	call call 3 5000
	sdp 3
	call_media $COUNT
	kill -CONT "$RELAY"
	for c in $(py "' '.join(sdp)"); do
		expect_eq "$(py "[a.split(':')[0] for a in sdp['$c']['callee_side'] + sdp['$c']['caller_side']]")" \
			"['$RELAY2_IP', '$RELAY2_IP']" "call $c: both SDPs point at the second relay"
		expect_eq "$(py "callee['$c']['received'] >= $COUNT, caller['$c']['received'] >= $COUNT, callee['$c']['sources'] == sdp['$c']['callee_side']")" \
			"(True, True, True)" "call $c: media through the second relay"
	done
	call_done
	rows 3
	! grep -q "did timeout waiting for an answer" "$T/proxy.log" || fail "the module timed out: $(grep timeout "$T/proxy.log")"
}
run_test "two relays, one stops before setup: calls get media through the other inside the module's 500 ms" \
	t_relay_stopped_before_setup

t_relay_restart_mid_call() {
	e2e_hosts
	start_proxy
	start_relay
	call call 1 9000
	sdp 1
	local c
	c=$(py "list(sdp)[0]")
	# 1,000 packets each way over 5 s; the agent restarts in the middle
	(
		sleep 2.5
		kill -QUIT "$RELAY"
		wait_for 5 grep -q "stopping for a restart" "$T/relay.log"
		while kill -0 "$RELAY" 2>/dev/null; do sleep 0.05; done
		start_relay
	) &
	COUNT=1000 call_media 1000 5
	wait $! || fail "the relay did not come back: $(tail "$T/relay.log")"
	COUNT=1000 media_checks "$c"
	grep -q "took over 1 sessions" "$T/relay.log" || fail "the new agent did not take over: $(cat "$T/relay.log")"
	call_done
	rows 1
	row_checks "$c" "['closed']" False
}
run_test "the relay agent restarts mid-call: no packet lost, the call ends normally, the row counts it all" \
	t_relay_restart_mid_call

t_concurrent_calls() {
	local calls=200
	e2e_hosts
	start_proxy
	start_relay
	call call $calls 20000 50
	sdp $calls
	call_media 50 20
	expect_eq "$(py "sum(1 for c in sdp if callee[c]['received'] >= 50 and caller[c]['received'] >= 50 and callee[c]['sources'] == sdp[c]['callee_side'] and caller[c]['sources'] == sdp[c]['caller_side'])")" \
		$calls "calls whose media arrived at both ends from their relay ports"
	expect_eq "$(py "sum(caller[c]['corrupt'] + callee[c]['corrupt'] for c in sdp)")" 0 "corrupt packets"
	expect_eq "$(py "len({a for c in sdp.values() for a in c['callee_side'] + c['caller_side']})")" $((2 * calls)) \
		"distinct relay ports"
	call_done
	rows $calls
	expect_eq "$(py "sum(1 for c in rows if (rows[c]['streams'][0]['caller_packets'], rows[c]['streams'][0]['callee_packets']) == (callee[c]['received'], caller[c]['received']))")" \
		$calls "rows that count what each end received"
}
run_test "200 concurrent calls with media: every packet arrives, every row counts it" t_concurrent_calls

t_use_media_proxy() {
	e2e_hosts
	start_proxy use_media_proxy
	start_relay
	call call 1 4000
	sdp 1
	local c
	c=$(py "list(sdp)[0]")
	call_media $COUNT
	media_checks "$c"
	call_done
	rows 1
	row_checks "$c" "['closed']" False
	no_sessions
}
run_test "a proxy that calls use_media_proxy() and end_media_session() itself: same call, same row" t_use_media_proxy
