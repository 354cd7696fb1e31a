#!/bin/sh
# contrib/gen-completion.sh - the bash or zsh completion for pilotctl, made
# from `pilotctl --json help` (data.commands: command, usage, summary;
# data.options: the global options), so that it never drifts from the
# command table.  make runs it at build time (Makefile.am, "completions").
#
#   pilotctl --json help | sh contrib/gen-completion.sh bash >pilotctl.bash
#   pilotctl --json help | sh contrib/gen-completion.sh zsh  >_pilotctl
#
# POSIX sh and awk only (no python at build time).  What the usage strings
# give: the command words ("network create"; "node expire", whose table row
# is "node"), each command's options and whether an option takes a value
# (a FILE, F or PATH value completes file names, DIR directories,
# a|b|c its words), and the positional arguments (FILE, DIR; help's COMMAND
# and SUBCOMMAND complete command names).  Exit 1 with a message on stderr,
# and nothing on stdout, for input that is not that JSON.
set -eu

case ${1-} in
bash | zsh) shell=$1 ;;
*)
	echo "usage: pilotctl --json help | $0 bash|zsh" >&2
	exit 2
	;;
esac

# ---------------------------------------------------------------- the data
# The awk program reads the JSON and prints the shell functions that hold
# the data; the logic, the same for both shells, follows it.
data=$(awk -v shell="$shell" '
function die(msg) {
	printf "gen-completion: %s\n", msg >"/dev/stderr"
	failed = 1
	exit 1
}

# ---- a JSON reader, just enough for one help envelope
function jstring(   out, c, h) {
	out = ""
	p++
	while (p <= n) {
		c = substr(s, p, 1)
		if (c == "\"") {
			p++
			return out
		}
		if (c == "\\") {
			p++
			c = substr(s, p, 1)
			if (c == "n") c = "\n"
			else if (c == "t") c = "\t"
			else if (c == "r") c = "\r"
			else if (c == "b" || c == "f") c = " "
			else if (c == "u") {
				h = tolower(substr(s, p + 1, 4))
				if (h !~ /^00[2-7][0-9a-f]$/)
					die("unsupported escape \\u" h)
				c = sprintf("%c", 16 * index("0123456789abcdef", substr(h, 3, 1)) - 16 + \
					index("0123456789abcdef", substr(h, 4, 1)) - 1)
				p += 4
			}
		}
		out = out c
		p++
	}
	die("unterminated string")
}

# a value at depth d: a field of an item of data.commands or data.options
function value(v, isnull) {
	if (d == 1 && key == "status")
		status = v
	if (d == 4 && typ[4] == "{" && under[3] == "commands" && under[2] == "data")
		fld[key] = v
	if (d == 4 && typ[4] == "{" && under[3] == "options" && under[2] == "data")
		fld[key] = isnull ? "" : v
}

function close_item() {
	if (d != 4 || under[2] != "data")
		return
	if (under[3] == "commands") {
		if (fld["command"] == "" || fld["usage"] == "")
			die("a command without command or usage")
		ncmd++
		cpath[ncmd] = fld["command"]
		cusage[ncmd] = fld["usage"]
		csum[ncmd] = fld["summary"]
	} else if (under[3] == "options") {
		if (fld["option"] !~ /^-/)
			die("an option that is no --option: " fld["option"])
		nopt++
		oname[nopt] = fld["option"]
		oarg[nopt] = fld["arg"]
		osum[nopt] = fld["summary"]
	}
	split("", fld)
}

function parse(   c, v) {
	n = length(s)
	p = 1
	d = 0
	wantkey = 0
	while (p <= n) {
		c = substr(s, p, 1)
		if (c ~ /[ \t\r\n]/) {
			p++
		} else if (c == "{" || c == "[") {
			d++
			typ[d] = c
			under[d] = d == 1 ? "" : typ[d - 1] == "{" ? key : under[d - 1] "[]"
			wantkey = c == "{"
			p++
		} else if (c == "}" || c == "]") {
			if (d == 0 || (c == "}") != (typ[d] == "{"))
				die("unbalanced " c)
			if (c == "}")
				close_item()
			d--
			wantkey = 0
			p++
		} else if (c == ",") {
			wantkey = typ[d] == "{"
			p++
		} else if (c == ":") {
			wantkey = 0
			p++
		} else if (c == "\"") {
			v = jstring()
			if (wantkey)
				key = v
			else
				value(v, 0)
		} else if (match(substr(s, p), /^(null|true|false|-?[0-9][0-9.eE+-]*)/)) {
			v = substr(s, p, RLENGTH)
			value(v, v == "null")
			p += RLENGTH
		} else {
			v = substr(s, p, 20)
			gsub(/[\t\r\n]+/, " ", v)
			die("not JSON at \"" v "\"")
		}
	}
	if (d != 0)
		die("truncated JSON")
	if (status != "ok")
		die("not an ok envelope (status \"" status "\")")
	if (ncmd == 0 || nopt == 0)
		die("no data.commands or no data.options: is this pilotctl --json help?")
}

# ---- what the usage strings say
# the kind of value a metavariable stands for
function kind(meta) {
	if (meta ~ /^[a-z0-9-]+(\|[a-z0-9-]+)+$/) {
		gsub(/\|/, " ", meta)
		return "list " meta
	}
	if (meta == "FILE" || meta == "F" || meta == "PATH")
		return "file"
	if (meta == "DIR")
		return "dir"
	return "word"
}

function add_word(list, w) {
	return index(" " list " ", " " w " ") ? list : list == "" ? w : list " " w
}

# the words of command i (cpath and any literal words its usage adds),
# then its options and positional arguments
function command(i,   t, nt, j, k, path, key, top, sb, raw, core, closed, parts, m, r, nxt) {
	nt = split(cusage[i], t, " ")
	k = split(cpath[i], path, " ")
	for (j = 1; j <= k; j++)
		if (t[j] != path[j])
			die("usage \"" cusage[i] "\" does not start with \"" cpath[i] "\"")
	if (k == 1 && j <= nt && t[j] ~ /^[a-z][a-z0-9-]*$/)
		path[++k] = t[j++]
	top = path[1]
	sb = k > 1 ? path[2] : ""
	key = top (sb == "" ? "" : " " sb)
	if (!(top in seen)) {
		seen[top] = 1
		tops[++ntop] = top
	}
	if (sb != "")
		subs[top] = add_word(subs[top], sb)
	keys[++nkey] = key
	summary[key] = csum[i]
	for (; j <= nt; j++) {
		raw = t[j]
		core = raw
		gsub(/^[[(]+/, "", core)
		closed = core ~ /[])]$/
		gsub(/[])]+$/, "", core)
		if (core == "|" || core == "")
			continue
		if (core ~ /^-./) {
			if (index(core, "|")) {
				m = split(core, parts, "|")
				for (r = 1; r <= m; r++)
					if (parts[r] ~ /^-./)
						opts[key] = add_word(opts[key], parts[r])
				continue
			}
			opts[key] = add_word(opts[key], core)
			nxt = j < nt ? t[j + 1] : ""
			if (!closed && nxt != "" && nxt !~ /^[[(|-]/) {
				gsub(/[])]+$/, "", nxt)
				optarg[key "|" core] = kind(nxt)
				j++
			}
			continue
		}
		if (core ~ /\.\.\.$/) {
			sub(/\.\.\.$/, "", core)
			args[key] = args[key] " " poskind(core) "..."
		} else {
			args[key] = args[key] " " poskind(core)
		}
	}
	sub(/^ /, "", args[key])
}

function poskind(name) {
	if (name == "COMMAND") return "command"
	if (name == "SUBCOMMAND") return "subcommand"
	if (name == "FILE") return "file"
	if (name == "DIR") return "dir"
	return "word"
}

# single-quoted for the shell
function shq(str) {
	gsub(/\047/, "\047\\\047\047", str)
	return "\047" str "\047"
}

# a shell function FNAME that sets REPLY to val[key[i]] when SUBJECT is
# key[i], for i = 1..nk (empty for anything else)
function emit_map(fname, subject, comment, nk, key, val,   i) {
	print ""
	print comment
	print fname "() {"
	print "\tcase " subject " in"
	for (i = 1; i <= nk; i++)
		print "\t" shq(key[i]) ") REPLY=" shq(val[key[i]]) " ;;"
	print "\t*) REPLY= ;;"
	print "\tesac"
	print "}"
}

function emit(   i, k, nk, list, top, o, desc, key) {
	print "# Generated by contrib/gen-completion.sh from `pilotctl --json help`; do not edit."
	print ""
	list = ""
	for (i = 1; i <= ntop; i++)
		list = add_word(list, tops[i])
	print "_pilotctl_commands=" shq(list)

	nk = 0
	for (i = 1; i <= ntop; i++)
		if (tops[i] in subs)
			key[++nk] = tops[i]
	emit_map("_pilotctl_subs", "$1", "# _pilotctl_subs COMMAND: its subcommands in REPLY (empty: none)",
		nk, key, subs)

	# the global options are those of the empty key
	key[nk = 1] = ""
	for (o = 1; o <= nopt; o++) {
		opts[""] = add_word(opts[""], oname[o])
		if (oarg[o] != "")
			optarg["|" oname[o]] = kind(oarg[o])
	}
	for (k = 1; k <= nkey; k++)
		if (keys[k] in opts)
			key[++nk] = keys[k]
	emit_map("_pilotctl_opts", "$1", \
		"# _pilotctl_opts KEY: the options of command KEY (\"network create\"; empty:\n" \
		"# the global ones) in REPLY", nk, key, opts)

	for (o in optarg)
		sorted[o] = o
	emit_map("_pilotctl_optarg", "\"$1|$2\"", \
		"# _pilotctl_optarg KEY OPTION: the value OPTION of command KEY takes, in\n" \
		"# REPLY: empty (none), word, file, dir, or \"list WORD...\"", \
		asorted(sorted), sortv, optarg)

	nk = 0
	for (k = 1; k <= nkey; k++)
		if (args[keys[k]] != "")
			key[++nk] = keys[k]
	emit_map("_pilotctl_args", "$1", \
		"# _pilotctl_args KEY: the kinds of its positional arguments in REPLY\n" \
		"# (word, file, dir, command, subcommand; a last one ending in ... repeats)", \
		nk, key, args)
	if (shell != "zsh")
		return
	print ""
	print "# _pilotctl_describe KEY: NAME:SUMMARY of the commands (KEY empty), of the"
	print "# subcommands of command KEY, or of the global options (KEY -), in reply"
	print "_pilotctl_describe() {"
	print "\tcase $1 in"
	printf "\t\047\047) reply=("
	for (i = 1; i <= ntop; i++) {
		top = tops[i]
		desc = top in summary ? summary[top] : "subcommands: " subs[top]
		printf " %s", shq(top ":" oneline(desc))
	}
	print " ) ;;"
	printf "\t-) reply=("
	for (o = 1; o <= nopt; o++)
		printf " %s", shq(oname[o] ":" oneline(osum[o]))
	print " ) ;;"
	for (i = 1; i <= ntop; i++) {
		top = tops[i]
		if (!(top in subs))
			continue
		printf "\t%s) reply=(", shq(top)
		k = split(subs[top], list2, " ")
		for (o = 1; o <= k; o++)
			printf " %s", shq(list2[o] ":" oneline(summary[top " " list2[o]]))
		print " ) ;;"
	}
	print "\t*) reply=() ;;"
	print "\tesac"
	print "}"
}

function oneline(str) {
	gsub(/[\t\n]+/, " ", str)
	return str
}

# sortv[1..n]: the values of arr in order (insertion sort; a few dozen)
function asorted(arr,   nn, v, i, j) {
	nn = 0
	for (v in arr) {
		for (i = ++nn; i > 1 && sortv[i - 1] > v; i--)
			sortv[i] = sortv[i - 1]
		sortv[i] = v
	}
	return nn
}

{ s = s $0 "\n" }
END {
	if (failed)
		exit 1
	parse()
	for (i = 1; i <= ncmd; i++)
		command(i)
	emit()
}
') || exit 1

# ---------------------------------------------------------------- the logic
# The same text for both shells: POSIX sh that runs in bash, and in zsh
# with sh_word_split (which the zsh front end sets for its call).  Every
# variable is the front end's local (_pc_*), REPLY the return value.
logic=$(
	cat <<'EOF'

# _pilotctl_state WORD...: the words before the cursor (without "pilotctl")
# into _pc_cmd, _pc_sub (the command and subcommand), _pc_npos (positional
# arguments after them), _pc_pos1 (the first), and _pc_vkind (set when the
# cursor is the value of the last word, an option: its kind)
_pilotctl_state() {
	_pc_cmd= _pc_sub= _pc_npos=0 _pc_pos1= _pc_vkind= _pc_literal=
	while [ $# -gt 0 ]; do
		_pc_w=$1
		shift
		if [ -z "$_pc_literal" ]; then
			case $_pc_w in
			--)
				_pc_literal=1
				continue
				;;
			--*=*) continue ;;
			-?*)
				_pilotctl_optarg "$_pc_cmd${_pc_sub:+ $_pc_sub}" "$_pc_w"
				if [ -n "$REPLY" ]; then
					if [ $# -eq 0 ]; then
						_pc_vkind=$REPLY
						return
					fi
					shift
				fi
				continue
				;;
			esac
		fi
		if [ -z "$_pc_cmd" ]; then
			_pc_cmd=$_pc_w
			continue
		fi
		if [ -z "$_pc_sub" ] && [ "$_pc_npos" -eq 0 ]; then
			_pilotctl_subs "$_pc_cmd"
			case " $REPLY " in
			*" $_pc_w "*)
				_pc_sub=$_pc_w
				continue
				;;
			esac
		fi
		_pc_npos=$((_pc_npos + 1))
		[ "$_pc_npos" -eq 1 ] && _pc_pos1=$_pc_w
	done
}

# _pilotctl_nth N KIND...: the Nth kind in REPLY; a last one ending in ...
# stands for all further arguments
_pilotctl_nth() {
	_pc_n=$1
	shift
	REPLY=
	while [ $# -gt 0 ]; do
		_pc_n=$((_pc_n - 1))
		case $1 in
		*...)
			if [ "$_pc_n" -le 0 ] || [ $# -eq 1 ]; then
				REPLY=${1%...}
				return
			fi
			;;
		*)
			if [ "$_pc_n" -eq 0 ]; then
				REPLY=$1
				return
			fi
			;;
		esac
		shift
	done
}

# _pilotctl_want CUR: what to offer for the word CUR under the cursor, after
# _pilotctl_state: _pc_kind (words, file, dir or none), _pc_list (the words),
# _pc_what (commands, subs, options or values: how zsh describes them)
_pilotctl_want() {
	_pc_kind=words _pc_list= _pc_what=values
	if [ -n "$_pc_vkind" ]; then
		case $_pc_vkind in
		file | dir) _pc_kind=$_pc_vkind ;;
		list\ *) _pc_list=${_pc_vkind#list } ;;
		*) _pc_kind=none ;;
		esac
		return
	fi
	case $1 in
	-*)
		_pc_what=options
		if [ -z "$_pc_cmd" ]; then
			_pilotctl_opts ''
			_pc_list=$REPLY
		else
			# --json is accepted after the command too
			_pilotctl_opts "$_pc_cmd${_pc_sub:+ $_pc_sub}"
			_pc_list="$REPLY --json"
		fi
		return
		;;
	esac
	if [ -z "$_pc_cmd" ]; then
		_pc_what=commands _pc_list=$_pilotctl_commands
		return
	fi
	if [ -z "$_pc_sub" ] && [ "$_pc_npos" -eq 0 ]; then
		_pilotctl_subs "$_pc_cmd"
		if [ -n "$REPLY" ]; then
			_pc_what=subs _pc_list=$REPLY
			return
		fi
	fi
	_pilotctl_args "$_pc_cmd${_pc_sub:+ $_pc_sub}"
	_pilotctl_nth $((_pc_npos + 1)) $REPLY
	case $REPLY in
	file | dir) _pc_kind=$REPLY ;;
	command) _pc_what=commands _pc_list=$_pilotctl_commands ;;
	subcommand)
		_pilotctl_subs "$_pc_pos1"
		_pc_what=subs _pc_list=$REPLY
		;;
	*) _pc_kind=none ;;
	esac
}
EOF
)

# ---------------------------------------------------------------- front ends
bash_front=$(
	cat <<'EOF'

# bash splits words at COMP_WORDBREAKS: "--socket=PATH" arrives as
# "--socket" "=" "PATH", "HOST:PORT" as "HOST" ":" "PORT".  Join them again
# for _pilotctl_state; at the cursor, "--opt=" is "--opt" (the cursor its
# value), and a word after ":" is nothing pilotctl completes.
_pilotctl() {
	local _pc_cmd _pc_sub _pc_npos _pc_pos1 _pc_vkind _pc_literal _pc_w _pc_n
	local _pc_kind _pc_list _pc_what REPLY cur=${COMP_WORDS[COMP_CWORD]} i n
	local -a w=()
	COMPREPLY=()
	for ((i = 1; i < COMP_CWORD; i++)); do
		n=${#w[@]}
		case ${COMP_WORDS[i]} in
		= | :)
			if ((n > 0)); then
				w[n - 1]+=${COMP_WORDS[i]}
				((i + 1 < COMP_CWORD)) && w[n - 1]+=${COMP_WORDS[++i]}
				continue
			fi
			;;
		esac
		w+=("${COMP_WORDS[i]}")
	done
	n=${#w[@]}
	if ((n > 0)); then
		case ${w[n - 1]} in
		*:) return 0 ;;
		--*=) w[n - 1]=${w[n - 1]%=} ;;
		esac
	fi
	_pilotctl_state "${w[@]}"
	_pilotctl_want "$cur"
	case $_pc_kind in
	words) mapfile -t COMPREPLY < <(compgen -W "$_pc_list" -- "$cur") ;;
	file)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		;;
	dir)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -d -- "$cur")
		;;
	esac
	return 0
}
complete -F _pilotctl pilotctl
EOF
)

zsh_front=$(
	cat <<'EOF'

_pilotctl() {
	setopt localoptions shwordsplit
	local _pc_cmd _pc_sub _pc_npos _pc_pos1 _pc_vkind _pc_literal _pc_w _pc_n
	local _pc_kind _pc_list _pc_what REPLY
	local -a reply
	_pilotctl_state "${(@)words[2,CURRENT-1]}"
	_pilotctl_want "${words[CURRENT]}"
	case $_pc_kind in
	words)
		case $_pc_what in
		commands)
			_pilotctl_describe ''
			_describe -t commands 'pilotctl command' reply
			return
			;;
		subs)
			# a command's subcommands, or help's SUBCOMMAND of its COMMAND
			if [ "$_pc_npos" -eq 0 ]; then
				_pilotctl_describe "$_pc_cmd"
			else
				_pilotctl_describe "$_pc_pos1"
			fi
			_describe -t subcommands 'subcommand' reply
			return
			;;
		options)
			if [ -z "$_pc_cmd" ]; then
				_pilotctl_describe -
				_describe -t options 'global option' reply
				return
			fi
			;;
		esac
		compadd -- $_pc_list
		;;
	file) _files ;;
	dir) _files -/ ;;
	*) return 1 ;;
	esac
}

_pilotctl "$@"
EOF
)

case $shell in
bash)
	printf '# bash completion for pilotctl(8): commands, subcommands, options and\n'
	printf '# their values.  Installed as bash-completion/completions/pilotctl.\n'
	printf '%s\n%s\n%s\n' "$data" "$logic" "$bash_front"
	;;
zsh)
	printf '#compdef pilotctl\n'
	printf '# zsh completion for pilotctl(8): commands, subcommands, options and\n'
	printf '# their values.  Installed as zsh/vendor-completions/_pilotctl.\n'
	printf '%s\n%s\n%s\n' "$data" "$logic" "$zsh_front"
	;;
esac
