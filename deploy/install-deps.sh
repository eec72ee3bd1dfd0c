#!/bin/sh
# Install the Debian packages kbs-c needs to build and test, if missing.
# Used by `make demo`, `make test` (--test) and `make bench` (--bench),
# and by the container image's stages (no argument: build; --runtime:
# run); safe to run again.
set -eu

BUILD_PKGS="build-essential cmake pkg-config libssl-dev \
libjansson-dev libcivetweb-dev libcurl4-openssl-dev libcunit1-dev libpq-dev libseccomp-dev"
TEST_PKGS="python3 python3-jwcrypto python3-cryptography python3-pytest \
python3-requests python3-pykmip clang libclang-rt-14-dev openssl curl \
postgresql nginx-light"
# The deploy stage of the tests (tests/deploy/): container image, compose,
# kustomize rendering, systemd unit verification (dnsname: compose services
# find each other by name on podman's CNI networks).
DEPLOY_PKGS="podman runc mmdebstrap podman-compose uidmap slirp4netns systemd \
python3-yaml golang-github-containernetworking-plugin-dnsname"
# `make bench` (tests/bench/): the load generator; valgrind for the
# callgrind scripts beside it.
BENCH_PKGS="wrk valgrind"
# What the programs need at run time (the container image's runtime stage);
# curl for health checks, ca-certificates for KDS/PCS/ITA over https.
RUNTIME_PKGS="libssl3 libjansson4 libcivetweb1 libcurl4 libpq5 libseccomp2 \
ca-certificates curl"

case "${1:-}" in
--test)
	want="$BUILD_PKGS $TEST_PKGS $DEPLOY_PKGS"
	# Some machine images ship a newer kubectl of their own; Debian's
	# kubernetes-client only where there is none.
	command -v kubectl >/dev/null 2>&1 || want="$want kubernetes-client" ;;
--bench) want="$BUILD_PKGS $TEST_PKGS $BENCH_PKGS" ;;
--runtime) want="$RUNTIME_PKGS" ;;
"") want="$BUILD_PKGS" ;;
*) echo "usage: $0 [--test | --bench | --runtime]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
	--no-install-recommends $missing
