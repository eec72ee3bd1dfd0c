#!/bin/bash
# Two builds side by side, alternating short runs, so that a change is
# measured against what it changed while the machine's load moves:
#   tests/bench/compare.sh BEFORE_BUILD AFTER_BUILD [ROUNDS] [SECONDS]
# (build trees, e.g. a `git worktree` of main built with
# -DCMAKE_BUILD_TYPE=Release, and build-rel).  Each build gets its own
# kbs-issuer and kbs-broker (same token and session keys, servers pinned to
# core 0, load to core 1).  Per round and build: fresh-token releases
# (tokens.lua), repeated-token releases (wrk -c8), issuer handshakes
# (loadgen, 8 connections) and 256 keep-alive connections (wrk --latency).
# Rates are per CPU-second of the server process (the issuer's with its key
# process, as release.sh), next to the wall rate; the summary gives the
# median of each figure and the median of the per-round ratios
# after/before.  BEFORE_THREADS / AFTER_THREADS set http.threads of that
# build's servers (e.g. the event loops of a KBS_HTTP_ENGINE=libevent
# build); unset, the default.  FIGURES (default "fresh repeated handshakes
# c256") runs only those figures, so a change to one path gets more rounds
# in the same time.  Figures only; docs/benchmarks.md keeps them.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { echo "usage: $0 BEFORE_BUILD AFTER_BUILD [ROUNDS] [SECONDS]" >&2; exit 2; }
abs() { case $1 in /*) echo "$1";; *) echo "$PWD/$1";; esac; }
declare -A BIN IP BP IPID BPID
BIN[before]=$(abs "$1"); BIN[after]=$(abs "$2"); R=${3:-5}; S=${4:-2}
FIGURES=${FIGURES:-fresh repeated handshakes c256}
for t in wrk taskset curl; do
	command -v "$t" >/dev/null || { echo "compare needs $t" >&2; exit 2; }
done
. tests/bench/lib.sh
ST=$(mktemp -d)
cleanup() { stop_jobs; rm -rf "$ST"; }
trap cleanup EXIT
admin_key
for w in before after; do
	IP[$w]=$(port); BP[$w]=$(port)
	issuer_json "${IP[$w]}" >"$ST/i-$w.json"
	broker_json "${BP[$w]}" "${IP[$w]}" "$w" >"$ST/b-$w.json"
	th=$([ "$w" = before ] && echo "${BEFORE_THREADS:-}" || echo "${AFTER_THREADS:-}")
	[ -z "$th" ] || sed -i "s/\"http\":{/\"http\":{\"threads\":$th,/" "$ST/i-$w.json" "$ST/b-$w.json"
	# The first issuer makes the keys; the second starts after it.
	"${SRV[@]}" "${BIN[$w]}/issuer/kbs-issuer" -c "$ST/i-$w.json" 2>"$ST/i-$w.log" &
	IPID[$w]=$!
	wait_up "${IP[$w]}"
	"${SRV[@]}" "${BIN[$w]}/broker/kbs-broker" -c "$ST/b-$w.json" 2>"$ST/b-$w.log" &
	BPID[$w]=$!
	wait_up "${BP[$w]}"
	"${BIN[after]}/client/kbs-client" --insecure-http --url "http://127.0.0.1:${BP[$w]}" \
		set-resource --admin-key "$ST/admin.pem" --path default/key/bench \
		--value 0123456789abcdef0123456789abcdef >/dev/null
done
TOKEN=$("${BIN[after]}/client/kbs-client" --insecure-http --url "http://127.0.0.1:${IP[after]}" attest)
printf '%s' "$TOKEN" >"$ST/token"
build_loadgen "${BIN[after]}"
NTOK=$((R * 2 * 4000)); [ "$NTOK" -ge 8000 ] || NTOK=8000
"$ST/loadgen" mint "$ST/token" "$ST/t.pem" "$NTOK" "$ST/tokens"
url() { echo "http://127.0.0.1:${BP[$1]}/kbs/v0/resource/default/key/bench"; }
for w in before after; do curl -fs -H "Authorization: Bearer $TOKEN" "$(url "$w")" >/dev/null; done
start=0
want() { case " $FIGURES " in *" $1 "*) return 0;; esac; return 1; }
echo "== $R rounds of ${S}s per figure and build (wall rate; per CPU-second of the server; p50 p99; non-2xx + socket errors)"
for r in $(seq "$R"); do
	for w in before after; do
		want fresh && echo "fresh $w $r $(TOKENS=$ST/tokens START=$start wrk_run "${BPID[$w]}" -t1 -c8 -d"${S}s" -s tests/bench/tokens.lua "$(url "$w")")"
		start=$((start + 4000))
		want repeated && echo "repeated $w $r $(wrk_run "${BPID[$w]}" -t1 -c8 -d"${S}s" -H "Authorization: Bearer $TOKEN" "$(url "$w")")"
		want handshakes && echo "handshakes $w $r $(hs_run "${IPID[$w]}" "${IP[$w]}" "$S" |
			awk '{printf "%s %s %sms %sms %d\n", $1, $5, $2, $3, $4}')"
		want c256 && echo "c256 $w $r $(wrk_run "${BPID[$w]}" -t1 -c256 -d"${S}s" --latency -H "Authorization: Bearer $TOKEN" "$(url "$w")")"
		: # a figure left out is not a failure of the loop
	done
done | tee "$ST/all"
echo "== medians (before -> after; ratio: median of the per-round after/before)"
for f in $FIGURES; do
	awk -v f="$f" '
		function med(a, n,   i, j, t) {
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) {t = a[i]; a[i] = a[j]; a[j] = t}
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		function ms(s) { return s ~ /ms$/ ? s + 0 : s ~ /us$/ ? s / 1000 : s ~ /s$/ ? s * 1000 : s + 0 }
		$1 == f && $2 == "before" {nb++; b[nb] = $5; bp50[nb] = ms($6); bp99[nb] = ms($7); x[$3] = $5}
		$1 == f && $2 == "after" {na++; a[na] = $5; ap50[na] = ms($6); ap99[na] = ms($7); if (x[$3] > 0) q[++nq] = $5 / x[$3]}
		END {
			printf "  %-10s %6.0f -> %6.0f /CPU-s (%.2fx)", f, med(b, nb), med(a, na), med(q, nq)
			if (f != "fresh" && f != "repeated")
				printf "; p50 %.1f -> %.1f ms, p99 %.1f -> %.1f ms", med(bp50, nb), med(ap50, na), med(bp99, nb), med(ap99, na)
			printf "\n"
		}' "$ST/all"
done
