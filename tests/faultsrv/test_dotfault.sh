#!/usr/bin/env bash
# Self-test of the fault-injecting DoT server (tests/faultsrv/dotfault.py):
# correct answers by default, and a few faults behave as designed, checked
# with kdig over TLS on loopback. Exit 77 (skip) without kdig or openssl.
set -u
here=$(cd "$(dirname "$0")" && pwd)
dotfault="$here/dotfault.py"
for tool in kdig openssl python3; do
	command -v $tool >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done

tmp=$(mktemp -d /tmp/dotfault-test.XXXXXX)
pid= pid2=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[ -n "$pid2" ] && kill "$pid2" 2>/dev/null && wait "$pid2" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: test_dotfault: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

# --- a test CA and a server certificate for dot.test ----------------------
(
	cd "$tmp" &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout ca.key -out ca.pem -days 2 -subj /CN=dotfault-ca &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout srv.key -out srv.csr -subj /CN=dot.test &&
	printf 'subjectAltName=DNS:dot.test\nbasicConstraints=CA:FALSE\n' \
		>ext.cnf &&
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key \
		-CAcreateserial -out srv.pem -days 2 -extfile ext.cnf
) >/dev/null 2>&1 || { echo "FAIL: test_dotfault: cannot make certs"; exit 1; }

python3 "$dotfault" --cert "$tmp/srv.pem" --key "$tmp/srv.key" \
	--port-file "$tmp/port" --control "$tmp/ctl" --addr 192.0.2.7 \
	--zone example.test --keepalive 5000 2>"$tmp/log" &
pid=$!
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { cat "$tmp/log"; echo "FAIL: server did not start"; exit 1; }
port=$(cat "$tmp/port")

ctl() { python3 "$dotfault" --ctl "$tmp/ctl" "$@"; }
q() {	# q NAME TYPE [kdig options]: full kdig output, stderr included
	local name=$1 type=$2; shift 2
	kdig @127.0.0.1 -p "$port" +tls-ca="$tmp/ca.pem" \
		+tls-hostname=dot.test +timeout=3 +retry=0 "$@" "$name" "$type" 2>&1
}
stat() { ctl stats | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# --- correct answers ----------------------------------------------------------
out=$(q a.example.test A)
grep -q 'status: NOERROR' <<<"$out" && grep -q 'Flags: qr aa rd ra' <<<"$out" &&
	grep -qE '^a\.example\.test\.\s+60\s+IN\s+A\s+192\.0\.2\.7$' <<<"$out" &&
	ok "A answer" || fail "A answer wrong: $out"
grep -q 'Option (11): 0032' <<<"$out" && ok "edns-tcp-keepalive 5000 ms" ||
	fail "no keepalive option: $out"
out=$(q b.example.test AAAA)
grep -qE '^b\.example\.test\.\s+60\s+IN\s+AAAA\s+2001:db8::1$' <<<"$out" &&
	ok "AAAA answer" || fail "AAAA answer wrong: $out"
out=$(q nxfoo.example.test A)
grep -q 'status: NXDOMAIN' <<<"$out" && ok "NXDOMAIN" || fail "nx: $out"
out=$(q c.example.test MX)
grep -q 'status: NOERROR' <<<"$out" && grep -q 'ANSWER: 0' <<<"$out" &&
	grep -q 'IN	SOA' <<<"$out" && ok "NODATA with SOA" || fail "nodata: $out"
out=$(q www.example.org A)
grep -q 'status: REFUSED' <<<"$out" && ok "REFUSED outside zone" ||
	fail "outside zone: $out"
out=$(kdig @127.0.0.1 -p "$port" +tls-ca="$tmp/ca.pem" +tls-hostname=wrong.test \
	+timeout=3 +retry=0 a.example.test A 2>&1)
grep -q 'status: NOERROR' <<<"$out" && fail "wrong auth name accepted" ||
	ok "certificate checked by name"
[ "$(stat queries)" = 5 ] && ok "query count 5" ||
	fail "stats queries $(stat queries) != 5"

# --- faults -------------------------------------------------------------------
ctl set fault servfail >/dev/null
out=$(q d.example.test A)
grep -q 'status: SERVFAIL' <<<"$out" && grep -q 'ANSWER: 0' <<<"$out" &&
	ok "servfail" || fail "servfail: $out"

ctl set fault empty >/dev/null
out=$(q d.example.test A)
grep -q 'status: NOERROR' <<<"$out" && grep -q 'ANSWER: 0' <<<"$out" &&
	grep -q 'AUTHORITY: 0' <<<"$out" && ok "empty" || fail "empty: $out"

ctl set fault wrong-id >/dev/null
out=$(q e.example.test A)
grep -q 'reply ID .* is different from query ID' <<<"$out" &&
	! grep -q 'status: NOERROR' <<<"$out" && ok "wrong-id: kdig complains" ||
	fail "wrong-id: $out"

ctl set fault wrong-question >/dev/null
out=$(q f.example.test A)
grep -q 'question sections are different' <<<"$out" &&
	grep -q '198\.51\.100\.66' <<<"$out" && ok "wrong-question" ||
	fail "wrong-question: $out"

ctl set fault tc >/dev/null
out=$(q g.example.test A)
grep -qE 'Flags: qr aa tc rd ra' <<<"$out" && grep -q 'ANSWER: 0' <<<"$out" &&
	ok "tc" || fail "tc: $out"

# close-after:1: the first query of a connection is answered, then the
# server closes; kdig sends two queries on one connection with +keepopen.
ctl set fault close-after:1 >/dev/null
before=$(stat connections)
out=$(kdig @127.0.0.1 -p "$port" +tls-ca="$tmp/ca.pem" +tls-hostname=dot.test \
	+timeout=3 +retry=0 +keepopen h1.example.test A h2.example.test A 2>&1)
conns=$(( $(stat connections) - before ))
grep -qE '^h1\.example\.test\.\s+60\s+IN\s+A\s+192\.0\.2\.7$' <<<"$out" &&
	! grep -qE '^h2\.example\.test\.\s+60\s+IN\s+A' <<<"$out" &&
	[ "$conns" = 1 ] && ok "close-after:1" ||
	fail "close-after:1 ($conns connections): $out"

ctl set fault slow-drip:40 >/dev/null
start=$(date +%s%N)
out=$(q i.example.test A +timeout=10)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
# 62 bytes (frame with OPT and keepalive) at 40 ms each: about 2.5 s
grep -qE '^i\.example\.test\.\s+60\s+IN\s+A\s+192\.0\.2\.7$' <<<"$out" &&
	[ "$ms" -ge 2000 ] && ok "slow-drip answers right in $ms ms" ||
	fail "slow-drip ($ms ms): $out"

ctl set fault big >/dev/null
out=$(q j.example.test A)
grep -q 'Received 65535 B' <<<"$out" && ok "big: 65535 bytes" || fail "big: $out"

ctl set fault refuse-tcp >/dev/null
out=$(q k.example.test A)
! grep -q 'status:' <<<"$out" && ok "refuse-tcp" || fail "refuse-tcp: $out"

ctl set fault tls-alert >/dev/null
out=$(q l.example.test A)
grep -q 'alert' <<<"$out" && ok "tls-alert" || fail "tls-alert: $out"

# delay, bimodal, kill-conns: pipelined queries on one connection (kdig
# waits for each answer before the next query, so a small client here)
pipe() {	# pipe MODE: one line of results, see the modes below
	python3 - "$port" "$tmp/ca.pem" "$1" <<'PY'
import socket, ssl, struct, sys, time
port, ca, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                    server_hostname="dot.test")
s.settimeout(5)
if mode == "idle":     # wait for the control socket to kill the connection
    try:
        d = s.recv(100)
        print("data %r" % d if d else "closed")
    except (ssl.SSLError, OSError) as e:
        print("error %s" % e)
    sys.exit(0)
n = 20
def name(i):
    return b"".join(bytes([len(l)]) + l for l in
                    (b"p%d" % i, b"example", b"test")) + b"\0"
t0 = time.monotonic()
s.sendall(b"".join(struct.pack("!H", 16 + len(name(i))) +
                   struct.pack("!HHHHHH", i, 0x0100, 1, 0, 0, 0) + name(i) +
                   b"\0\1\0\1" for i in range(n)))
buf, lat, order = b"", [], []
while len(lat) < n:
    while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
        buf += s.recv(65536)
    m = buf[2:2 + struct.unpack("!H", buf[:2])[0]]
    buf = buf[2 + len(m):]
    assert m[3] & 15 == 0 and m[-4:] == bytes([192, 0, 2, 7]), m
    order.append(struct.unpack("!H", m[:2])[0])
    lat.append((time.monotonic() - t0) * 1000)
print("%d %d %d %s" % (min(lat), max(lat), sum(1 for x in lat if x < 150),
                       "inorder" if order == sorted(order) else "reordered"))
PY
}
ctl set fault delay:300 >/dev/null
read -r lo hi fast _ <<<"$(pipe delay)"
# each answer 300 ms late, all 20 together: not one after another (6 s)
[ "${lo:-0}" -ge 300 ] && [ "${hi:-9999}" -lt 1500 ] && [ "$fast" = 0 ] &&
	ok "delay:300: 20 pipelined answers in $lo..$hi ms" ||
	fail "delay:300: answers in ${lo:-?}..${hi:-?} ms, $fast fast"
ctl set fault bimodal:50:300 >/dev/null
read -r lo hi fast ord <<<"$(pipe bimodal)"
# half of them at once, half 300 ms late (all fast or all slow: 2^-19)
[ "${fast:-0}" -ge 1 ] && [ "$fast" -le 19 ] && [ "${hi:-0}" -ge 300 ] &&
	[ "$hi" -lt 1500 ] && [ "$ord" = reordered ] &&
	ok "bimodal:50:300: $fast of 20 at once, the last at $hi ms" ||
	fail "bimodal:50:300: $fast fast, $lo..$hi ms, $ord"
ctl set fault none >/dev/null
pipe idle >"$tmp/idle" &
ipid=$!
for _ in $(seq 50); do [ "$(stat open)" -ge 1 ] && break; sleep 0.1; done
reply=$(ctl kill-conns)
wait "$ipid"
[ "$reply" = "ok 1" ] && [ "$(cat "$tmp/idle")" = closed ] &&
	ok "kill-conns ends the open connection" ||
	fail "kill-conns: $reply, client saw $(cat "$tmp/idle")"

ctl set fault none >/dev/null
out=$(q m.example.test A)
grep -qE '^m\.example\.test\.\s+60\s+IN\s+A\s+192\.0\.2\.7$' <<<"$out" &&
	ok "back to normal" || fail "after none: $out"
ctl set fault bogus >/dev/null && fail "unknown fault accepted" ||
	ok "unknown fault refused"
grep -q 'fault slow-drip fired' "$tmp/log" && ok "fault logged" ||
	fail "no log line for slow-drip"
grep -q 'example\.test' "$tmp/log" && fail "query names in the log"

# session resumption is counted (TLS 1.3 ticket via openssl s_client)
(sleep 0.5; echo) | openssl s_client -connect 127.0.0.1:"$port" -tls1_3 \
	-CAfile "$tmp/ca.pem" -sess_out "$tmp/sess" >/dev/null 2>&1
out=$( (sleep 0.5; echo) | openssl s_client -connect 127.0.0.1:"$port" \
	-tls1_3 -CAfile "$tmp/ca.pem" -sess_in "$tmp/sess" 2>/dev/null)
grep -q '^Reused' <<<"$out" && [ "$(stat resumed)" -ge 1 ] &&
	ok "resumed session counted" || fail "resumption: $(stat resumed)"

kill -0 "$pid" || fail "server died"

# a second server: TLS 1.0 only (needs @SECLEVEL=0), then mTLS
start2() {
	rm -f "$tmp/port2"
	python3 "$dotfault" --cert "$tmp/srv.pem" --key "$tmp/srv.key" \
		--port-file "$tmp/port2" --zone example.test "$@" 2>>"$tmp/log2" &
	pid2=$!
	for _ in $(seq 50); do [ -s "$tmp/port2" ] && break; sleep 0.1; done
	port2=$(cat "$tmp/port2")
}
start2 --tls-max 1.0
out=$(echo | openssl s_client -connect 127.0.0.1:"$port2" -tls1 \
	-cipher 'DEFAULT:@SECLEVEL=0' 2>&1)
grep -q '^New, TLSv1\.0, Cipher is' <<<"$out" && ok "--tls-max 1.0 speaks TLS 1.0" ||
	fail "TLS 1.0: $(grep -E 'Protocol|alert' <<<"$out")"
out=$(echo | openssl s_client -connect 127.0.0.1:"$port2" -tls1_2 2>&1)
grep -q '^New, TLSv1\.2, Cipher is' <<<"$out" && fail "--tls-max 1.0 spoke TLS 1.2" ||
	ok "--tls-max 1.0 refuses TLS 1.2"
kill "$pid2"; wait "$pid2" 2>/dev/null

(
	cd "$tmp" &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout cli.key -out cli.csr -subj /CN=client &&
	openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key \
		-CAcreateserial -out cli.pem -days 2
) >/dev/null 2>&1 || fail "cannot make the client certificate"
start2 --require-client-cert "$tmp/ca.pem"
k2() { kdig @127.0.0.1 -p "$port2" +tls-ca="$tmp/ca.pem" \
	+tls-hostname=dot.test +timeout=3 +retry=0 "$@" n.example.test A 2>&1; }
k2 | grep -q 'status: NOERROR' && fail "mTLS: answered without a client cert" ||
	ok "mTLS: no client certificate, no answer"
k2 +tls-certfile="$tmp/cli.pem" +tls-keyfile="$tmp/cli.key" |
	grep -q 'status: NOERROR' && ok "mTLS: client certificate accepted" ||
	fail "mTLS: rejected a good client certificate"
kill "$pid2"; wait "$pid2" 2>/dev/null

# --addr-hash: each name its own address, the one name_addr computes (the
# soak checks every answer with it), the same for any letter case; lies
# still carry the poison address
start2 --addr-hash --control "$tmp/ctl2"
want() { python3 -c 'import sys; sys.path.insert(0, sys.argv[1])
from dotfault import name_addr; print(name_addr(sys.argv[2]))' "$here" "$1"; }
a1=$(want p1.example.test.) a2=$(want p2.example.test.)
out=$(kdig @127.0.0.1 -p "$port2" +tls-ca="$tmp/ca.pem" +tls-hostname=dot.test \
	+timeout=3 +retry=0 +keepopen p1.example.test A P2.Example.Test A 2>&1)
[ "$a1" != "$a2" ] && grep -qE "^p1\.example\.test\.\s+60\s+IN\s+A\s+${a1//./\\.}$" <<<"$out" &&
	grep -qiE "^p2\.example\.test\.\s+60\s+IN\s+A\s+${a2//./\\.}$" <<<"$out" &&
	ok "--addr-hash: $a1 and $a2" || fail "--addr-hash ($a1, $a2): $out"
python3 "$dotfault" --ctl "$tmp/ctl2" set fault wrong-question >/dev/null
out=$(kdig @127.0.0.1 -p "$port2" +tls-ca="$tmp/ca.pem" +tls-hostname=dot.test \
	+timeout=3 +retry=0 p1.example.test A 2>&1)
grep -q '198\.51\.100\.66' <<<"$out" && ok "--addr-hash: lies still poisoned" ||
	fail "--addr-hash wrong-question: $out"
kill "$pid2"; wait "$pid2" 2>/dev/null
[ $failures = 0 ] && echo "PASS: test_dotfault" || { cat "$tmp/log"; exit 1; }
