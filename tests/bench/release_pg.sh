#!/bin/bash
# Release throughput, filesystem store vs PostgreSQL store, in one run.
#   tests/bench/release_pg.sh [BUILD] [SECONDS]
# Starts a local PostgreSQL 15 (initdb as the postgres user in a temporary
# directory, loopback, fsync on), one kbs-issuer-less pair of brokers:
#   fs: resources in repository.dir, single-use jti cache in memory;
#   pg: resources in PostgreSQL (envelope-encrypted), jti in PostgreSQL.
# Both trust one single-use issuer whose tokens are minted here in advance
# (every request carries a fresh jti, so both brokers do the full
# single-use check), and run wrk -t2 (CONNS connections) for SECONDS, RUNS times each,
# alternating.  Prints both medians and their ratio (goal: pg >= 0.7 x fs),
# per wall-clock second and per CPU-second (as release.sh: the figure that
# holds while other work shares the cores): the brokers and PostgreSQL run
# on core 0, wrk on core 1; fs counts its broker's CPU time, pg its broker's
# plus every PostgreSQL process's, and the medians split a pg request's
# CPU into microseconds of the broker, of its key process (the KEKs that
# open each row's data key) and of PostgreSQL.  pg_stat_statements then counts the
# statements and round trips per release with each one's mean execution
# time in the server, and the WAL records and flushes per release (the
# profile of the pg path).
# CONNS (default 8) sets wrk's connections; PG_CORE (default 0) the core
# PostgreSQL runs on: with PG_CORE=1 it shares the load generator's core
# instead of the brokers', the way a database server gets a core of its
# own, and with CONNS=32 enough releases are in flight for their commits
# to overlap, so the wall-clock rate is the broker's throughput rather
# than eight requests waiting on the disk's flush (make bench runs both
# placements, see docs/benchmarks.md).
# PG_OPTS adds server settings, e.g. PG_OPTS="-c synchronous_commit=off";
# BEFORE=BUILD2 adds a third broker, "pg0": the pg one built from another
# tree (e.g. the commit before a change), on its own database, measured in
# the same run, interleaved, so a change's effect is not the machine's load.
# PERF=DIR records the pg runs with perf (broker.data, postgres.data).
# Figures only; nothing here passes or fails.  The machine is shared.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}; SECS=${2:-5}; RUNS=${RUNS:-3}; CONNS=${CONNS:-8}
BIN=$PWD/$BUILD
. tests/bench/lib.sh
[ -x "$PGBIN/initdb" ] || { echo "release_pg: no PostgreSQL 15 server (deploy/install-deps.sh --test)"; exit 0; }
command -v wrk >/dev/null || { echo "release_pg: no wrk"; exit 0; }

ST=$(mktemp -d); PGDIR=$(mktemp -d /tmp/kbs-pgbench-XXXXXX)
cleanup() { stop_jobs; pg_stop; rm -rf "$ST" "$PGDIR"; }
trap cleanup EXIT
pg_start "$PGDIR" -c shared_preload_libraries=pg_stat_statements ${PG_OPTS:-}
FP=$(port); BP=$(port)
URL="postgresql://kbs@127.0.0.1:$PGP/postgres"
psql_ 'CREATE EXTENSION pg_stat_statements' >/dev/null
# The postmaster and its children (backends, WAL writer, checkpointer ...).
pg_pids() { echo "$PGPID"; pgrep -P "$PGPID" || true; }

# The single-use issuer's key, its JWKS, the tokens, the admin key, a KEK.
admin_key
head -c 32 /dev/urandom >"$ST/kek"; chmod 600 "$ST/kek"
# Enough for every run of a broker at 2500 releases/s, twice over (a wrk
# thread that runs ahead leaves the other's tokens unused): a token sent
# twice would be refused as spent and count as a failed request.
NTOK=${NTOK:-$(((RUNS * SECS + 1) * 5000))}
/usr/bin/python3 - "$ST" "$NTOK" <<'PY'
import json, sys, time, uuid
from jwcrypto import jwk, jws
st, n = sys.argv[1], int(sys.argv[2])
key = jwk.JWK.generate(kty="EC", crv="P-256", kid="bench")
tee = jwk.JWK.generate(kty="EC", crv="P-256").export_public(as_dict=True)
tee["alg"] = "ECDH-ES+A256KW"
open(st + "/jwks.json", "w").write(json.dumps(
    {"keys": [dict(key.export_public(as_dict=True), alg="ES256")]}))
now = int(time.time())
hdr = json.dumps({"alg": "ES256", "typ": "JWT", "kid": "bench"})
with open(st + "/tokens", "w") as f:
    for _ in range(n):
        c = {"iss": "bench", "iat": now, "exp": now + 3600,
             "jti": str(uuid.uuid4()),
             "submods": {"cpu0": {"ear.status": "affirming",
                                  "ear.veraison.annotated-evidence": {
                                      "runtime_data_claims": {
                                          "tee-pubkey": tee}}}}}
        s = jws.JWS(json.dumps(c, separators=(",", ":")))
        s.add_signature(key, alg="ES256", protected=hdr)
        f.write(s.serialize(compact=True) + "\n")
PY
TRUST='{"trusted_issuers":[{"name":"bench","iss":"bench","jwks_file":"'"$ST"'/jwks.json","single_use":true,"replay_cache_size":1000000}]}'
cat >"$ST/fs.json" <<JSON
{"http":{"listen":"127.0.0.1:$FP","threads":16},"log":{"level":"warn"},
 "repository":{"dir":"$ST/res"},"policy":{"file":"policies/demo.json","state_dir":"$ST/pol"},
 "token":$TRUST, "admin":{"public_keys":["$ST/admin-pub.pem"]}}
JSON
cat >"$ST/pg.json" <<JSON
{"http":{"listen":"127.0.0.1:$BP","threads":16},"log":{"level":"warn"},
 "repository":{"dir":"$ST/res2","routes":[{"pattern":"**","store":"db"}]},
 "stores":{"db":{"type":"postgres","kek_id":"k1","kek_file":"$ST/kek"}},
 "postgres":{"url":"$URL","pool_size":16},
 "policy":{"file":"policies/demo.json","state_dir":"$ST/pol2"},
 "token":$TRUST, "admin":{"public_keys":["$ST/admin-pub.pem"]}}
JSON
"${SRV[@]}" "$BIN/broker/kbs-broker" -c "$ST/fs.json" 2>"$ST/fs.log" &
FPID=$!
"${SRV[@]}" "$BIN/broker/kbs-broker" -c "$ST/pg.json" 2>"$ST/pg.log" &
BPID=$!
OP=; OPID=
if [ -n "${BEFORE:-}" ]; then
	OP=$(port)
	psql_ 'CREATE DATABASE before' >/dev/null
	sed -e "s/127.0.0.1:$BP/127.0.0.1:$OP/" -e "s|/postgres\"|/before\"|" \
		-e "s|$ST/res2|$ST/res3|" -e "s|$ST/pol2|$ST/pol3|" "$ST/pg.json" >"$ST/pg0.json"
	"${SRV[@]}" "$BEFORE/broker/kbs-broker" -c "$ST/pg0.json" 2>"$ST/pg0.log" &
	OPID=$!
fi
for p in $FP $BP $OP; do
	wait_up "$p"
	"$BIN/client/kbs-client" --insecure-http --url "http://127.0.0.1:$p" set-resource --admin-key "$ST/admin.pem" \
		--path default/key/bench --value 0123456789abcdef0123456789abcdef
done

# Each wrk thread walks its own tokens (thread t takes every second one
# from OFF + t); done() prints the highest index used, and the next run of
# that broker starts after it, so no token is ever sent twice to a broker.
cat >"$ST/tok.lua" <<'LUA'
local toks = {}
i = 0 -- global: done() reads it through thread:get
local threads, counter = {}, 0
function setup(thread)
	counter = counter + 1
	thread:set("tid", counter)
	table.insert(threads, thread)
end
function init(args)
	for line in io.lines(args[1]) do toks[#toks + 1] = line end
	i = tonumber(args[2]) + tid - 1
end
function request()
	i = i + 2
	return wrk.format("GET", nil, {["Authorization"] = "Bearer " ..
		toks[(i - 1) % #toks + 1]})
end
function done(summary, latency, requests)
	local top = 0
	for _, t in ipairs(threads) do
		local v = t:get("i")
		if v > top then top = v end
	end
	io.write(string.format("LAST %d\n", top))
end
LUA
declare -A OFF=([fs]=0 [pg]=0)
# run NAME PORT PIDCMD [SECS]: "req/s req/CPU-s non2xx requests" into
# $ST/wrk.result; PIDCMD lists the server processes (asked again at the
# end: a process born during the run counts from zero).
run() {
	local name=$1 port=$2 pids=$3 out last c0 c1
	c0=$(cpu $($pids))
	out=$("${LD[@]}" wrk -t2 -c"$CONNS" -d"${4:-$SECS}s" -s "$ST/tok.lua" \
		"http://127.0.0.1:$port/kbs/v0/resource/default/key/bench" -- "$ST/tokens" "${OFF[$name]}")
	c1=$(cpu $($pids))
	last=$(awk '/^LAST/ {print $2}' <<<"$out")
	OFF[$name]=$((last + 2))
	[ "${OFF[$name]}" -lt "$NTOK" ] || echo "  (ran out of tokens: raise NTOK)" >&2
	awk -v c0="$c0" -v c1="$c1" '
		/requests in/ {n = $1} /Requests\/sec/ {r = $2} /Non-2xx/ {bad = $NF}
		END {printf "%s %.0f %d %d\n", r, (c1 > c0 ? n / (c1 - c0) : 0), bad, n}' <<<"$out" >"$ST/wrk.result"
}
echo "== release, filesystem vs PostgreSQL (single-use tokens, wrk -t2 -c$CONNS on core 1, servers on core 0, PostgreSQL on core ${PG_CORE:-0}, ${SECS}s x $RUNS)"
fs_pids() { echo "$FPID"; }
# A broker's children (kids): the key process holding its KEKs works for it.
pg_all() { echo "$BPID"; kids "$BPID"; pg_pids; }
pg0_all() { echo "$OPID"; kids "$OPID"; pg_pids; }
declare -A PORT=([fs]=$FP [pg]=$BP [pg0]=$OP) PIDS=([fs]=fs_pids [pg]=pg_all [pg0]=pg0_all) \
	BPIDOF=([fs]=$FPID [pg]=$BPID [pg0]=$OPID)
NAMES=(fs pg); [ -z "$OP" ] || NAMES+=(pg0)
OFF[pg0]=0
# Warm-up, not counted: the pg brokers' pools fill, the caches settle.
for n in "${NAMES[@]}"; do run "$n" "${PORT[$n]}" "${PIDS[$n]}" 1; done
declare -A RATES=() CPUS=() BCPUS=() UB=() UK=() UP=()
# per_req N C0 C1: microseconds of CPU per request between two readings.
per_req() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN {printf "%.0f", (n > 0 ? (b - a) * 1e6 / n : 0)}'; }
total=0
psql_ 'SELECT pg_stat_statements_reset()' >/dev/null
psql_ "SELECT pg_stat_reset_shared('wal')" >/dev/null
for _ in $(seq "$RUNS"); do
	for n in "${NAMES[@]}"; do
		bp=${BPIDOF[$n]}
		b0=$(cpu "$bp"); kp0=$(cpu $(kids "$bp")); pp0=$(cpu $(pg_pids))
		if [ -n "${PERF:-}" ] && [ "$n" = pg ]; then
			mkdir -p "$PERF"
			perf record -q -g -o "$PERF/broker.data" -p "$bp" -- sleep "$SECS" 2>/dev/null &
			perf record -q -g -o "$PERF/postgres.data" -p "$(pg_pids | paste -sd,)" -- sleep "$SECS" 2>/dev/null &
		fi
		run "$n" "${PORT[$n]}" "${PIDS[$n]}"; read -r r c bad k <"$ST/wrk.result"
		[ -z "${PERF:-}" ] || [ "$n" != pg ] || wait $(jobs -p | grep -v -x -e "$FPID" -e "$BPID" -e "${OPID:-x}") 2>/dev/null || true
		b1=$(cpu "$bp"); kp1=$(cpu $(kids "$bp")); pp1=$(cpu $(pg_pids))
		cb=$(per_cpu "$k" "$b0" "$b1")
		RATES[$n]+="$r "; CPUS[$n]+="$c "; BCPUS[$n]+="$cb "
		UB[$n]+="$(per_req "$k" "$b0" "$b1") "; UK[$n]+="$(per_req "$k" "$kp0" "$kp1") "
		UP[$n]+="$(per_req "$k" "$pp0" "$pp1") "
		[ "$n" != pg ] || total=$((total + k))
		if [ "$n" = fs ]; then
			echo "  fs run: $r req/s, $c req/CPU-s (broker) (non-2xx: $bad)"
		else
			echo "  $n run: $r req/s, $c req/CPU-s (broker + PostgreSQL), $cb req/CPU-s (broker) (non-2xx: $bad)"
		fi
	done
done
mf=$(med ${RATES[fs]}); mfc=$(med ${CPUS[fs]})
for n in "${NAMES[@]}"; do
	[ "$n" != fs ] || continue
	mp=$(med ${RATES[$n]}); mpc=$(med ${CPUS[$n]}); mpb=$(med ${BCPUS[$n]})
	echo "  median $n/fs: $mp/$mf req/s = $(ratio "$mp" "$mf")x (goal >= 0.7); per CPU-s: $mpc (broker + PostgreSQL)/$mfc = $(ratio "$mpc" "$mfc")x, $mpb (broker alone)/$mfc = $(ratio "$mpb" "$mfc")x"
	echo "  median $n CPU per request: $(med ${UB[$n]}) us broker, $(med ${UK[$n]}) us its key process, $(med ${UP[$n]}) us PostgreSQL (fs: $(med ${UB[fs]}) us broker)"
done
echo "  jti rows in PostgreSQL: $(psql_ 'SELECT count(*) FROM kbs_jti')"
echo "== statements per pg release (pg_stat_statements over the $total pg requests; round trips = statements)"
psql_ "SELECT to_char(calls::numeric / $total, 'FM990.00') || '  ' || to_char(mean_exec_time * 1000, 'FM99990') || ' us  ' ||
	left(regexp_replace(query, '\s+', ' ', 'g'), 80)
	FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'postgres') AND calls > $total / 100 ORDER BY calls DESC" | sed 's/^/  /'
# WAL flushes per release (the commit of each jti insert; concurrent
# commits share a flush: group commit).  pg0 writes WAL too when present.
echo "  WAL: $(psql_ "SELECT to_char(wal_records::numeric / $total, 'FM990.00') || ' records, ' ||
	to_char(wal_sync::numeric / $total, 'FM990.00') || ' flushes (fdatasync) per pg release' FROM pg_stat_wal")"
