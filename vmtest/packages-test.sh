#!/bin/bash
# The Debian packages on a clean Debian 12 booted with systemd as init: what
# an operator does, in order, as TAP results (vmtest/packages.sh runs this
# inside the guest, as root).  The steps share one system: a failed step
# usually fails the ones after it.  Lines "# report: ..." are for the
# reader (capabilities, exposure, package sizes); the last line is
# "N passed, N failed, N skipped".
. "$(dirname "$0")/../selftests/lib.sh"
. "$(dirname "$0")/../selftests/dispatcher_lib.sh"
DEBS=$TOP/build/deb
W=$(mktemp -d /tmp/packages.XXXXXX) # what the steps share
REPORT=$W/report
COUNT=200 SIZE=172

report() { echo "# report: $*" >>"$REPORT"; }
journal() { journalctl -q -o cat -u "$1"; }
main_pid() { systemctl show -P MainPID "$1"; }

# The files of the system outside the kernel's and the package manager's
# own places, to compare before the install and after the purge.
snapshot() {
	find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /var/log \
		-o -path /var/cache -o -path /var/lib/dpkg -o -path /var/lib/apt -o -path /.vmtest -o -path "$TOP" \) \
		-prune -o -print | sort
}

for m in veth nf_tables nft_ct nf_conntrack nf_conntrack_netlink nf_nat nft_chain_nat nfnetlink; do
	modprobe -q "$m" 2>/dev/null || [ -d "/sys/module/$m" ] || echo "# module $m is not available"
done

# The hosts of a call: caller and callee in namespaces of their own, each on
# a veth to this system, whose loopback holds the relay address; the relay
# is this system (RELAY_HOST: PID 1's namespaces).
CALLER_NS=mp-pkg-caller CALLEE_NS=mp-pkg-callee RELAY_HOST=1
hosts() {
	ip netns add $CALLER_NS && ip netns add $CALLEE_NS || return 1
	ip link add rc type veth peer name c0 netns $CALLER_NS
	ip link add re type veth peer name e0 netns $CALLEE_NS
	ip addr add 198.18.1.1/24 dev rc
	ip addr add 198.18.2.1/24 dev re
	ip -n $CALLER_NS addr add 198.18.1.7/24 dev c0
	ip -n $CALLEE_NS addr add 198.18.2.9/24 dev e0
	for dev in rc re; do ip link set $dev up; done
	ip -n $CALLER_NS link set c0 up
	ip -n $CALLEE_NS link set e0 up
	ip -n $CALLER_NS route add default via 198.18.1.1
	ip -n $CALLEE_NS route add default via 198.18.2.1
	# senders checksum in software (lab facts: XDP on veth)
	ip netns exec $CALLER_NS ethtool -K c0 tx off gro on >/dev/null
	ip netns exec $CALLEE_NS ethtool -K e0 tx off gro on >/dev/null
	ip addr add $RELAY_IP/32 dev lo
	sysctl -qw net.ipv4.ip_forward=1
}
hosts || echo "# cannot make the hosts of the call"

t_install() {
	snapshot >"$W/before"
	dpkg -i "$DEBS"/mediaproxy-{common,dispatcher,relay}_*.deb >"$W/install.log" 2>&1 ||
		fail "dpkg -i: $(cat "$W/install.log")"
	local uid
	uid=$(id -u mediaproxy) || fail "no user mediaproxy"
	[ "$uid" -lt 1000 ] || fail "mediaproxy is not a system user (uid $uid)"
	for unit in media-dispatcher media-relay; do
		expect_eq "$(systemctl is-enabled $unit.service)" enabled "$unit.service enabled"
		expect_eq "$(systemctl is-active $unit.service)" inactive "$unit.service without its certificate"
		expect_eq "$(systemctl show -P ConditionResult $unit.service)" no "$unit.service's start condition"
		grep -q "$unit.service is enabled, but it does not" "$W/install.log" ||
			fail "the operator was not told about $unit: $(cat "$W/install.log")"
	done
	expect_eq "$(stat -c %U:%G:%a /etc/mediaproxy/config.ini /etc/mediaproxy/tls | paste -sd' ')" \
		"root:mediaproxy:640 root:mediaproxy:750" "config.ini and tls/"
	dpkg-query -W -f='${Package} ${Version} ${Installed-Size} KiB installed\n' 'mediaproxy-*' |
		while read -r line; do report "package $line"; done
	sed -n '/does not start/,/See /p' "$W/install.log" | sed 's/^/  /' >>"$REPORT"
}
run_test "dpkg -i on a clean system: the user mediaproxy, both units enabled but waiting for their certificates, the operator told" \
	t_install

# mandoc resolves cross-references through its database, which no package
# makes: the test makes it for the lint and removes it again (the purge
# compares the file system with what it was before the install).
t_man_pages() {
	local pages page out=
	pages=$(dpkg -L mediaproxy-common mediaproxy-dispatcher mediaproxy-relay | grep '/man/man./')
	expect_eq "$(wc -l <<<"$pages")" 6 "man pages installed"
	makewhatis /usr/share/man
	for page in $pages; do
		out+=$(zcat "$page" | mandoc -Tlint 2>&1 | sed "s|<stdin>|$page|")
	done
	rm -f /usr/share/man/mandoc.db
	expect_eq "$out" "" "mandoc -Tlint"
}
run_test "the installed man pages are mandoc -Tlint clean, cross-references included" t_man_pages

t_exposure() {
	local unit level limit
	for unit in media-dispatcher:2.5 media-relay:5.0; do
		limit=${unit#*:} unit=${unit%:*}
		level=$(systemd-analyze security "$unit.service" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
		[ -n "$level" ] || fail "no exposure level for $unit"
		report "systemd-analyze security $unit.service: exposure $level (at most $limit)"
		python3 -c "import sys; sys.exit(not $level <= $limit)" || fail "$unit exposure $level > $limit"
	done
}
run_test "systemd-analyze security: dispatcher exposure at most 2.5, relay at most 5.0" t_exposure

# The operator's part: certificates and config.ini, then both units.
t_start() {
	mediaproxy-make-certs "$W/ca" >/dev/null 2>&1 || fail "mediaproxy-make-certs failed"
	install -m 0640 -g mediaproxy "$W"/ca/{ca.pem,crl.pem,dispatcher.crt,dispatcher.key,relay.crt,relay.key} \
		/etc/mediaproxy/tls/
	sed -i -e 's/^;dispatchers = .*/dispatchers = 127.0.0.1/' -e "s/^;relay_ip = .*/relay_ip = $RELAY_IP/" \
		-e 's/^port_range = .*/port_range = 40000:40100/' /etc/mediaproxy/config.ini
	systemctl start media-dispatcher.service media-relay.service || fail "start: $(journal media-relay | tail)"
	wait_for 20 eval 'journal media-dispatcher | grep -q "relay 127.0.0.1 connected"' ||
		fail "the relay did not connect: $(journal media-dispatcher | tail -5) $(journal media-relay | tail -5)"
}
run_test "with certificates and config.ini, both units start (Type=notify) and the relay connects to the dispatcher over TLS" \
	t_start

t_identity() {
	local pid status held
	pid=$(main_pid media-relay.service)
	[ "$pid" -gt 0 ] || fail "no relay running"
	expect_eq "$(stat -c %U "/proc/$pid")" mediaproxy "the relay's user"
	for set in Inh Prm Eff Bnd Amb; do
		status=$(sed -n "s/^Cap$set:\t//p" "/proc/$pid/status")
		held=$(capsh --decode="$status" | sed 's/.*=//')
		report "media-relay (pid $pid, user mediaproxy) Cap$set $status = ${held:-none}"
		[ "$set" = Inh ] || expect_eq "$held" cap_net_admin,cap_perfmon,cap_bpf "Cap$set"
	done
	pid=$(main_pid media-dispatcher.service)
	expect_eq "$(stat -c %U "/proc/$pid")" mediaproxy "the dispatcher's user"
	expect_eq "$(sed -n 's/^CapEff:\t//p; s/^CapBnd:\t//p' "/proc/$pid/status" | paste -sd' ')" \
		"0000000000000000 0000000000000000" "the dispatcher's effective and bounding sets"
}
run_test "the relay runs as mediaproxy with exactly CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON; the dispatcher with none" t_identity

# call CALL_ID: offer and answer through the dispatcher's proxy socket, as
# the proxy module sends them; sets TO_CALLEE_PORT and TO_CALLER_PORT
call() {
	local reply
	reply=$(offer "$1" | python3 "$HERE/helpers/proxy_client.py" /run/mediaproxy/dispatcher.sock 2>/dev/null)
	[[ $reply =~ ^$RELAY_IP\ [0-9]+ ]] || fail "offer: $reply"
	TO_CALLEE_PORT=$(cut -d' ' -f2 <<<"$reply" | tr -d '\r\n')
	reply=$(answer "$1" | python3 "$HERE/helpers/proxy_client.py" /run/mediaproxy/dispatcher.sock 2>/dev/null)
	[[ $reply =~ ^$RELAY_IP\ [0-9]+ ]] || fail "answer: $reply"
	TO_CALLER_PORT=$(cut -d' ' -f2 <<<"$reply" | tr -d '\r\n')
}

# media_start [PAUSE...]: a call's media (selftests/helpers/rtp_peer.py):
# the caller primes, then the callee once the relay latched the caller, then
# both send COUNT packets, pausing after each PAUSE until SIGUSR1; its
# progress goes to $W/media.log, its pid in $MEDIA.
media_start() {
	python3 "$HERE/helpers/rtp_peer.py" /run/mediaproxy/relay.sock "$CALLER_NS:49170:$RELAY_IP:$TO_CALLER_PORT" \
		"$CALLEE_NS:30000:$RELAY_IP:$TO_CALLEE_PORT" $COUNT $SIZE "$@" >"$W/media.json" 2>"$W/media.log" &
	MEDIA=$!
}

# media_end [PRIMED]: each party got all of the other's packets, from the
# relay, and the caller also the callee's priming packet (the callee the
# caller's too when PRIMED: an established call has somewhere to send it)
media_end() {
	wait "$MEDIA" || fail "media: $(cat "$W/media.log")"
	expect_eq "$(python3 -c "import json; d=json.load(open('$W/media.json'))['caller']; print(d['received'], d['corrupt'], d['sources'])")" \
		"$((COUNT + 1)) 0 ['$RELAY_IP:$TO_CALLER_PORT']" "the caller's packets, corrupt ones, sources"
	expect_eq "$(python3 -c "import json; d=json.load(open('$W/media.json'))['callee']; print(d['received'], d['corrupt'], d['sources'])")" \
		"$((COUNT + ${1:-0})) 0 ['$RELAY_IP:$TO_CALLEE_PORT']" "the callee's packets, corrupt ones, sources"
}

media() {
	media_start
	media_end "$@"
}

t_call() {
	call c1
	echo "$TO_CALLER_PORT $TO_CALLEE_PORT" >"$W/ports"
	media
	journal media-relay | grep -q "fast path: rc forwards in the native XDP tier" ||
		fail "not native XDP: $(journal media-relay; ls -la /sys/fs/bpf)"
	expect_eq "$(fast_path_stat forwarded)" $((2 * COUNT)) "packets the XDP program forwarded"
}
run_test "a call through the proxy socket: its media forwarded in the XDP tier by the unprivileged relay" t_call

t_reload() {
	local pid
	read -r TO_CALLER_PORT TO_CALLEE_PORT <"$W/ports"
	pid=$(main_pid media-relay.service)
	# a third of the call's media, then the reload, the rest while it runs
	COUNT=1500 media_start 500
	wait_for 60 grep -qx "paused 500" "$W/media.log" || fail "media: $(cat "$W/media.log")"
	systemctl reload media-relay.service || fail "reload failed"
	kill -USR1 "$MEDIA"
	COUNT=1500 media_end 1
	wait_for 10 eval 'journal media-relay | grep -q "restart: took over 1 sessions"' ||
		fail "no takeover: $(journal media-relay | tail)"
	expect_eq "$(main_pid media-relay.service)" "$pid" "the relay's pid after the reload"
	expect_eq "$(systemctl is-active media-relay.service)" active "the relay after the reload"
}
run_test "systemctl reload media-relay mid-call: the same process takes the call over and no packet is lost" t_reload

t_stop() {
	systemctl stop media-relay.service
	journal media-relay | grep -q 'expired {"call_id": "c1"' || fail "no expiry report: $(journal media-relay | tail)"
	wait_for 5 eval 'journal media-dispatcher | grep -q "session c1 ended"' ||
		fail "the dispatcher did not end the session: $(journal media-dispatcher | tail)"
	expect_eq "$(ls /sys/fs/bpf/mediaproxy)" "" "what stayed pinned"
	! nft list table inet mediaproxy >/dev/null 2>&1 || fail "the NOTRACK table stayed"
	! ip link show rc | grep -q xdp || fail "XDP stayed on rc: $(ip link show rc)"
}
run_test "systemctl stop media-relay ends the session, reports it expired to the dispatcher, and removes its kernel state" t_stop

t_conntrack_tier() {
	sed -i 's/^forwarding = .*/forwarding = conntrack/' /etc/mediaproxy/config.ini
	systemctl start media-relay.service || fail "start: $(journal media-relay | tail)"
	wait_for 20 eval '[ "$(journal media-dispatcher | grep -c "relay 127.0.0.1 connected")" -ge 2 ]' ||
		fail "the relay did not connect again"
	call c2
	media
	conntrack -L -m 0x4d50 2>/dev/null | grep -q "dport=$TO_CALLER_PORT" ||
		fail "no marked NAT entry: $(conntrack -L 2>&1) $(journal media-relay | tail)"
	systemctl stop media-relay.service
}
run_test "the relay's unit forwards in the conntrack tier too" t_conntrack_tier

t_purge() {
	systemctl stop media-dispatcher.service
	dpkg --purge mediaproxy-relay mediaproxy-dispatcher mediaproxy-common >"$W/purge.log" 2>&1 ||
		fail "dpkg --purge: $(cat "$W/purge.log")"
	snapshot >"$W/after"
	# (the user's records have their backups, as adduser leaves them)
	expect_eq "$(comm -13 "$W/before" "$W/after" | grep -vx '/etc/\(passwd\|group\|shadow\|gshadow\)-' | paste -sd' ')" \
		"" "files the purge left"
	for path in /run/mediaproxy /sys/fs/bpf/mediaproxy; do
		[ ! -e $path ] || fail "$path is left"
	done
	expect_eq "$(dpkg -l 'mediaproxy*' 2>/dev/null | grep -c '^[a-z][a-z] ')" 0 "packages dpkg still knows"
	id mediaproxy >/dev/null || fail "the system user was removed"
	report "after dpkg --purge: no file left; the system user mediaproxy stays, as Debian keeps system users"
}
run_test "dpkg --purge leaves nothing but the system user mediaproxy" t_purge

cat "$REPORT"
ip netns del $CALLER_NS
ip netns del $CALLEE_NS
