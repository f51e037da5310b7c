#!/usr/bin/env bash
# configure finds the Unbound to build for through pkg-config's
# unbound-module (what the unbound-module-dev package installs) when no
# --with-unbound-src is given; the option wins over it; a .pc whose version
# is not its headers' is refused; with neither, configure says what to do.
# The .pc files are written here, pointing at the configured tree the build
# uses; configure runs in a copy of what it needs (a configured source tree
# refuses a second, out-of-tree configure).
set -uo pipefail
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
: "${UNBOUND_SRC:?UNBOUND_SRC must name the configured Unbound tree}"
fail=0
say() { printf 'test_module_pc: %s\n' "$*"; }
flunk() { say "FAIL: $*"; fail=1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=tests/setup/configure_copy.sh
. "$top/tests/setup/configure_copy.sh"
mkdir -p "$tmp/pc" "$tmp/nopc"
configure_copy "$tmp/src" ||
	{ say "FAIL: cannot copy configure and build-aux from $top"; exit 1; }
version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$UNBOUND_SRC/config.h")
[ -n "$version" ] || { say "FAIL: no PACKAGE_VERSION in $UNBOUND_SRC/config.h"; exit 1; }

# write_pc DIR INCLUDEDIR VERSION: an unbound-module.pc as module-dev.sh
# writes it, with the prefix taken out of the way
write_pc() {
	cat >"$1/unbound-module.pc" <<PC
includedir=$2
debian_version=$3-0test1
configure_line_file=\${includedir}/unbound-configure-line
abi_stamp_file=\${includedir}/unbound-abi-stamp

Name: unbound-module
Description: test
Version: $3
Cflags: -I\${includedir}
PC
}
# run_configure PCDIR [ARG...]: configure with PCDIR first in pkg-config's path
run_configure() {
	local pcdir=$1; shift
	(cd "$tmp/src" && PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" \
		./configure "$@") >"$tmp/out" 2>&1
}
# configure stops at config.status here (no Makefile.in in the copy): the
# checks are judged by their lines, not by the exit status.
found_line() { grep -q "^checking for unbound-module (pkg-config)\\.\\.\\. $1\$" "$tmp/out"; }
version_line() { grep -q "^checking the Unbound version\\.\\.\\. $version\$" "$tmp/out"; }

write_pc "$tmp/pc" "$UNBOUND_SRC" "$version"
run_configure "$tmp/pc"
if found_line "$UNBOUND_SRC" && version_line && ! grep -q 'configure: error: .*Unbound' "$tmp/out"; then
	say "without --with-unbound-src, unbound-module.pc gives the tree: $UNBOUND_SRC"
else
	flunk "configure did not take the tree from unbound-module.pc:
$(grep -i 'unbound\|error' "$tmp/out" | head -n 8)"
fi

write_pc "$tmp/nopc" "$tmp/nowhere" "$version"
run_configure "$tmp/nopc" --with-unbound-src="$UNBOUND_SRC"
if ! grep -q '^checking for unbound-module' "$tmp/out" && version_line; then
	say "--with-unbound-src wins over an unbound-module.pc that points elsewhere"
else
	flunk "--with-unbound-src did not win over unbound-module.pc:
$(grep -i 'unbound\|error' "$tmp/out" | head -n 8)"
fi

write_pc "$tmp/pc" "$UNBOUND_SRC" "0.0.1"
if run_configure "$tmp/pc"; then
	flunk "configure accepted an unbound-module.pc of version 0.0.1 over $version headers"
elif grep -q "^configure: error: pkg-config's unbound-module is version" "$tmp/out"; then
	say "a .pc of another version than its config.h is refused"
else
	flunk "the version mismatch failed without its message:
$(tail -n 5 "$tmp/out")"
fi

if PKG_CONFIG_PATH=$tmp/nowhere pkg-config --exists unbound-module 2>/dev/null; then
	say "unbound-module is installed on this system: the no-Unbound case is not checked"
elif run_configure "$tmp/nowhere"; then
	flunk "configure ran without --with-unbound-src and without unbound-module"
elif grep -q '^checking for unbound-module (pkg-config)\.\.\. no$' "$tmp/out" &&
	grep -q '^configure: error: no Unbound to build for: give --with-unbound-src=DIR' "$tmp/out" &&
	grep -q 'unbound-module-dev package' "$tmp/out"; then
	say "with neither, configure names both ways"
else
	flunk "configure failed without the no-Unbound message:
$(tail -n 5 "$tmp/out")"
fi
exit $fail
