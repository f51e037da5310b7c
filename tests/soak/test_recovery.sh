#!/usr/bin/env bash
# What the soak found: an upstream whose fault has ended must be usable
# again at once. Two
# upstreams, policy REPRO_POLICY (round-robin, so both carry queries),
# 2 threads, fresh names at 300 qps. At 1 s the primary gets REPRO_FAULT
# (long-length: one answer frame whose length prefix promises 100 bytes
# more than it sends, then silence on that connection), REPRO_STEP (5) s
# later it is healthy again, REPRO_GAP (2) s after that the secondary gets
# REPRO_SECOND (the same fault). Expected: the primary, healthy for 2 s by
# then (more than probe-interval 1 s + backoff-initial 0.5 s), answers
# what the secondary cannot, and nothing is SERVFAIL: at every moment one
# upstream is healthy. It failed (18 to 125 SERVFAILs in the 1.5 s after
# the secondary's fault starts, the primary flapping between backoff and
# up long after its fault ended) while a connection stuck in an overlong
# frame stayed open: every query and probe written into it timed out.
# tests/integration/test_stuck_conn.sh is the single-upstream case.
# Prints the SERVFAILs per half second and dotpool's health changes.
. "$(dirname "$0")/soaklib.sh"
dp_require python3
fault=${REPRO_FAULT:-long-length}
step=${REPRO_STEP:-5} gap=${REPRO_GAP:-2}
df_start primary 192.0.2.1 --zone . --addr-hash
df_start secondary 192.0.2.2 --zone . --addr-hash
printf 'dotpool:\n\tpolicy: %s\n' "${REPRO_POLICY:-round-robin}" >"$DP_TMP/dotpool.conf"
dp_unbound_start ub -t "${REPRO_THREADS:-2}" -c "$DP_TMP/dotpool.conf" <<EOF2
$(df_forward "$DP_ZONE" primary secondary)
EOF2
(
	sleep 1; df_ctl primary set fault "$fault" >/dev/null
	sleep "$step"; df_ctl primary set fault none >/dev/null
	sleep "$gap"; df_ctl secondary set fault "${REPRO_SECOND:-$fault}" >/dev/null
) &
flip=$!
# addresses are per name (--addr-hash): dnsload checks rcodes only here
df_load "$(dp_get ub port)" load --count $(((step + gap + 5) * 300)) --qps 300
wait "$flip"
sf=$(awk '$3 == "SERVFAIL" { n++; b[int($1 * 2) / 2]++ }
	END { printf "%d:", n + 0; for (t in b) printf " %.1fs=%d", t, b[t] }' \
	"$DP_TMP/load.load")
dp_log "fault $fault on the primary from 1 s to $((1 + step)) s, on the secondary from $((1 + step + gap)) s"
dp_log "answers: $(awk '{ c[$3]++ } END { for (k in c) printf "%s=%d ", k, c[k] }' "$DP_TMP/load.load")"
dp_log "SERVFAIL per half second (s since the load started) $sf"
dp_log "dotpool health changes (of $(grep -c 'dotpool: .*->' "$(dp_get ub log)")), the first 12:"
grep -o 'dotpool: .*->.*' "$(dp_get ub log)" | head -n 12 | sed 's/^/    /'
assert_alive ub "Unbound"
df_stop_all
assert_eq 0 "${sf%%:*}" "SERVFAILs while one upstream was healthy"
dp_pass
