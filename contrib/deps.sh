# contrib/deps.sh - the Debian packages Pilot needs to build, test, demo and
# benchmark; sourced by contrib/run-tests and contrib/demo.sh.
# Run directly (as root) to install what is missing:  bash contrib/deps.sh
# shellcheck shell=bash

PILOT_DEPS="build-essential autoconf automake libtool pkg-config
libevent-dev libmnl-dev libsodium-dev libyajl-dev liblmdb-dev libssl-dev
libcurl4-openssl-dev libcmocka-dev mandoc iproute2 iperf3 nftables iptables
curl netcat-openbsd clang-14 libclang-rt-14-dev lmdb-utils conntrack
iputils-ping procps python3"

# pilot_missing_deps: print the packages of PILOT_DEPS that are not installed
pilot_missing_deps() {
	local p
	for p in $PILOT_DEPS; do
		dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			printf '%s ' "$p"
	done
}

# pilot_install_deps: apt-get install what is missing (nothing to do, and no
# apt-get update, when everything is there already)
pilot_install_deps() {
	local missing
	if ! command -v dpkg-query >/dev/null 2>&1; then
		echo "deps: not a Debian system; install the equivalents of: $(echo $PILOT_DEPS)" >&2
		return 1
	fi
	missing=$(pilot_missing_deps)
	if [ -z "$missing" ]; then
		echo "deps: all $(echo $PILOT_DEPS | wc -w) packages already installed"
		return 0
	fi
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing: $missing(run as root to install them)" >&2
		return 1
	fi
	echo "deps: installing: $missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || return 1
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing || return 1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	pilot_install_deps
fi
