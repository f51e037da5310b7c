#!/usr/bin/env bash
# Build everything and run Unbound with dotpool on 127.0.0.1 port 8053, from
# unbound.conf.sample, in the foreground (Ctrl-C stops it), with its control
# socket and dotpool's metrics endpoint on, and say how to use them.
#
#   scripts/run.sh             forward to the public DoT resolvers of the sample
#   scripts/run.sh --offline   also start a local DoT upstream (Debian's stock
#                              unbound serving TLS with a certificate made now),
#                              so the demo answers without internet
#   --port N                   listen on another port (8053 is in no common
#                              service's way; 5353 would be mDNS's)
#   --metrics-port N           the metrics endpoint's port (default: a free one)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
offline=0
port=8053
mport=
while [ $# -gt 0 ]; do
	case $1 in
	--offline) offline=1 ;;
	--port) port=$2; shift ;;
	--metrics-port) mport=$2; shift ;;
	-h|--help) sed -n '2,13p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done

# port_free PORT: nothing listens on 127.0.0.1 PORT, TCP or UDP
port_free() {
	python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
for t in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
    s = socket.socket(socket.AF_INET, t)
    s.bind(("127.0.0.1", int(sys.argv[1])))
PY
}
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port_free "$port" || {
	echo "run.sh: port $port on 127.0.0.1 is taken; choose another with --port N" >&2
	exit 1
}
if [ -z "$mport" ]; then
	mport=$(free_port)
elif ! port_free "$mport"; then
	echo "run.sh: port $mport on 127.0.0.1 is taken; choose another with --metrics-port N" >&2
	exit 1
fi

DOTPOOL_DEPS="build run" scripts/build.sh >/dev/null
vars=$(scripts/unbound-dynlib.sh 2>/dev/null | tail -n 1)
eval "$vars"
unbound_bin=$UNBOUND_PREFIX/sbin/unbound

run=$top/.cache/run
rm -rf "$run"
mkdir -p "$run"
conf=$run/unbound.conf

# The sample, with the paths of this checkout and a foreground-friendly
# server section (no chroot, no user switch, log to stderr).
sed -e "s|^\(\s*dynlib-file:\).*|\1 \"$top/.libs/dotpool.so\"|" \
    -e "s|^\(\s*interface:\) 127.0.0.1@53\$|\1 127.0.0.1@$port|" \
    -e "s|^\(\s*directory:\).*|\1 \"$run\"|" \
    -e "s|^\(\s*pidfile:\).*|\1 \"$run/unbound.pid\"|" \
    -e "s|^\(\s*control-interface:\).*|\1 \"$run/control.sock\"|" \
    -e "s|^server:|server:\n\tchroot: \"\"\n\tusername: \"\"\n\tuse-syslog: no\n\tlogfile: \"\"|" \
    unbound.conf.sample >"$conf"
# dotpool's settings: the defaults, with the metrics endpoint on.
dpconf=$run/dotpool.conf
printf 'dotpool:\n\tmetrics-listen: 127.0.0.1@%s\n' "$mport" >"$dpconf"
export DOTPOOL_CONF=$dpconf

cleanup() {
	if [ -f "$run/upstream.pid" ]; then
		kill "$(cat "$run/upstream.pid")" 2>/dev/null || true
	fi
}
trap cleanup EXIT

if [ "$offline" = 1 ]; then
	# A local DoT upstream with a few demo names, and a CA made now.
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-days 2 -subj "/CN=dotpool demo CA" -keyout "$run/ca.key" \
		-out "$run/ca.pem" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=dot.dotpool.example" -keyout "$run/up.key" \
		-out "$run/up.csr" 2>/dev/null
	printf 'subjectAltName=DNS:dot.dotpool.example\n' >"$run/ext"
	openssl x509 -req -in "$run/up.csr" -CA "$run/ca.pem" \
		-CAkey "$run/ca.key" -CAcreateserial -days 2 \
		-extfile "$run/ext" -out "$run/up.pem" 2>/dev/null
	up_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat >"$run/upstream.conf" <<UP
server:
	interface: 127.0.0.1@$up_port
	tls-port: $up_port
	tls-service-key: "$run/up.key"
	tls-service-pem: "$run/up.pem"
	chroot: ""
	username: ""
	directory: "$run"
	pidfile: "$run/upstream.pid"
	use-syslog: no
	logfile: "$run/upstream.log"
	do-daemonize: yes
	module-config: "iterator"
	local-zone: "." static
	local-data: "www.example.com. 300 IN A 192.0.2.10"
	local-data: "www.example.com. 300 IN AAAA 2001:db8::10"
	local-data: 'hello.dotpool.example. 300 IN TXT "served by a local DoT upstream"'
UP
	/usr/sbin/unbound -c "$run/upstream.conf"
	# Point the forward zone at it; trust its CA; no root trust anchor
	# (the demo data is not signed).
	sed -i -e '/forward-addr:/d' \
	    -e "s|^\(\s*forward-tls-upstream: yes\)|\1\n\tforward-addr: 127.0.0.1@$up_port#dot.dotpool.example|" \
	    -e "s|^\(\s*\)tls-system-cert: yes|\1tls-cert-bundle: \"$run/ca.pem\"|" \
	    -e '/trust-anchor-file:/d' \
	    -e 's|module-config: "validator dynlib iterator"|module-config: "dynlib iterator"\n\tdo-not-query-localhost: no|' \
	    "$conf"
	echo "run.sh: offline mode: local DoT upstream on 127.0.0.1@$up_port" >&2
	sample=www.example.com
else
	sample=example.com
fi

ctl=$UNBOUND_PREFIX/sbin/unbound-control
"$UNBOUND_PREFIX/sbin/unbound-checkconf" "$conf" >/dev/null
"$top/dotpool-checkconf" -c "$conf" "$dpconf" >/dev/null
cat >&2 <<MSG
run.sh: Unbound with dotpool on 127.0.0.1 port $port (config: $conf)
run.sh: try:  dig @127.0.0.1 -p $port $sample
run.sh:       kdig @127.0.0.1 -p $port $sample AAAA
run.sh: control (unix socket, no keys):
run.sh:       $ctl -c $conf status
run.sh:       $ctl -c $conf stats_noreset | grep total.num
run.sh: metrics:
run.sh:       curl -s http://127.0.0.1:$mport/metrics | grep -E '^dotpool_(upstream_up|queries_sent_total)'
run.sh: settings: edit $dpconf, check it, reload:
run.sh:       $top/dotpool-checkconf -c $conf $dpconf && $ctl -c $conf reload
run.sh: Ctrl-C stops it.
MSG
"$unbound_bin" -d -c "$conf"
