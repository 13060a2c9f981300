# The end-to-end harness: a real SIP proxy (Kamailio or OpenSIPS) and sipp
# around media-dispatcher and media-relay, each host a network namespace
# (198.18.0.0/15):
#
#   caller 198.18.1.7 (sipp UAC, RTP) --+                +-- callee 198.18.2.9 (sipp UAS, RTP)
#                                        \              /
#                          relay host: media-relay 198.18.0.50 (XDP),
#                          routes between the hosts (.1 on each link)
#                                        /              \
#   proxy 198.18.3.10 (SIP proxy, media-dispatcher) --+  +-- relay2 198.18.4.2 (second media-relay)
#
# Sourced after lib.sh.  SIP_PROXY picks the proxy: kamailio (the default,
# Debian's) or opensips (find_proxy says where it comes from).  Kamailio is
# the machine's, or with E2E_KAMAILIO=SUITE that of Debian SUITE (trixie:
# 6.0), chrooted into a root that tools/make-kamailio-root.sh makes once in
# build/e2e/ (KAMAILIO_ROOT=DIR: a root made elsewhere).  e2e_hosts
# builds the hosts; start_proxy and start_relay start the daemons; call runs
# one sipp scenario pair; call_media sends RTP both ways once the SDP is known.
E2E=$(dirname "$(realpath "${BASH_SOURCE[0]}")")/e2e
TOP=$(realpath "$E2E/../..")
PROXY_IP=198.18.3.10 CALLER=198.18.1.7 CALLEE=198.18.2.9 RELAY2_IP=198.18.4.2
SIP_PROXY=${SIP_PROXY:-kamailio}

# find_proxy: sets PROXY_BIN to the SIP_PROXY program (PROXY_ROOT to the
# root it runs chrooted in, if any) and, for OpenSIPS, OPENSIPS_MODULES to its
# modules folder; or PROXY_MISSING to why there is none (the tests skip) or
# PROXY_BROKEN to why it cannot be used (they fail).  PROXY_VERSION names it.
# OpenSIPS, which Debian does not package, comes from, in this order:
#   OPENSIPS=/path/to/opensips          an installed one (OPENSIPS_MODULES if
#                                       its modules are not in PREFIX/lib*/opensips/modules)
#   OPENSIPS_SOURCE=/path/to/opensips-3.x.y.tar.xz
#                                       its release source, built once into
#                                       build/ by tools/build-opensips.sh
#   opensips on PATH
find_proxy() {
	PROXY_SEARCHED=1 PROXY_BIN= PROXY_ROOT= PROXY_MISSING= PROXY_BROKEN=
	case $SIP_PROXY in
	kamailio)
		_kamailio_root || return 0
		if [ -n "$PROXY_ROOT" ]; then
			PROXY_BIN=/usr/sbin/kamailio
		else
			PROXY_BIN=$(command -v kamailio) || { PROXY_MISSING="needs kamailio (tools/install-deps.sh)" && return; }
		fi
		PROXY_VERSION="$(${PROXY_ROOT:+chroot "$PROXY_ROOT"} "$PROXY_BIN" -v | sed -n 's/^version: \(kamailio [^ ]*\).*/\1/p')${PROXY_ROOT:+ in $PROXY_ROOT}"
		;;
	opensips)
		if [ -n "${OPENSIPS:-}" ]; then
			PROXY_BIN=$OPENSIPS
		elif [ -n "${OPENSIPS_SOURCE:-}" ]; then
			# what the build says goes to the suite's output
			PROXY_BIN=$("$TOP/tools/build-opensips.sh" "$OPENSIPS_SOURCE") || {
				PROXY_BROKEN="cannot build OpenSIPS from $OPENSIPS_SOURCE (tools/build-opensips.sh said why)"
				return
			}
		else
			PROXY_BIN=$(command -v opensips) || {
				PROXY_MISSING="needs OpenSIPS: set OPENSIPS_SOURCE=/path/to/opensips-3.x.y.tar.xz or OPENSIPS=/path/to/opensips, or put opensips on PATH"
				return
			}
		fi
		[ -x "$PROXY_BIN" ] || { PROXY_BROKEN="OpenSIPS $PROXY_BIN is not a program" && return; }
		_opensips_modules || PROXY_BROKEN="no mediaproxy.so beside $PROXY_BIN: set OPENSIPS_MODULES to its modules folder"
		;;
	*) PROXY_BROKEN="SIP_PROXY=$SIP_PROXY: kamailio or opensips" ;;
	esac
}

# _kamailio_root: PROXY_ROOT from KAMAILIO_ROOT or E2E_KAMAILIO (made if
# missing, what the making says goes to the suite's output); fails, with
# PROXY_BROKEN set, when there is none
_kamailio_root() {
	if [ -n "${KAMAILIO_ROOT:-}" ]; then
		PROXY_ROOT=$KAMAILIO_ROOT
	elif [ -n "${E2E_KAMAILIO:-}" ]; then
		PROXY_ROOT=$("$TOP/tools/make-kamailio-root.sh" "$E2E_KAMAILIO") ||
			PROXY_BROKEN="cannot make the Debian $E2E_KAMAILIO root (tools/make-kamailio-root.sh said why)"
	fi
	[ -z "$PROXY_BROKEN" ] && { [ -z "$PROXY_ROOT" ] || [ -x "$PROXY_ROOT/usr/sbin/kamailio" ] ||
		PROXY_BROKEN="no /usr/sbin/kamailio in the root $PROXY_ROOT"; }
	[ -z "$PROXY_BROKEN" ]
}

# _opensips_modules: OPENSIPS_MODULES, a source tree's modules/ beside the
# binary, or an installed PREFIX/lib*/opensips/modules
_opensips_modules() {
	local prefix dir
	prefix=$(dirname "$(dirname "$(realpath "$PROXY_BIN")")")
	for dir in ${OPENSIPS_MODULES:+"$OPENSIPS_MODULES"} "$(dirname "$PROXY_BIN")/modules" "$prefix"/lib*/opensips/modules \
		"$prefix"/lib/*/opensips/modules; do
		if [ -e "$dir/mediaproxy.so" ] || [ -e "$dir/mediaproxy/mediaproxy.so" ]; then
			OPENSIPS_MODULES=$dir
			return 0
		fi
	done
	return 1
}

e2e_hosts() {
	need_root
	[ -n "${PROXY_SEARCHED:-}" ] || find_proxy
	[ -z "$PROXY_BROKEN" ] || fail "$PROXY_BROKEN"
	[ -n "$PROXY_BIN" ] || skip "$PROXY_MISSING"
	command -v sipp >/dev/null || skip "needs sip-tester"
	three_hosts
	PROXY_NS=$(make_netns proxy)
	_link_host "$PROXY_NS" p0 $PROXY_IP rp 198.18.3.1
	# XDP redirects into the hosts' veths: software checksums, GRO (lab facts)
	ip netns exec "$CALLER_NS" ethtool -K c0 tx off gro on >/dev/null
	ip netns exec "$CALLEE_NS" ethtool -K e0 tx off gro on >/dev/null
	# the relay host's mount namespace lives as long as the test, so that
	# its pinned maps outlive a relay restart
	spawn ip netns exec "$RELAY_NS" sleep infinity
	RELAY_HOST=$SPAWNED
	wait_for 5 grep -qx sleep /proc/$RELAY_HOST/comm
	"$TOP/tools/make-certs.sh" "$T/tls" >/dev/null 2>&1 || fail "make-certs.sh failed"
	mkdir -p "$T/proxy" "$T/disp"
}

# second_relay_host: relay2's namespace, one veth to the relay host
second_relay_host() {
	RELAY2_NS=$(make_netns relay2)
	_link_host "$RELAY2_NS" r0 $RELAY2_IP rr 198.18.4.1
}

# start_proxy [use_media_proxy] [-- DISPATCHER CONFIG LINES...]: the
# dispatcher (SQLite accounting in $T/acct.db, dialogs ended through the
# proxy's JSON-RPC socket $T/proxy/rpc.sock), then the SIP proxy with
# selftests/e2e/SIP_PROXY.cfg, logging to $T/proxy.log.  The proxy calls
# engage_media_proxy() unless told use_media_proxy: then it calls
# use_media_proxy() and end_media_session() itself.
start_proxy() {
	local style=engage_media_proxy
	if [ "${1:-}" = use_media_proxy ]; then
		style=$1
		shift
	fi
	[ "${1:-}" = -- ] && shift
	cp -r "$T/tls" "$T/disp/tls"
	cat >"$T/disp/config.ini" <<-INI
		[Dispatcher]
		listen = $PROXY_IP:25060
		listen_management = $PROXY_IP:25061
		accounting = database
		[Database]
		dburi = sqlite://$T/acct.db
		[$([ "$SIP_PROXY" = opensips ] && echo OpenSIPS || echo Kamailio)]
		socket_path = $T/proxy/rpc.sock
	INI
	printf '%s\n' "$@" >>"$T/disp/config.ini"
	spawn ip netns exec "$PROXY_NS" "$BUILD/media-dispatcher" --no-fork --config-dir "$T/disp" \
		--runtime-dir "$T/disp/run" 2>>"$T/dispatcher.log"
	DISPATCHER=$SPAWNED
	wait_for 5 test -S "$T/disp/run/dispatcher.sock" || fail "dispatcher did not start: $(cat "$T/dispatcher.log")"
	sed -e "s|@PROXY_IP@|$PROXY_IP|" -e "s|@CALLEE_IP@|$CALLEE|" -e "s|@RPC_SOCKET@|$T/proxy/rpc.sock|" \
		-e "s|@MODULES@|${OPENSIPS_MODULES:-}|" \
		-e "s|@DISPATCHER_SOCKET@|$T/disp/run/dispatcher.sock|" "$E2E/$SIP_PROXY.cfg" >"$T/proxy/$SIP_PROXY.cfg"
	case $SIP_PROXY in
	kamailio)
		local defines=()
		[ $style = engage_media_proxy ] || defines=(-A USE_MEDIA_PROXY)
		_in_proxy_root
		spawn ip netns exec "$PROXY_NS" "${IN_ROOT[@]}" "$PROXY_BIN" -DD -E -Y "$T/proxy" -f "$T/proxy/kamailio.cfg" \
			"${defines[@]}" >>"$T/proxy.log" 2>&1 ;;
	opensips)
		# -F: in the foreground; the config sends the log to stderr
		spawn ip netns exec "$PROXY_NS" "$PROXY_BIN" -F -f "$T/proxy/opensips.cfg" -o media=$style \
			>>"$T/proxy.log" 2>&1 ;;
	esac
	PROXY_PID=$SPAWNED
	wait_for 10 _proxy_ready || fail "$SIP_PROXY did not start: $(tail -20 "$T/proxy.log")"
}

# _in_proxy_root: sets IN_ROOT to nothing without PROXY_ROOT; else to a
# command that runs the words after it chrooted in PROXY_ROOT, in a mount
# namespace of its own with the host's /dev, /proc, /etc/hosts (which names
# this machine: without it Kamailio asks DNS, 5 s a start) and the test's $T
# (on a tmpfs /tmp): the mounts end with the proxy's processes, the root is
# left as it was.
_in_proxy_root() {
	IN_ROOT=()
	[ -n "$PROXY_ROOT" ] || return 0
	[[ $T == /tmp/* ]] || fail "the chrooted proxy needs the test's directory under /tmp, not $T"
	# shellcheck disable=SC2016 # for the sh -c: $0 the root, $1 the test's directory
	IN_ROOT=(unshare -m --propagation private sh -c 'mount --rbind /dev "$0/dev" && mount -t proc proc "$0/proc" &&
		mount --bind /etc/hosts "$0/etc/hosts" &&
		mount -t tmpfs tmpfs "$0/tmp" && mkdir -p "$0$1" && mount --bind "$1" "$0$1" && shift && exec chroot "$0" "$@"'
		"$PROXY_ROOT" "$T")
}

# _proxy_ready: the proxy's JSON-RPC socket is there and it takes SIP
_proxy_ready() {
	test -S "$T/proxy/rpc.sock" && ip netns exec "$PROXY_NS" ss -Hlun "src $PROXY_IP:5060" | grep -q .
}

# start_relay [CONFIG LINES...]: media-relay on the relay host (XDP unless
# the lines say otherwise), connected to the dispatcher.
start_relay() {
	mkdir -p "$T/relay/tls"
	cp "$T/tls/ca.pem" "$T/tls/crl.pem" "$T/tls/relay.crt" "$T/tls/relay.key" "$T/relay/tls/"
	printf '[Relay]\nrelay_ip = %s\ndispatchers = %s\nport_range = 40000:40998\nforwarding = xdp\n' \
		"$RELAY_IP" "$PROXY_IP" >"$T/relay/config.ini"
	printf '%s\n' "$@" >>"$T/relay/config.ini"
	local before
	before=$(relays_connected)
	spawn nsenter -t "$RELAY_HOST" -m -n "$BUILD/media-relay" --no-fork --config-dir "$T/relay" \
		--runtime-dir "$T/relay/run" 2>>"$T/relay.log"
	RELAY=$SPAWNED
	wait_for 10 relays_connected_more_than "$before" ||
		fail "relay not connected: $(tail "$T/dispatcher.log" "$T/relay.log")"
}

relays_connected() { grep -c "relay [0-9.]* connected" "$T/dispatcher.log" || true; }
relays_connected_more_than() { [ "$(relays_connected)" -gt "$1" ]; }

# start_relay2: the second relay, userspace tier (it has one interface)
start_relay2() {
	mkdir -p "$T/relay2/tls"
	cp "$T/relay/tls/"* "$T/relay2/tls/"
	printf '[Relay]\nrelay_ip = %s\ndispatchers = %s\nport_range = 50000:50998\nforwarding = userspace\n' \
		$RELAY2_IP $PROXY_IP >"$T/relay2/config.ini"
	spawn ip netns exec "$RELAY2_NS" "$BUILD/media-relay" --no-fork --config-dir "$T/relay2" \
		--runtime-dir "$T/relay2/run" 2>>"$T/relay2.log"
	RELAY2=$SPAWNED
	wait_for 10 grep -q "relay $RELAY2_IP connected" "$T/dispatcher.log" ||
		fail "relay2 not connected: $(tail "$T/dispatcher.log" "$T/relay2.log")"
}

# ports FILE FIRST N [STEP]: a sipp injection file, one call a line, whose
# field0 and field1 are two media ports of the call
ports() {
	local p
	echo SEQUENTIAL >"$1"
	for ((p = $2; p < $2 + $3 * 4; p += 4)); do echo "$p;$((p + 2));" >>"$1"; done
}

# call NAME CALLS [PAUSE_MS [RATE]]: runs sipp scenarios uas-NAME on the callee
# and uac-NAME on the caller for CALLS calls, in the background; the UAC's
# pid is in $UAC, the UAS's in $UAS.  Message logs: $T/uac.log, $T/uas.log.
call() {
	local name=$1 calls=$2 pause=${3:-0} rate=${4:-10}
	python3 "$E2E/scenario.py" "uas-${UAS_SCENARIO:-$name}" >"$T/uas.xml"
	python3 "$E2E/scenario.py" "uac-${UAC_SCENARIO:-$name}" >"$T/uac.xml"
	ports "$T/caller.csv" 20000 "$calls"
	ports "$T/callee.csv" 30000 "$calls"
	rm -f "$T/uac.log" "$T/uas.log"
	spawn ip netns exec "$CALLEE_NS" sipp -sf "$T/uas.xml" -i $CALLEE -p 5060 -inf "$T/callee.csv" -m "$calls" \
		-d "$pause" -nostdin -trace_msg -message_file "$T/uas.log" -trace_err -error_file "$T/uas.err" \
		-timeout 120s >"$T/uas.out" 2>&1
	UAS=$SPAWNED
	sleep 0.3
	spawn ip netns exec "$CALLER_NS" sipp $PROXY_IP:5060 -sf "$T/uac.xml" -i $CALLER -p 5060 -inf "$T/caller.csv" \
		-m "$calls" -l "$calls" -r "$rate" -d "$pause" -nostdin -trace_msg -message_file "$T/uac.log" \
		-trace_err -error_file "$T/uac.err" -timeout 120s >"$T/uac.out" 2>&1
	UAC=$SPAWNED
}

# call_done: waits for both sipp to end; fails unless every call succeeded
call_done() {
	wait "$UAC" || fail "the caller's sipp failed: $(sipp_report uac)"
	wait "$UAS" || fail "the callee's sipp failed: $(sipp_report uas)"
}

# sipp_report uac|uas: its last message counts (retransmissions, timeouts,
# unexpected messages), its errors and the proxy's last lines
sipp_report() {
	grep -E -- '-->|<--|Pause|Failed call' "$T/$1.out" | tail -12
	tail -n 20 "$T/$1.err" 2>/dev/null
	tail -n 20 "$T/proxy.log"
}

# sdp N: waits until N calls have SDP both ways; the addresses in $T/sdp.json
sdp() {
	wait_for 20 _sdp_known "$1" || fail "no SDP for $1 calls: $(tail -c 3000 "$T/uas.log"; cat "$T"/*.err; tail -20 "$T/proxy.log")"
}
_sdp_known() {
	python3 "$E2E/sdp_trace.py" "$T/uac.log" "$T/uas.log" >"$T/sdp.json" 2>/dev/null || return 1
	python3 -c "
import json, sys
calls = json.load(open(sys.argv[1]))
done = [c for c in calls.values() if all(k in c for k in ('caller', 'caller_side', 'callee', 'callee_side'))]
sys.exit(len(done) < int(sys.argv[2]))" "$T/sdp.json" "$1"
}

# exchanges CALL_ID N: waits until both ends of the call received N SDPs
exchanges() { wait_for 20 _exchanged "$1" "$2" || fail "fewer than $2 SDP exchanges: $(cat "$T/sdp.json")"; }
_exchanged() {
	python3 "$E2E/sdp_trace.py" "$T/uac.log" "$T/uas.log" >"$T/sdp.json" 2>/dev/null &&
		[ "$(py "min(len(sdp['$1']['sdp_at_callee']), len(sdp['$1']['sdp_at_caller']))")" -ge "$2" ]
}

# no_sessions: the dispatcher holds no session any more, and the relay neither
no_sessions() {
	wait_for 5 _no_sessions || fail "sessions left: $(management sessions)"
}
_no_sessions() { [ "$(management sessions | tr -d '\r\n ')" = "[]" ]; }

# call_media COUNT [INTERVAL_MS]: both ends of every call send COUNT RTP
# packets of 172 bytes; what each side received is in $T/caller.json,
# $T/callee.json
call_media() {
	ip netns exec "$CALLER_NS" python3 "$E2E/rtp_calls.py" caller "$T/sdp.json" "$1" 172 "${2:-2}" 0 \
		>"$T/caller.json" &
	ip netns exec "$CALLEE_NS" python3 "$E2E/rtp_calls.py" callee "$T/sdp.json" "$1" 172 "${2:-2}" 0.3 \
		>"$T/callee.json"
	wait $! || fail "the caller's media failed"
}

# py EXPRESSION: evaluates a Python expression with the test's JSON files
# loaded: sdp, caller, callee (what each side received), rows (accounting
# rows: call_id -> info), and prints it
py() {
	python3 - "$1" "$T" <<-'PY'
		import json, os, re, sqlite3, sys
		t = sys.argv[2]
		def load(name):
		    path = os.path.join(t, name)
		    return json.load(open(path)) if os.path.exists(path) else {}
		sdp, caller, callee = load("sdp.json"), load("caller.json"), load("callee.json")
		rows = {}
		if os.path.exists(os.path.join(t, "acct.db")):
		    for call_id, info in sqlite3.connect(os.path.join(t, "acct.db")).execute(
		            "SELECT call_id, info FROM media_sessions ORDER BY id"):
		        rows[call_id] = json.loads(info)
		print(eval(sys.argv[1]))
	PY
}

# rows N: waits until the accounting table holds N rows
rows() { wait_until 15 '[ "$(py "len(rows)")" -ge '"$1"' ]' || fail "accounting rows: $(py 'len(rows)'), expected $1"; }

management() {
	ip netns exec "$PROXY_NS" python3 "$TOP/selftests/helpers/management_client.py" $PROXY_IP 25061 "$T/tls" "$@"
}
