#!/bin/bash
# The deploy stage of `make test` (tests/run.sh runs it last):
#   buildtypes  the CMake build types the other trees do not compile
#   install     cmake --install into a DESTDIR, file list, systemd units
#   k8s         kubectl kustomize of every overlay, probes, security context
#   container   the image, passport and background-check guest flows
#   compose     podman-compose up, guest flow, down
# Each prints its own lines; this prints their durations and one
# "deploy: N passed, M failed, K skipped" line.  A container step may skip
# (exit 77) only where podman cannot run at all.
#   tests/deploy/run.sh BUILD [STEP...]
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:?usage: run.sh BUILD [STEP...]}; shift
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(buildtypes install k8s container compose)
VARIANTS=${KBS_VARIANTS:-build-variants}

pass=0; fail=0; skip=0; all0=$(date +%s)
for s in "${steps[@]}"; do
	t0=$(date +%s)
	case $s in
	buildtypes) tests/deploy/buildtypes.sh "$VARIANTS" ;;
	install)
		# From the Release tree buildtypes configured with prefix /usr.
		[ -d "$VARIANTS/gcc-Release" ] || tests/deploy/buildtypes.sh "$VARIANTS" >/dev/null
		tests/deploy/install.sh "$VARIANTS/gcc-Release" ;;
	k8s) /usr/bin/python3 tests/deploy/k8s_render.py ;;
	container) tests/deploy/container.sh "$BUILD" ;;
	compose) tests/deploy/compose.sh "$BUILD" ;;
	*) echo "unknown deploy step $s"; false ;;
	esac
	rc=$?
	d=$(( $(date +%s) - t0 ))
	if [ $rc -eq 0 ]; then pass=$((pass + 1)); echo "deploy: $s passed ($d s)"
	elif [ $rc -eq 77 ]; then skip=$((skip + 1)); echo "deploy: $s skipped ($d s)"
	else fail=$((fail + 1)); echo "FAILED: deploy: $s ($d s)"; fi
done
echo "deploy: $pass passed, $fail failed, $skip skipped ($(( $(date +%s) - all0 )) s)"
[ $fail -eq 0 ]
