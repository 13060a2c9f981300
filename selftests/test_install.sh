#!/bin/bash
# make install and uninstall, the programs in a folder of their own, the
# man pages (every option of config.ini, every command-line option, one
# page per tool, mandoc -Tlint) and the systemd units (systemd-analyze).
. "$(dirname "$0")/lib.sh"

TOP=$(dirname "$(dirname "$(realpath "$0")")")
# the build this run tests (build/, or build/sanitize/ with SANITIZE=1)
MAKE_ARGS=(-s -C "$TOP" BUILD="$BUILD")
[[ $BUILD == */sanitize ]] && MAKE_ARGS+=(SANITIZE=1)

# install_into DIR [MAKE VARIABLES...]: make install DESTDIR=DIR
install_into() {
	local dir=$1
	shift
	make "${MAKE_ARGS[@]}" install DESTDIR="$dir" "$@" >"$T/make.log" 2>&1 || fail "make install: $(tail "$T/make.log")"
}

files_in() { (cd "$1" && find . -type f -o -type l | sed 's/^\.//' | sort); }

# The tree README.md lists under "Installing": the first word of each line
# of the block after the line "<!-- the tree of make install -->".
readme_tree() {
	awk '/<!-- the tree of make install -->/ { marker = 1; next }
	     marker && /^```/ { if (inside) exit; inside = 1; next }
	     inside { print $1 }' "$TOP/README.md" | sort
}

t_tree() {
	install_into "$T/root"
	[ -n "$(readme_tree)" ] || fail "README.md lists no tree"
	expect_eq "$(files_in "$T/root")" "$(readme_tree)" "the installed tree"
	expect_eq "$(stat -c %a "$T/root/usr/local/sbin/media-relay")" 755 "mode of media-relay"
	grep -qx "ExecStart=/usr/local/sbin/media-relay --systemd" "$T/root/usr/local/lib/systemd/system/media-relay.service" ||
		fail "the unit does not run the installed relay: $(grep ExecStart "$T/root/usr/local/lib/systemd/system/media-relay.service")"
	# config.ini is the operator's: installed once, never replaced
	echo "# mine" >>"$T/root/etc/mediaproxy/config.ini"
	install_into "$T/root"
	expect_eq "$(tail -1 "$T/root/etc/mediaproxy/config.ini")" "# mine" "config.ini after a second install"
	make "${MAKE_ARGS[@]}" uninstall DESTDIR="$T/root" >"$T/make.log" 2>&1 || fail "make uninstall: $(tail "$T/make.log")"
	expect_eq "$(files_in "$T/root")" /etc/mediaproxy/config.ini "what make uninstall leaves"
}
run_test "make install DESTDIR=... lays out the tree README.md lists; config.ini is kept; make uninstall removes the rest" t_tree

# The standalone use: a program in a folder that is not a system directory
# reads the config.ini beside it.
t_standalone() {
	install_into "$T/root" PREFIX=/opt/mediaproxy
	local dir=$T/root/opt/mediaproxy/sbin rc=0
	printf '[Relay]\nport_range = 40001:60000\n' >"$dir/config.ini"
	"$dir/media-relay" --no-fork --runtime-dir "$T/run" 2>"$T/err" || rc=$?
	[ $rc -ne 0 ] || fail "started with a bad config.ini beside it"
	grep -q "$dir/config.ini:2: \[Relay\] port_range = 40001:60000" "$T/err" ||
		fail "the config.ini beside the program was not read: $(cat "$T/err")"
}
run_test "a program installed in a folder of its own reads the config.ini beside it" t_standalone

# mandoc -Tlint on our pages, with the cross-references between them
# resolved against the installed tree (mandoc looks only in the system's
# man directories: a reference to a page of ours installed elsewhere is
# checked here instead); nothing else may be reported.
t_man_lint() {
	install_into "$T/root"
	local man=$T/root/usr/local/share/man out refs page
	out=$(mandoc -Tlint "$man"/man*/* 2>&1 | grep -v "outdated mandoc.db" || true)
	refs=$(grep -o 'referenced manual not found: Xr [^ ]* [0-9]' <<<"$out" | awk '{print $6 "." $7}' | sort -u)
	for page in $refs; do
		[ -e "$man/man${page##*.}/$page" ] || fail "reference to a page that does not exist: $page"
	done
	out=$(grep -v "referenced manual not found: Xr \($(paste -sd'|' <<<"$refs" | sed 's/\.[0-9]//g; s/|/\\|/g')\) " <<<"$out" || true)
	expect_eq "$out" "" "mandoc -Tlint"
	for tool in $(ls "$T/root/usr/local/bin"); do
		[ -e "$man/man1/$tool.1" ] || fail "$tool has no man page"
	done
}
run_test "the man pages are mandoc -Tlint clean, and every installed tool has one" t_man_lint

# Every option the parser knows (the table of common/config.c) is in
# config.ini.sample with the parser's default, and in mediaproxy-config.ini(5)
# under its section; every option of --help is in the daemon's page.
t_man_options() {
	install_into "$T/root"
	python3 - "$TOP/common/config.c" "$TOP/config/config.ini.sample" \
		"$T/root/usr/local/share/man/man5/mediaproxy-config.ini.5" <<-'PY' || fail "options"
		import re, sys
		code, sample, page = (open(p).read() for p in sys.argv[1:4])
		table = re.findall(r'\{\s*"(\w+)",\s*"(\w+)",[^{}]*?"([^"]*)"\s*\}', code)

		# {(section, name): its value, or None for an example (";name = ...")}
		in_sample, section = {}, None
		for line in sample.splitlines():
		    if m := re.match(r"^\[(\w+)\]$", line):
		        section = m.group(1)
		    elif section and (m := re.match(r"^(;?)(\w+) = ?(.*)$", line)):
		        if not m.group(1):
		            in_sample[(section, m.group(2))] = m.group(3)
		        else:
		            in_sample.setdefault((section, m.group(2)), None)
		in_page, section = set(), None
		for line in page.splitlines():
		    if m := re.match(r"^\.Ss \[(\w+)\]", line):
		        section = m.group(1)
		    elif section and (m := re.match(r"^\.It Cm (\w+)", line)):
		        in_page.add((section, m.group(1)))
		bad = []
		for section, name, default in table:
		    if section == "ThorNetwork":
		        continue
		    if (section, name) not in in_sample:
		        bad.append(f"[{section}] {name} is not in config.ini.sample")
		    elif in_sample[(section, name)] not in (None, default):
		        bad.append(f"[{section}] {name}: the sample says {in_sample[(section, name)]!r}, the parser {default!r}")
		    if (section, name) not in in_page:
		        bad.append(f"[{section}] {name} is not in mediaproxy-config.ini(5)")
		if len(table) < 40:
		    bad.append(f"only {len(table)} options found in config.c")
		print("\n".join(bad))
		sys.exit(1 if bad else 0)
	PY
	local daemon opt
	for daemon in media-dispatcher media-relay; do
		for opt in $("$BUILD/$daemon" --help | grep -o '^  --[a-z-]*'); do
			grep -qF ".It Fl \\${opt#-}" "$T/root/usr/local/share/man/man8/$daemon.8" ||
				fail "$daemon(8) does not describe $opt"
		done
	done
}
run_test "mediaproxy-config.ini(5) and config.ini.sample hold every option of the parser, with its default; the daemons' pages every option of --help" \
	t_man_options

t_units() {
	install_into "$T/root"
	local unit level limit
	for unit in media-dispatcher:2.5 media-relay:5.0; do
		limit=${unit#*:} unit=${unit%:*}
		level=$(systemd-analyze security --offline=yes "$T/root/usr/local/lib/systemd/system/$unit.service" 2>&1 |
			sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
		[ -n "$level" ] || fail "no exposure level for $unit"
		python3 -c "import sys; sys.exit(not $level <= $limit)" || fail "$unit exposure $level > $limit"
	done
}
run_test "systemd-analyze security --offline: the dispatcher's unit exposure at most 2.5, the relay's at most 5.0" t_units
