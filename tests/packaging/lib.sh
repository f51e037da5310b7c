# Shared by tests/packaging/*.sh (sourced). Sets top and the dynlib Unbound's
# tools, gives check helpers. Exit codes follow automake: 77 = skip.
# shellcheck shell=bash
top=${top_srcdir:-${top:-$(cd "$(dirname "$0")/../.." && pwd)}}
name=$(basename "$0" .sh)
failures=0
checks=0
pass() { checks=$((checks + 1)); printf 'ok %d - %s\n' "$checks" "$*"; }
flunk() {
	checks=$((checks + 1)); failures=$((failures + 1))
	printf 'not ok %d - %s\n' "$checks" "$*"
}
skip_all() { printf '%s: SKIP: %s\n' "$name" "$*"; exit 77; }
finish() {
	printf '%s: %d checks, %d failed\n' "$name" "$checks" "$failures"
	[ "$failures" = 0 ]
}

# The dynlib Unbound: the stock unbound-checkconf rejects `dynlib:`.
# UNBOUND_PREFIX, else the prefix next to UNBOUND_SRC (scripts/unbound-dynlib.sh
# layout), else the cache.
find_dynlib_unbound() {
	local p
	for p in "${UNBOUND_PREFIX:-}" "${UNBOUND_SRC:+$UNBOUND_SRC/../prefix}" \
		"$top"/.cache/unbound-*/prefix; do
		if [ -z "$p" ] || [ ! -x "$p/sbin/unbound-checkconf" ]; then continue; fi
		"$p/sbin/unbound" -V 2>/dev/null | grep -q dynlib || continue
		UNBOUND_PREFIX=$(cd "$p" && pwd)
		# shellcheck disable=SC2034 # used by the sourcing test
		CHECKCONF=$UNBOUND_PREFIX/sbin/unbound-checkconf
		return 0
	done
	return 1
}
# check_that DESC COMMAND...: pass if COMMAND succeeds, else flunk.
check_that() {
	local desc=$1; shift
	if "$@"; then pass "$desc"; else flunk "$desc"; fi
}
# dist_tarball DIR: the tarball of `make dist` in the build tree
# (top_builddir, else top), copied into DIR; prints its path. What an
# operator or a packager starts from: a clean tree with ./configure.
dist_tarball() {
	local b=${top_builddir:-$top} t
	make -s -C "$b" dist >"$1/dist.log" 2>&1 || { tail -n 20 "$1/dist.log"; return 1; }
	t=$b/$(make -s -C "$b" -f Makefile -f - print-distdir <<<$'print-distdir:\n\t@echo $(distdir)').tar.gz
	cp "$t" "$1/" && printf '%s\n' "$1/$(basename "$t")"
}
# find_unbound_tarballs VERSION...: set tarballs to the folder of the
# shared Unbound release tarballs (DOTPOOL_UNBOUND_TARBALLS, else where
# scripts/unbound-upstream.sh looks) holding each VERSION; skip without.
find_unbound_tarballs() {
	local d v
	tarballs=
	for d in "${DOTPOOL_UNBOUND_TARBALLS:-}" /work/shared/unbound-src \
		"$top/../shared/unbound-src"; do
		if [ -n "$d" ] && [ -f "$d/SHA256SUMS" ]; then tarballs=$d; break; fi
	done
	for v in "$@"; do
		[ -f "$tarballs/unbound-$v.tar.gz" ] ||
			skip_all "no Unbound $v release tarball (set DOTPOOL_UNBOUND_TARBALLS)"
	done
}
