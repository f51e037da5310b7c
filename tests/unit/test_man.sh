#!/usr/bin/env bash
# The man pages: dotpool.conf(5) is what scripts/man-dotpool-conf.py makes
# of dotpool.conf.sample (so it lists the same keys with the same defaults,
# in the same words); every key of the parser is in it, every default of
# the sample's dotpool: section too; groff and lexgrog find nothing wrong
# with either page (what lintian checks).
set -uo pipefail
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
fail=0
say() { printf 'test_man: %s\n' "$*"; }
flunk() { say "FAIL: $*"; fail=1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
page=$top/man/dotpool.conf.5

python3 "$top/scripts/man-dotpool-conf.py" "$top/dotpool.conf.sample" \
	"$top/module/config_keys.c" >"$tmp/gen.5" || flunk "the generator failed"
if diff -u "$page" "$tmp/gen.5" >"$tmp/diff"; then
	say "man/dotpool.conf.5 is the sample's text"
else
	flunk "man/dotpool.conf.5 differs from what the sample gives (run scripts/man-dotpool-conf.py > man/dotpool.conf.5):
$(head -n 20 "$tmp/diff")"
fi

# every key of the parser's table, as a tag
n=0
for k in $(sed -n 's/^[[:space:]]*[GZU]("\([a-z0-9-]*\)".*/\1/p' "$top/module/config_keys.c" | sort -u); do
	n=$((n + 1))
	grep -qF "\\fB${k//-/\\-}:\\fR" "$page" || flunk "key $k is not in dotpool.conf(5)"
done
[ "$n" -ge 25 ] || flunk "found only $n keys in module/config_keys.c"
# every default of the sample's dotpool: section, next to its key
d=0
while read -r k v; do
	d=$((d + 1))
	v=${v//-/\\-}
	grep -qxF "\\fB${k//-/\\-}:\\fR \\fI$v\\fR" "$page" ||
		flunk "default $k: $v of the sample is not in dotpool.conf(5)"
done < <(awk '/^dotpool:/ {on=1; next} /^# ---- per/ {on=0}
	on && /^\t[a-z][a-z0-9-]*: / { sub(/^\t/, ""); sub(/:/, ""); print }' \
	"$top/dotpool.conf.sample")
[ "$d" -ge 20 ] || flunk "found only $d defaults in dotpool.conf.sample"
say "$n keys, $d defaults"

for f in "$page" "$top/man/dotpool-checkconf.8"; do
	w=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l \
		-Tutf8 -Z "$f" 2>&1 >/dev/null)
	[ -z "$w" ] || flunk "groff warnings on $(basename "$f"): $w"
	lexgrog "$f" >/dev/null 2>&1 || flunk "lexgrog cannot read the NAME of $(basename "$f")"
done
[ "$fail" = 0 ] && say PASS
exit "$fail"
