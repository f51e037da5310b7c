# shellcheck shell=bash
# configure_copy.sh -- for tests that run dotpool's configure against an
# Unbound tree of their own making. A configured source tree refuses a
# second, out-of-tree configure, so they run it in a copy of what it needs:
# the script, build-aux and the file AC_CONFIG_SRCDIR names.
#
#   . "$top/tests/setup/configure_copy.sh"
#   configure_copy DIR     copies them from $top into DIR (made); 1 on error

# top: the checkout (set by the sourcing test)
# shellcheck disable=SC2154
configure_copy() {
	mkdir -p "$1/module/glue" &&
		cp "$top/configure" "$1/" && cp -R "$top/build-aux" "$1/" &&
		cp "$top/module/glue/dotpool.c" "$1/module/glue/"
}
