#!/usr/bin/env bash
# configure refuses an Unbound tree built with its own mini_event (config.h
# defines USE_MINI_EVENT): the module uses the worker's event base as
# libevent's, which mini_event's is not. The tree given is the real one
# with only that line of its config.h changed, so the refusal is for that
# line; the same tree with the config.h as it was gets past the check.
# configure runs in a copy of what it needs (a configured source tree
# refuses a second, out-of-tree configure).
set -uo pipefail
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
: "${UNBOUND_SRC:?UNBOUND_SRC must name the configured Unbound tree}"
fail=0
say() { printf 'test_mini_event: %s\n' "$*"; }
flunk() { say "FAIL: $*"; fail=1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

grep -q '^/\* #undef USE_MINI_EVENT \*/$' "$UNBOUND_SRC/config.h" ||
	{ say "FAIL: $UNBOUND_SRC/config.h has no '#undef USE_MINI_EVENT' line to turn on"; exit 1; }
# shellcheck source=tests/setup/configure_copy.sh
. "$top/tests/setup/configure_copy.sh"
mkdir -p "$tmp/ub"
configure_copy "$tmp/src" ||
	{ say "FAIL: cannot copy configure and build-aux from $top"; exit 1; }
# every entry of the tree, linked, but config.h a copy
for f in "$UNBOUND_SRC"/*; do
	[ "$(basename "$f")" = config.h ] || ln -s "$f" "$tmp/ub/"
done

run_configure() {
	(cd "$tmp/src" && ./configure --with-unbound-src="$tmp/ub") \
		>"$tmp/out" 2>&1
}

cp "$UNBOUND_SRC/config.h" "$tmp/ub/config.h"
run_configure
if grep -q '^checking whether that Unbound runs on libevent\.\.\. yes$' "$tmp/out"; then
	say "the tree as it is passes the libevent check"
else
	flunk "the unchanged tree did not pass the libevent check:
$(grep -i 'libevent\|error' "$tmp/out" | head -n 5)"
fi

sed 's|^/\* #undef USE_MINI_EVENT \*/$|#define USE_MINI_EVENT 1|' \
	"$UNBOUND_SRC/config.h" >"$tmp/ub/config.h"
if run_configure; then
	flunk "configure accepted a tree with USE_MINI_EVENT"
elif grep -q 'configure: error: the Unbound tree .* was configured without' "$tmp/out" &&
	grep -q '^libevent (its config.h defines USE_MINI_EVENT)' "$tmp/out" &&
	grep -q 'configure Unbound --with-libevent' "$tmp/out"; then
	say "a tree with USE_MINI_EVENT is refused: $(grep -A1 'configure: error' "$tmp/out" | tr '\n' ' ')"
else
	flunk "configure failed without the mini_event message:
$(tail -n 5 "$tmp/out")"
fi
exit $fail
