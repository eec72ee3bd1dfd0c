#!/bin/bash
# Broker RSS over many fresh-token releases, sampled as it goes (issue 11's
# "RSS flat: < +5 MB over 1M releases"):
#   tests/bench/rss.sh [BUILD] [RELEASES]
# RELEASES defaults to 1000000.  Env: EVERY (default 100000), releases
# between samples; FRESH_TOKENS (default 40000), distinct tokens minted
# (each is sent again only after all the others, so with the broker's
# 1024-entry cache every request is a cache miss); SMAPS=DIR, also keep
# /proc/PID/smaps and /proc/PID/task/*/schedstat of every sample in DIR;
# with SMAPS and MALLOC_INFO=1, also glibc's malloc_info() of each
# sample (gdb attaches between two wrk rounds, when no worker is inside
# malloc); ROUND (default 60), the longest wrk round in seconds (samples
# are taken between rounds; a round of 8 new connections takes 8 workers,
# so ROUND=100000 keeps the same 8 for all of RELEASES and shows what
# grows with releases alone); WARM_CONNS (default 512, http.threads' default), the connections of the
# warm-up's first round (below).
# MALLOC_* in the environment reach the broker (glibc's tunables).
#
# It starts kbs-issuer and kbs-broker on loopback (servers on core 0,
# wrk on core 1, as release.sh), attests once, warms the broker up with
# 20000 releases, then drives `wrk -t1 -c8 -s tokens.lua` in rounds of at
# most ROUND s and prints, before the warm-up, at the start and after every
# EVERY releases:
#   releases VmRSS RssAnon RssFile (kB) workers
# where workers is how many of the broker's threads have run for more
# than 1 ms so far.  CivetWeb hands each new connection to the worker
# that has waited longest, and a worker that serves its first connection
# touches its stack and leaves its malloc caches filled (about 70 kB
# together): the broker's RSS grows with the number of workers ever used,
# up to http.threads of them, a bound and not a leak.  The warm-up's
# first round therefore opens WARM_CONNS connections at once, one worker
# each, so that what follows measures releases, not workers (WARM_CONNS=8
# shows the creep instead: 8 new workers per wrk round).  Figures only.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}; TOTAL=${2:-1000000}
EVERY=${EVERY:-100000}; FRESH_TOKENS=${FRESH_TOKENS:-40000}; SMAPS=${SMAPS:-}
WARM_CONNS=${WARM_CONNS:-512}; ROUND=${ROUND:-60}; MALLOC_INFO=${MALLOC_INFO:-}
BIN=$PWD/$BUILD
for t in wrk openssl taskset curl; do
	command -v "$t" >/dev/null || { echo "rss bench needs $t" >&2; exit 2; }
done
. tests/bench/lib.sh

ST=$(mktemp -d)
cleanup() { stop_jobs; rm -rf "$ST"; }
trap cleanup EXIT

IP=$(port); BP=$(port)
admin_key
issuer_json "$IP" >"$ST/i.json"
broker_json "$BP" "$IP" b >"$ST/b.json"
"${SRV[@]}" "$BIN/issuer/kbs-issuer" -c "$ST/i.json" 2>"$ST/i.log" &
wait_up "$IP"
"${SRV[@]}" "$BIN/broker/kbs-broker" -c "$ST/b.json" 2>"$ST/b.log" &
BPID=$!
wait_up "$BP"
"$BIN/client/kbs-client" --insecure-http --url "http://127.0.0.1:$BP" set-resource --admin-key "$ST/admin.pem" \
	--path default/key/bench --value 0123456789abcdef0123456789abcdef >/dev/null
"$BIN/client/kbs-client" --insecure-http --url "http://127.0.0.1:$IP" attest >"$ST/token"
URL="http://127.0.0.1:$BP/kbs/v0/resource/default/key/bench"
build_loadgen "$BIN"
"$ST/loadgen" mint "$ST/token" "$ST/t.pem" "$FRESH_TOKENS" "$ST/tokens"

# releases N: about N fresh-token releases, in wrk rounds of at most ROUND s;
# adds what was done to DONE and non-2xx answers and socket errors to BAD.
RATE=1000
# releases N [CONNS]: the same over CONNS connections (default 8).
releases() {
	local left=$1 c=${2:-8} d
	while [ "$left" -gt 0 ]; do
		d=$(awk -v l="$left" -v r="$RATE" -v m="$ROUND" 'BEGIN {s = l / r; printf "%d", (s > m ? m : s < 1 ? 1 : s + 0.5)}')
		TOKENS=$ST/tokens START=$DONE "${LD[@]}" wrk -t1 -c"$c" -d"${d}s" -s tests/bench/tokens.lua "$URL" \
			>"$ST/wrk.out" 2>&1 || true
		read -r n r b < <(awk '/requests in/ {n = $1} /Requests\/sec/ {r = $2}
			/Non-2xx or 3xx responses:/ {b += $NF}
			/Socket errors:/ {gsub(",", ""); b += $4 + $6 + $8 + $10}
			END {printf "%d %.0f %d\n", n, r, b}' "$ST/wrk.out")
		[ "$n" -gt 0 ] || { echo "wrk made no request:" >&2; cat "$ST/wrk.out" >&2; exit 1; }
		DONE=$((DONE + n)); BAD=$((BAD + b)); left=$((left - n))
		[ "$r" -gt 0 ] && RATE=$r
	done
}
# sample: one line of figures, and with SMAPS the raw files.
sample() {
	local w
	w=$(cat /proc/"$BPID"/task/*/schedstat | awk '$1 > 1e6 {n++} END {print n + 0}')
	awk -v n="$DONE" -v w="$w" '/^VmRSS/ {v = $2} /^RssAnon/ {a = $2} /^RssFile/ {f = $2}
		END {printf "  %8d %8d %8d %8d %5d\n", n, v, a, f, w}' /proc/"$BPID"/status
	if [ -n "$SMAPS" ]; then
		mkdir -p "$SMAPS"
		cat /proc/"$BPID"/smaps >"$SMAPS/smaps.$DONE"
		for t in /proc/"$BPID"/task/*; do echo "${t##*/} $(cat "$t/schedstat")"; done >"$SMAPS/sched.$DONE"
		[ -z "$MALLOC_INFO" ] || gdb -p "$BPID" -batch -ex "set \$f = (void *) fopen(\"$SMAPS/minfo.$DONE\", \"w\")" \
			-ex 'call (int) malloc_info(0, $f)' -ex 'call (int) fclose($f)' >/dev/null 2>&1
	fi
}

DONE=0; BAD=0
echo "== broker RSS over $TOTAL fresh-token releases (wrk -t1 -c8, $FRESH_TOKENS tokens)"
echo "  releases    VmRSS  RssAnon  RssFile workers (kB; workers: threads that ran > 1 ms)"
sample
releases "$((WARM_CONNS * 4))" "$WARM_CONNS"
sample
releases $((20000 - DONE))
W0=$DONE; BAD=0
echo "  -- warmed up ($W0 releases, the first $((WARM_CONNS * 4)) over $WARM_CONNS connections); measured from here:"
sample
read -r V0 A0 < <(awk '/^VmRSS/ {v = $2} /^RssAnon/ {a = $2} END {print v, a}' /proc/"$BPID"/status)
while [ $((DONE - W0)) -lt "$TOTAL" ]; do
	step=$((TOTAL - (DONE - W0))); [ "$step" -le "$EVERY" ] || step=$EVERY
	releases "$step"
	sample
done
read -r V1 A1 < <(awk '/^VmRSS/ {v = $2} /^RssAnon/ {a = $2} END {print v, a}' /proc/"$BPID"/status)
printf '  RSS %+d kB (anonymous %+d kB) over %d releases (goal < +5 MB per 1M); %d non-2xx or socket errors\n' \
	"$((V1 - V0))" "$((A1 - A0))" "$((DONE - W0))" "$BAD"
