#!/usr/bin/env bash
# Each lifetime has one state field and one function that writes it:
# upstream health (and its mirror in the counters) only in
# dotpool_up_set_health, whether an upstream is suspect (and its mirror)
# only in up_set_suspect, a connection's state only in dotpool_conn_set_state,
# a request's only in req_set_state, a query's attempt controller (its state
# and which attempt leads) only in ctl_set_state. Any other assignment in
# those units fails this check, and so does a setter that went missing; no
# other file may assign a controller's fields.
set -uo pipefail
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
fail=0
# file:function of every assignment to a ...state, ...health, ...lead or
# ...suspect member (a function is named on the line after its return type, at column 0)
found=$(cd "$top/module" && awk '
	/^[a-z_][a-z0-9_]*\(/ { fn = $0; sub(/\(.*/, "", fn) }
	/(->|\.)(state|health|lead|suspect)[ \t]*=[^=]/ { print FILENAME ":" fn }
' attempt.c conn.c conn_stream.c pool.c upstream.c | sort | uniq -c | sed 's/^ *//')
expected='2 attempt.c:ctl_set_state
1 conn.c:dotpool_conn_set_state
1 pool.c:req_set_state
2 upstream.c:dotpool_up_set_health
2 upstream.c:up_set_suspect'
if [ "$found" != "$expected" ]; then
	echo "test_state_writers: FAIL: state writers are"
	echo "$found"
	echo "test_state_writers: expected"
	echo "$expected"
	fail=1
else
	echo "test_state_writers: one writer per state field:"
	echo "$found"
fi
# the glue and every other unit: nobody assigns a controller's fields
bad=$(grep -nE -- 'ctl(->|\.)(state|lead)[[:space:]]*=[^=]' \
	"$top"/module/*.c "$top"/module/*.h | grep -v '/attempt\.c:')
if [ -n "$bad" ]; then
	echo "test_state_writers: FAIL: a controller's state written outside attempt.c:"
	echo "$bad"
	fail=1
fi
exit $fail
