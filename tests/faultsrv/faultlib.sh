# shellcheck shell=bash
# faultlib.sh -- dotfault instances and query load for tests that source
# tests/integration/lib.sh first:
#
#   . "$top/tests/integration/lib.sh"
#   . "$top/tests/faultsrv/faultlib.sh"
#
# An instance lives in $DP_TMP/NAME/ like lib.sh's (kind "dotfault", pid,
# tls_port, stderr) and is registered so lib.sh's clean-up ends it; stop it
# with df_stop (or df_stop_all before dp_pass, which only knows how to stop
# Unbounds).
#
#   df_start NAME ADDR [dotfault options]  start on a free port, TLS as
#                            dot.dotpool.test with dp_pki's good cert unless
#                            --cert/--key are given; ADDR is what it answers
#   df_ctl NAME WORDS...     control socket command, reply on stdout
#   df_stat NAME KEY         one counter of `stats`
#   df_stop NAME, df_stop_all
#   df_addr NAME             forward-addr text: 127.0.0.1@PORT#dot.dotpool.test
#   df_forward ZONE NAME...  a TLS forward-zone clause to those servers
#   df_load PORT TAG [dnsload options]  unique-name A queries to the Unbound
#                            on PORT; lines in $DP_TMP/TAG.load; returns
#                            dnsload's status

DF_DIR=$DP_TOP/tests/faultsrv
DF_SERVER=$DF_DIR/dotfault.py
DF_LOAD=$DF_DIR/dnsload.py

df_start() {
	local n=$1 addr=$2 d=$DP_TMP/$1 i cert=
	shift 2
	dp_pki
	mkdir -p "$d"
	echo dotfault >"$d/kind"
	case " $* " in *" --cert "*) cert=given ;; esac
	local -a certopt=()
	[ -z "$cert" ] && certopt=(--cert "$DP_PKI/good.pem" --key "$DP_PKI/good.key")
	dp__launch "$n" python3 "$DF_SERVER" --port 0 --port-file "$d/tls_port" \
		--control "$d/control.sock" --zone "$DP_ZONE" --addr "$addr" \
		${certopt[@]+"${certopt[@]}"} "$@"
	for i in $(seq 1 $((DP_WAIT * 10))); do
		[ -s "$d/tls_port" ] && [ -S "$d/control.sock" ] && return 0
		dp_alive "$n" || dp_fail "dotfault $n exited at start: $(cat "$d/stderr")"
		sleep 0.1
	done
	dp_fail "dotfault $n did not start within ${DP_WAIT}s"
}

df_ctl() {
	local n=$1
	shift
	python3 "$DF_SERVER" --ctl "$DP_TMP/$n/control.sock" "$@"
}

df_stat() {
	df_ctl "$1" stats | python3 -c \
		"import json,sys; print(json.load(sys.stdin)['$2'])"
}

df_addr() {
	echo "127.0.0.1@$(dp_get "$1" tls_port)#$DP_DOT_NAME"
}

# df_forward ZONE NAME...: a TLS forward-zone clause sending ZONE to the
# dotfault servers NAME..., in that order (the first is the primary).
df_forward() {
	local zone=$1 n
	shift
	printf 'forward-zone:\n\tname: "%s."\n\tforward-tls-upstream: yes\n' \
		"${zone%.}"
	for n in "$@"; do
		printf '\tforward-addr: %s\n' "$(df_addr "$n")"
	done
}

df_stop() {
	local n=$1 pid i
	pid=$(dp_get "$n" pid)
	kill -CONT "$pid" 2>/dev/null
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && dp_fail "dotfault $n does not stop"
	wait "$pid" 2>/dev/null
	return 0
}

df_stop_all() {
	local d
	for d in "$DP_TMP"/*/; do
		[ "$(cat "$d/kind" 2>/dev/null)" = dotfault ] || continue
		dp_alive "$(basename "$d")" && df_stop "$(basename "$d")"
	done
	return 0
}

df_load() {
	local port=$1 tag=$2
	shift 2
	python3 "$DF_LOAD" --port "$port" --zone "$DP_ZONE" --prefix "$tag" \
		--out "$DP_TMP/$tag.load" "$@"
}
