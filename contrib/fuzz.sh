#!/usr/bin/env bash
# contrib/fuzz.sh - build the libFuzzer harnesses (tests/fuzz/fuzz_*.c) with
# clang-14 and ASan+UBSan, and run each for SECONDS (default 60) over a copy
# of its corpus.  New crashes are left in build-fuzz/crash-*; add the input
# to tests/fuzz/corpus/NAME/ once fixed, so `make check` replays it.
#   usage: contrib/fuzz.sh [SECONDS] [NAME...]   (NAME: regmsg pkt tnl conf nss audit policy bcn cert jwt jwks svid_resp join dns)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(regmsg pkt tnl conf nss audit policy bcn cert jwt jwks svid_resp join dns)
CC=${CC:-clang-14}
out=build-fuzz
mkdir -p "$out"
[ -f "$out/config.h" ] || { [ -f build/config.h ] && cp build/config.h "$out/"; } ||
	{ echo "run ./configure (or contrib/run-tests) first so config.h exists" >&2; exit 1; }
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$out -Isrc/lib -Isrc/pilotd -Isrc/rendezvous -Isrc/nss
	-DSYSCONFDIR=\"/etc\" -DLOCALSTATEDIR=\"/var\" -DRUNSTATEDIR=\"/run\"
	$(pkg-config --cflags libevent libmnl libsodium yajl lmdb openssl libcurl)"
libs="$(pkg-config --libs libevent libevent_openssl libmnl libsodium yajl lmdb openssl libcurl)"
srcs=$(ls src/lib/*.c src/pilotd/*.c src/rendezvous/*.c src/nss/*.c | grep -vE '/(pilotd_main|rdv_main)\.c$')
for n in "${names[@]}"; do
	echo "== fuzz_$n: building"
	# shellcheck disable=SC2086
	$CC $flags -o "$out/fuzz_$n" "tests/fuzz/fuzz_$n.c" $srcs $libs
	mkdir -p "$out/corpus-$n"
	cp -n tests/fuzz/corpus/"$n"/* "$out/corpus-$n/" 2>/dev/null || true
	echo "== fuzz_$n: running ${secs}s"
	(cd "$out" && ./"fuzz_$n" -max_total_time="$secs" -max_len=4096 "corpus-$n") 2>&1 | tail -3
done
