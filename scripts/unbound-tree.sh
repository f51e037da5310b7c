# shellcheck shell=bash
# unbound-tree.sh -- check, unpack and configure an Unbound release tree.
# Sourced by scripts/unbound-upstream.sh (the project's own test builds, with
# its flavours' configure lines) and scripts/build-for-unbound.sh (the
# configure line of an operator's daemon), so both get a tree that dotpool's
# configure accepts in the same way. The caller defines log and die.
#
#   ubt_sha256 [FILE]            SHA-256 (hex) of FILE, or of stdin
#   ubt_verify FILE HEX          die unless FILE's SHA-256 is HEX
#   ubt_unpack TARBALL VERSION DEST
#                                DEST (replaced) becomes the release's tree
#   ubt_configure SRC LOG ARG... ./configure ARG... in SRC (output in LOG),
#                                then die unless config.h has the dynlib
#                                module and records exactly ARG... as the
#                                configure line
#   ubt_config_h SRC NAME        the string value of #define NAME in config.h
#   ubt_release_tarball HERE VERSION
#                                the checked shared release tarball of VERSION

ubt_sha256() {
	# sha256sum on Linux, sha256(1) on FreeBSD; never run by the tests on
	# the second path, so `type -P`, not the tests' `command -v`
	if type -P sha256sum >/dev/null; then
		sha256sum ${1:+"$1"} | cut -d' ' -f1
	else
		sha256 -q ${1:+"$1"}
	fi
}

ubt_verify() {
	local got
	got=$(ubt_sha256 "$1")
	[ "$got" = "$2" ] ||
		die "$1: SHA-256 is $got, the published one is $2: not using it"
}

ubt_unpack() {
	local tarball=$1 version=$2 dest=$3
	rm -rf "$dest" "$dest.unpack"
	mkdir -p "$dest.unpack"
	tar -xzf "$tarball" -C "$dest.unpack" ||
		die "cannot unpack $tarball"
	[ -f "$dest.unpack/unbound-$version/configure" ] ||
		die "$tarball does not hold unbound-$version/configure"
	mv "$dest.unpack/unbound-$version" "$dest"
	rm -rf "$dest.unpack"
}

ubt_config_h() {
	# the value between the quotes, with config.h's \\ and \" undone
	sed -n "s/^#define $2 \"\\(.*\\)\"\$/\\1/p" "$1/config.h" |
		sed -e 's/\\"/"/g' -e 's/\\\\/\\/g'
}

ubt_configure() {
	local src=$1 logfile=$2 want got
	shift 2
	# Unbound's configure looks for a `python` (a minimal Debian has none)
	# unless PYTHON names one; only the python module's options need it.
	if [ -z "${PYTHON:-}" ] && ! type -P python >/dev/null &&
	   type -P python3 >/dev/null; then
		PYTHON=$(type -P python3)
		export PYTHON
	fi
	(cd "$src" && nice -n 10 ./configure "$@" >"$logfile" 2>&1) ||
		die "Unbound's configure failed (a library of its configure line" \
			"missing?): see the end of $logfile"
	grep -q '^#define WITH_DYNLIBMODULE 1' "$src/config.h" ||
		die "configure did not enable the dynlib module"
	# Unbound records its arguments joined by spaces (CONFCMDLINE, printed
	# by `unbound -V`); dotpool's load-time guard looks for that very
	# string in the daemon, so a tree recording anything else is useless.
	want="$*"
	got=$(ubt_config_h "$src" CONFCMDLINE)
	[ "$got" = "$want" ] ||
		die "the configured tree records the configure line '$got'," \
			"not '$want'"
}

# ubt_release_tarball HERE VERSION: the path of unbound-VERSION.tar.gz in the
# folder of release tarballs ($DOTPOOL_UNBOUND_TARBALLS, else the shared one
# next to the checkout HERE), after checking it against that folder's
# SHA256SUMS; dies without either.
ubt_release_tarball() {
	local here=$1 version=$2 d tarballs=${DOTPOOL_UNBOUND_TARBALLS:-} sum
	if [ -z "$tarballs" ]; then
		for d in /work/shared/unbound-src "$here/../shared/unbound-src" \
			"$here/../../shared/unbound-src"; do
			[ -f "$d/SHA256SUMS" ] && { tarballs=$d; break; }
		done
	fi
	[ -n "$tarballs" ] && [ -f "$tarballs/SHA256SUMS" ] ||
		die "no release tarballs: set DOTPOOL_UNBOUND_TARBALLS to the folder with SHA256SUMS"
	[ -f "$tarballs/unbound-$version.tar.gz" ] ||
		die "$tarballs/unbound-$version.tar.gz does not exist"
	# Only the line for this tarball: the others need not be present.
	sum=$(awk -v f="unbound-$version.tar.gz" '$2 == f { print $1 }' "$tarballs/SHA256SUMS")
	[ -n "$sum" ] || die "unbound-$version.tar.gz has no line in $tarballs/SHA256SUMS"
	ubt_verify "$tarballs/unbound-$version.tar.gz" "$sum"
	printf '%s\n' "$tarballs/unbound-$version.tar.gz"
}
