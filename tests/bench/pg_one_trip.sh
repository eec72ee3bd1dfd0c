#!/bin/bash
# What one round trip per release would save in PostgreSQL, measured with
# pgbench on the broker's two release statements (docs/benchmarks.md,
# "Release with PostgreSQL"):
#   two: the single-use jti insert (autocommit: one WAL flush), then the
#        resource read, each its own round trip, as the broker does today;
#   one: both in one statement (a data-modifying WITH), one round trip,
#        the same commit and the same row returned.
#   tests/bench/pg_one_trip.sh [SECONDS]
# Local PostgreSQL 15 (fsync on, as release_pg.sh), the tables as pg.c
# makes them, pgbench -M prepared -c 8 -j 2 on core 1, the server on core 0,
# RUNS runs each, alternating.  Prints transactions/s and transactions per
# CPU-second of PostgreSQL for each, and their ratio.  Figures only.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-5}; RUNS=${RUNS:-3}
. tests/bench/lib.sh
[ -x "$PGBIN/pgbench" ] || { echo "pg_one_trip: no PostgreSQL 15 server"; exit 0; }
# PostgreSQL's CPU seconds so far: the postmaster's own and its reaped
# children's (pgbench's backends exit with their connections) plus the
# live children's (checkpointer, WAL writer ...).
pgcpu() { { awk '{print $14 + $15 + $16 + $17}' "/proc/$PGPID/stat"
	for p in $(pgrep -P "$PGPID"); do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null; done; } |
	awk -v t="$TCK" '{s += $1} END {printf "%.2f", s / t}'; }
PGDIR=$(mktemp -d /tmp/kbs-pgtrip-XXXXXX)
cleanup() { pg_stop; rm -rf "$PGDIR"; }
trap cleanup EXIT
pg_start "$PGDIR" ${PG_OPTS:-}
psql_ "CREATE TABLE kbs_resource (path text PRIMARY KEY, kek_id text NOT NULL,
	wrapped_dek bytea NOT NULL, iv bytea NOT NULL, ct bytea NOT NULL, tag bytea NOT NULL,
	updated timestamptz NOT NULL DEFAULT now());
	CREATE INDEX kbs_resource_kek ON kbs_resource (kek_id);
	CREATE TABLE kbs_jti (scope text NOT NULL, digest bytea NOT NULL, claim bytea NOT NULL,
	expires_at bigint NOT NULL, PRIMARY KEY (scope, digest));
	CREATE INDEX kbs_jti_expiry ON kbs_jti (expires_at)"
# Fixed bytes stand in for a sealed row (the server does not open it).
psql_ "INSERT INTO kbs_resource (path, kek_id, wrapped_dek, iv, ct, tag) VALUES ('default/key/bench', 'k1',
	decode(repeat('ab', 60), 'hex'), decode(repeat('cd', 12), 'hex'), decode(repeat('ef', 32), 'hex'),
	decode(repeat('01', 16), 'hex'))"
# A fresh 32-byte digest per transaction (as SHA-256 of a new jti).
INS="INSERT INTO kbs_jti (scope, digest, claim, expires_at) VALUES ('bench',
 sha256(int8send(CAST(:id AS bigint)) || int8send(CAST(:c AS bigint))), '\\x00112233445566778899aabbccddeeff', 9999999999)
 ON CONFLICT (scope, digest) DO UPDATE SET claim = EXCLUDED.claim, expires_at = EXCLUDED.expires_at
 WHERE kbs_jti.expires_at < 0 RETURNING 1"
SEL="SELECT kek_id, wrapped_dek, iv, ct, tag FROM kbs_resource WHERE path = 'default/key/bench'"
n=0
mk() { # NAME: the two scripts, each transaction's id unique across runs
	n=$((n + 1))
	{ echo "\\set id random(1, 9000000000000000000)"; echo "\\set c $n"
	  if [ "$1" = two ]; then echo "$INS;"; echo "$SEL;"
	  else echo "WITH j AS ($INS) SELECT (SELECT count(*) FROM j) AS used, r.kek_id, r.wrapped_dek, r.iv, r.ct, r.tag FROM kbs_resource r WHERE r.path = 'default/key/bench';"; fi
	} | awk '/^\\/ {print; next} {printf "%s ", $0} END {print ""}' >"$PGD/$1.sql"
}
declare -A TPS=() CPS=()
echo "== pgbench -M prepared -c 8 -j 2, ${SECS}s x $RUNS: two round trips vs one"
for _ in $(seq "$RUNS"); do
	for v in two one; do
		mk "$v"
		c0=$(pgcpu)
		out=$("${LD[@]}" runuser -u postgres -- "$PGBIN/pgbench" -n -M prepared -c 8 -j 2 -T "$SECS" \
			-h "$PGD" -p "$PGP" -U kbs -f "$PGD/$v.sql" postgres 2>&1) || { echo "$out" | head -12; exit 1; }
		sleep 0.5 # the backends' exit
		c1=$(pgcpu)
		tx=$(awk '/number of transactions actually processed/ {split($NF, a, "/"); print a[1]}' <<<"$out")
		tps=$(awk '/^tps/ {print $3; exit}' <<<"$out")
		cps=$(per_cpu "$tx" "$c0" "$c1")
		TPS[$v]+="$tps "; CPS[$v]+="$cps "
		echo "  $v: $tps tx/s, $cps tx per CPU-s of PostgreSQL"
	done
done
t2=$(med ${TPS[two]}); t1=$(med ${TPS[one]}); c2=$(med ${CPS[two]}); c1=$(med ${CPS[one]})
echo "  median two: $t2 tx/s, $c2 tx/CPU-s; one: $t1 tx/s, $c1 tx/CPU-s; one/two: $(ratio "$t1" "$t2")x wall, $(ratio "$c1" "$c2")x per CPU-s"
echo "  jti rows: $(psql_ 'SELECT count(*) FROM kbs_jti')"
