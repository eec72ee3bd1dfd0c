#!/bin/bash
# Release and handshake figures, each next to its ceiling measured in the
# same run (issue 11):
#   tests/bench/release.sh [BUILD] [SECONDS]
#   ONLY=rss RSS_RELEASES=1000000 tests/bench/release.sh [BUILD]   (7 alone)
# Servers (kbs-issuer, kbs-broker, nginx) are pinned to core 0 and every
# load generator (wrk, loadgen, the slowloris script) to core 1.
#  1. ceilings: `openssl speed` ES256 verify/sign and ECDH P-256, P-256
#     key generation (loadgen keygen); nginx serving a body of a release's
#     size (the HTTP ceiling); the broker's GET /healthz, its own HTTP
#     layer with no work, and what the ceilings would be on it;
#  2. releases with a fresh, never-seen token per request (copies of a real
#     token re-signed with the issuer's key: loadgen mint + tokens.lua);
#  3. releases with one token repeated (a guest fetching several secrets);
#  4. 256 keep-alive connections: p50/p99 latency (wrk --latency);
#  5. slowloris: 300 sockets trickling headers, then the latency of a
#     legitimate release (slowloris.py);
#  6. issuer handshakes (auth + attest, kbs-client's code) per second and
#     p50/p99 (loadgen handshakes);
#  7. broker RSS over RSS_RELEASES (default 100000) fresh-token releases,
#     sampled every RSS_EVERY (default 100000): releases, VmRSS, RssAnon,
#     RssFile (kB) and how many broker threads have run for more than
#     1 ms.  CivetWeb hands each new connection to an idle worker (the
#     longest-waiting first), and a worker serving its first connection touches
#     its stack and fills its malloc cache: RSS grows with the workers
#     ever used, up to http.threads, a bound and not a leak.  So the
#     warm-up's first round opens WARM_CONNS (default HTTP_THREADS, or
#     512, http.threads' default) connections at once, one worker each, before 20000
#     releases in all; then `wrk -t1 -c8` in rounds of at most ROUND s
#     (default 60; each round takes 8 workers, ROUND=100000 keeps the
#     same 8 throughout).  SMAPS=DIR keeps each sample's
#     /proc/PID/smaps and schedstats, with MALLOC_INFO=1 also glibc's
#     malloc_info() (gdb attaches between rounds, when no worker is in
#     malloc); MALLOC_* in the environment reach the broker.
# Each wrk/loadgen figure is the median of RUNS runs of SECONDS.  Next to
# each server's rate per wall-clock second comes its rate per CPU-second
# of the server process (/proc/PID/stat), the figure that holds while
# other work shares the cores; `openssl speed` and loadgen keygen count
# CPU time too, so ratios per CPU-second compare like with like.
# HTTP_THREADS sets http.threads of the servers.  Figures
# only; nothing here passes or fails.  docs/benchmarks.md keeps the table.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}; SECS=${2:-5}; RUNS=${RUNS:-3}
RSS_RELEASES=${RSS_RELEASES:-100000}; FRESH_TOKENS=${FRESH_TOKENS:-40000}
RSS_EVERY=${RSS_EVERY:-100000}; WARM_CONNS=${WARM_CONNS:-${HTTP_THREADS:-512}}; ROUND=${ROUND:-60}
SMAPS=${SMAPS:-}; MALLOC_INFO=${MALLOC_INFO:-}; ONLY=${ONLY:-}
BIN=$PWD/$BUILD
for t in wrk nginx openssl taskset curl; do
	command -v "$t" >/dev/null || { echo "release bench needs $t" >&2; exit 2; }
done
. tests/bench/lib.sh

ST=$(mktemp -d)
cleanup() { stop_jobs; rm -rf "$ST"; }
trap cleanup EXIT

# runs N CMD...: medians of N runs of CMD (each prints "rate per-cpu ...").
runs() {
	local n=$1; shift
	for _ in $(seq "$n"); do "$@"; done >"$ST/runs"
	echo "$(awk '{print $1}' "$ST/runs" | median) $(awk '{print $2}' "$ST/runs" | median)"
}

IP=$(port); BP=$(port); NP=$(port); IP2=$(port)
admin_key
issuer_json "$IP" >"$ST/i.json"
broker_json "$BP" "$IP" b >"$ST/b.json"
# The same issuer with its keys in the HTTP process (keyproc.in_process,
# a switch for this measurement only): the cost of the key process.
sed -e "s/:$IP\"/:$IP2\"/" -e 's/"verifier"/"keyproc":{"in_process":true},"verifier"/' \
	"$ST/i.json" >"$ST/i2.json"
# HTTP_THREADS: http.threads of every server (e.g. the event loops of a
# KBS_HTTP_ENGINE=libevent build); unset, the default.
[ -z "${HTTP_THREADS:-}" ] || sed -i "s/\"http\":{/\"http\":{\"threads\":$HTTP_THREADS,/" \
	"$ST/i.json" "$ST/i2.json" "$ST/b.json"
# One at a time: the first issuer makes the keys the second reads, the
# broker fetches the issuer's JWKS as it starts.
"${SRV[@]}" "$BIN/issuer/kbs-issuer" -c "$ST/i.json" 2>"$ST/i.log" &
IPID=$!
wait_up "$IP"
"${SRV[@]}" "$BIN/issuer/kbs-issuer" -c "$ST/i2.json" 2>"$ST/i2.log" &
I2PID=$!
wait_up "$IP2"
"${SRV[@]}" "$BIN/broker/kbs-broker" -c "$ST/b.json" 2>"$ST/b.log" &
BPID=$!
wait_up "$BP"
"$BIN/client/kbs-client" --insecure-http --url "http://127.0.0.1:$BP" set-resource --admin-key "$ST/admin.pem" \
	--path default/key/bench --value 0123456789abcdef0123456789abcdef >/dev/null
TOKEN=$("$BIN/client/kbs-client" --insecure-http --url "http://127.0.0.1:$IP" attest)
printf '%s' "$TOKEN" >"$ST/token"
URL="http://127.0.0.1:$BP/kbs/v0/resource/default/key/bench"
curl -fs -H "Authorization: Bearer $TOKEN" "$URL" >"$ST/jwe"

build_loadgen "$BIN"
"$ST/loadgen" mint "$ST/token" "$ST/t.pem" "$FRESH_TOKENS" "$ST/tokens"

# rss_releases N [CONNS]: about N fresh-token releases over CONNS
# connections (default 8), in wrk rounds of at most ROUND s; adds what was
# done to DONE and non-2xx answers and socket errors to BAD.
RATE=1000
rss_releases() {
	local left=$1 c=${2:-8} d n r b
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
# rss_status: VmRSS, RssAnon and RssFile of the broker (kB).
rss_status() { awk '/^VmRSS/ {v = $2} /^RssAnon/ {a = $2} /^RssFile/ {f = $2} END {print v, a, f}' /proc/"$BPID"/status; }
# rss_sample: one line of figures, and with SMAPS the raw files.
rss_sample() {
	local w t v a f
	w=$(cat /proc/"$BPID"/task/*/schedstat | awk '$1 > 1e6 {n++} END {print n + 0}')
	read -r v a f < <(rss_status)
	printf '  %8d %8d %8d %8d %5d\n' "$DONE" "$v" "$a" "$f" "$w"
	[ -n "$SMAPS" ] || return 0
	mkdir -p "$SMAPS"
	cat /proc/"$BPID"/smaps >"$SMAPS/smaps.$DONE"
	for t in /proc/"$BPID"/task/*; do echo "${t##*/} $(cat "$t/schedstat")"; done >"$SMAPS/sched.$DONE"
	[ -z "$MALLOC_INFO" ] || gdb -p "$BPID" -batch -ex "set \$f = (void *) fopen(\"$SMAPS/minfo.$DONE\", \"w\")" \
		-ex 'call (int) malloc_info(0, $f)' -ex 'call (int) fclose($f)' >/dev/null 2>&1
}
# rss_report: section 7.
rss_report() {
	local w0 step v0 a0 f0 v1 a1 f1
	DONE=0; BAD=0
	echo "== broker RSS over $RSS_RELEASES fresh-token releases (wrk -t1 -c8, $FRESH_TOKENS tokens)"
	echo "  releases    VmRSS  RssAnon  RssFile workers (kB; workers: threads that ran > 1 ms)"
	rss_sample
	rss_releases "$((WARM_CONNS * 4))" "$WARM_CONNS"
	rss_sample
	rss_releases $((20000 - DONE))
	w0=$DONE; BAD=0
	echo "  -- warmed up ($w0 releases, the first $((WARM_CONNS * 4)) over $WARM_CONNS connections); measured from here:"
	rss_sample
	read -r v0 a0 f0 < <(rss_status)
	while [ $((DONE - w0)) -lt "$RSS_RELEASES" ]; do
		step=$((RSS_RELEASES - (DONE - w0))); [ "$step" -le "$RSS_EVERY" ] || step=$RSS_EVERY
		rss_releases "$step"
		rss_sample
	done
	read -r v1 a1 f1 < <(rss_status)
	printf '  RSS %s kB -> %s kB after %s releases: %+d kB (goal < +5 MB per 1M); %d non-2xx or socket errors\n' \
		"$v0" "$v1" "$((DONE - w0))" "$((v1 - v0))" "$BAD"
	printf '  of which anonymous (heap, stacks) %s -> %s kB, file-backed (code and data of the binary and its libraries) %s -> %s kB\n' \
		"$a0" "$a1" "$f0" "$f1"
}
[ "$ONLY" != rss ] || { rss_report; exit 0; }

echo "== ceilings (servers on core 0, load on core 1; $(nproc) cpus, shared machine)"
"${SRV[@]}" openssl speed -seconds 2 ecdsap256 ecdhp256 2>/dev/null >"$ST/speed"
ES_SIGN=$(awk '/256 bits ecdsa \(nistp256\)/ {print $(NF-1)}' "$ST/speed")
ES_VER=$(awk '/256 bits ecdsa \(nistp256\)/ {print $NF}' "$ST/speed")
ECDH=$(awk '/256 bits ecdh \(nistp256\)/ {print $NF}' "$ST/speed")
KEYGEN=$("${SRV[@]}" "$ST/loadgen" keygen 0.4)
CRYPTO=$(awk -v v="$ES_VER" -v e="$ECDH" -v k="$KEYGEN" 'BEGIN {printf "%.0f", 1/(1/v+1/e+1/k)}')
printf '  openssl speed: ES256 verify %s/s, ES256 sign %s/s, ECDH P-256 %s/s; P-256 keygen %s/s\n' \
	"$ES_VER" "$ES_SIGN" "$ECDH" "$KEYGEN"
printf '  release crypto ceiling (verify + ECDH + keygen): %s/s\n' "$CRYPTO"

BODY=$(cat "$ST/jwe")
mkdir -p "$ST/ngx"
cat >"$ST/ngx/nginx.conf" <<NGX
worker_processes 1; daemon off; master_process off;
pid $ST/ngx/nginx.pid; error_log $ST/ngx/error.log;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 100000000; keepalive_timeout 120;
  client_body_temp_path $ST/ngx/cb;
  server { listen 127.0.0.1:$NP;
    location / { default_type application/json; return 200 '$BODY'; } }
}
NGX
"${SRV[@]}" nginx -p "$ST/ngx" -c "$ST/ngx/nginx.conf" 2>"$ST/ngx/start.log" &
NPID=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$NP/" >/dev/null && break; sleep 0.1; done
read -r NGINX NGINX_CPU < <(runs "$RUNS" wrk_run "$NPID" -t1 -c8 -d"${SECS}s" "http://127.0.0.1:$NP/")
read -r N256 _ N256_50 N256_99 _ < <(wrk_run "$NPID" -t1 -c256 -d"${SECS}s" --latency "http://127.0.0.1:$NP/")
printf '  nginx, static %s-byte JSON body, wrk -t1 -c8: %s req/s, %s req/CPU-s (256 conns: %s req/s, p50 %s, p99 %s)\n' \
	"${#BODY}" "$NGINX" "$NGINX_CPU" "$N256" "$N256_50" "$N256_99"
# ceil NGINX_RATE: the three ceilings for that HTTP rate.
ceil() {
	awk -v c="$CRYPTO" -v e="$ECDH" -v k="$KEYGEN" -v s="$ES_SIGN" -v n="$1" \
		'BEGIN {printf "%.0f %.0f %.0f\n", 1/(1/c+1/n), 1/(1/e+1/k+1/n), 1/(1/s+2/n)}'
}
read -r CEIL CEIL_REP CEIL_HS < <(ceil "$NGINX")
read -r CEILC CEILC_REP CEILC_HS < <(ceil "$NGINX_CPU")
printf '  release ceiling (crypto + HTTP): %s/s, %s/CPU-s; repeated token (ECDH + keygen + HTTP): %s/s, %s/CPU-s\n' \
	"$CEIL" "$CEILC" "$CEIL_REP" "$CEILC_REP"
printf '  handshake ceiling (ES256 sign + 2 HTTP requests): %s/s, %s/CPU-s\n' "$CEIL_HS" "$CEILC_HS"
kill "$NPID" 2>/dev/null || true
# The broker's own HTTP layer with an empty handler (GET /healthz): what
# the ceilings would be with it in nginx's place, i.e. the most a release
# or handshake can reach on this HTTP layer with no work of its own.
read -r FLOOR FLOOR_CPU < <(runs "$RUNS" wrk_run "$BPID" -t1 -c8 -d"${SECS}s" "http://127.0.0.1:$BP/healthz")
read -r FCEIL_CPU FCEIL_REP_CPU FCEIL_HS_CPU < <(ceil "$FLOOR_CPU")
printf '  kbs-broker GET /healthz (its HTTP layer, no work), wrk -t1 -c8: %s req/s, %s req/CPU-s = %sx nginx per CPU-s\n' \
	"$FLOOR" "$FLOOR_CPU" "$(ratio "$FLOOR_CPU" "$NGINX_CPU")"
printf '  with that HTTP layer in place of nginx, the ceilings per CPU-s would be: release %s (%sx), repeated %s (%sx), handshake %s (%sx)\n' \
	"$FCEIL_CPU" "$(ratio "$FCEIL_CPU" "$CEILC")" "$FCEIL_REP_CPU" "$(ratio "$FCEIL_REP_CPU" "$CEILC_REP")" \
	"$FCEIL_HS_CPU" "$(ratio "$FCEIL_HS_CPU" "$CEILC_HS")"

echo "== kbs-broker releases (wrk -t1 -c8, ${SECS}s x $RUNS, median)"
fresh_run() { TOKENS=$ST/tokens START=$RANDOM wrk_run "$BPID" -t1 -c8 -d"${SECS}s" -s tests/bench/tokens.lua "$URL"; }
read -r FRESH FRESH_CPU < <(runs "$RUNS" fresh_run)
read -r REP REP_CPU < <(runs "$RUNS" wrk_run "$BPID" -t1 -c8 -d"${SECS}s" -H "Authorization: Bearer $TOKEN" "$URL")
printf '  fresh token per request: %s/s = %sx ceiling; %s/CPU-s = %sx ceiling per CPU-s (goal >= 0.8)\n' \
	"$FRESH" "$(ratio "$FRESH" "$CEIL")" "$FRESH_CPU" "$(ratio "$FRESH_CPU" "$CEILC")"
printf '  one token repeated:      %s/s = %sx ceiling; %s/CPU-s = %sx ceiling per CPU-s (goal >= 0.8)\n' \
	"$REP" "$(ratio "$REP" "$CEIL_REP")" "$REP_CPU" "$(ratio "$REP_CPU" "$CEILC_REP")"
read -r R256 _ P50 P99 _ < <(wrk_run "$BPID" -t1 -c256 -d"${SECS}s" --latency -H "Authorization: Bearer $TOKEN" "$URL")
printf '  256 keep-alive conns, repeated token: %s/s, p50 %s, p99 %s (goal p99 < 5ms)\n' "$R256" "$P50" "$P99"
printf '  non-2xx responses and socket errors seen by wrk in these broker runs: %s\n' \
	"$(awk '{n += $1} END {print n + 0}' "$ST/bad.$BPID")"

echo "== slowloris: 300 sockets trickling headers, then 5 releases on new connections"
"${LD[@]}" /usr/bin/python3 tests/bench/slowloris.py 127.0.0.1 "$BP" 300 "$TOKEN"

echo "== kbs-issuer handshakes (auth + attest, loadgen, 8 keep-alive connections, ${SECS}s x $RUNS)"
# hs_report LABEL PID PORT: RUNS runs, medians.
hs_report() {
	for _ in $(seq "$RUNS"); do hs_run "$2" "$3" "$SECS"; done >"$ST/hs"
	HS=$(awk '{print $1}' "$ST/hs" | median); HS50=$(awk '{print $2}' "$ST/hs" | median)
	HS99=$(awk '{print $3}' "$ST/hs" | median); HSF=$(awk '{s+=$4} END {print s}' "$ST/hs")
	HSC=$(awk '{print $5}' "$ST/hs" | median)
	printf '  %s: %s handshakes/s = %sx ceiling; %s/CPU-s = %sx ceiling per CPU-s (goal >= 0.5); p50 %s ms, p99 %s ms; %s failed\n' \
		"$1" "$HS" "$(ratio "$HS" "$CEIL_HS")" "$HSC" "$(ratio "$HSC" "$CEILC_HS")" "$HS50" "$HS99" "$HSF"
}
hs_report "keys in the key process (default)" "$IPID" "$IP"
hs_report "keys in process (keyproc.in_process, measurement only)" "$I2PID" "$IP2"

rss_report
