#!/usr/bin/env bash
# contrib/build-debs.sh - the Debian packages pilotd and pilot-rendezvous
# (debian/), built from a clean copy of this tree and checked with lintian.
#
#   sudo contrib/build-debs.sh [OUTDIR]       (default: build-debs/ here)
#
# 1. installs what is missing of devscripts debhelper lintian fakeroot
#    build-essential, then the Build-Depends (apt-get build-dep; as root);
# 2. copies the tree as git sees it (tracked and untracked files, uncommitted
#    changes included; nothing git ignores, so no build dirs and no generated
#    configure) into a scratch directory;
# 3. dpkg-source -b (the .dsc, so that lintian checks the source too), then
#    dpkg-buildpackage -us -uc -b (unsigned binary packages; the unit tests
#    run unless DEB_BUILD_OPTIONS=nocheck);
# 4. lintian on the .changes and the .dsc: exit 1 on an error or a warning;
# 5. copies the .debs, .changes, .buildinfo, .dsc and the build log to OUTDIR
#    and prints their names and the contents of each .deb.
# Without git, a copy of the tree minus ./build*, autom4te.cache and the
# files autoreconf makes.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$TOP/build-debs}
TOOLS="devscripts debhelper lintian fakeroot build-essential"

die() {
	echo "build-debs: $*" >&2
	exit 1
}

# missing PKG...: the packages of PKG... that are not installed
missing() {
	local p
	for p in "$@"; do
		dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			printf '%s ' "$p"
	done
}

command -v dpkg-query >/dev/null 2>&1 || die "not a Debian system"
# shellcheck disable=SC2086 # a list of names
need=$(missing $TOOLS)
if [ -n "$need" ]; then
	[ "$(id -u)" = 0 ] || die "missing: $need(run as root to install them)"
	echo "build-debs: installing $need"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $need
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pilot-debs.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
version=$(dpkg-parsechangelog -l "$TOP/debian/changelog" -S Version)
SRC=$WORK/pilot-$version
mkdir -p "$SRC"

# ---------------------------------------------------------------- clean copy
if git -C "$TOP" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# Deleted tracked files are still listed: --ignore-failed-read.
	(cd "$TOP" && git ls-files -z --cached --others --exclude-standard |
		tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$SRC"
else
	tar -C "$TOP" --exclude='./build*' --exclude=./autom4te.cache \
		--exclude=./configure --exclude=./aclocal.m4 --exclude=Makefile.in \
		--exclude=./config.h.in --exclude=./build-aux --exclude='./m4/*.m4' \
		--exclude='*.o' --exclude='*.a' --exclude=./tests/identity/node_modules \
		-cf - . | tar -xf - -C "$SRC"
fi
[ -f "$SRC/debian/control" ] || die "no debian/control in the copy of $TOP"
echo "build-debs: clean copy in $SRC ($(find "$SRC" -type f | wc -l) files)"

# ---------------------------------------------------------------- build deps
if ! (cd "$SRC" && dpkg-checkbuilddeps) 2>"$WORK/deps.log"; then
	[ "$(id -u)" = 0 ] || die "$(cat "$WORK/deps.log") (run as root to install them)"
	echo "build-debs: installing the Build-Depends"
	DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq "$SRC"
fi

# ---------------------------------------------------------------- build
(cd "$WORK" && dpkg-source -b "pilot-$version") >"$WORK/source.log" 2>&1 ||
	die "dpkg-source -b failed: $(tail -5 "$WORK/source.log")"
start=$(date +%s)
echo "build-debs: dpkg-buildpackage -us -uc -b (log: $OUT/build.log)"
mkdir -p "$OUT"
if ! (cd "$SRC" && dpkg-buildpackage -us -uc -b) >"$OUT/build.log" 2>&1; then
	tail -30 "$OUT/build.log" >&2
	die "dpkg-buildpackage failed (whole log: $OUT/build.log)"
fi
echo "build-debs: built in $(($(date +%s) - start)) s"

changes=$(ls "$WORK"/pilot_"$version"_*.changes)
dsc=$WORK/pilot_$version.dsc
lint=0
echo "build-debs: lintian $(basename "$changes") $(basename "$dsc")"
lintian -I --fail-on error,warning "$changes" "$dsc" || lint=$?

# ---------------------------------------------------------------- results
for f in "$WORK"/*.deb "$changes" "$WORK"/*.buildinfo "$dsc" "$WORK"/pilot_"$version".tar.*; do
	cp "$f" "$OUT/"
done
for deb in "$OUT"/*_"$version"_*.deb; do
	echo
	echo "$deb:"
	dpkg-deb -c "$deb" | awk '{ print "  " $1, $2, $NF }'
done
echo
echo "build-debs: packages in $OUT:"
ls -1 "$OUT"/*_"$version"_*.deb | sed 's/^/  /'
[ "$lint" = 0 ] || die "lintian reported errors or warnings (above)"
