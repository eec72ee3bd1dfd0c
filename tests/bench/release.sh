#!/bin/bash
# Release throughput over HTTP next to the raw crypto cost of a release.
#   tests/bench/release.sh [BUILD] [SECONDS]
# Starts kbs-issuer and kbs-broker on loopback, gets one token, then
#  1. release_crypto: in-process verify+wrap vs raw ES256+ECDH (one core);
#  2. wrk: GET /kbs/v0/resource/... with the bearer token, 2 threads,
#     8 keep-alive connections, RUNS runs; prints the median.
# Figures only; nothing here passes or fails.  The machine is shared.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}; SECS=${2:-5}; RUNS=${RUNS:-5}
BIN=$PWD/$BUILD
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null || sudo apt-get install -y -qq wrk >/dev/null; }

ST=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$ST"' EXIT
IP=18480; BP=18481
openssl genpkey -algorithm ed25519 -out "$ST/admin.pem" 2>/dev/null
openssl pkey -in "$ST/admin.pem" -pubout -out "$ST/admin-pub.pem"
cat >"$ST/i.json" <<JSON
{"http":{"listen":"127.0.0.1:$IP"},"log":{"level":"warn"},
 "session":{"key_file":"$ST/s.key"},"token":{"signing_key":"$ST/t.pem"},
 "verifier":{"allow_sample":true}}
JSON
cat >"$ST/b.json" <<JSON
{"http":{"listen":"127.0.0.1:$BP","threads":16},"log":{"level":"warn"},
 "repository":{"dir":"$ST/res"},"policy":{"file":"policies/demo.json","state_dir":"$ST/pol"},
 "token":{"trusted_issuers":[{"name":"i","jwks_url":"http://127.0.0.1:$IP/.well-known/jwks.json"}]},
 "admin":{"public_keys":["$ST/admin-pub.pem"]}}
JSON
"$BIN/issuer/kbs-issuer" -c "$ST/i.json" 2>"$ST/i.log" &
"$BIN/broker/kbs-broker" -c "$ST/b.json" 2>"$ST/b.log" &
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$BP/healthz" >/dev/null && break; sleep 0.1; done
"$BIN/client/kbs-client" --url "http://127.0.0.1:$BP" set-resource --admin-key "$ST/admin.pem" \
	--path default/key/bench --value 0123456789abcdef0123456789abcdef
TOKEN=$("$BIN/client/kbs-client" --url "http://127.0.0.1:$IP" attest)
printf '%s' "$TOKEN" >"$ST/token"
curl -fs "http://127.0.0.1:$IP/.well-known/jwks.json" >"$ST/jwks.json"

cc -O2 -I common tests/bench/release_crypto.c "$BIN/common/libkbs.a" \
	-ljansson -lcurl -lssl -lcrypto -lpthread -o "$ST/release_crypto"
echo "== release, in process"
"$ST/release_crypto" "$ST/token" "$ST/jwks.json" 1

echo "== release over HTTP (wrk -t2 -c8, ${SECS}s x $RUNS, keep-alive, loopback)"
rates=()
for _ in $(seq "$RUNS"); do
	r=$(wrk -t2 -c8 -d"${SECS}s" -H "Authorization: Bearer $TOKEN" \
		"http://127.0.0.1:$BP/kbs/v0/resource/default/key/bench" |
		awk '/Requests\/sec/ {print $2}')
	rates+=("$r"); echo "  run: $r req/s"
done
median=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "  median: $median req/s (2 cores shared by wrk and the broker)"
non200=$(grep -c '" [^2][0-9][0-9] ' "$ST/b.log" || true)
echo "  non-2xx responses logged: $non200"
