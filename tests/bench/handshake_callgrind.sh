#!/bin/bash
# Instructions per issuer handshake, counted by callgrind in the issuer's
# request handler (on_request; CivetWeb's reading, the key process and
# the kernel are not in it):
#   tests/bench/handshake_callgrind.sh BUILD [N] [OUTDIR]
# starts kbs-issuer under valgrind --tool=callgrind, warms it with a few
# handshakes, then runs N sample-TEE handshakes (POST /auth + POST
# /attest, kbs-client attest, each with a fresh TEE key) and prints the
# instructions per handshake.  The release_callgrind.sh of the issuer:
# deterministic where wall-clock figures are not.  With OUTDIR the
# profile stays there (handshake.out) for callgrind_annotate.
# Figures only.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}; N=${2:-100}; KEEP=${3:-}
BIN=$(cd "$BUILD" && pwd)
for t in valgrind callgrind_control callgrind_annotate curl; do
	command -v "$t" >/dev/null || { echo "handshake_callgrind needs $t" >&2; exit 2; }
done
. tests/bench/lib.sh

ST=$(mktemp -d)
cleanup() { stop_jobs; [ -n "${KBS_BENCH_KEEP_TMP:-}" ] || rm -rf "$ST"; }
trap cleanup EXIT

IP=$(port)
# 16 workers: valgrind runs threads one at a time and starts 512 slowly.
issuer_json "$IP" | sed 's/"http":{/"http":{"threads":16,/' >"$ST/i.json"
valgrind --tool=callgrind --max-threads=2000 --collect-atstart=no \
	--toggle-collect=on_request --callgrind-out-file="$ST/cg.%p" \
	"$BIN/issuer/kbs-issuer" -c "$ST/i.json" 2>"$ST/i.log" &
IPID=$!
for _ in $(seq 600); do curl -fs "http://127.0.0.1:$IP/healthz" >/dev/null && break; sleep 0.1; done

# attest COUNT: COUNT handshakes, one kbs-client each; fails on any error.
attest() {
	local i
	for i in $(seq "$1"); do
		"$BIN/client/kbs-client" --insecure-http --url "http://127.0.0.1:$IP" \
			attest >/dev/null
	done
}
attest 5
callgrind_control -z "$IPID" >/dev/null 2>&1
attest "$N"
callgrind_control -d handshake "$IPID" >/dev/null 2>&1
f=$(grep -l "^desc: Trigger: .* handshake$" "$ST"/cg.* | head -1)
cp "$f" "$ST/handshake.out"
echo "== instructions per handshake in on_request (callgrind, $(basename "$BIN"))"
callgrind_annotate --inclusive=yes "$ST/handshake.out" 2>/dev/null | awk -v n="$N" '
	/PROGRAM TOTALS/ {gsub(",", "", $1); printf "  handshake (auth + attest): %.3f M instructions (%d handshakes)\n", $1 / n / 1e6, n}'
if [ -n "$KEEP" ]; then mkdir -p "$KEEP"; cp "$ST/handshake.out" "$KEEP/"; fi
