#!/usr/bin/env bash
# The module loads, guards and answers where /proc is not there: in a chroot
# (Unbound's own chroot option, the default on FreeBSD and OPNsense) and on
# systems without procfs, the ABI guard must still find the running
# daemon's version and configure line. Unbound runs in a mount namespace
# whose /proc is an empty tmpfs; the module must report itself loaded and a
# TLS zone must be answered through it. Needs root (unshare, mount); skips
# otherwise.
. "$(dirname "$0")/lib.sh"
dp_require dig openssl python3 unshare
[ "$(id -u)" = 0 ] || dp_skip "needs root (unshare --mount, mount)"
# (grep reads a here-string: see lib.sh on ldd under pipefail)
! grep -Eq 'lib(asan|tsan)' <<<"$(ldd "$DOTPOOL_MODULE" 2>&1)" ||
	dp_skip "a sanitizer runtime in the module reads /proc itself (LeakSanitizer: 'Can't open /proc/PID/task')"

# hide CMD...: CMD run where /proc is an empty tmpfs, in a mount namespace
# of its own. The namespace's copy of /proc is made private first, so the
# tmpfs never propagates to the host's /proc (propagation of "/" itself is
# left alone: in a chroot "/" is no mount point and cannot be changed).
# unshare and sh exec, so the pid stays the command's.
hide=$DP_TMP/hide-proc
cat >"$hide" <<'HIDE'
#!/bin/sh
exec unshare --mount --propagation unchanged sh -c \
	'mount --make-private /proc && mount -t tmpfs -o size=64k,mode=0555 none /proc && exec "$@"' \
	sh "$@"
HIDE
chmod +x "$hide"
# the control: there, /proc is really empty
seen=$("$hide" ls -A /proc 2>&1) ||
	dp_fail "cannot run a command with /proc hidden here: $seen"
assert_eq "" "$seen" "what /proc holds where it is hidden"
# in DP_UNBOUND's place: the same daemon, with /proc hidden
wrap=$DP_TMP/unbound-no-proc
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$hide" "$DP_UNBOUND" >"$wrap"
chmod +x "$wrap"

dp_upstream_start up
DP_UNBOUND=$wrap dp_unbound_start ub <<EOF
$(dp_forward_tls "$DP_ZONE" up)
EOF
assert_dotpool_loaded ub
dp_query "$(dp_get ub port)" "www.$DP_ZONE" A
assert_eq NOERROR "$DP_RCODE" "rcode of www.$DP_ZONE through dotpool without /proc"
assert_match '192\.0\.2\.1' "$DP_ANSWER" "answer of www.$DP_ZONE without /proc"
assert_dotpool_carried ub up
dp_unbound_stop ub
dp_pass
