#!/bin/bash
# Instructions per release, counted by callgrind in the broker's request
# handler (on_request; CivetWeb's reading and the kernel are not in it):
#   tests/bench/release_callgrind.sh BUILD [N] [OUTDIR]
# starts kbs-issuer and, under valgrind --tool=callgrind, kbs-broker;
# stores a secret, attests once, then sends N releases (default 200) with
# a fresh token each (copies re-signed by `loadgen mint`, as release.sh)
# and N with one token, on one keep-alive connection, and prints the
# instructions per request of each.  Deterministic where wall-clock
# figures are not: the way to compare two builds on a loaded machine.
# With OUTDIR the two profiles stay there (fresh.out, repeated.out) for
# callgrind_annotate --inclusive=yes.  KBS_CG_ALL=1 counts every
# instruction of the broker instead (CivetWeb's reading, all threads).
# Figures only.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}; N=${2:-200}; KEEP=${3:-}
BIN=$(cd "$BUILD" && pwd)
. tests/bench/lib.sh
cg_need release_callgrind

ST=$(mktemp -d)
cleanup() { stop_jobs; [ -n "${KBS_BENCH_KEEP_TMP:-}" ] || rm -rf "$ST"; }
trap cleanup EXIT

IP=$(port); BP=$(port)
admin_key
issuer_json "$IP" >"$ST/i.json"
# 16 workers: valgrind runs threads one at a time and starts 512 slowly.
broker_json "$BP" "$IP" b | sed 's/"http":{/"http":{"threads":16,/' >"$ST/b.json"
"$BIN/issuer/kbs-issuer" -c "$ST/i.json" 2>"$ST/i.log" &
wait_up "$IP"
cg_start "$BP" "$BIN/broker/kbs-broker" -c "$ST/b.json"
"$BIN/client/kbs-client" --insecure-http --url "http://127.0.0.1:$BP" set-resource --admin-key "$ST/admin.pem" \
	--path default/key/bench --value 0123456789abcdef0123456789abcdef >/dev/null
TOKEN=$("$BIN/client/kbs-client" --insecure-http --url "http://127.0.0.1:$IP" attest)
printf '%s' "$TOKEN" >"$ST/token"
build_loadgen "$BIN"
"$ST/loadgen" mint "$ST/token" "$ST/t.pem" "$((N + 20))" "$ST/tokens"

# send FILE COUNT: COUNT releases on one connection, the tokens from the
# lines of FILE in turn; fails on any non-200.
send() {
	/usr/bin/python3 - "$BP" "$1" "$2" <<'PY'
import http.client, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
toks = open(path).read().split()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for i in range(n):
    c.request("GET", "/kbs/v0/resource/default/key/bench",
              headers={"Authorization": "Bearer " + toks[i % len(toks)]})
    r = c.getresponse(); r.read()
    if r.status != 200:
        sys.exit("release %d: HTTP %d" % (i, r.status))
PY
}
# profile NAME FILE: zero the counters, N releases, dump; instructions per
# request of the dump (the calls of on_request it counted).
profile() {
	callgrind_control -z "$CGPID" >/dev/null 2>&1
	send "$2" "$N"
	cg_dump "$1" | awk -v n="$N" -v w="$1" '
		{printf "  %-9s release: %.3f M instructions/request (%d requests)\n", w, $1 / n / 1e6, n}'
}
tail -n 20 "$ST/tokens" >"$ST/warm"
send "$ST/warm" 20
echo "== instructions per release in on_request (callgrind, $(basename "$BIN"))"
profile fresh "$ST/tokens"
printf '%s\n' "$TOKEN" >"$ST/one"
profile repeated "$ST/one"
if [ -n "$KEEP" ]; then mkdir -p "$KEEP"; cp "$ST/fresh.out" "$ST/repeated.out" "$KEEP/"; fi
