# Sourced by the bench scripts that start servers and drive load at them
# (release.sh, release_pg.sh, compare.sh, pg_one_trip.sh): the core
# pinning, the CPU-time accounting, medians, the wrk and loadgen runs and
# the configurations of an issuer and a broker.  Helpers that write files
# write them under $ST, the calling script's temp directory.
. "$(dirname "${BASH_SOURCE[0]}")/kbs_build.sh"

# Servers run on core 0 (SRV), load generators on core 1 (LD).
SRV=(taskset -c 0); LD=(taskset -c 1)
[ "$(nproc)" -ge 2 ] || LD=(taskset -c 0)
TCK=$(getconf CLK_TCK)

# port: a free TCP port on 127.0.0.1.
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# cpu PID...: user + system seconds of those processes so far.
cpu() {
	local p
	for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null; done |
		awk -v t="$TCK" '{s += $14 + $15} END {printf "%.2f", s / t}'
}
# kids PID: the running children of PID.
kids() { cat /proc/"$1"/task/*/children 2>/dev/null || true; }
# cpu_tree PID: CPU seconds of PID and its running children (a server's
# key process works for it: its signatures are part of a request's cost).
cpu_tree() { cpu "$1" $(kids "$1"); }
# per_cpu N C0 C1: N per CPU-second between the readings C0 and C1.
per_cpu() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN {printf "%.0f", (b > a ? n / (b - a) : 0)}'; }

# median: the median of the numbers on stdin, one a line.  med N...: of N...
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
med() { printf '%s\n' "$@" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }

# stop_jobs: end the script's background jobs (its EXIT trap).
stop_jobs() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; }
# wait_up PORT...: until each server on 127.0.0.1:PORT answers /healthz
# (10 s at most each).
wait_up() {
	local p
	for p in "$@"; do
		for _ in $(seq 100); do curl -fs "http://127.0.0.1:$p/healthz" >/dev/null && break; sleep 0.1; done
	done
}

# admin_key: $ST/admin.pem and $ST/admin-pub.pem, an Ed25519 admin key.
admin_key() {
	openssl genpkey -algorithm ed25519 -out "$ST/admin.pem" 2>/dev/null
	openssl pkey -in "$ST/admin.pem" -pubout -out "$ST/admin-pub.pem"
}
# issuer_json PORT: an issuer on 127.0.0.1:PORT, keys $ST/s.key and
# $ST/t.pem (made by the first issuer that starts), the sample TEE allowed.
issuer_json() {
	cat <<JSON
{"http":{"listen":"127.0.0.1:$1"},"log":{"level":"warn"},
 "session":{"key_file":"$ST/s.key"},"token":{"signing_key":"$ST/t.pem","lifetime":7200},
 "verifier":{"allow_sample":true}}
JSON
}
# broker_json PORT ISSUER_PORT NAME: a broker on 127.0.0.1:PORT trusting
# that issuer, its state in $ST/res-NAME and $ST/pol-NAME, admin_key's key.
broker_json() {
	cat <<JSON
{"http":{"listen":"127.0.0.1:$1"},"log":{"level":"warn"},
 "repository":{"dir":"$ST/res-$3"},"policy":{"file":"policies/demo.json","state_dir":"$ST/pol-$3"},
 "token":{"trusted_issuers":[{"name":"i","jwks_url":"http://127.0.0.1:$2/.well-known/jwks.json",
   "allow_insecure_http":true}]},
 "admin":{"public_keys":["$ST/admin-pub.pem"]}}
JSON
}

# build_loadgen BUILD: $ST/loadgen (tests/bench/loadgen.c) against BUILD.
build_loadgen() {
	cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(kbs_incs common client) -o "$ST/loadgen" \
		tests/bench/loadgen.c $(kbs_libs "$1" client common) \
		$(pkg-config --libs jansson libcurl openssl) -lpthread
}

# wrk_run PID ARGS...: one wrk run on the load core against the server
# process PID: "req/s req/CPU-s p50 p99 bad" (p50 and p99 "-" without
# --latency; bad: non-2xx/3xx responses plus socket errors, also added to
# $ST/bad.PID).  wrk's output stays in $ST/wrk.out.
wrk_run() {
	local pid=$1 c0 c1; shift
	c0=$(cpu "$pid"); "${LD[@]}" wrk "$@" >"$ST/wrk.out"; c1=$(cpu "$pid")
	awk -v c0="$c0" -v c1="$c1" -v badf="$ST/bad.$pid" '
		/requests in/ {n = $1} /Requests\/sec/ {r = $2} /^ +50%/ {p50 = $2} /^ +99%/ {p99 = $2}
		/Non-2xx or 3xx responses:/ {bad += $NF}
		/Socket errors:/ {gsub(",", ""); bad += $4 + $6 + $8 + $10}
		END {
			printf "%d\n", bad >>badf
			printf "%s %.0f %s %s %d\n", r, (c1 > c0 ? n / (c1 - c0) : 0),
				(p50 ? p50 : "-"), (p99 ? p99 : "-"), bad
		}' "$ST/wrk.out"
}

# hs_run PID PORT SECS: one loadgen run of issuer handshakes (auth +
# attest, 8 keep-alive connections) against the issuer PID on PORT:
# "handshakes/s p50 p99 failed handshakes/CPU-s" (CPU of the issuer and
# its key process).
hs_run() {
	local c0 c1
	c0=$(cpu_tree "$1")
	"${LD[@]}" "$ST/loadgen" handshakes "http://127.0.0.1:$2" 8 "$3" >"$ST/hs1"
	c1=$(cpu_tree "$1")
	awk -v s="$3" -v c0="$c0" -v c1="$c1" \
		'{printf "%s %s %s %s %.0f\n", $1, $2, $3, $4, (c1 > c0 ? $1 * s / (c1 - c0) : 0)}' "$ST/hs1"
}

# A PostgreSQL 15 of its own (release_pg.sh, pg_one_trip.sh).
PGBIN=/usr/lib/postgresql/15/bin
# pg_start DIR [OPTION...]: initdb in DIR as the postgres user (trust for
# user kbs, fsync on) and start it on core PG_CORE (default 0, the
# servers' core), on 127.0.0.1:$PGP with its socket in DIR and the server
# options OPTION...; sets PGD, PGP, PGPID.
pg_start() {
	local pgcpu=(taskset -c "${PG_CORE:-0}")
	PGD=$1; shift
	chown postgres:postgres "$PGD"; chmod 700 "$PGD"
	PGP=$(port)
	[ "$(nproc)" -ge 2 ] || pgcpu=("${SRV[@]}")
	runuser -u postgres -- "$PGBIN/initdb" -D "$PGD/data" -U kbs --auth=trust >/dev/null
	"${pgcpu[@]}" runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGD/data" -w -l "$PGD/log" \
		-o "-c listen_addresses=127.0.0.1 -p $PGP -k $PGD $*" start >/dev/null
	PGPID=$(head -1 "$PGD/data/postmaster.pid")
}
# pg_stop: stop pg_start's server, if any (the scripts' EXIT trap).
pg_stop() {
	[ -z "${PGD:-}" ] ||
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGD/data" -m immediate stop >/dev/null 2>&1 || true
}
# psql_ SQL: run SQL in its postgres database; rows unaligned, no headers.
psql_() { runuser -u postgres -- psql -X -q -At -h "$PGD" -p "$PGP" -U kbs -d postgres -c "$1"; }

# Callgrind counts (release_callgrind.sh, handshake_callgrind.sh).
# cg_need NAME: exit 2 unless valgrind's tools and curl are here.
cg_need() {
	local t
	for t in valgrind callgrind_control callgrind_annotate curl; do
		command -v "$t" >/dev/null || { echo "$1 needs $t" >&2; exit 2; }
	done
}
# cg_start PORT PROGRAM ARGS...: PROGRAM (its stderr in $ST/cg.log) under
# callgrind, counting only in on_request (every instruction, CivetWeb's
# reading and all threads, with KBS_CG_ALL=1), profiles in $ST/cg.PID;
# waits up to 60 s for its /healthz on PORT; sets CGPID.
cg_start() {
	local port=$1 cg=(--collect-atstart=no --toggle-collect=on_request)
	shift
	[ -z "${KBS_CG_ALL:-}" ] || cg=(--collect-atstart=yes)
	valgrind --tool=callgrind --max-threads=2000 "${cg[@]}" \
		--callgrind-out-file="$ST/cg.%p" "$@" 2>"$ST/cg.log" &
	CGPID=$!
	for _ in $(seq 600); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
}
# cg_dump NAME: dump CGPID's counters (since the last callgrind_control
# -z) into $ST/NAME.out and print their total instructions.
cg_dump() {
	local f
	callgrind_control -d "$1" "$CGPID" >/dev/null 2>&1
	f=$(grep -l "^desc: Trigger: .* $1$" "$ST"/cg.* | head -1)
	cp "$f" "$ST/$1.out"
	callgrind_annotate --inclusive=yes "$ST/$1.out" 2>/dev/null |
		awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
}
