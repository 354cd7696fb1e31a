# contrib/deps.sh - the Debian packages Pilot needs to build, test, demo and
# benchmark; sourced by contrib/run-tests and contrib/demo.sh.
# Run directly (as root) to install what is missing:  bash contrib/deps.sh
# shellcheck shell=bash

PILOT_DEPS="build-essential autoconf automake libtool pkg-config
libevent-dev libmnl-dev libsodium-dev libyajl-dev liblmdb-dev libssl-dev
libcurl4-openssl-dev libcmocka-dev mandoc iproute2 iperf3 nftables iptables
curl netcat-openbsd clang-14 libclang-rt-14-dev lmdb-utils conntrack
iputils-ping procps python3 etcd-server faketime bind9-dnsutils zsh openssl"

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

# pilot_install_npm: the test-only tools of the identity tests (a real OIDC
# issuer, JWT minting, the SPIFFE Workload API; tests/identity/package.json,
# pinned by its package-lock.json) into tests/identity/node_modules, from the
# npm registry.  Node.js and npm come from the machine, else Debian.  The
# identity e2e tests skip (and say why) when these are missing.
pilot_install_npm() {
	local dir
	dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/identity" && pwd) || return 1
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		[ "$(id -u)" = 0 ] || { echo "deps: node and npm are missing (run as root)" >&2; return 1; }
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm || return 1
	fi
	if [ -d "$dir/node_modules" ] && [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
		echo "deps: tests/identity/node_modules is up to date"
		return 0
	fi
	echo "deps: npm ci in tests/identity (test-only tools)"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	pilot_install_deps && pilot_install_npm
fi
