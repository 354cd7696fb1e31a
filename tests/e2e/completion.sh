#!/bin/sh
# completion.sh - pilotctl's shell completions, as make builds them from
# `pilotctl --json help` (contrib/gen-completion.sh):
#   - the bash one loads, registers _pilotctl for pilotctl (complete -p), and
#     completes what the help lists: "netw" to network, "network " to exactly
#     its subcommands, the commands and the global options, an option's
#     words (--join-rule), file names where a FILE goes, help's COMMAND;
#     an option's value is skipped (also as bash splits --opt=VALUE);
#   - the zsh one parses and offers the same through zsh's completion
#     functions (stubbed: compadd, _describe, _files), when zsh is there;
#   - the generator refuses input that is not pilotctl's help.
# TAP output.  Needs no root.  Skips (1..0 # SKIP; exit 77 when run by hand)
# without bash or a built tree.
set -u

# ok, not_ok, note, skip_all
. "$(dirname "$0")/tap.sh"

SRC=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${top_builddir:-.}
BASHC=$BUILD/completion/bash/pilotctl
ZSHC=$BUILD/completion/zsh/_pilotctl
command -v bash >/dev/null 2>&1 || skip_all "no bash"
[ -x "$BUILD/pilotctl" ] && [ -s "$BASHC" ] && [ -s "$ZSHC" ] ||
	skip_all "pilotctl and its completions not built in ${BUILD} (make)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/completion.XXXXXX") || exit 99
trap 'rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM

# What the completions must offer, from pilotctl itself.
"$BUILD/pilotctl" --json help >"$WORK/help.json" || {
	not_ok "pilotctl --json help"
	echo "1..$n"
	exit 1
}
words() { tr ' ' '\n' | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//'; }
TOPS=$(grep -o '"command":"[a-z-]*' "$WORK/help.json" | sed 's/.*"//' | sort -u | words)
NETSUBS=$(grep -o '"command":"network [a-z-]*' "$WORK/help.json" | sed 's/.* //' | words)
GLOBALS=$(grep -o '"option":"[^"]*' "$WORK/help.json" | sed 's/.*"//' | words)
[ -n "$TOPS" ] && [ -n "$NETSUBS" ] && [ -n "$GLOBALS" ] ||
	not_ok "pilotctl --json help lists commands, network subcommands and global options"

# expect SHELLNAME DESC WANT GOT: WANT and GOT the same word sets
expect() {
	if [ "$(echo "$3" | words)" = "$(echo "$4" | words)" ]; then
		ok "$1: $2"
	else
		not_ok "$1: $2 (want [$3], got [$4])"
	fi
}

# ---------------------------------------------------------------- bash
if bash -n "$BASHC" 2>"$WORK/bash-n.log"; then
	ok "bash: the completion parses (bash -n)"
else
	not_ok "bash: the completion parses (bash -n)"
	note "$WORK/bash-n.log"
fi
mkdir -p "$WORK/files/sub"
: >"$WORK/files/policy.json"
# bcomp WORD...: COMPREPLY for the command line WORD... with the cursor on
# its last word, as bash calls a -F function (COMP_WORDS, COMP_CWORD).
cat >"$WORK/run.bash" <<'EOF'
set -u
source "$1" || exit 1
shift
complete -p pilotctl
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
_pilotctl pilotctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" || exit 1
printf '%s\n' "${COMPREPLY[@]}"
EOF
bcomp() {
	bash "$WORK/run.bash" "$BASHC" pilotctl "$@" >"$WORK/bash.out" 2>"$WORK/bash.err" || {
		echo "(failed: $(cat "$WORK/bash.err"))"
		return
	}
	[ -s "$WORK/bash.err" ] && echo "(stderr: $(cat "$WORK/bash.err"))"
	sed 1d "$WORK/bash.out" | tr '\n' ' '
}
if bash "$WORK/run.bash" "$BASHC" pilotctl '' 2>&1 | head -1 | grep -qx 'complete -F _pilotctl pilotctl'; then
	ok "bash: sourcing it registers complete -F _pilotctl pilotctl"
else
	not_ok "bash: sourcing it registers complete -F _pilotctl pilotctl"
fi
expect bash "pilotctl netw<TAB> is network" "network" "$(bcomp netw)"
expect bash "pilotctl net<TAB> is netcheck and network" "netcheck network" "$(bcomp net)"
expect bash "pilotctl network <TAB> is its subcommands" "$NETSUBS" "$(bcomp network '')"
expect bash "pilotctl <TAB> is every command" "$TOPS" "$(bcomp '')"
expect bash "pilotctl -<TAB> is the global options" "$GLOBALS" "$(bcomp -)"
expect bash "pilotctl --socket PATH netw<TAB>: the value is skipped" "network" \
	"$(bcomp --socket /run/x.sock netw)"
expect bash "pilotctl --socket=PATH netw<TAB> (split at =): the value is skipped" "network" \
	"$(bcomp --socket = /run/x.sock netw)"
expect bash "pilotctl --registry HOST:PORT netw<TAB> (split at :)" "network" \
	"$(bcomp --registry 198.18.0.1 : 9000 netw)"
expect bash "pilotctl network create N --join-rule <TAB> is the join rules" \
	"open token invite ca oidc spiffe" "$(bcomp network create lab --join-rule '')"
expect bash "pilotctl network join -<TAB> is its options and --json" \
	"--token --invite --cert --oidc-token --svid --json" "$(bcomp network join 1 -)"
expect bash "pilotctl help netw<TAB> is network" "network" "$(bcomp help netw)"
expect bash "pilotctl help network <TAB> is its subcommands" "$NETSUBS" "$(bcomp help network '')"
expect bash "pilotctl policy set NET <TAB>: file names" "$WORK/files/policy.json" \
	"$(bcomp policy set 1 "$WORK/files/p")"
expect bash "pilotctl ca generate --out <TAB>: directories" "$WORK/files/sub" \
	"$(bcomp ca generate --out "$WORK/files/s")"
expect bash "pilotctl info <TAB>: nothing" "" "$(bcomp info '')"

# ---------------------------------------------------------------- zsh
if ! command -v zsh >/dev/null 2>&1; then
	n=$((n + 1))
	echo "ok $n - zsh: the completion parses and completes # SKIP no zsh"
else
	if zsh -n "$ZSHC" 2>"$WORK/zsh-n.log"; then
		ok "zsh: the completion parses (zsh -n)"
	else
		not_ok "zsh: the completion parses (zsh -n)"
		note "$WORK/zsh-n.log"
	fi
	# Autoloaded from fpath as compinit would; zsh's completion builtins
	# work only inside a completion widget, so stand-ins print what they
	# were given.
	mkdir -p "$WORK/fpath"
	cp "$ZSHC" "$WORK/fpath/_pilotctl"
	cat >"$WORK/run.zsh" <<'EOF'
fpath=("$1" $fpath)
shift
autoload -Uz _pilotctl
compadd() { [[ $1 == -- ]] && shift; print -r -- "$@"; }
_describe() { local -a d; d=("${(@P)${@[-1]}}"); print -r -- "${(@)d%%:*}"; }
_files() { print -r -- "files${1:+ $1}"; }
words=("$@")
CURRENT=$#words
_pilotctl
EOF
	zcomp() { zsh -f "$WORK/run.zsh" "$WORK/fpath" pilotctl "$@" 2>&1 | tr '\n' ' '; }
	case " $(zcomp net) " in
	*" network "*) ok "zsh: pilotctl net<TAB> offers network" ;;
	*) not_ok "zsh: pilotctl net<TAB> offers network (got [$(zcomp net)])" ;;
	esac
	expect zsh "pilotctl network <TAB> is its subcommands" "$NETSUBS" "$(zcomp network '')"
	expect zsh "pilotctl --<TAB> is the global options" "$GLOBALS" "$(zcomp --)"
	expect zsh "pilotctl network create N --join-rule <TAB> is the join rules" \
		"open token invite ca oidc spiffe" "$(zcomp network create lab --join-rule '')"
	expect zsh "pilotctl policy set NET <TAB>: file names" "files" "$(zcomp policy set 1 '')"
fi

# ---------------------------------------------------------------- generator
gen() { sh "$SRC/contrib/gen-completion.sh" "$@"; }
for bad in '{"status":"error","code":"usage","message":"x","hint":""}' \
	'{"status":"ok","data":{"commands":[{"command":"a","usage":"a"}' 'not json'; do
	if printf '%s\n' "$bad" | gen bash >"$WORK/gen.out" 2>"$WORK/gen.err"; then
		not_ok "gen-completion.sh refuses '$bad'"
	elif [ -s "$WORK/gen.out" ] || ! grep -q '^gen-completion: ' "$WORK/gen.err"; then
		not_ok "gen-completion.sh refuses '$bad' with a message and nothing on stdout"
	else
		ok "gen-completion.sh refuses '$bad': $(cat "$WORK/gen.err")"
	fi
done
if gen fish <"$WORK/help.json" >/dev/null 2>&1; then
	not_ok "gen-completion.sh fish: usage error"
else
	ok "gen-completion.sh fish: usage error"
fi
if gen bash <"$WORK/help.json" | cmp -s - "$BASHC"; then
	ok "the built bash completion is what the generator makes from this pilotctl"
else
	not_ok "the built bash completion is what the generator makes from this pilotctl"
fi

echo "1..$n"
[ "$failed" = 0 ]
