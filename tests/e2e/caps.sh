#!/bin/sh
# caps.sh - the daemons work with the privileges their units give them and
# no more (issue 19, systemd): pilot-rendezvous as an unprivileged user with
# no capability at all, pilotd as an unprivileged user (primary group
# pilot) with CAP_NET_ADMIN alone (inheritable, ambient and bounding sets,
# as pilotd.service's AmbientCapabilities/CapabilityBoundingSet do) and
# no_new_privs.  Each one's /proc/PID/status shows exactly that; pilotd
# makes its TUN device, registers, and a real curl crosses the overlay from
# a root pilotd to it.  (The units' systemd-analyze security exposure is
# checked by install.sh.)
# Needs root and setpriv; exit 77 (skip) otherwise.  See lib.sh.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require curl setpriv
MARK="PILOTMARK$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
UID_N=65534
GID_PILOT=$(getent group pilot | cut -d: -f3)
[ -n "$GID_PILOT" ] || fatal "group pilot exists (lib.sh makes it)"
chmod 0755 "$E2E_WORK"
# wrappers: the binaries under the credentials the units give them
cat >"$E2E_WORK/rdv-nocap" <<EOF
#!/bin/sh
exec setpriv --reuid=$UID_N --regid=$UID_N --clear-groups --inh-caps=-all --ambient-caps=-all \\
	--bounding-set=-all --no-new-privs "$RDV" "\$@"
EOF
# /dev/net/tun is 0666 on Debian (udev's rule); where it is not (a container),
# this pilotd alone gets a 0666 node of it, in its private mount namespace
# (ip netns exec's), on a tmpfs of its own.
mkdir -p "$E2E_WORK/dev"
cat >"$E2E_WORK/pilotd-netadmin" <<EOF
#!/bin/sh
if [ "\$(stat -c %a /dev/net/tun)" != 666 ]; then
	mount -t tmpfs -o size=4k,mode=0755 tmpfs "$E2E_WORK/dev" &&
		mknod -m 0666 "$E2E_WORK/dev/tun" c 10 200 &&
		mount --bind "$E2E_WORK/dev/tun" /dev/net/tun || exit 1
fi
exec setpriv --reuid=$UID_N --regid=$GID_PILOT --clear-groups --inh-caps=-all,+net_admin \\
	--ambient-caps=-all,+net_admin --bounding-set=-all,+net_admin --no-new-privs "$PILOTD" "\$@"
EOF
chmod 0755 "$E2E_WORK/rdv-nocap" "$E2E_WORK/pilotd-netadmin"
for d in rdv rdv/state a a/state; do
	mkdir -p "$E2E_WORK/$d" && chown "$UID_N:$GID_PILOT" "$E2E_WORK/$d"
done
chmod 0700 "$E2E_WORK/rdv/state" "$E2E_WORK/a/state"

# cap_line PID FIELD: the hex of FIELD (CapEff, CapPrm, ...) in /proc/PID/status
cap_line() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
ids() { awk '$1 == "Uid:" {u=$2} $1 == "Gid:" {g=$2} $1 == "NoNewPrivs:" {n=$2} END {print u, g, n}' "/proc/$1/status"; }

e2e_underlay
e2e_host rdv 1
e2e_host a 2
e2e_host b 3
REAL_RDV=$RDV RDV=$E2E_WORK/rdv-nocap
e2e_start_rdv
RDV=$REAL_RDV
st=$(ids "$RDV_PID")
check "pilot-rendezvous runs as uid/gid $UID_N with no_new_privs ($st)" [ "$st" = "$UID_N $UID_N 1" ]
for f in CapEff CapPrm CapInh CapBnd CapAmb; do
	v=$(cap_line "$RDV_PID" $f)
	check "pilot-rendezvous $f is empty ($v)" [ "$v" = 0000000000000000 ]
done

REAL_PILOTD=$PILOTD PILOTD=$E2E_WORK/pilotd-netadmin
e2e_start_node a alice || fatal "pilotd alice (unprivileged, CAP_NET_ADMIN only) ready"
PILOTD=$REAL_PILOTD
st=$(ids "${NODE_PID[a]}")
check "pilotd runs as uid $UID_N, gid pilot ($GID_PILOT), no_new_privs ($st)" \
	[ "$st" = "$UID_N $GID_PILOT 1" ]
# CAP_NET_ADMIN is bit 12
for f in CapEff CapPrm CapInh CapBnd CapAmb; do
	v=$(cap_line "${NODE_PID[a]}" $f)
	check "pilotd $f is CAP_NET_ADMIN alone ($v)" [ "$v" = 0000000000001000 ]
done
check "pilotd made pilot0 in its namespace" ip -n "${HOST_NS[a]}" link show pilot0
s=$(stat -c '%a %g' "${NODE_SOCK[a]}")
check "its control socket is 0660, group pilot ($s)" [ "$s" = "660 $GID_PILOT" ]

e2e_start_node b bob || fatal "pilotd bob (root) ready"
e2e_establish_trust b a || fatal "trust B <-> A"
e2e_serve a 8000 http "$MARK" || fatal "HTTP server on A"
e2e_curl_until 15 b a 8000 /caps "$E2E_WORK/c.html"
check "a curl B -> A crosses the overlay to the unprivileged pilotd" grep -qs "$MARK" "$E2E_WORK/c.html"
e2e_finish
