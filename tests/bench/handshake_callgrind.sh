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
# KBS_CG_ALL=1 counts every instruction of the issuer instead.
# Figures only.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}; N=${2:-100}; KEEP=${3:-}
BIN=$(cd "$BUILD" && pwd)
. tests/bench/lib.sh
cg_need handshake_callgrind

ST=$(mktemp -d)
cleanup() { stop_jobs; [ -n "${KBS_BENCH_KEEP_TMP:-}" ] || rm -rf "$ST"; }
trap cleanup EXIT

IP=$(port)
# 16 workers: valgrind runs threads one at a time and starts 512 slowly.
issuer_json "$IP" | sed 's/"http":{/"http":{"threads":16,/' >"$ST/i.json"
cg_start "$IP" "$BIN/issuer/kbs-issuer" -c "$ST/i.json"

# attest COUNT: COUNT handshakes, one kbs-client each; fails on any error.
attest() {
	local i
	for i in $(seq "$1"); do
		"$BIN/client/kbs-client" --insecure-http --url "http://127.0.0.1:$IP" \
			attest >/dev/null
	done
}
attest 5
callgrind_control -z "$CGPID" >/dev/null 2>&1
attest "$N"
echo "== instructions per handshake in on_request (callgrind, $(basename "$BIN"))"
cg_dump handshake | awk -v n="$N" '
	{printf "  handshake (auth + attest): %.3f M instructions (%d handshakes)\n", $1 / n / 1e6, n}'
if [ -n "$KEEP" ]; then mkdir -p "$KEEP"; cp "$ST/handshake.out" "$KEEP/"; fi
