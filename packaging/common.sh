# shellcheck shell=bash
# common.sh -- the start every packaging script shares; source it with the
# script's log name:  . "$(dirname "$0")/../common.sh" NAME [OUTDIR]
# Sets top (the checkout), out (absolute OUTDIR, created; default
# .cache/packages, or .cache/packages-X.Y.Z for a backport to upstream X.Y.Z,
# UNBOUND_UPSTREAM), and log/die/as_root.
#
# Debian's tools and interpreters only: a python3 from pyenv or the like in
# PATH would be compiled into the packages (unbound's python module).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV PYENV_VERSION
pkg_name=$1
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${2:-$top/.cache/packages${UNBOUND_UPSTREAM:+-$UNBOUND_UPSTREAM}}
mkdir -p "$out"
out=$(cd "$out" && pwd)
log() { printf '%s: %s\n' "$pkg_name" "$*" >&2; }
die() { log "error: $*"; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
