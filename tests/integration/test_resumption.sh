#!/usr/bin/env bash
# TLS session resumption with a real server. The dotfault upstream
# closes connections idle for half a second, so each query after a pause
# reconnects:
#  1. with session-resumption (the default) at least 90 % of the reconnects
#     resume a session, as the server counts them, and dotpool's
#     dotpool_handshakes_total{kind=...} agrees with the server;
#  2. a session is never offered to another name: a second forward zone to
#     the same address and port with another #name (both on the
#     certificate) starts with a full handshake, then resumes its own. The
#     check is not blind: this server does resume a session offered under
#     another SNI (shown with a client of our own);
#  3. with session-resumption: no, no reconnect is resumed.
. "$(dirname "$0")/lib.sh"
. "$DP_TOP/tests/faultsrv/faultlib.sh"
dp_require dig openssl python3 curl

ROUNDS=8
IDLE=0.5      # the server closes a connection idle this long (s)
PAUSE=0.9     # between queries: the connection is gone by then
ALT=alt.dotpool.test

# A certificate valid for both names, from the test CA.
dp_pki
P=$DP_PKI
printf 'subjectAltName=DNS:%s,DNS:%s\nextendedKeyUsage=serverAuth\n' \
	"$DP_DOT_NAME" "$ALT" >"$P/both.ext"
if ! { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$P/both.key" -out "$P/both.csr" -subj "/CN=$DP_DOT_NAME" &&
	openssl x509 -req -in "$P/both.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" \
		-CAcreateserial -days 2 -extfile "$P/both.ext" -out "$P/both.pem"
} >>"$P/openssl.log" 2>&1; then
	dp_fail "could not make the two-name certificate: $(tail -n 3 "$P/openssl.log")"
fi

df_start up 192.0.2.1 --cert "$P/both.pem" --key "$P/both.key" --idle "$IDLE"
tls_port=$(dp_get up tls_port)
up_dot=127.0.0.1@$tls_port#$DP_DOT_NAME
up_alt=127.0.0.1@$tls_port#$ALT

zones="forward-zone:
	name: \"a.$DP_ZONE.\"
	forward-addr: $up_dot
	forward-tls-upstream: yes
forward-zone:
	name: \"b.$DP_ZONE.\"
	forward-addr: $up_alt
	forward-tls-upstream: yes"

# start_dp NAME [DOTPOOL SETTING LINE]: an Unbound forwarding both zones,
# metrics on a port of its own (dp_get NAME mport).
start_dp() {
	local conf=$DP_TMP/$1.dotpool.conf mport
	mport=$(dp_free_port)
	# the handshakes counted are the client's: no start-up probe
	printf 'dotpool:\n\tmetrics-listen: 127.0.0.1@%s\n\tprobe-interval: 0\n%s\n' \
		"$mport" "${2:-}" >"$conf"
	dp_unbound_start "$1" -c "$conf" <<EOF
$zones
EOF
	echo "$mport" >"$DP_TMP/$1/mport"
}

# handshakes NAME UPSTREAM KIND: dotpool_handshakes_total of NAME for
# UPSTREAM (addr@port#name), kind full or resumed, over its zones.
handshakes() {
	curl -sf "http://127.0.0.1:$(dp_get "$1" mport)/metrics" |
		awk -v u="upstream=\"$2\"" -v k="kind=\"$3\"" '
			/^dotpool_handshakes_total\{/ && index($0, u) && index($0, k) {
				n += $NF }
			END { print n + 0 }' ||
		dp_fail "no metrics from $1"
}

# rounds NAME ZONE: ROUNDS queries, each after the server's idle close.
rounds() {
	local r port
	port=$(dp_get "$1" port)
	for r in $(seq 1 "$ROUNDS"); do
		dp_query "$port" "r$r-$RANDOM$RANDOM.$2.$DP_ZONE" A
		assert_eq NOERROR "$DP_RCODE" "round $r: rcode through $1"
		sleep "$PAUSE"
	done
}

# ---- 1. reconnects resume --------------------------------------------------
# rewarm-window: 0 here: each reconnect is made by a query, so the
# handshake counts below are the queries' own (test_rewarm.sh covers the
# reconnects made during the window)
start_dp dp "	rewarm-window: 0"
rounds dp a
hs=$(df_stat up handshakes)
res=$(df_stat up resumed)
dp_log "session-resumption yes: server saw $hs handshakes, $res resumed"
assert_ge "$((hs - 1))" "$((ROUNDS - 1))" \
	"reconnects after the server's idle closes (handshakes - 1)"
assert_ge "$((res * 10))" "$(((hs - 1) * 9))" \
	"resumed handshakes x 10 vs reconnects x 9 (at least 90 % resumed)"
assert_eq "$res" "$(handshakes dp "$up_dot" resumed)" \
	"dotpool_handshakes_total{kind=\"resumed\"} (the server's count)"
assert_eq "$((hs - res))" "$(handshakes dp "$up_dot" full)" \
	"dotpool_handshakes_total{kind=\"full\"} (the server's count)"

# ---- 2. no session crosses names ---------------------------------------------
port=$(dp_get dp port)
dp_query "$port" "first-$RANDOM.b.$DP_ZONE" A
assert_eq NOERROR "$DP_RCODE" "rcode for the zone sent as $ALT"
assert_eq "$((hs + 1))" "$(df_stat up handshakes)" \
	"server handshakes after the first query as $ALT (one new connection)"
assert_eq "$res" "$(df_stat up resumed)" \
	"server resumed handshakes after the first connection as $ALT (expected a full handshake)"
assert_eq 0 "$(handshakes dp "$up_alt" resumed)" \
	"dotpool_handshakes_total{upstream=\"$up_alt\",kind=\"resumed\"} after its first connection"
sleep "$PAUSE"
dp_query "$port" "second-$RANDOM.b.$DP_ZONE" A
assert_eq NOERROR "$DP_RCODE" "rcode for the second query as $ALT"
assert_eq "$((res + 1))" "$(df_stat up resumed)" \
	"server resumed handshakes after reconnecting as $ALT (its own session)"
assert_eq 1 "$(handshakes dp "$up_alt" resumed)" \
	"dotpool_handshakes_total{upstream=\"$up_alt\",kind=\"resumed\"} after reconnecting"
dp_unbound_stop dp

# This server resumes a session offered under another SNI, so a leak
# across names would have shown above as a resumed handshake.
python3 - "$tls_port" "$P/ca.pem" "$DP_DOT_NAME" "$ALT" <<'EOF' ||
import socket, ssl, struct, sys
port, ca, first, other = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
session = None
for name in (first, other):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 5),
                        server_hostname=name, session=session)
    # one query (SOA of the apex), so the session tickets arrive
    q = struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + \
        b"\x07dotpool\x04test\x00" + struct.pack("!HH", 6, 1)
    s.sendall(struct.pack("!H", len(q)) + q)
    s.recv(65535)
    session = s.session
    reused = s.session_reused
    s.close()
sys.exit(0 if reused else 1)
EOF
	dp_fail "the server did not resume a session offered under another name: the name check above is blind"

# ---- 3. session-resumption: no -----------------------------------------------
sleep "$PAUSE"
df_ctl up reset >/dev/null
start_dp nores "$(printf '\tsession-resumption: no\n\trewarm-window: 0')"
rounds nores a
hs=$(df_stat up handshakes)
res=$(df_stat up resumed)
dp_log "session-resumption no: server saw $hs handshakes, $res resumed"
assert_ge "$((hs - 1))" "$((ROUNDS - 1))" \
	"reconnects with session-resumption: no (handshakes - 1)"
assert_eq 0 "$res" "server resumed handshakes with session-resumption: no"
assert_eq 0 "$(handshakes nores "$up_dot" resumed)" \
	"dotpool_handshakes_total{kind=\"resumed\"} with session-resumption: no"
assert_eq "$hs" "$(handshakes nores "$up_dot" full)" \
	"dotpool_handshakes_total{kind=\"full\"} with session-resumption: no"

dp_unbound_stop nores
df_stop_all
dp_pass
