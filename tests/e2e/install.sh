#!/bin/sh
# install.sh - `make install DESTDIR=...` lays out a system that works
# (issue 7), and touches nothing outside DESTDIR:
#   - pilotd and pilot-rendezvous in sbin, pilotctl in bin, the six man pages
#     in man8 / man5, both units in the unit dir, the sysusers files (one per
#     daemon's user), pilotctl's bash and zsh completions, and the example
#     configs in SYSCONFDIR/pilot;
#   - the installed units pass `systemd-analyze verify` (ExecStart pointed at
#     the binaries in DESTDIR, MANPATH at the man pages in DESTDIR, so their
#     Documentation= is checked too) and keep their hardening
#     (`systemd-analyze security --offline` exposure at most 2.0, issue 19);
#   - the installed pilotd and pilot-rendezvous accept the installed example
#     configs (--check-config);
#   - installing again keeps a changed config; `make uninstall` removes every
#     file but that changed config.
# TAP output.  Skips (1..0 # SKIP; exit 77 when run by hand) unless root with
# systemd-analyze and a configured build tree ($top_builddir, as make check
# sets it).
set -u

# ok, not_ok, note, skip_all
. "$(dirname "$0")/tap.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root"
command -v systemd-analyze >/dev/null 2>&1 || skip_all "no systemd-analyze"
BUILD=${top_builddir:-}
[ -n "$BUILD" ] && [ -f "$BUILD/Makefile" ] ||
	skip_all "set top_builddir to a configured build tree (make check does)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pilot-install.XXXXXX") || exit 99
trap 'rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM
DEST=$WORK/dest

check() {
	d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}
finish() {
	echo "1..$n"
	[ "$failed" = 0 ]
	exit
}

# A make of its own: not the jobserver or the variables of an enclosing
# `make check`.
bmake() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$BUILD" "$@"; }

# ---------------------------------------------------------------- install
bmake -s pilot-print-dirs >"$WORK/dirs" 2>&1 || {
	not_ok "make pilot-print-dirs"
	note "$WORK/dirs"
	finish
}
dir() { sed -n "s|^$1=||p" "$WORK/dirs"; }
sbindir=$(dir sbindir) bindir=$(dir bindir) mandir=$(dir mandir)
unitdir=$(dir systemdsystemunitdir) sysusersdir=$(dir sysusersdir) confdir=$(dir pilotconfdir)
bashcompdir=$(dir bashcompletiondir) zshcompdir=$(dir zshcompletiondir)
echo "# sbindir=$sbindir bindir=$bindir mandir=$mandir"
echo "# unitdir=$unitdir sysusersdir=$sysusersdir confdir=$confdir"
echo "# bashcompletiondir=$bashcompdir zshcompletiondir=$zshcompdir"

if bmake install DESTDIR="$DEST" >"$WORK/install.log" 2>&1; then
	ok "make install DESTDIR=..."
else
	not_ok "make install DESTDIR=..."
	note "$WORK/install.log"
	finish
fi

for f in "$sbindir/pilotd" "$sbindir/pilot-rendezvous" "$bindir/pilotctl"; do
	check "installed ${f##*/} in ${f%/*}" test -x "$DEST$f"
done
for p in pilotd.8 pilot-rendezvous.8 pilotctl.8 pilotd.json.5 rendezvous.json.5 pilot-policy.5; do
	check "installed man page $p in man${p##*.}" test -s "$DEST$mandir/man${p##*.}/$p"
done
if [ "$unitdir" = no ]; then
	echo "# configured --without-systemdsystemunitdir: units not installed"
else
	for u in pilotd.service pilot-rendezvous.service; do
		check "installed $u in $unitdir" test -s "$DEST$unitdir/$u"
		check "$u has no @...@ left" eval "! grep -q '@[a-z_]*@' '$DEST$unitdir/$u'"
		check "$u runs $sbindir/${u%.service}" \
			grep -q "^ExecStart=$sbindir/${u%.service} --config $confdir/" "$DEST$unitdir/$u"
	done
fi
if [ "$sysusersdir" != no ]; then
	for f in pilot.conf pilot-rendezvous.conf; do
		check "installed sysusers.d/$f in $sysusersdir" test -s "$DEST$sysusersdir/$f"
	done
fi
if [ "$bashcompdir" != no ]; then
	check "installed the bash completion $bashcompdir/pilotctl (complete -F _pilotctl)" \
		grep -q '^complete -F _pilotctl pilotctl$' "$DEST$bashcompdir/pilotctl"
fi
if [ "$zshcompdir" != no ]; then
	check "installed the zsh completion $zshcompdir/_pilotctl (#compdef pilotctl)" \
		grep -qx '#compdef pilotctl' "$DEST$zshcompdir/_pilotctl"
fi
for c in pilotd.json rendezvous.json; do
	check "installed example config $confdir/$c" test -s "$DEST$confdir/$c"
	# They may hold tokens: never readable by others.
	check "installed $confdir/$c has mode 640" [ "$(stat -c %a "$DEST$confdir/$c")" = 640 ]
done
# Everything under DESTDIR, nothing else: the list of installed files.
(cd "$DEST" && find . -type f | sort) >"$WORK/files"
echo "# $(wc -l <"$WORK/files") files installed"

# ---------------------------------------------------------------- units
if [ "$unitdir" != no ]; then
	mkdir -p "$WORK/verify"
	for u in pilotd.service pilot-rendezvous.service; do
		# The unit as installed, its programs found in DESTDIR.
		sed "s|^ExecStart=$sbindir/|ExecStart=$DEST$sbindir/|" "$DEST$unitdir/$u" >"$WORK/verify/$u"
	done
	if (cd "$WORK/verify" && MANPATH="$DEST$mandir" SYSTEMD_LOG_LEVEL=notice \
		systemd-analyze verify pilotd.service pilot-rendezvous.service) >"$WORK/verify.log" 2>&1 &&
		! [ -s "$WORK/verify.log" ]; then
		ok "systemd-analyze verify: both units, Documentation= found in DESTDIR"
	else
		not_ok "systemd-analyze verify: both units, Documentation= found in DESTDIR"
		note "$WORK/verify.log"
	fi
	for u in pilotd.service pilot-rendezvous.service; do
		systemd-analyze security --offline=true --threshold=20 "$WORK/verify/$u" \
			>"$WORK/security.log" 2>&1
		rc=$?
		score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$WORK/security.log")
		if [ "$rc" = 0 ] && [ -n "$score" ]; then
			ok "systemd-analyze security: $u exposure $score (at most 2.0)"
		else
			not_ok "systemd-analyze security: $u exposure ${score:-?} (at most 2.0)"
			grep '✗' "$WORK/security.log" | note
		fi
	done
	check "pilotd.service: user pilot, CAP_NET_ADMIN only" eval \
		"grep -q '^User=pilot\$' '$WORK/verify/pilotd.service' &&
		 grep -q '^CapabilityBoundingSet=CAP_NET_ADMIN\$' '$WORK/verify/pilotd.service'"
	check "pilot-rendezvous.service: user pilot-rendezvous, no capabilities" eval \
		"grep -q '^User=pilot-rendezvous\$' '$WORK/verify/pilot-rendezvous.service' &&
		 grep -q '^CapabilityBoundingSet=\$' '$WORK/verify/pilot-rendezvous.service'"
fi
if [ "$sysusersdir" != no ] && command -v systemd-sysusers >/dev/null 2>&1; then
	mkdir -p "$WORK/sysroot/etc"
	for f in pilot:pilot pilot-rendezvous:pilot-rendezvous; do
		if systemd-sysusers --root="$WORK/sysroot" --dry-run "$DEST$sysusersdir/${f%%:*}.conf" \
			>"$WORK/sysusers.log" 2>&1 && grep -q "user '${f#*:}'" "$WORK/sysusers.log" &&
			[ "$(grep -c "Creating user" "$WORK/sysusers.log")" = 1 ]; then
			ok "systemd-sysusers accepts sysusers.d/${f%%:*}.conf (user ${f#*:} only)"
		else
			not_ok "systemd-sysusers accepts sysusers.d/${f%%:*}.conf (user ${f#*:} only)"
			note "$WORK/sysusers.log"
		fi
	done
fi

# ---------------------------------------------------------------- configs
# The installed pilotd.json names a placeholder pin: refused, by name,
# until the operator sets the registry's (here a real-looking one, as a flag).
if ! "$DEST$sbindir/pilotd" --check-config --config "$DEST$confdir/pilotd.json" \
	>"$WORK/cc.log" 2>&1 && grep -q "registry_pin: still the example's placeholder" "$WORK/cc.log"; then
	ok "installed pilotd --check-config refuses the installed pilotd.json's placeholder pin"
else
	not_ok "installed pilotd --check-config refuses the installed pilotd.json's placeholder pin"
	note "$WORK/cc.log"
fi
if "$DEST$sbindir/pilotd" --check-config --config "$DEST$confdir/pilotd.json" \
	--registry-pin BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA= >"$WORK/cc.log" 2>&1; then
	ok "installed pilotd --check-config accepts the installed pilotd.json with a pin"
else
	not_ok "installed pilotd --check-config accepts the installed pilotd.json with a pin"
	note "$WORK/cc.log"
fi
if "$DEST$sbindir/pilot-rendezvous" --check-config --config "$DEST$confdir/rendezvous.json" \
	>"$WORK/cc.log" 2>&1; then
	ok "installed pilot-rendezvous --check-config accepts the installed rendezvous.json"
else
	not_ok "installed pilot-rendezvous --check-config accepts the installed rendezvous.json"
	note "$WORK/cc.log"
fi
check "installed pilotctl --version runs" eval "'$DEST$bindir/pilotctl' --version >/dev/null"

# ---------------------------------------------------------------- reinstall, uninstall
echo '{"registry": "198.18.2.1:9000", "registry_ca": "/etc/ssl/certs/ca-certificates.crt"}' \
	>"$DEST$confdir/pilotd.json"
cp "$DEST$confdir/pilotd.json" "$WORK/changed.json"
if bmake install DESTDIR="$DEST" >"$WORK/install2.log" 2>&1; then
	check "make install again keeps a changed $confdir/pilotd.json" \
		cmp -s "$WORK/changed.json" "$DEST$confdir/pilotd.json"
else
	not_ok "make install again"
	note "$WORK/install2.log"
fi
if bmake uninstall DESTDIR="$DEST" >"$WORK/uninstall.log" 2>&1; then
	left=$(cd "$DEST" && find . -type f | sort)
	if [ "$left" = ".$confdir/pilotd.json" ]; then
		ok "make uninstall removes every file but the changed config"
	else
		not_ok "make uninstall removes every file but the changed config; left: $left"
	fi
else
	not_ok "make uninstall"
	note "$WORK/uninstall.log"
fi

finish
