#!/usr/bin/env bash
# Every Unbound configuration the project ships passes the dynlib Unbound's
# unbound-checkconf (the stock one rejects the dynlib: section):
#   unbound.conf.sample; the unbound.conf.d snippet as Debian's unbound.conf
#   includes it; the ConfigMap of deploy/kubernetes/daemonset.yaml.
# Also the systemd drop-in's form, and a broken config that must be refused
# (so this test can fail).
set -uo pipefail
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
find_dynlib_unbound || skip_all "no dynlib unbound-checkconf (scripts/unbound-dynlib.sh builds it)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# checkconf DESC FILE: passes when unbound-checkconf says "no errors".
checkconf() {
	local out
	if out=$("$CHECKCONF" "$2" 2>&1) && grep -q "no errors" <<<"$out"; then
		pass "$1: unbound-checkconf: no errors"
	else flunk "$1: $out"; fi
}
# The samples name Debian's paths; the dynlib Unbound's prefix has its own.
# Make a config with the directories checkconf insists on, then include the
# shipped text unchanged (the way Debian's unbound.conf includes snippets).
host_part() {
	cat <<CONF
server:
	directory: "$tmp"
	pidfile: "$tmp/unbound.pid"
	chroot: ""
	username: ""
CONF
}

# ---- unbound.conf.sample ------------------------------------------------------
if [ -f "$top/unbound.conf.sample" ]; then
	{ host_part; printf 'include: "%s"\n' "$top/unbound.conf.sample"; } >"$tmp/sample.conf"
	checkconf "unbound.conf.sample" "$tmp/sample.conf"
	# As shipped, on a Debian system (its directory /etc/unbound and /run
	# exist once Debian's unbound is installed): what an operator's first
	# unbound-checkconf on it says.
	checkconf "unbound.conf.sample as shipped" "$top/unbound.conf.sample"
else flunk "unbound.conf.sample is missing"; fi

# ---- the unbound.conf.d snippet, Debian style -------------------------------
snippet=$top/packaging/unbound.conf.d/dotpool.conf
mkdir -p "$tmp/unbound.conf.d"
cp "$snippet" "$tmp/unbound.conf.d/"
{ host_part; printf 'include-toplevel: "%s/unbound.conf.d/*.conf"\n' "$tmp"; } >"$tmp/debian.conf"
checkconf "packaging/unbound.conf.d/dotpool.conf in Debian's include-toplevel" "$tmp/debian.conf"
dynlib_file=$(sed -n 's/^[[:space:]]*dynlib-file:[[:space:]]*"\(.*\)"/\1/p' "$snippet")
case $dynlib_file in
/usr/lib/*/unbound/dotpool.so) pass "the snippet loads the module from the package's path ($dynlib_file)" ;;
*) flunk "the snippet's dynlib-file '$dynlib_file' is not where unbound-dotpool installs it" ;;
esac
if grep -q '^[[:space:]]*module-config:[[:space:]]*"validator dynlib iterator"' "$snippet"; then
	pass "the snippet's module-config puts dynlib before the iterator"
else flunk "the snippet's module-config"; fi

# ---- the ConfigMap of the plain DaemonSet ------------------------------------------
python3 - "$top/deploy/kubernetes/daemonset.yaml" "$tmp" <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d.get("kind") == "ConfigMap":
        for k, v in d["data"].items():
            open(f"{sys.argv[2]}/cm.{k}", "w").write(v)
PY
if [ -f "$tmp/cm.unbound.conf" ]; then
	# paths inside the container: the run dir is a tmpfs there
	sed "s|/run/unbound|$tmp|g" "$tmp/cm.unbound.conf" >"$tmp/cm.checked.conf"
	checkconf "deploy/kubernetes/daemonset.yaml ConfigMap unbound.conf" "$tmp/cm.checked.conf"
	check_that "the ConfigMap's dotpool.conf sets the metrics endpoint the probe reads" \
		grep -q '^[[:space:]]*metrics-listen:[[:space:]]*0\.0\.0\.0@9153$' "$tmp/cm.dotpool.conf"
else flunk "no unbound.conf in the DaemonSet's ConfigMap"; fi

# ---- the systemd drop-in ---------------------------------------------------------------
dropin=$top/packaging/systemd/unbound.service.d/dotpool.conf
dropin_ok() {
	# one [Service] section; Environment= and Exec lines only; DOTPOOL_CONF set
	awk '/^[[:space:]]*(#|$)/ {next}
	     /^\[Service\]$/ {s++; next}
	     /^\[/ {bad=1}
	     /^Environment=DOTPOOL_CONF=\/etc\/unbound\/dotpool\.conf$/ {conf=1; next}
	     /^Environment=/ {next}
	     /^Exec(StartPre|Reload)=/ {next}
	     {bad=1}
	     END {exit !(s == 1 && conf && !bad)}' "$dropin"
}
check_that "systemd drop-in sets DOTPOOL_CONF for unbound.service" dropin_ok
dropin_checks() {
	# dotpool-checkconf before the start; on reload the unit's command is
	# cleared, then both checkers, then the HUP, in that order
	# shellcheck disable=SC2016 # $MAINPID is systemd's, not ours
	[ "$(sed -n 's/^ExecStartPre=//p' "$dropin")" = /usr/sbin/dotpool-checkconf ] &&
	[ "$(sed -n 's/^ExecReload=//p' "$dropin" | tr '\n' '|')" = \
		'|/usr/sbin/unbound-checkconf|/usr/sbin/dotpool-checkconf|+/bin/kill -HUP $MAINPID|' ]
}
check_that "systemd drop-in runs dotpool-checkconf before start and before the reload's HUP" dropin_checks
if command -v systemd-analyze >/dev/null && [ -f /lib/systemd/system/unbound.service ]; then
	mkdir -p "$tmp/units/unbound.service.d"
	cp /lib/systemd/system/unbound.service "$tmp/units/"
	cp "$dropin" "$tmp/units/unbound.service.d/"
	if out=$(SYSTEMD_UNIT_PATH="$tmp/units:" systemd-analyze verify "$tmp/units/unbound.service" 2>&1 |
		grep -i "dotpool\|unknown\|invalid"); then
		flunk "systemd-analyze on the drop-in: $out"
	else pass "systemd-analyze verify: no complaint about the drop-in"; fi
fi

# ---- the check can fail --------------------------------------------------------------------
{ host_part; printf 'dynlib:\n\tdynlib-fil: "/x.so"\n'; } >"$tmp/broken.conf"
if "$CHECKCONF" "$tmp/broken.conf" >/dev/null 2>&1; then
	flunk "unbound-checkconf accepted a misspelt dynlib-file"
else pass "unbound-checkconf refuses a misspelt key (the checks above can fail)"; fi
finish
