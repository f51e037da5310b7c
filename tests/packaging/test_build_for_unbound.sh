#!/usr/bin/env bash
# scripts/build-for-unbound.sh as an operator runs it, from the release
# tarball (`make dist`), against Unbound 1.26.0 and 1.24.2 built with
# Fedora's configure options (scripts/unbound-upstream.sh VERSION fedora):
# each module is installed where that daemon's configuration loads it (a
# chroot: inside it, the path seen from within; no chroot: LIBDIR/unbound),
# loads into that very binary and answers through a local DoT upstream
# (tests/integration/test_answers.sh), and is refused by the other one
# (tests/integration/test_abi_mismatch.sh). Refusals: a daemon without the
# dynlib module, a tarball that fails its checksum, one without a checksum.
# Time: about 2.5 minutes with the Unbound builds cached (the first run
# builds 1.24.2-fedora, about 5 minutes more).
set -uo pipefail
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
find_unbound_tarballs 1.26.0 1.24.2
tmp=$(mktemp -d)
if [ "${DOTPOOL_KEEP:-0}" = 1 ]; then
	echo "$name: keeping $tmp"
else
	trap 'rm -rf "$tmp"' EXIT
fi

# The Fedora-configured daemons (cached after the first build).
declare -A prefix_of
for v in 1.26.0 1.24.2; do
	vars=$("$top/scripts/unbound-upstream.sh" "$v" fedora 2>"$tmp/ub-$v.log" |
		tail -n 1) || { cat "$tmp/ub-$v.log"; flunk "Unbound $v (fedora) builds"; finish; exit; }
	prefix_of[$v]=$(sed -n 's/.*UNBOUND_PREFIX=\([^ ]*\).*/\1/p' <<<"$vars")
done

dist=$(dist_tarball "$tmp") || { flunk "make dist"; finish; exit; }
tar -xzf "$dist" -C "$tmp"
tree=$tmp/$(basename "$dist" .tar.gz)
bfu=$tree/scripts/build-for-unbound.sh
check_that "the release tarball has scripts/build-for-unbound.sh" test -x "$bfu"

# ---- refusals, before anything is built ------------------------------------
# A daemon without the dynlib module: Debian's own unbound prints this.
mkdir -p "$tmp/nodynlib"
cat >"$tmp/nodynlib/unbound" <<'EOF'
#!/bin/sh
cat <<V
Version 1.26.0

Configure line: --build=x86_64-linux-gnu --prefix=/usr --with-libevent --with-pthreads --enable-subnet
Linked libs: libevent 2.1.12-stable (it uses epoll), OpenSSL 3.0.19 27 Jan 2026
Linked modules: dns64 python subnetcache respip validator iterator
V
EOF
chmod +x "$tmp/nodynlib/unbound"
out=$("$bfu" "$tmp/nodynlib/unbound" --source "$tarballs/unbound-1.26.0.tar.gz" \
	--workdir "$tmp/w-nodynlib" 2>&1); rc=$?
check_that "no dynlib module: refused (exit $rc)" test "$rc" != 0
check_that "no dynlib module: the message says so" \
	grep -q "has no dynlib module.*lacks --with-dynlibmodule" <<<"$out"
check_that "no dynlib module: nothing configured" test ! -e "$tmp/w-nodynlib/unbound-1.26.0"

ub26=${prefix_of[1.26.0]}/sbin/unbound
cp "$tarballs/unbound-1.26.0.tar.gz" "$tmp/unbound-1.26.0.tar.gz"
out=$("$bfu" "$ub26" --source "$tmp/unbound-1.26.0.tar.gz" \
	--workdir "$tmp/w-nosum" 2>&1); rc=$?
check_that "a tarball without a checksum: refused" test "$rc" != 0
check_that "a tarball without a checksum: asks for --sha256" grep -q "give --sha256" <<<"$out"
printf 'garbage' >>"$tmp/unbound-1.26.0.tar.gz"
out=$("$bfu" "$ub26" --source "$tmp/unbound-1.26.0.tar.gz" \
	--sha256 "$(awk '$2 == "unbound-1.26.0.tar.gz" { print $1 }' "$tarballs/SHA256SUMS")" \
	--workdir "$tmp/w-badsum" 2>&1); rc=$?
check_that "a tarball that fails its SHA-256: refused" test "$rc" != 0
check_that "a tarball that fails its SHA-256: nothing unpacked" \
	test ! -e "$tmp/w-badsum/unbound-1.26.0"

# ---- builds ---------------------------------------------------------------------
# build VERSION CONF ARGS...: build-for-unbound against VERSION's daemon with
# CONF as its configuration; sets out and module (the installed file).
build() {
	local v=$1 conf=$2 rc
	shift 2
	out=$("$bfu" "${prefix_of[$v]}/sbin/unbound" \
		--source "$tarballs/unbound-$v.tar.gz" --workdir "$tmp/w-$v" \
		--conf "$conf" --install "$@" 2>&1); rc=$?
	printf '%s\n' "$out" >"$tmp/build-$v.log"
	if [ "$rc" != 0 ]; then
		flunk "build-for-unbound $v exits 0 (it exited $rc)"
		tail -n 20 "$tmp/build-$v.log"
		return 1
	fi
	pass "build-for-unbound $v exits 0"
	check_that "$v: unit suites ran" grep -q "unit tests: [1-9][0-9]* passed" <<<"$out"
	check_that "$v: the tree records the daemon's configure line" test \
		"$(sed -n 's/^#define CONFCMDLINE "\(.*\)"$/\1/p' "$tmp/w-$v/unbound-$v/config.h")" = \
		"$("${prefix_of[$v]}/sbin/unbound" -V | sed -n 's/^Configure line: //p')"
	check_that "$v: no Unbound build (config.h only)" \
		test ! -e "$tmp/w-$v/unbound-$v/unbound.lo" -a ! -e "$tmp/w-$v/unbound-$v/.libs"
}

# 1.26.0 with a chroot: the module goes into it, named from within.
mkdir -p "$tmp/jail"
printf 'server:\n\tchroot: "%s"\n\tdirectory: "%s"\n' "$tmp/jail" "$tmp/jail" >"$tmp/jail.conf"
if build 1.26.0 "$tmp/jail.conf"; then
	module26=$tmp/jail/dotpool.so
	check_that "1.26.0, chroot: installed inside the chroot" test -f "$module26"
	check_that "1.26.0, chroot: dynlib-file is the path seen in the chroot" \
		grep -qx $'\tdynlib-file: "/dotpool.so"' <<<"$out"
fi
# 1.24.2 without a chroot, staged with --destdir (the daemon's prefix is
# the read-only cache): LIBDIR/unbound of its configure line.
printf 'server:\n\tchroot: ""\n\tmodule-config: "subnetcache validator iterator"\n' \
	>"$tmp/plain.conf"
libdir24=${prefix_of[1.24.2]}/lib
if build 1.24.2 "$tmp/plain.conf" --destdir "$tmp/root"; then
	module24=$tmp/root$libdir24/unbound/dotpool.so
	check_that "1.24.2: installed in LIBDIR/unbound under the destdir" test -f "$module24"
	check_that "1.24.2: dynlib-file names LIBDIR/unbound/dotpool.so" \
		grep -qxF "	dynlib-file: \"$libdir24/unbound/dotpool.so\"" <<<"$out"
	check_that "1.24.2: module-config keeps subnetcache, dynlib before the iterator" \
		grep -qxF '	module-config: "subnetcache validator dynlib iterator"' <<<"$out"
fi

# ---- each module in its own daemon, and refused by the other -----------------
# The integration suites, run as scripts/test-versions.sh runs them against
# another Unbound: its prefix and the module to load.
suite() {
	local desc=$1 t=$2
	shift 2
	if (cd "$tree" && env top_srcdir="$tree" "$@" bash "tests/integration/$t") \
		>"$tmp/$t.$desc.log" 2>&1; then
		pass "$desc: $t"
	else
		flunk "$desc: $t"
		tail -n 30 "$tmp/$t.$desc.log"
	fi
}
if [ -n "${module26:-}" ] && [ -n "${module24:-}" ]; then
	suite 1.26.0 test_answers.sh DOTPOOL_MODULE="$module26" \
		UNBOUND_PREFIX="${prefix_of[1.26.0]}"
	suite 1.24.2 test_answers.sh DOTPOOL_MODULE="$module24" \
		UNBOUND_PREFIX="${prefix_of[1.24.2]}"
	suite 1.26.0-vs-1.24.2 test_abi_mismatch.sh DOTPOOL_MODULE="$module26" \
		UNBOUND_PREFIX="${prefix_of[1.26.0]}" \
		DOTPOOL_ABI_PEER_MODULE="$module24" \
		DOTPOOL_ABI_PEER_UNBOUND="${prefix_of[1.24.2]}/sbin/unbound"
else
	flunk "both modules built and installed (the load tests need them)"
fi
finish
