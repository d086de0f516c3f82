#!/usr/bin/env bash
# run.sh - the test driver behind `make test`: every cmocka binary under
# $BUILD/tests, then every tests/*/*_test.sh integration script (real
# SQLite files, real processes). VALGRIND=1 runs the binaries under
# valgrind and fails on any leak. Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
export RISKCTL="$PWD/$BUILD/riskctl" RISKD="$PWD/$BUILD/riskd" RISKLOAD="$PWD/$BUILD/riskload"
passed=0 failed=0 failed_names=()
vg=()
if [ "${VALGRIND:-0}" = 1 ]; then
	vg=(valgrind --quiet --error-exitcode=99 --leak-check=full
	    --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible)
	export RISKCTL_WRAPPER="${vg[*]}"
fi
run() {
	local name=$1; shift
	local log="$BUILD/test-logs/${name//\//_}.log"
	mkdir -p "$BUILD/test-logs"
	if "$@" >"$log" 2>&1; then
		passed=$((passed + 1)); echo "PASS $name"
	else
		failed=$((failed + 1)); failed_names+=("$name"); echo "FAIL $name (log: $log)"
		tail -n 30 "$log" | sed 's/^/    /'
	fi
}
for t in $(find "$BUILD/tests" -type f -name 'test_*' -perm -u+x | sort); do
	run "${t#"$BUILD"/tests/}" "${vg[@]}" "$t"
done
for s in $(ls tests/*/*_test.sh 2>/dev/null | sort); do
	run "${s#tests/}" bash "$s"
done
echo
[ ${#failed_names[@]} -gt 0 ] && printf 'failed: %s\n' "${failed_names[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
