#!/usr/bin/env bash
# contrib/fuzz.sh - build the libFuzzer harnesses (tests/fuzz/fuzz_*.c) with
# clang-14 and ASan+UBSan, run each over a copy of its corpus, and print one
# summary line per harness: executions, exec/s, coverage (libFuzzer's cov:
# and ft:), corpus size and whether it crashed, leaked or timed out.
#
#   usage: contrib/fuzz.sh [SECONDS] [NAME...]
#     SECONDS  time budget per harness (default 60)
#     NAME     harnesses to run (default: all of them, the list below)
#
# Environment:
#   FUZZ_RUNS=N      also stop a harness after N executions (whichever of
#                    time and runs comes first), e.g. FUZZ_RUNS=10000000
#   FUZZ_RSS_MB      -rss_limit_mb (default 2048)
#   FUZZ_TIMEOUT     -timeout per input in seconds (default 10)
#   FUZZ_MAX_LEN     -max_len (default 4096)
#   FUZZ_NICE        niceness of the fuzzer processes (default 10)
#   FUZZ_OUT         work directory (default build-fuzz)
#   BUILD_DIR        a configured build tree whose config.h is used (default build)
#   CC               the compiler (default clang-14)
#
# One fuzzer process runs at a time.  A harness uses tests/fuzz/NAME.dict
# as its dictionary when there is one.  Its log is FUZZ_OUT/NAME.log, its
# working corpus FUZZ_OUT/corpus-NAME (kept between runs), and the summary
# table FUZZ_OUT/summary.tsv.  Exit status: 1 if any harness crashed, leaked,
# timed out or ran out of memory.
#
# A new crash: libFuzzer leaves the input in FUZZ_OUT/fuzz_NAME-crash-<sha1>
# (or -leak-, -timeout-, -oom-).  Reproduce it with
#   build-fuzz/fuzz_NAME build-fuzz/fuzz_NAME-crash-<sha1>
# fix the code, then copy the input into tests/fuzz/corpus/NAME/ under a
# name that says what it was, so `make check` (check-fuzz) replays it.
# Keep the corpora small (make check replays every file): to bring new
# inputs back, minimise them into the checked-in corpus, e.g.
#   build-fuzz/fuzz_NAME -merge=1 tests/fuzz/corpus/NAME build-fuzz/corpus-NAME
set -euo pipefail
cd "$(dirname "$0")/.."
all=(regmsg pkt tnl conf nss audit policy bcn cert jwt jwks svid_resp join dns rdv ipc)
secs=${1:-60}
shift || true
names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${all[@]}")
CC=${CC:-clang-14}
out=${FUZZ_OUT:-build-fuzz}
cfg=${BUILD_DIR:-build}/config.h
mkdir -p "$out/obj"
if [ ! -f "$out/config.h" ] || { [ -f "$cfg" ] && [ "$cfg" -nt "$out/config.h" ]; }; then
	[ -f "$cfg" ] || { echo "no $cfg: run ./configure in BUILD_DIR (or contrib/run-tests) first" >&2; exit 1; }
	cp "$cfg" "$out/config.h"
fi
pkgs="libevent libevent_openssl libmnl libsodium yajl lmdb openssl libcurl"
common="-g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=undefined -I$out -Isrc/lib -Isrc/pilotd
	-Isrc/rendezvous -Isrc/nss -DSYSCONFDIR=\"/etc\" -DLOCALSTATEDIR=\"/var\" -DRUNSTATEDIR=\"/run\"
	$(pkg-config --cflags $pkgs)"
libs="$(pkg-config --libs $pkgs)"

# The code under test, built once: every object again when any header or
# this script is newer than the archive, else only the changed sources.
lib=$out/libpilot-fuzz.a
srcs=$(ls src/lib/*.c src/pilotd/*.c src/rendezvous/*.c src/nss/*.c | grep -vE '/(pilotd_main|rdv_main)\.c$')
newest_hdr=$(ls -t src/*/*.h "$0" "$out/config.h" | head -1)
stale=()
for s in $srcs; do
	o=$out/obj/$(echo "${s%.c}" | tr / _).o
	if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ "$newest_hdr" -nt "$o" ]; then
		stale+=("$s")
	fi
done
if [ ${#stale[@]} -gt 0 ] || [ ! -f "$lib" ]; then
	echo "== building ${#stale[@]} objects (ASan+UBSan, fuzzer-no-link)"
	for s in "${stale[@]}"; do
		echo "$s"
	done | CC=$CC COMMON=$common OUT=$out xargs -P 2 -I{} sh -c \
		'o=$OUT/obj/$(echo {} | sed "s/\.c$//" | tr / _).o; $CC $COMMON -fsanitize=fuzzer-no-link,address,undefined -c -o "$o" {}'
	rm -f "$lib"
	ar rcs "$lib" "$out"/obj/*.o
fi

# Figures from a libFuzzer log: the last status line's cov: and ft:, and
# the final stats (-print_final_stats=1).
last_field() { grep -o "$1: *[0-9]*" "$2" | tail -1 | grep -o '[0-9]*$' || true; }
stat_field() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }

printf 'name\texecutions\texec_per_s\tcov\tft\tcorpus\tseconds\tstatus\n' >"$out/summary.tsv"
failed=0
for n in "${names[@]}"; do
	src=tests/fuzz/fuzz_$n.c
	[ -f "$src" ] || { echo "no harness $src" >&2; exit 1; }
	# A harness may ask for link flags with a line "FUZZ_LDFLAGS: ..." (e.g.
	# -Wl,--wrap=SYMBOL); Makefile.am gives its replay the same.
	extra=$(sed -n 's/.*FUZZ_LDFLAGS: *//p' "$src" | head -1)
	echo "== fuzz_$n: building"
	# shellcheck disable=SC2086
	$CC $common -fsanitize=fuzzer,address,undefined -o "$out/fuzz_$n" "$src" "$lib" $extra $libs
	mkdir -p "$out/corpus-$n"
	cp -n tests/fuzz/corpus/"$n"/* "$out/corpus-$n/" 2>/dev/null || true
	args=(-max_total_time="$secs" -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -timeout="${FUZZ_TIMEOUT:-10}"
		-max_len="${FUZZ_MAX_LEN:-4096}" -print_final_stats=1 -artifact_prefix="fuzz_$n-")
	[ -z "${FUZZ_RUNS:-}" ] || args+=(-runs="$FUZZ_RUNS")
	[ ! -f "tests/fuzz/$n.dict" ] || args+=(-dict="$PWD/tests/fuzz/$n.dict")
	echo "== fuzz_$n: running up to ${secs}s${FUZZ_RUNS:+ or $FUZZ_RUNS executions}"
	t0=$(date +%s)
	rc=0
	(cd "$out" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		nice -n "${FUZZ_NICE:-10}" ./"fuzz_$n" "${args[@]}" "corpus-$n") >"$out/$n.log" 2>&1 || rc=$?
	t1=$(date +%s)
	tail -3 "$out/$n.log"
	log=$out/$n.log
	status=ok
	if grep -q 'ERROR: libFuzzer: timeout' "$log"; then
		status=timeout
	elif grep -q 'ERROR: LeakSanitizer' "$log"; then
		status=leak
	elif grep -q -e 'out-of-memory' -e 'ERROR: libFuzzer: malloc' "$log"; then
		status=oom
	elif [ "$rc" -ne 0 ]; then
		status=crash
	fi
	[ "$status" = ok ] || failed=1
	execs=$(stat_field number_of_executed_units "$log")
	eps=$(stat_field average_exec_per_sec "$log")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "${execs:-?}" "${eps:-?}" \
		"$(last_field cov "$log")" "$(last_field ft "$log")" \
		"$(find "$out/corpus-$n" -type f | wc -l)" "$((t1 - t0))" "$status" >>"$out/summary.tsv"
done

echo "== summary ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
column -t -s "$(printf '\t')" "$out/summary.tsv"
exit "$failed"
