# shellcheck shell=bash
# soaklib.sh -- what the soak scripts source first: the integration
# harness (tests/integration/lib.sh) and the fault servers' helpers
# (tests/faultsrv/faultlib.sh), against the Unbound the module in this
# tree was built for (its Makefile's UNBOUND_SRC), as make check passes
# it; lib.sh alone would take the last Unbound in .cache.
if [ -z "${UNBOUND_SRC:-}" ] && [ -z "${UNBOUND_PREFIX:-}" ]; then
	UNBOUND_SRC=$(sed -n 's/^UNBOUND_SRC = //p' \
		"$(dirname "${BASH_SOURCE[0]}")/../../Makefile" 2>/dev/null)
	[ -n "$UNBOUND_SRC" ] && export UNBOUND_SRC
fi
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
. "$DP_TOP/tests/faultsrv/faultlib.sh"
