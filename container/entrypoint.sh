#!/bin/sh
# Container entrypoint: run Unbound with dotpool.
#
# Either mount a complete unbound.conf at /etc/unbound/unbound.conf, or describe the
# common case with environment variables and a configuration is written to
# the run directory (a tmpfs; the root filesystem may be read-only):
#
#   DOTPOOL_UPSTREAMS     required: space-separated IP[@port]#tls-name, e.g.
#                         "1.1.1.1@853#cloudflare-dns.com 9.9.9.9@853#dns.quad9.net"
#   DOTPOOL_ZONE          forward zone, default "." (everything)
#   DOTPOOL_LISTEN_ADDR   space-separated addresses to answer on, default 0.0.0.0
#   DOTPOOL_LISTEN_PORT   default 53
#   DOTPOOL_ALLOW         space-separated client prefixes allowed to query,
#                         default loopback and the private ranges
#   DOTPOOL_METRICS_PORT  Prometheus endpoint port on all addresses (GET
#                         /metrics), default 9153; 0 turns it off
#   DOTPOOL_TLS_CA        CA bundle for the upstreams, default the system's
#   DOTPOOL_DNSSEC        yes (default) validates with the root trust anchor
#   DOTPOOL_THREADS       Unbound threads, default 1
#   DOTPOOL_VERBOSITY     0..5, default 1
#   DOTPOOL_CLUSTER_DNS   Kubernetes: space-separated addresses of the
#                         cluster DNS (kube-dns); names under
#                         DOTPOOL_CLUSTER_DOMAIN (default cluster.local) are
#                         forwarded there in plain DNS, not validated
# dotpool's own settings are read from /etc/unbound/dotpool.conf when that is
# mounted (or from $DOTPOOL_CONF); otherwise one with just the metrics port is
# written to the run directory.
#
# Before Unbound starts, dotpool-checkconf checks dotpool.conf against the
# unbound.conf (mounted or written): a bad file stops the container with
# "file:line: key: reason".
#
# Arguments: none to run; "--check" only writes the configuration and runs
# unbound-checkconf and dotpool-checkconf on it; "--print" writes it to
# stdout. Anything else is run as a command (e.g. "unbound-control status").
#
# For tests and unusual layouts: DOTPOOL_RUN_DIR (default /run/unbound),
# DOTPOOL_MODULE (the installed dotpool.so), UNBOUND, UNBOUND_CHECKCONF,
# DOTPOOL_CHECKCONF, DOTPOOL_UNBOUND_CONF (default /etc/unbound/unbound.conf),
# DOTPOOL_ROOT_KEY (default /usr/share/dns/root.key).
set -eu

prog=dotpool-entrypoint
die() {
	printf '%s: error: %s\n' "$prog" "$*" >&2
	exit 64
}

run_dir=${DOTPOOL_RUN_DIR:-/run/unbound}
mounted_conf=${DOTPOOL_UNBOUND_CONF:-/etc/unbound/unbound.conf}
unbound=${UNBOUND:-unbound}
checkconf=${UNBOUND_CHECKCONF:-unbound-checkconf}
dp_checkconf=${DOTPOOL_CHECKCONF:-dotpool-checkconf}
root_key=${DOTPOOL_ROOT_KEY:-/usr/share/dns/root.key}

mode=run
case ${1:-} in
--check) mode=check; shift ;;
--print) mode=print; shift ;;
"") ;;
*) exec "$@" ;;
esac

# ---- validation helpers (POSIX sh: no bash in the checks) ----------------
is_uint() {
	case $1 in ''|*[!0-9]*) return 1 ;; esac
	[ "${#1}" -le 5 ]
}
is_port() {
	is_uint "$1" && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]
}
is_ipv4() {
	case $1 in *[!0-9.]*|.*|*.|*..*) return 1 ;; esac
	# shellcheck disable=SC2086 # split on the dots on purpose
	(IFS=.; set -- $1
	 [ $# -eq 4 ] || exit 1
	 for o in "$@"; do
		is_uint "$o" && [ "$o" -le 255 ] || exit 1
		case $o in 0?*) exit 1 ;; esac
	 done)
}
is_ipv6() {
	case $1 in *[!0-9a-fA-F:.]*|'') return 1 ;; *:*) ;; *) return 1 ;; esac
	case $1 in *:::*) return 1 ;; esac
	# at most one "::"
	rest=${1#*::}
	case $rest in *::*) return 1 ;; esac
	[ "${#1}" -le 45 ]
}
is_ip() { is_ipv4 "$1" || is_ipv6 "$1"; }
is_prefix() {
	ip=${1%/*}
	len=${1#"$ip"}
	len=${len#/}
	is_ip "$ip" || return 1
	[ -z "$len" ] && return 0
	is_uint "$len" || return 1
	if is_ipv4 "$ip"; then [ "$len" -le 32 ]; else [ "$len" -le 128 ]; fi
}
is_hostname() {
	# letters, digits, hyphen, underscore; dot-separated labels of 1..63
	case $1 in ''|.*|*..*|*[!A-Za-z0-9._-]*) return 1 ;; esac
	[ "${#1}" -le 253 ] || return 1
	# shellcheck disable=SC2086
	(IFS=.; set -- $1
	 for l in "$@"; do
		[ "${#l}" -le 63 ] || exit 1
		case $l in -*|*-) exit 1 ;; esac
	 done)
}
is_zone() {
	[ "$1" = . ] && return 0
	is_hostname "${1%.}"
}

# dp_check UNBOUND_CONF: dotpool-checkconf on the settings Unbound will load
# (it prints each problem as file:line: key: reason).
dp_check() {
	command -v "$dp_checkconf" >/dev/null 2>&1 ||
		die "dotpool-checkconf not found (set DOTPOOL_CHECKCONF to its path)"
	"$dp_checkconf" -c "$1" ||
		die "dotpool-checkconf refused the settings (above); Unbound not started"
}

# ---- which configuration -------------------------------------------------
if [ -z "${DOTPOOL_UPSTREAMS:-}" ]; then
	if [ -f "$mounted_conf" ]; then
		case $mode in
		check) "$checkconf" "$mounted_conf" || exit $?
			dp_check "$mounted_conf"; exit 0 ;;
		print) exec cat "$mounted_conf" ;;
		esac
		dp_check "$mounted_conf" >/dev/null
		exec "$unbound" -d -p -c "$mounted_conf"
	fi
	die "no configuration: set DOTPOOL_UPSTREAMS (e.g. \"1.1.1.1@853#cloudflare-dns.com 9.9.9.9@853#dns.quad9.net\") or mount an unbound.conf at $mounted_conf"
fi
if [ -f "$mounted_conf" ]; then
	die "DOTPOOL_UPSTREAMS is set and an unbound.conf is mounted at $mounted_conf: use one or the other"
fi

zone=${DOTPOOL_ZONE:-.}
is_zone "$zone" || die "DOTPOOL_ZONE '$zone' is not a domain name"
case $zone in *.) ;; *) zone=$zone. ;; esac

port=${DOTPOOL_LISTEN_PORT:-53}
is_port "$port" || die "DOTPOOL_LISTEN_PORT '$port' is not a port number (1-65535)"

listen=${DOTPOOL_LISTEN_ADDR:-0.0.0.0}
for a in $listen; do
	is_ip "$a" || die "DOTPOOL_LISTEN_ADDR: '$a' is not an IP address"
done

allow=${DOTPOOL_ALLOW:-127.0.0.0/8 ::1 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 100.64.0.0/10 fc00::/7 fe80::/10}
for p in $allow; do
	is_prefix "$p" || die "DOTPOOL_ALLOW: '$p' is not an address or prefix (e.g. 10.0.0.0/8)"
done

metrics_port=${DOTPOOL_METRICS_PORT:-9153}
if [ "$metrics_port" != 0 ]; then
	is_port "$metrics_port" || die "DOTPOOL_METRICS_PORT '$metrics_port' is not a port number (0 turns metrics off)"
	[ "$metrics_port" != "$port" ] ||
		die "DOTPOOL_METRICS_PORT and DOTPOOL_LISTEN_PORT are both $port"
fi

threads=${DOTPOOL_THREADS:-1}
{ is_uint "$threads" && [ "$threads" -ge 1 ] && [ "$threads" -le 256 ]; } ||
	die "DOTPOOL_THREADS '$threads' is not a number from 1 to 256"
verbosity=${DOTPOOL_VERBOSITY:-1}
case $verbosity in [0-5]) ;; *) die "DOTPOOL_VERBOSITY '$verbosity' is not 0..5" ;; esac
dnssec=${DOTPOOL_DNSSEC:-yes}
case $dnssec in yes|no) ;; *) die "DOTPOOL_DNSSEC '$dnssec' must be yes or no" ;; esac

cluster_dns=${DOTPOOL_CLUSTER_DNS:-}
for a in $cluster_dns; do
	is_ip "$a" || die "DOTPOOL_CLUSTER_DNS: '$a' is not an IP address"
done
cluster_domain=${DOTPOOL_CLUSTER_DOMAIN:-cluster.local}
if ! is_zone "$cluster_domain" || [ "$cluster_domain" = . ]; then
	die "DOTPOOL_CLUSTER_DOMAIN '$cluster_domain' is not a domain name"
fi
case $cluster_domain in *.) ;; *) cluster_domain=$cluster_domain. ;; esac
if [ -n "$cluster_dns" ] && [ "$cluster_domain" = "$zone" ]; then
	die "DOTPOOL_ZONE and DOTPOOL_CLUSTER_DOMAIN are both $zone"
fi

ca=${DOTPOOL_TLS_CA:-}
if [ -n "$ca" ] && [ ! -r "$ca" ]; then
	die "DOTPOOL_TLS_CA '$ca' is not a readable file"
fi

addrs=
n=0
for u in $DOTPOOL_UPSTREAMS; do
	n=$((n + 1))
	case $u in
	*'#'*) ;;
	*) die "upstream '$u': no TLS name; write IP[@port]#name, e.g. 1.1.1.1@853#cloudflare-dns.com (the name authenticates the server)" ;;
	esac
	name=${u#*#}
	hostport=${u%%#*}
	case $hostport in
	*@*) ip=${hostport%@*}; up_port=${hostport##*@} ;;
	*) ip=$hostport; up_port=853 ;;
	esac
	is_ip "$ip" || die "upstream '$u': '$ip' is not an IP address (DoT upstreams are given by address, the name after # is for TLS)"
	is_port "$up_port" || die "upstream '$u': '$up_port' is not a port number"
	is_hostname "$name" || die "upstream '$u': '$name' is not a valid TLS name"
	addrs="$addrs $ip@$up_port#$name"
done
[ "$n" -gt 0 ] || die "DOTPOOL_UPSTREAMS has no upstream"

# ---- the module ------------------------------------------------------------
module=${DOTPOOL_MODULE:-}
if [ -z "$module" ]; then
	for m in /usr/lib/*/unbound/dotpool.so /usr/lib/unbound/dotpool.so \
		/usr/local/lib/unbound/dotpool.so; do
		[ -f "$m" ] && { module=$m; break; }
	done
fi
if [ -z "$module" ] || [ ! -f "$module" ]; then
	die "dotpool.so not found${module:+ at $module} (set DOTPOOL_MODULE to its path)"
fi

# dotpool's own settings: a mounted file wins; otherwise one is written
# below with the metrics port.
dp_conf=${DOTPOOL_CONF:-}
mounted_dp=$(dirname "$mounted_conf")/dotpool.conf
write_dp=
if [ -z "$dp_conf" ] || [ ! -f "$dp_conf" ]; then
	if [ -n "$dp_conf" ] && [ "$dp_conf" != "$mounted_dp" ]; then
		die "DOTPOOL_CONF names $dp_conf, which does not exist"
	fi
	if [ -f "$mounted_dp" ]; then
		dp_conf=$mounted_dp
	else
		dp_conf=$run_dir/dotpool.conf
		write_dp=1
	fi
fi

# ---- write the configuration ----------------------------------------------
mkdir -p "$run_dir" 2>/dev/null || true
if [ ! -d "$run_dir" ] || [ ! -w "$run_dir" ]; then
	die "run directory $run_dir is not writable (mount a tmpfs there)"
fi
conf=$run_dir/unbound.conf
tmp=$conf.tmp.$$

anchor=
if [ "$dnssec" = yes ]; then
	[ -r "$root_key" ] ||
		die "DOTPOOL_DNSSEC=yes but there is no root trust anchor at $root_key"
	# Unbound keeps the anchor up to date (RFC 5011): a writable copy.
	[ -f "$run_dir/root.key" ] || cp "$root_key" "$run_dir/root.key"
	anchor="	auto-trust-anchor-file: \"$run_dir/root.key\""
fi

{
	echo "# Written by $prog from DOTPOOL_* variables; do not edit."
	echo "server:"
	for a in $listen; do echo "	interface: $a@$port"; done
	echo "	port: $port"
	echo "	num-threads: $threads"
	echo "	verbosity: $verbosity"
	echo "	do-daemonize: no"
	echo "	use-syslog: no"
	echo "	logfile: \"\""
	echo "	chroot: \"\""
	echo "	username: \"\""
	echo "	directory: \"$run_dir\""
	echo "	pidfile: \"$run_dir/unbound.pid\""
	echo "	do-ip6: yes"
	echo "	prefer-ip6: no"
	for p in $allow; do echo "	access-control: $p allow"; done
	echo "	module-config: \"validator dynlib iterator\""
	if [ -n "$anchor" ]; then echo "$anchor"; fi
	if [ -n "$cluster_dns" ]; then
		# the cluster's names are not in the public DNS: no validation
		echo "	domain-insecure: \"$cluster_domain\""
	fi
	if [ -n "$ca" ]; then
		echo "	tls-cert-bundle: \"$ca\""
	else
		echo "	tls-system-cert: yes"
	fi
	echo "dynlib:"
	echo "	dynlib-file: \"$module\""
	echo "remote-control:"
	echo "	control-enable: yes"
	echo "	control-interface: \"$run_dir/control.sock\""
	echo "forward-zone:"
	echo "	name: \"$zone\""
	echo "	forward-tls-upstream: yes"
	for a in $addrs; do echo "	forward-addr: $a"; done
	if [ -n "$cluster_dns" ]; then
		echo "forward-zone:"
		echo "	name: \"$cluster_domain\""
		for a in $cluster_dns; do echo "	forward-addr: $a"; done
	fi
} >"$tmp"
mv "$tmp" "$conf"

if [ -n "$write_dp" ]; then
	{
		echo "# Written by $prog; mount $mounted_dp to replace."
		echo "dotpool:"
		if [ "$metrics_port" != 0 ]; then
			echo "	metrics-listen: 0.0.0.0@$metrics_port"
		fi
	} >"$dp_conf"
fi
export DOTPOOL_CONF="$dp_conf"

case $mode in
print) cat "$conf"; exit 0 ;;
check) "$checkconf" "$conf" || exit $?
	dp_check "$conf"; exit 0 ;;
esac
dp_check "$conf" >/dev/null
exec "$unbound" -d -p -c "$conf"
