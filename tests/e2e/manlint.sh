#!/bin/sh
# manlint.sh - the man pages are clean mdoc(7) (`mandoc -Tlint -Wwarning`
# prints nothing for any of them), and they and the example configs keep up
# with the code:
#   - every pilotd / pilot-rendezvous configuration key (from the daemons'
#     own --check-config dump) is an item of pilotd.json(5) / rendezvous.json(5)
#     and appears in etc/pilot/*.json, live or commented;
#   - every option of the daemons' --help appears in pilotd(8) /
#     pilot-rendezvous(8);
#   - every live value in etc/pilot/*.json is the default;
#   - every pilotctl command and subcommand (pilotctl --json help) is an
#     item of pilotctl(8).
# TAP output.  Needs no root.  Skips (1..0 # SKIP; exit 77 when run by hand)
# without mandoc; the checks against the code need the built binaries.
set -u

# ok, not_ok, note, skip_all
. "$(dirname "$0")/tap.sh"

SRC=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${PILOT_BINDIR:-${top_builddir:-.}}
MANDOC=${MANDOC:-mandoc}
command -v "$MANDOC" >/dev/null 2>&1 || skip_all "no mandoc (apt-get install mandoc)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/manlint.XXXXXX") || exit 99
trap 'rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM

PAGES="pilotd.8 pilot-rendezvous.8 pilotctl.8 pilotd.json.5 rendezvous.json.5 pilot-policy.5"

# ---------------------------------------------------------------- lint
for p in $PAGES; do
	f=$SRC/man/$p
	if [ ! -f "$f" ]; then
		not_ok "man/$p exists"
		continue
	fi
	"$MANDOC" -Tlint -Wwarning "$f" >"$WORK/lint" 2>&1
	if [ -s "$WORK/lint" ]; then
		not_ok "mandoc -Tlint -Wwarning man/$p prints nothing"
		note "$WORK/lint"
	else
		ok "mandoc -Tlint -Wwarning man/$p prints nothing"
	fi
done
for f in "$SRC"/man/*.[1-9]; do
	case " $PAGES " in *" ${f##*/} "*) ;; *)
		"$MANDOC" -Tlint -Wwarning "$f" >"$WORK/lint" 2>&1
		if [ -s "$WORK/lint" ]; then
			not_ok "mandoc -Tlint -Wwarning man/${f##*/} prints nothing"
			note "$WORK/lint"
		else
			ok "mandoc -Tlint -Wwarning man/${f##*/} prints nothing"
		fi ;;
	esac
done

# ---------------------------------------------------------------- the code
if [ ! -x "$BIN/pilotd" ] || [ ! -x "$BIN/pilot-rendezvous" ] || [ ! -x "$BIN/pilotctl" ]; then
	echo "# binaries not built in $BIN: documentation checks against the code skipped"
	echo "1..$n"
	[ "$failed" = 0 ]
	exit
fi

# keys DUMPFILE: the top-level keys of a --check-config dump (yajl beautified)
keys() { sed -n 's/^    "\([a-z0-9_]*\)":.*/\1/p' "$1"; }
# strip_registry DUMPFILE: the dump without the keys the example must set
# (registry is a list: its elements' lines go too)
strip_registry() {
	awk '/^    "registry": \[/ { skip = 1; next } skip && /^    \]/ { skip = 0; next } skip { next }
		!/^    "registry(_pin)?":/' "$1"
}

echo '{}' >"$WORK/empty.json"
# The pilotd example must name a registry; compare it with the defaults plus
# the same two flags.  Its pin is a placeholder that --check-config refuses
# (an all-zero digest): a real-looking pin given as a flag stands in.
PIN=BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=
"$BIN/pilotd" --check-config --config "$SRC/etc/pilot/pilotd.json" --registry-pin "$PIN" \
	>"$WORK/pilotd.example" 2>&1 ||
	not_ok "pilotd --check-config accepts etc/pilot/pilotd.json"
"$BIN/pilotd" --check-config --config "$WORK/empty.json" --registry 198.18.2.1:9000 \
	--registry-pin "$PIN" >"$WORK/pilotd.defaults" 2>&1 ||
	not_ok "pilotd --check-config with defaults only"
"$BIN/pilot-rendezvous" --check-config --config "$SRC/etc/pilot/rendezvous.json" \
	>"$WORK/rendezvous.example" 2>&1 ||
	not_ok "pilot-rendezvous --check-config accepts etc/pilot/rendezvous.json"
"$BIN/pilot-rendezvous" --check-config --config "$WORK/empty.json" >"$WORK/rendezvous.defaults" 2>&1 ||
	not_ok "pilot-rendezvous --check-config with defaults only"

for d in pilotd rendezvous; do
	case $d in pilotd) daemon=pilotd ;; *) daemon=pilot-rendezvous ;; esac
	if [ -z "$(keys "$WORK/$d.defaults")" ]; then
		not_ok "$daemon --check-config dumps the configuration keys"
		note "$WORK/$d.defaults"
		continue
	fi
	missing5= missing_ex=
	for k in $(keys "$WORK/$d.defaults"); do
		grep -Eq "^\.It Cm $k( |\$)" "$SRC/man/$d.json.5" || missing5="$missing5 $k"
		grep -Eq "^[[:space:]]*(// *)?\"$k\"[[:space:]]*:" "$SRC/etc/pilot/$d.json" ||
			missing_ex="$missing_ex $k"
	done
	if [ -z "$missing5" ]; then
		ok "every $daemon key is documented in $d.json(5)"
	else
		not_ok "every $daemon key is documented in $d.json(5); missing:$missing5"
	fi
	if [ -z "$missing_ex" ]; then
		ok "every $daemon key appears in etc/pilot/$d.json"
	else
		not_ok "every $daemon key appears in etc/pilot/$d.json; missing:$missing_ex"
	fi
	strip_registry "$WORK/$d.example" >"$WORK/a"
	strip_registry "$WORK/$d.defaults" >"$WORK/b"
	if cmp -s "$WORK/a" "$WORK/b"; then
		ok "etc/pilot/$d.json sets every key to its default"
	else
		not_ok "etc/pilot/$d.json sets every key to its default"
		diff "$WORK/b" "$WORK/a" | note
	fi
done

for daemon in pilotd pilot-rendezvous; do
	missing=
	for fl in $("$BIN/$daemon" --help 2>/dev/null | sed -n 's/^  --\([a-z0-9-]*\).*/\1/p'); do
		grep -Eq -- "-$fl([^a-z0-9-]|\$)" "$SRC/man/$daemon.8" || missing="$missing --$fl"
	done
	if [ -z "$missing" ]; then
		ok "every option of $daemon --help is in $daemon(8)"
	else
		not_ok "every option of $daemon --help is in $daemon(8); missing:$missing"
	fi
done

"$BIN/pilotctl" --json help >"$WORK/help.json" 2>&1
cmds=$(grep -o '"command":"[^"]*"' "$WORK/help.json" | sed 's/^"command":"//; s/"$//; s/ /:/g')
if [ -z "$cmds" ]; then
	not_ok "pilotctl --json help lists the commands"
	note "$WORK/help.json"
else
	missing=
	for c in $cmds; do
		c=$(echo "$c" | tr : ' ')
		grep -Eq "^\.(It )?Cm $c( |\$)" "$SRC/man/pilotctl.8" || missing="$missing '$c'"
	done
	if [ -z "$missing" ]; then
		ok "every pilotctl command is in pilotctl(8) ($(echo "$cmds" | wc -w) commands)"
	else
		not_ok "every pilotctl command is in pilotctl(8); missing:$missing"
	fi
fi

echo "1..$n"
[ "$failed" = 0 ]
