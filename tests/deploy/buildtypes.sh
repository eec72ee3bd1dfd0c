#!/bin/bash
# Compile (no test run) the CMake build types the other trees of `make test`
# do not cover, with -Werror as always, each in its own tree under
# build-variants/ that is kept between runs (so a rerun only recompiles what
# changed):
#   gcc   Release     (-O3: gcc's optimisation-dependent warnings)
#   gcc   MinSizeRel  (-Os)
#   clang Release     (clang's warnings, with NDEBUG)
# build/ is gcc RelWithDebInfo, build-asan/ gcc Debug, build-fuzz/ clang
# Debug.  KBS_BUILDTYPES=all compiles all eight compiler x type pairs.
# The gcc Release tree is configured with prefix /usr: tests/deploy/install.sh
# installs from it.  Prints one "buildtypes: N passed, M failed" line.
#   tests/deploy/buildtypes.sh [VARIANTS_DIR]
set -uo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-build-variants}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

pairs=(gcc:Release gcc:MinSizeRel clang:Release)
if [ "${KBS_BUILDTYPES:-}" = all ]; then
	pairs=()
	for cc in gcc clang; do
		for t in Debug RelWithDebInfo Release MinSizeRel; do pairs+=("$cc:$t"); done
	done
fi

pass=0; fail=0
for p in "${pairs[@]}"; do
	cc=${p%%:*}; type=${p##*:}; tree=$DIR/$cc-$type
	start=$(date +%s)
	if ! command -v "$cc" >/dev/null; then
		echo "FAILED: buildtypes $cc $type: $cc is not installed"; fail=$((fail + 1)); continue
	fi
	if out=$(CC=$cc cmake -S . -B "$tree" -DCMAKE_BUILD_TYPE="$type" \
			-DCMAKE_INSTALL_PREFIX=/usr 2>&1 >/dev/null &&
		 cmake --build "$tree" -j"$JOBS" 2>&1); then
		pass=$((pass + 1))
		echo "buildtypes: $cc $type compiled ($(( $(date +%s) - start )) s)"
	else
		fail=$((fail + 1))
		grep -E 'error|warning' <<<"$out" | head -n 20
		echo "FAILED: buildtypes $cc $type ($(( $(date +%s) - start )) s)"
	fi
done
echo "buildtypes: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
