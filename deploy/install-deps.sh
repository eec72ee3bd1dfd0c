#!/bin/sh
# Install the Debian packages kbs-c needs to build and test, if missing.
# Used by `make demo` and `make test`; safe to run again.
set -eu

BUILD_PKGS="build-essential cmake pkg-config libssl-dev \
libjansson-dev libcivetweb-dev libcurl4-openssl-dev libcunit1-dev libpq-dev"
TEST_PKGS="python3 python3-jwcrypto python3-cryptography python3-pytest \
python3-requests python3-pykmip clang libclang-rt-14-dev openssl curl \
postgresql nginx-light"

want="$BUILD_PKGS"
[ "${1:-}" = "--test" ] && want="$BUILD_PKGS $TEST_PKGS"

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
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
