#!/bin/bash
# Builds OpenSIPS from its release tarball for the end-to-end tests: the
# core and only the modules selftests/e2e/opensips.cfg loads, in place in
# DEST (by default build/opensips-VERSION, beside the tarball's name), run
# from there: `DEST/opensips` with `mpath` DEST/modules/.
#
#   tools/build-opensips.sh TARBALL [DEST]
#
# Prints the path of the opensips binary.  A DEST already built with the same
# modules is left as it is (DEST/.mediaproxy-built lists them), so only the
# first run pays for the build (about 6 minutes on 2 cores).  Needs bison and
# flex (tools/install-deps.sh).
set -euo pipefail

MODULES="tm sl rr maxfwd sipmsgops dialog mediaproxy mi_datagram"

tarball=${1:?usage: build-opensips.sh TARBALL [DEST]}
[ -f "$tarball" ] || { echo "build-opensips: no such tarball: $tarball" >&2; exit 1; }
name=$(basename "$tarball")
name=${name%.tar.*}
top=$(realpath "$(dirname "$0")/..")
dest=${2:-$top/build/$name}
stamp=$dest/.mediaproxy-built

mkdir -p "$(dirname "$dest")"
# two suites started at once wait for one build, not run two
exec 9>"$dest.lock"
flock 9
if [ -x "$dest/opensips" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$MODULES" ]; then
	echo "$dest/opensips"
	exit 0
fi

start=$SECONDS
rm -rf "$dest" "$dest.tmp"
mkdir -p "$dest.tmp"
tar -xf "$tarball" -C "$dest.tmp" --strip-components=1
modules=$(printf 'modules/%s ' $MODULES)
# nice: the machine's cores are shared with the other tests and builds
if ! nice -n 10 make -C "$dest.tmp" -j"$(nproc)" all modules="$modules" >"$dest.tmp/build.log" 2>&1; then
	echo "build-opensips: the build failed; the last lines of $dest.tmp/build.log:" >&2
	tail -n 30 "$dest.tmp/build.log" >&2
	exit 1
fi
echo "$MODULES" >"$dest.tmp/.mediaproxy-built"
mv "$dest.tmp" "$dest"
echo "build-opensips: built $name with $MODULES in $((SECONDS - start)) s" >&2
echo "$dest/opensips"
