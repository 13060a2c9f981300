#!/bin/bash
# make demo: starts media-dispatcher and media-relay on the sample
# configuration, shows what they report, and stops them.  Everything they
# wrote stays in BUILD/demo/.
set -euo pipefail
build=$(realpath "${1:-build}")
top=$(dirname "$(realpath "$0")")/..
demo=$build/demo
pids=()

cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

rm -rf "$demo"
mkdir -p "$demo"
cp "$top/config/config.ini.sample" "$demo/config.ini"

section() { printf '\n=== %s\n' "$*"; }

for daemon in media-dispatcher media-relay; do
	"$build/$daemon" --no-fork --config-dir "$demo" --runtime-dir "$demo/run" 2>"$demo/$daemon.log" &
	pids+=($!)
done
for daemon in media-dispatcher media-relay; do
	for _ in $(seq 100); do grep -q started "$demo/$daemon.log" && break; sleep 0.05; done
	section "$daemon: what it logged at start"
	cat "$demo/$daemon.log"
done

section "runtime directory $demo/run"
ls -l "$demo/run"

if command -v bpftool >/dev/null && [ "$(id -u)" -eq 0 ]; then
	section "the relay's fast-path program, as the kernel sees it"
	bpftool prog show name mp_xdp || true
fi

section "SIGUSR1 toggles DEBUG logging; SIGTERM stops"
kill -USR1 "${pids[1]}"
sleep 0.2
kill -TERM "${pids[@]}"
wait
pids=()
tail -n 3 "$demo/media-relay.log"
tail -n 2 "$demo/media-dispatcher.log"

section "logs and configuration are in $demo"
