# tap.sh - TAP output for the e2e scripts that need no namespaces
# (install.sh, manlint.sh, completion.sh; lib.sh has its own): sourced.
#   ok DESC / not_ok DESC   one numbered test point; $failed counts the bad
#   note FILE...            the files as TAP comments
#   skip_all WHY            skip the whole script: under automake's TAP
#                           driver the plan "1..0 # SKIP" and status 0,
#                           by hand exit 77
# The script ends with: echo "1..$n"; [ "$failed" = 0 ]
# shellcheck shell=sh

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
note() { sed 's/^/# /' "$@"; }

skip_all() {
	echo "1..0 # SKIP $*"
	[ -n "${AM_TAP_AWK:-}" ] && exit 0
	exit 77
}
