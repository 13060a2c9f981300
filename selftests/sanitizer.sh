# sanitizer_reports: prints the sanitizer reports written since it last ran
# (selftests/run-all.sh sets MP_SANITIZER_DIR and the sanitizers' log_path
# for a SANITIZE=1 build) and moves them aside; false when there are none.
sanitizer_reports() {
	local report found=1
	[ -n "${MP_SANITIZER_DIR:-}" ] || return 1
	for report in "$MP_SANITIZER_DIR"/asan.* "$MP_SANITIZER_DIR"/ubsan.*; do
		[ -f "$report" ] || continue
		printf '\n==== sanitizer report %s ====\n' "${report##*/}"
		head -c 20000 "$report"
		mv "$report" "$MP_SANITIZER_DIR/seen/"
		found=0
	done
	return $found
}
