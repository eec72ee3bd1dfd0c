#!/bin/bash
# Run every test and print one summary.
#   tests/run.sh BUILD [ASAN_BUILD [FUZZ_BUILD]]
#   tests/run.sh --only unit|blackbox|fuzz|deploy BUILD
# Unit tests are the CUnit programs (one per module); black-box tests start
# the real binaries on 127.0.0.1 (tests/blackbox, pytest); the ASan+UBSan
# build runs both again; the fuzz build runs each libFuzzer driver briefly;
# the deploy stage (tests/deploy/run.sh) compiles the other build types,
# installs, renders the Kubernetes overlays and runs the container image
# and compose file.  KBS_DEPLOY=0 leaves the deploy stage out.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export KBS_SRC=$ROOT
export KBS_TESTVECTORS=${KBS_TESTVECTORS:-$ROOT/tests/vectors}
PY=/usr/bin/python3   # Debian's python: it sees python3-jwcrypto

only=""
if [ "${1:-}" = "--only" ]; then only=$2; shift 2; fi
BUILD=${1:-build}; ASAN=${2:-}; FUZZ=${3:-}

total_pass=0; total_fail=0
summary=()

# run_unit DIR LABEL: every tests/unit_* program in DIR.
run_unit() {
	local dir=$1 label=$2 pass=0 fail=0 bin out line
	for bin in "$dir"/tests/unit_*; do
		[ -x "$bin" ] || continue
		out=$("$bin" 2>&1); rc=$?
		line=$(grep -E '^ +tests ' <<<"$out" | tail -n1)
		if [ -z "$line" ]; then
			echo "$out" | tail -n 20
			echo "FAILED (no CUnit summary): $(basename "$bin")"; fail=$((fail + 1)); continue
		fi
		# "tests  Total  Ran  Passed  Failed  Inactive"
		read -r _ t r p f _ <<<"$line"
		pass=$((pass + p)); fail=$((fail + f))
		if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then
			echo "$out" | grep -E 'FAILED|ASSERT|ERROR|runtime error|Sanitizer' | head -n 20
			echo "FAILED: $(basename "$bin") ($f of $t tests failed, exit $rc)"
			[ "$f" -eq 0 ] && fail=$((fail + 1))
		fi
	done
	summary+=("$label unit: $pass passed, $fail failed")
	total_pass=$((total_pass + pass)); total_fail=$((total_fail + fail))
}

# run_blackbox DIR LABEL
run_blackbox() {
	local dir=$1 label=$2 out line p f
	out=$(KBS_BUILD=$ROOT/$dir "$PY" -m pytest -q -p no:cacheprovider tests/blackbox 2>&1)
	echo "$out" | grep -vE '^\.+( +\[|$)' | tail -n 40
	line=$(grep -E '[0-9]+ (passed|failed)' <<<"$out" | tail -n1)
	p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
	f=$(grep -oE '[0-9]+ (failed|error|errors)' <<<"$line" | grep -oE '[0-9]+' | paste -sd+ | bc 2>/dev/null || echo 0)
	[ -z "$p" ] && p=0; [ -z "$f" ] && f=0
	if [ -z "$line" ]; then f=$((f + 1)); echo "FAILED: no pytest summary"; fi
	summary+=("$label black-box: $p passed, $f failed")
	total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
}

# run_fuzz DIR: each driver for KBS_FUZZ_SECONDS on its seed corpus.  The
# seed is fixed (KBS_FUZZ_SEED, default 1) so that `make test` gives the same
# answer on every run; `make fuzz` explores with fresh seeds for longer.  A
# crashing input is printed as hex, so the log alone reproduces it.
run_fuzz() {
	local dir=$1 pass=0 fail=0 bin name corpus seed
	seed=${KBS_FUZZ_SEED-1}
	for bin in "$dir"/tests/fuzz_*; do
		[ -x "$bin" ] || continue
		name=$(basename "$bin"); name=${name#fuzz_}
		# a driver whose source is gone is a stale binary of an old build
		[ -f "tests/fuzz/$name.c" ] || continue
		corpus=$(mktemp -d)
		mkdir "$corpus/in" "$corpus/out"
		[ -d tests/fuzz/corpus/$name ] && cp -r tests/fuzz/corpus/$name/. "$corpus/in"/
		if "$bin" -max_total_time="${KBS_FUZZ_SECONDS:-8}" -rss_limit_mb=2048 \
			${seed:+-seed=$seed} -artifact_prefix="$corpus/out/" \
			"$corpus/in" >"$corpus/log" 2>&1; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1)); tail -n 30 "$corpus/log"
			for a in "$corpus"/out/*; do
				[ -f "$a" ] || continue
				echo "input $(basename "$a") ($(wc -c <"$a") bytes, hex):"
				head -c 4096 "$a" | od -An -tx1 -v | tr -d ' \n' | fold -w 128
				echo
			done
			echo "FAILED: fuzz $name"
		fi
		rm -rf "$corpus"
	done
	summary+=("fuzz: $pass passed, $fail failed")
	total_pass=$((total_pass + pass)); total_fail=$((total_fail + fail))
}

# run_deploy BUILD: tests/deploy/run.sh; each step counts once.
run_deploy() {
	local out line p f log
	# Show the stage as it runs and keep a copy to count.  Not `tee
	# /dev/stderr`: tee opens that path anew with O_TRUNC, which empties
	# a log file that stderr was redirected to (make test >log 2>&1).
	log=$(mktemp) || return
	tests/deploy/run.sh "$1" 2>&1 | tee "$log" >&2
	out=$(cat "$log"); rm -f "$log"
	line=$(grep -E '^deploy: [0-9]+ passed' <<<"$out" | tail -n1)
	p=$(sed -E 's/^deploy: ([0-9]+) passed.*/\1/' <<<"$line")
	f=$(sed -E 's/^deploy: [0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$line")
	if [ -z "$line" ]; then p=0; f=1; echo "FAILED: no deploy summary"; fi
	summary+=("${line:-deploy: no summary}")
	total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
}

if [ "$only" = "deploy" ]; then
	echo "== deploy ($BUILD)"; run_deploy "$BUILD"
	echo; echo "== summary"; echo "  ${summary[0]}"
	[ "$total_fail" -eq 0 ]; exit
fi
if [ "$only" = "fuzz" ]; then
	echo "== fuzz ($BUILD)"; run_fuzz "$BUILD"
	echo; echo "== summary"; echo "  ${summary[0]}"
	[ "$total_fail" -eq 0 ]; exit
fi
# The vectors' signatures cover their exact bytes: a changed file would make
# tests fail for the wrong reason, so say so first.
check_vectors() {
	if (cd "$KBS_TESTVECTORS" && sha256sum --quiet --strict -c "$ROOT/tests/vectors/SHA256SUMS"); then
		summary+=("test vectors: SHA-256 match ($KBS_TESTVECTORS)")
	else
		echo "FAILED: test vectors in $KBS_TESTVECTORS differ from tests/vectors/SHA256SUMS"
		summary+=("test vectors: mismatch"); total_fail=$((total_fail + 1))
	fi
}

if [ "$only" != "blackbox" ]; then check_vectors; echo "== unit ($BUILD)"; run_unit "$BUILD" "normal"; fi
if [ "$only" != "unit" ]; then echo "== black-box ($BUILD)"; run_blackbox "$BUILD" "normal"; fi
if [ -n "$ASAN" ]; then
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	echo "== unit ($ASAN, ASan+UBSan)"; run_unit "$ASAN" "asan"
	echo "== black-box ($ASAN, ASan+UBSan)"; run_blackbox "$ASAN" "asan"
	unset ASAN_OPTIONS UBSAN_OPTIONS
fi
if [ -n "$FUZZ" ]; then echo "== fuzz ($FUZZ)"; run_fuzz "$FUZZ"; fi
if [ -z "$only" ] && [ "${KBS_DEPLOY:-1}" != 0 ]; then echo "== deploy ($BUILD)"; run_deploy "$BUILD"; fi

echo
echo "== summary"
for s in "${summary[@]}"; do echo "  $s"; done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
