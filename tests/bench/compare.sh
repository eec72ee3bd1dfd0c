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
# Rates are per CPU-second of the server process; the summary gives the
# median of each figure and the median of the per-round ratios
# after/before.  Figures only; docs/benchmarks.md keeps them.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { echo "usage: $0 BEFORE_BUILD AFTER_BUILD [ROUNDS] [SECONDS]" >&2; exit 2; }
abs() { case $1 in /*) echo "$1";; *) echo "$PWD/$1";; esac; }
declare -A BIN IP BP IPID BPID
BIN[before]=$(abs "$1"); BIN[after]=$(abs "$2"); R=${3:-5}; S=${4:-2}
for t in wrk taskset curl; do
	command -v "$t" >/dev/null || { echo "compare needs $t" >&2; exit 2; }
done
SRV=(taskset -c 0); LD=(taskset -c 1)
[ "$(nproc)" -ge 2 ] || LD=(taskset -c 0)
ST=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$ST"; }
trap cleanup EXIT
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
TCK=$(getconf CLK_TCK)
cpu() { awk -v t="$TCK" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
up() { for _ in $(seq 100); do curl -fs "$1/healthz" >/dev/null && return; sleep 0.1; done; }
openssl genpkey -algorithm ed25519 -out "$ST/admin.pem" 2>/dev/null
openssl pkey -in "$ST/admin.pem" -pubout -out "$ST/admin-pub.pem"
for w in before after; do
	IP[$w]=$(port); BP[$w]=$(port)
	cat >"$ST/i-$w.json" <<JSON
{"http":{"listen":"127.0.0.1:${IP[$w]}"},"log":{"level":"warn"},
 "session":{"key_file":"$ST/s.key"},"token":{"signing_key":"$ST/t.pem","lifetime":7200},
 "verifier":{"allow_sample":true}}
JSON
	cat >"$ST/b-$w.json" <<JSON
{"http":{"listen":"127.0.0.1:${BP[$w]}"},"log":{"level":"warn"},
 "repository":{"dir":"$ST/res-$w"},"policy":{"file":"policies/demo.json","state_dir":"$ST/pol-$w"},
 "token":{"trusted_issuers":[{"name":"i","jwks_url":"http://127.0.0.1:${IP[$w]}/.well-known/jwks.json",
   "allow_insecure_http":true}]},
 "admin":{"public_keys":["$ST/admin-pub.pem"]}}
JSON
	# The first issuer makes the keys; the second starts after it.
	"${SRV[@]}" "${BIN[$w]}/issuer/kbs-issuer" -c "$ST/i-$w.json" 2>"$ST/i-$w.log" &
	IPID[$w]=$!
	up "http://127.0.0.1:${IP[$w]}"
	"${SRV[@]}" "${BIN[$w]}/broker/kbs-broker" -c "$ST/b-$w.json" 2>"$ST/b-$w.log" &
	BPID[$w]=$!
	up "http://127.0.0.1:${BP[$w]}"
	"${BIN[after]}/client/kbs-client" --insecure-http --url "http://127.0.0.1:${BP[$w]}" \
		set-resource --admin-key "$ST/admin.pem" --path default/key/bench \
		--value 0123456789abcdef0123456789abcdef >/dev/null
done
TOKEN=$("${BIN[after]}/client/kbs-client" --insecure-http --url "http://127.0.0.1:${IP[after]}" attest)
printf '%s' "$TOKEN" >"$ST/token"
. tests/bench/kbs_build.sh
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(kbs_incs common client) -o "$ST/loadgen" \
	tests/bench/loadgen.c $(kbs_libs "${BIN[after]}" client common) \
	$(pkg-config --libs jansson libcurl openssl) -lpthread
NTOK=$((R * 2 * 4000)); [ "$NTOK" -ge 8000 ] || NTOK=8000
"$ST/loadgen" mint "$ST/token" "$ST/t.pem" "$NTOK" "$ST/tokens"
url() { echo "http://127.0.0.1:${BP[$1]}/kbs/v0/resource/default/key/bench"; }
for w in before after; do curl -fs -H "Authorization: Bearer $TOKEN" "$(url "$w")" >/dev/null; done
# one PID WRK_ARGS...: "per-CPU-rate wall-rate p50 p99 bad" of one wrk run.
one() {
	local pid=$1 c0 c1; shift
	c0=$(cpu "$pid"); "${LD[@]}" wrk "$@" >"$ST/w.out"; c1=$(cpu "$pid")
	awk -v c="$(awk -v a="$c0" -v b="$c1" 'BEGIN {print b - a}')" '
		/requests in/ {n = $1} /Requests\/sec/ {r = $2} /^ +50%/ {p50 = $2} /^ +99%/ {p99 = $2}
		/Non-2xx or 3xx responses:/ {bad += $NF}
		/Socket errors:/ {gsub(",", ""); bad += $4 + $6 + $8 + $10}
		END {printf "%.0f %s %s %s %d\n", (c > 0 ? n / c : 0), r, (p50 ? p50 : "-"), (p99 ? p99 : "-"), bad}' "$ST/w.out"
}
start=0
echo "== $R rounds of ${S}s per figure and build (per CPU-second of the server; wall rate; p50 p99; non-2xx + socket errors)"
for r in $(seq "$R"); do
	for w in before after; do
		echo "fresh $w $r $(TOKENS=$ST/tokens START=$start one "${BPID[$w]}" -t1 -c8 -d"${S}s" -s tests/bench/tokens.lua "$(url "$w")")"
		start=$((start + 4000))
		echo "repeated $w $r $(one "${BPID[$w]}" -t1 -c8 -d"${S}s" -H "Authorization: Bearer $TOKEN" "$(url "$w")")"
		c0=$(cpu "${IPID[$w]}")
		"${LD[@]}" "$ST/loadgen" handshakes "http://127.0.0.1:${IP[$w]}" 8 "$S" >"$ST/hs"
		c1=$(cpu "${IPID[$w]}")
		echo "handshakes $w $r $(awk -v s="$S" -v c="$(awk -v a="$c0" -v b="$c1" 'BEGIN {print b - a}')" \
			'{printf "%.0f %s %sms %sms %d\n", (c > 0 ? $1 * s / c : 0), $1, $2, $3, $4}' "$ST/hs")"
		echo "c256 $w $r $(one "${BPID[$w]}" -t1 -c256 -d"${S}s" --latency -H "Authorization: Bearer $TOKEN" "$(url "$w")")"
	done
done | tee "$ST/all"
echo "== medians (before -> after; ratio: median of the per-round after/before)"
for f in fresh repeated handshakes c256; do
	awk -v f="$f" '
		function med(a, n,   i, j, t) {
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) {t = a[i]; a[i] = a[j]; a[j] = t}
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		function ms(s) { return s ~ /ms$/ ? s + 0 : s ~ /us$/ ? s / 1000 : s ~ /s$/ ? s * 1000 : s + 0 }
		$1 == f && $2 == "before" {nb++; b[nb] = $4; bp50[nb] = ms($6); bp99[nb] = ms($7); x[$3] = $4}
		$1 == f && $2 == "after" {na++; a[na] = $4; ap50[na] = ms($6); ap99[na] = ms($7); if (x[$3] > 0) q[++nq] = $4 / x[$3]}
		END {
			printf "  %-10s %6.0f -> %6.0f /CPU-s (%.2fx)", f, med(b, nb), med(a, na), med(q, nq)
			if (f != "fresh" && f != "repeated")
				printf "; p50 %.1f -> %.1f ms, p99 %.1f -> %.1f ms", med(bp50, nb), med(ap50, na), med(bp99, nb), med(ap99, na)
			printf "\n"
		}' "$ST/all"
done
