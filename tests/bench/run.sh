#!/bin/bash
# Benchmarks (figures only, not tests; kept out of `make test`).
#   tests/bench/run.sh [BUILD] [NAME...]
# BUILD is a configured and built tree (default: build).  NAME selects
# benchmarks (default: all of BENCHES); add one by writing bench_<name>
# and listing it in BENCHES.  Benchmarks run pinned to one core when
# taskset is available.  docs/benchmarks.md records measured figures.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}; shift || true
SECS=${SECS:-0.5}; RUNS=${RUNS:-5}
VECTORS=${KBS_TESTVECTORS:-$PWD/tests/vectors}
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT
PIN=(); command -v taskset >/dev/null && PIN=(taskset -c 0)
BENCHES=(verify crypto release release_pg pg_one_trip tls_handshake)
. tests/bench/kbs_build.sh

# Compile a bench program against the built static libraries.
compile() { # compile NAME SOURCE
	local libs
	libs=$(pkg-config --libs jansson libcurl openssl 2>/dev/null || echo "-ljansson -lcurl -lssl -lcrypto")
	cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(kbs_incs common issuer) -o "$OUT/$1" "$2" \
	   $(kbs_libs "$BUILD" issuer common) $libs -lpthread
}

bench_verify() {
	compile verify_bench tests/bench/verify_bench.c
	echo "== built-in TEE verifier ($(nproc) cpus, pinned: ${PIN[*]:-no})"
	"${PIN[@]}" "$OUT/verify_bench" "$VECTORS" "$SECS" "$RUNS"
	if command -v openssl >/dev/null; then
		echo; echo "== openssl speed -seconds 1 ecdsap384 ecdsap256 rsa4096"
		"${PIN[@]}" openssl speed -seconds 1 ecdsap384 ecdsap256 rsa4096 2>/dev/null |
			grep -E "^ *(sign|rsa|[0-9]+ bits)|ecdsa \(nistp" || true
	fi
}

# A fresh-token release's crypto as kbs-c does it, next to the calls
# `openssl speed` times, per CPU-second, and `openssl speed` in the same
# run (docs/benchmarks.md, issue 11).
bench_crypto() {
	compile crypto_parts tests/bench/crypto_parts.c
	echo "== a release's crypto, in process, per CPU-second (pinned: ${PIN[*]:-no}; median of $RUNS x ${SECS}s)"
	"${PIN[@]}" "$OUT/crypto_parts" time "$SECS" "$RUNS"
	if command -v openssl >/dev/null; then
		echo "== openssl speed -seconds 2 ecdsap256 ecdhp256 (per CPU-second)"
		"${PIN[@]}" openssl speed -seconds 2 ecdsap256 ecdhp256 2>/dev/null |
			grep -E "^ +(sign|op) |nistp256" || true
	fi
}

bench_release() {
	tests/bench/release.sh "$BUILD" "${RELEASE_SECS:-5}"
}

# Twice: PostgreSQL on the brokers' core (what a release costs in CPU,
# database included), then on a core of its own with enough connections
# to saturate the broker (the throughput with a local database).
bench_release_pg() {
	PG_CORE=0 CONNS=8 tests/bench/release_pg.sh "$BUILD" "${RELEASE_SECS:-5}"
	PG_CORE=1 CONNS=32 tests/bench/release_pg.sh "$BUILD" "${RELEASE_SECS:-5}"
}

bench_pg_one_trip() {
	RUNS=${PG_TRIP_RUNS:-3} tests/bench/pg_one_trip.sh "${RELEASE_SECS:-5}"
}

# The HTTPS key in its key process against in process, full handshakes.
bench_tls_handshake() {
	/usr/bin/python3 tests/bench/tls_handshake.py "$BUILD" "${RELEASE_SECS:-5}" "${TLS_RUNS:-3}"
}

[ -f "$BUILD/common/base/libkbs_base.a" ] || { echo "build $BUILD first (cmake --build $BUILD)" >&2; exit 2; }
for b in "${@:-${BENCHES[@]}}"; do "bench_$b"; echo; done
