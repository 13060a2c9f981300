#!/bin/bash
# make deb: the Debian packages built with debhelper from a clean copy of
# the tree, what they hold, and lintian.  (vmtest/packages.sh installs them
# on a clean system booted with systemd.)
. "$(dirname "$0")/lib.sh"

TOP=$(dirname "$(dirname "$(realpath "$0")")")
DEBS=$TOP/build/deb

deb_of() { ls "$DEBS/$1"_*.deb 2>/dev/null | grep -v dbgsym; }
field() { dpkg-deb -f "$(deb_of "$1")" "$2"; }

t_build() {
	make -s -C "$TOP" deb >"$T/make.log" 2>&1 || fail "make deb: $(tail -20 "$T/make.log")"
	local pkg
	for pkg in mediaproxy-common mediaproxy-dispatcher mediaproxy-relay; do
		[ -n "$(deb_of $pkg)" ] || fail "no $pkg package in $DEBS"
	done
	expect_eq "$(ls "$DEBS"/*.deb | grep -cv dbgsym)" 3 "packages (but -dbgsym)"
	# library dependencies from shlibs, none written by hand
	[[ $(field mediaproxy-relay Depends) == *libbpf1* ]] || fail "relay Depends: $(field mediaproxy-relay Depends)"
	[[ $(field mediaproxy-dispatcher Depends) == *libsqlite3-0* ]] ||
		fail "dispatcher Depends: $(field mediaproxy-dispatcher Depends)"
	! sed -n '/^Package:/,$p' "$TOP/tools/debian/control" | grep -q 'Depends:.*[ ,]lib' ||
		fail "tools/debian/control names libraries by hand"
	expect_eq "$(field mediaproxy-relay Depends | grep -o 'mediaproxy-common (= [^)]*)')" \
		"mediaproxy-common (= $(field mediaproxy-common Version))" "the relay's dependency on common"
	dpkg-deb --ctrl-tarfile "$(deb_of mediaproxy-common)" | tar -xO ./conffiles >"$T/conffiles"
	grep -qx /etc/mediaproxy/config.ini "$T/conffiles" || fail "config.ini is no conffile: $(cat "$T/conffiles")"
	for pkg in dispatcher relay; do
		dpkg-deb -c "$(deb_of mediaproxy-$pkg)" | grep -q "lib/systemd/system/media-$pkg.service$" ||
			fail "no unit in mediaproxy-$pkg"
		dpkg-deb -c "$(deb_of mediaproxy-$pkg)" | grep -q "usr/sbin/media-$pkg$" || fail "no program in mediaproxy-$pkg"
	done
}
run_test "make deb builds mediaproxy-common, -dispatcher and -relay: shlibs dependencies, config.ini a conffile, the units" t_build

t_lintian() {
	local out file
	[ -n "$(deb_of mediaproxy-relay)" ] || fail "no packages (make deb)"
	out=$(lintian --fail-on error,warning "$DEBS"/*.changes 2>&1) || fail "lintian: $out"
	out=$(grep -v "running with root privileges" <<<"$out" | grep '^[EW]:' || true)
	expect_eq "$out" "" "lintian's errors and warnings"
	# every override says why, in the comment above it
	for file in "$TOP"/tools/debian/*.lintian-overrides; do
		awk -v f="$(basename "$file")" '/^#/ { why = 1; next } /^$/ { why = 0; next }
			!why { print f ": no reason for " $0; bad = 1 } { why = 0 } END { exit bad }' "$file" || fail "overrides without a reason"
	done
}
run_test "lintian: no error and no warning; every override with its reason" t_lintian
