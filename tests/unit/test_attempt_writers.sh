#!/usr/bin/env bash
# The attempt controller's state has one writer: ctl_set_state() in
# module/attempt.c is the only function that assigns a controller's state
# or lead, and no other file assigns them (the flags and the NULL sentinel
# it replaced were written from five places in two files).
set -u
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
fail=0
# attempt.c: assignments of ->state / ->lead, with the function they are in
# (a definition starts at a line "name(" after its return type)
bad=$(awk '
	/^[a-z_]+\(/ { fn = $0; sub(/\(.*/, "", fn) }
	/->(state|lead)[ \t]*=[^=]/ && fn != "ctl_set_state" {
		printf "%s:%d (in %s): %s\n", FILENAME, FNR, fn, $0 }
' "$top/module/attempt.c")
if [ -n "$bad" ]; then
	echo "attempt: state or lead written outside ctl_set_state:"
	echo "$bad"
	fail=1
fi
n=$(grep -cE -- '->(state|lead)[[:space:]]*=[^=]' "$top/module/attempt.c")
if [ "$n" != 2 ]; then
	echo "attempt: expected ctl_set_state's two assignments, found $n"
	fail=1
fi
# elsewhere: nobody assigns a controller's fields
bad=$(grep -nE -- 'ctl(->|\.)(state|lead)[[:space:]]*=[^=]' \
	"$top"/module/*.c "$top"/module/*.h | grep -v '^[^:]*/attempt\.c:')
if [ -n "$bad" ]; then
	echo "attempt: a controller's state written outside attempt.c:"
	echo "$bad"
	fail=1
fi
[ "$fail" = 0 ] && echo "attempt: one writer of the controller's state"
exit "$fail"
