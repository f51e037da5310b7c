#!/usr/bin/env bash
# Build dotpool from a fresh checkout: packages, the matching dynlib Unbound
# (cached under .cache/), then the module. Prints UNBOUND_SRC/UNBOUND_PREFIX
# assignments on its last line for the caller.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/deps.sh "${DOTPOOL_DEPS:-build test}"
vars=$(scripts/unbound-dynlib.sh | tail -n 1)
eval "$vars"
if [ ! -f configure ] || [ configure.ac -nt configure ] ||
   [ Makefile.am -nt Makefile.in ]; then
	./autogen.sh >/dev/null 2>&1 || ./autogen.sh
fi
if [ ! -f Makefile ] || ! grep -q "^UNBOUND_SRC = $UNBOUND_SRC\$" Makefile ||
   [ configure -nt Makefile ]; then
	./configure --with-unbound-src="$UNBOUND_SRC" ${DOTPOOL_CONFIGURE_FLAGS:-} >/dev/null
fi
make -j"$(nproc)" >/dev/null
echo "UNBOUND_SRC=$UNBOUND_SRC UNBOUND_PREFIX=$UNBOUND_PREFIX"
