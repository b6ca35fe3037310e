#!/bin/sh
# Build and run every libFuzzer harness tests/fuzz/fuzz_*.c.
#
#   sh tests/fuzz/run.sh [seconds] [name ...]
#
# seconds: how long each harness runs (default 60).  names (e.g. linebuf
# smtp) restrict the run to tests/fuzz/fuzz_<name>.c.  The sources (lib,
# mail, store, queue, the daemons, minus each main.c, and the session host
# double tests/unit/host_double.c) are compiled with
# clang into build-fuzz/ and archived, so each harness links only what it
# uses.  tests/fuzz/fuzz_<name>.dict is passed as the dictionary and
# tests/fuzz/corpus/<name>/ as seeds when they exist.  Crash inputs land in
# build-fuzz/artifacts/.  FUZZ_BUILD=dir builds elsewhere (two people
# fuzzing at once), FUZZ_CC picks the compiler.  Exits non-zero if any
# harness fails to build or finds a crash, leak or timeout.  A source file
# that does not compile is left out with a warning; a harness that needs
# it then fails to link.
set -eu

secs=${1:-60}
[ $# -gt 0 ] && shift
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
out=${FUZZ_BUILD:-build-fuzz}
CC=${FUZZ_CC:-clang}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
CFLAGS="-O1 -g -std=c11 -D_GNU_SOURCE -pthread -I. -Wall -Wextra -Wno-unused-parameter \
	-Werror=implicit-function-declaration $SAN"
LIBS="-lssl -lcrypto -ldb -lcares -lcrypt -lpthread"

mkdir -p "$out/obj" "$out/artifacts" "$out/corpus"

# The code under test, instrumented for coverage but without libFuzzer's main.
srcs=""
for d in lib mail store queue smtpd pop3d imapd relayd; do
	for f in "$d"/*.c; do
		[ -e "$f" ] || continue
		case "$f" in
		*/main.c) continue ;;
		esac
		srcs="$srcs $f"
	done
done
# The session host double the session harnesses drive (as the unit tests do).
srcs="$srcs tests/unit/host_double.c"
objs=""
uncompiled=""
for f in $srcs; do
	o="$out/obj/$(echo "$f" | tr / _ | sed 's/\.c$/.o/')"
	if ! $CC $CFLAGS -fsanitize=fuzzer-no-link -c -o "$o" "$f"; then
		# A harness that needs it fails to link below and is reported.
		echo "fuzz: warning: cannot compile $f, left out" >&2
		uncompiled="$uncompiled $f"
		continue
	fi
	objs="$objs $o"
done
rm -f "$out/libfuzzsrc.a"
ar rcs "$out/libfuzzsrc.a" $objs

if [ $# -gt 0 ]; then
	harnesses=""
	for n in "$@"; do
		harnesses="$harnesses tests/fuzz/fuzz_$n.c"
	done
else
	harnesses=$(ls tests/fuzz/fuzz_*.c)
fi

failed=""
for h in $harnesses; do
	name=$(basename "$h" .c)
	short=${name#fuzz_}
	bin="$out/$name"
	echo "== $name: build"
	if ! $CC $CFLAGS -fsanitize=fuzzer -o "$bin" "$h" "$out/libfuzzsrc.a" $LIBS; then
		failed="$failed $name(build)"
		continue
	fi
	set -- "-max_total_time=$secs" "-timeout=10" "-rss_limit_mb=2048" \
	    "-print_final_stats=1" "-artifact_prefix=$out/artifacts/$name-"
	[ -f "tests/fuzz/$name.dict" ] && set -- "$@" "-dict=tests/fuzz/$name.dict"
	mkdir -p "$out/corpus/$short"
	set -- "$@" "$out/corpus/$short"
	[ -d "tests/fuzz/corpus/$short" ] && set -- "$@" "tests/fuzz/corpus/$short"
	echo "== $name: run ${secs}s"
	if ! "$bin" "$@" > "$out/$name.log" 2>&1; then
		tail -n 60 "$out/$name.log"
		failed="$failed $name"
		continue
	fi
	grep -E '^stat::number_of_executed_units|^Done' "$out/$name.log" || true
done

[ -n "$uncompiled" ] && echo "fuzz: warning: not compiled:$uncompiled" >&2
if [ -n "$failed" ]; then
	echo "fuzz: FAILED:$failed (logs and crash inputs in $out/)" >&2
	exit 1
fi
echo "fuzz: all harnesses ran ${secs}s without a crash"
