#!/bin/sh
# Run the test suites against the binaries in $1 (build or build-san).
#   tools/check.sh BUILD [unit|e2e]    (default: both)
# Ends with one summary line "N passed, N failed"; exits non-zero on any failure.
set -u
build=$1
what=${2:-all}
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

if [ "$what" != e2e ]; then
	echo "== unit tests ($build)"
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] || continue
		CMOCKA_MESSAGE_OUTPUT=stdout "$t" >"$log" 2>&1
		rc=$?
		p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
		f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
		p=${p:-0}; f=${f:-0}
		if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi	# crashed or sanitizer report
		if [ "$f" != 0 ]; then cat "$log"; fi
		printf '%-40s %3s passed, %s failed\n' "$(basename "$t")" "$p" "$f"
		passed=$((passed + p)); failed=$((failed + f))
	done
fi

if [ "$what" != unit ]; then
	echo "== end-to-end tests ($build)"
	python3 tests/e2e/run.py --build "$build" --durations 10 >"$log" 2>&1
	rc=$?
	cat "$log"
	p=$(sed -n 's/^e2e: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' "$log" | tail -n 1)
	f=$(sed -n 's/^e2e: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' "$log" | tail -n 1)
	p=${p:-0}; f=${f:-0}
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
	passed=$((passed + p)); failed=$((failed + f))
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
