#!/bin/bash
# Release throughput, filesystem store vs PostgreSQL store, in one run.
#   tests/bench/release_pg.sh [BUILD] [SECONDS]
# Starts a local PostgreSQL 15 (initdb as the postgres user in a temporary
# directory, loopback, fsync on), one kbs-issuer-less pair of brokers:
#   fs: resources in repository.dir, single-use jti cache in memory;
#   pg: resources in PostgreSQL (envelope-encrypted), jti in PostgreSQL.
# Both trust one single-use issuer whose tokens are minted here in advance
# (every request carries a fresh jti, so both brokers do the full
# single-use check), and run wrk -t2 -c8 for SECONDS, RUNS times each,
# alternating.  Prints both medians and their ratio (goal: pg >= 0.7 x fs).
# PG_OPTS adds server settings, e.g. PG_OPTS="-c synchronous_commit=off".
# Figures only; nothing here passes or fails.  The machine is shared.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}; SECS=${2:-5}; RUNS=${RUNS:-3}
BIN=$PWD/$BUILD
PGBIN=/usr/lib/postgresql/15/bin
[ -x "$PGBIN/initdb" ] || { echo "release_pg: no PostgreSQL 15 server (deploy/install-deps.sh --test)"; exit 0; }
command -v wrk >/dev/null || { echo "release_pg: no wrk"; exit 0; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

ST=$(mktemp -d); PGD=$(mktemp -d /tmp/kbs-pgbench-XXXXXX)
cleanup() {
	kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGD/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$ST" "$PGD"
}
trap cleanup EXIT
chown postgres:postgres "$PGD"; chmod 700 "$PGD"
PGP=$(free_port); FP=$(free_port); BP=$(free_port)
runuser -u postgres -- "$PGBIN/initdb" -D "$PGD/data" -U kbs --auth=trust >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGD/data" -w -l "$PGD/log" \
	-o "-c listen_addresses=127.0.0.1 -p $PGP -k $PGD ${PG_OPTS:-}" start >/dev/null
URL="postgresql://kbs@127.0.0.1:$PGP/postgres"

# The single-use issuer's key, its JWKS, the tokens, the admin key, a KEK.
openssl genpkey -algorithm ed25519 -out "$ST/admin.pem" 2>/dev/null
openssl pkey -in "$ST/admin.pem" -pubout -out "$ST/admin-pub.pem"
head -c 32 /dev/urandom >"$ST/kek"; chmod 600 "$ST/kek"
NTOK=${NTOK:-80000}
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
"$BIN/broker/kbs-broker" -c "$ST/fs.json" 2>"$ST/fs.log" &
"$BIN/broker/kbs-broker" -c "$ST/pg.json" 2>"$ST/pg.log" &
for p in $FP $BP; do
	for _ in $(seq 100); do curl -fs "http://127.0.0.1:$p/healthz" >/dev/null && break; sleep 0.1; done
	"$BIN/client/kbs-client" --url "http://127.0.0.1:$p" set-resource --admin-key "$ST/admin.pem" \
		--path default/key/bench --value 0123456789abcdef0123456789abcdef
done

# Each wrk thread walks its own slice of the tokens; every run starts
# further on, so no token is ever sent twice.
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
run() { # run NAME PORT: "req/s non2xx" into $ST/wrk.result
	local out last
	out=$(wrk -t2 -c8 -d"${SECS}s" -s "$ST/tok.lua" \
		"http://127.0.0.1:$2/kbs/v0/resource/default/key/bench" -- "$ST/tokens" "${OFF[$1]}")
	last=$(awk '/^LAST/ {print $2}' <<<"$out")
	OFF[$1]=$((last + 2))
	[ "${OFF[$1]}" -lt "$NTOK" ] || echo "  (ran out of tokens: raise NTOK)" >&2
	awk '/Requests\/sec/ {r=$2} /Non-2xx/ {bad=$NF} END {print r, (bad ? bad : 0)}' <<<"$out" >"$ST/wrk.result"
}
echo "== release, filesystem vs PostgreSQL (single-use tokens, wrk -t2 -c8, ${SECS}s x $RUNS)"
fs=(); pg=()
for _ in $(seq "$RUNS"); do
	run fs "$FP"; read -r r bad <"$ST/wrk.result"; fs+=("$r"); echo "  fs run: $r req/s (non-2xx: $bad)"
	run pg "$BP"; read -r r bad <"$ST/wrk.result"; pg+=("$r"); echo "  pg run: $r req/s (non-2xx: $bad)"
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mf=$(med "${fs[@]}"); mp=$(med "${pg[@]}")
echo "  median fs: $mf req/s, pg: $mp req/s, ratio pg/fs: $(awk -v a="$mp" -v b="$mf" 'BEGIN {printf "%.2f", a/b}')"
echo "  jti rows in PostgreSQL: $(runuser -u postgres -- psql -X -At -h "$PGD" -p "$PGP" -U kbs -d postgres -c 'SELECT count(*) FROM kbs_jti')"
