#!/bin/sh
# faults.sh - the registry's state under faults (issue 19):
#   (a) kill -9 of pilot-rendezvous at random points during acknowledged
#       writes, FAULT_ITER times (default 200, at most FAULT_S seconds):
#       every acknowledged network is there afterwards with the ID it was
#       given, no ID was handed out twice, and the audit hash chain verifies;
#   (b) disk full (a 160 KiB tmpfs state dir): writes fail with a clear
#       error while reads go on, nothing acknowledged is lost, the chain
#       verifies, and writes resume once space returns;
#   (c) a damaged data.mdb (meta pages overwritten), an emptied one and a
#       truncated one: the rendezvous and pilotd refuse to start with a clear
#       message and leave the file as it was (never start afresh, which
#       would give the registry a new deployment and a node a new identity).
# Needs root; exit 77 (skip) otherwise.  See lib.sh for the topology.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require curl sha256sum
FAULT_ITER=${FAULT_ITER:-200}
FAULT_S=${FAULT_S:-150}
BURST=6
TOKEN=faults-admin-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
RDV_EXTRA_ARGS="--admin-token $TOKEN"
e2e_underlay
e2e_host rdv 1
e2e_host a 2
e2e_start_rdv
NS=${HOST_NS[rdv]}
SD=$E2E_WORK/rdv/state

# admin OP BODY [PORT]: one admin call from the registry's namespace; the
# answer on stdout ("" when the connection failed)
admin() {
	ip netns exec "$NS" curl -sS -k --max-time 3 --pinnedpubkey "sha256//$RDV_PIN" \
		-H "Authorization: Bearer $TOKEN" -d "$2" "https://$RDV_IP:${3:-$RDV_PORT}/v1/admin/$1" 2>/dev/null
}
# rdv_up STATE_DIR: start pilot-rendezvous on it (same address), wait for TCP
rdv_up() {
	e2e_bg "$NS" "$E2E_WORK/rdv/faults.log" "$RDV" --listen "$RDV_IP:$RDV_PORT" --state-dir "$1" \
		--admin-token "$TOKEN" --log-level warn
	RDV_PID=$LASTPID
	e2e_wait 5 e2e_rdv_ready
}
verify_chain() { # -> "ok" when the audit chain verifies with no error
	local v
	v=$(admin audit_verify '{}')
	[ "$(jget ok <<<"$v" 2>/dev/null)" = true ] && [ "$(jget errors <<<"$v" 2>/dev/null)" = 0 ] &&
		echo ok || echo "$v"
}

# ------------------------------------------------------------ (a) kill -9 mid-write
e2e_stop_pids "$RDV_PID"
ACK=$E2E_WORK/acked
: >"$ACK"
t0=$(e2e_now)
i=0
while [ "$i" -lt "$FAULT_ITER" ] && e2e_le "$(e2e_elapsed "$t0")" "$FAULT_S"; do
	i=$((i + 1))
	rdv_up "$SD" || { not_ok "(a) the rendezvous restarts after kill -9 number $((i - 1))"; break; }
	pids=""
	for j in $(seq 1 $BURST); do
		admin network_create "{\"name\":\"k$i-$j\",\"join_rule\":\"open\"}" >"$E2E_WORK/r.$j" &
		pids="$pids $!"
	done
	sleep "0.0$((RANDOM % 40 + 10))"
	kill -KILL "$RDV_PID" 2>/dev/null
	# shellcheck disable=SC2086
	wait $pids "$RDV_PID" 2>/dev/null
	for j in $(seq 1 $BURST); do
		id=$(jget network_id <"$E2E_WORK/r.$j" 2>/dev/null)
		case "$id" in '' | null | *[!0-9]*) ;; *) echo "k$i-$j $id" >>"$ACK" ;; esac
	done
done
NACK=$(wc -l <"$ACK")
info "(a) $i kill -9 in $(e2e_elapsed "$t0") s; $NACK of $((i * BURST)) creates acknowledged before the kill"
check "(a) $i kills done (at least 50), with acknowledged writes in between ($NACK)" \
	eval '[ "$i" -ge 50 ] && [ "$NACK" -ge 1 ]'
rdv_up "$SD" || fatal "(a) the rendezvous starts after the last kill -9"
admin network_list '{}' >"$E2E_WORK/list.json"
jget 'networks[].name' <"$E2E_WORK/list.json" >"$E2E_WORK/names"
jget 'networks[].network_id' <"$E2E_WORK/list.json" >"$E2E_WORK/ids"
lost=0
while read -r name id; do
	grep -qx "$name" "$E2E_WORK/names" || { lost=$((lost + 1)); info "(a) lost: $name (id $id)"; continue; }
	got=$(NAME=$name "$PY" -c 'import json,os,sys
for n in json.load(sys.stdin)["networks"]:
    if n["name"] == os.environ["NAME"]: print(n["network_id"])' <"$E2E_WORK/list.json")
	[ "$got" = "$id" ] || { lost=$((lost + 1)); info "(a) $name: acknowledged as $id, now $got"; }
done <"$ACK"
check "(a) every acknowledged network is there with its ID ($NACK acknowledged, $lost lost)" [ "$lost" = 0 ]
dups=$(sort "$E2E_WORK/ids" | uniq -d | wc -l)
check "(a) no network ID was handed out twice ($(wc -l <"$E2E_WORK/ids") networks, $dups repeated)" [ "$dups" = 0 ]
check "(a) the audit hash chain verifies after $i kill -9 ($(verify_chain))" eval '[ "$(verify_chain)" = ok ]'
e2e_stop_pids "$RDV_PID"

# ------------------------------------------------------------ (b) disk full
FULL=$E2E_WORK/full
e2e_tmpfs "$FULL" 160k || fatal "(b) a 160 KiB tmpfs"
ip netns exec "$NS" "$RDV" --state-dir "$FULL/st" --print-pin >/dev/null 2>&1
RDV_PIN_MAIN=$RDV_PIN
RDV_PIN=$(ip netns exec "$NS" "$RDV" --state-dir "$FULL/st" --print-pin 2>/dev/null | tail -n 1)
rdv_up "$FULL/st" || fatal "(b) the rendezvous starts on the small tmpfs"
n=0 err=""
for k in $(seq 1 600); do
	r=$(admin network_create "{\"name\":\"full-$k-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')\",\"join_rule\":\"open\"}")
	if [ -n "$(jget network_id <<<"$r" 2>/dev/null)" ]; then n=$((n + 1)); else err=$r; break; fi
done
info "(b) $n creates before the disk filled; then: $err"
check "(b) a write on a full disk fails with a clear error (unavailable: ... No space left on device)" \
	eval 'grep -q "\"unavailable\"" <<<"$err" && grep -q "No space left on device" <<<"$err"'
check "(b) the rendezvous is still running" e2e_alive "$RDV_PID"
got=$(admin network_list '{}' | jget 'networks[].name' 2>/dev/null | wc -l)
check "(b) reads go on while the disk is full ($got networks listed, $n acknowledged)" [ "$got" = "$n" ]
check "(b) the audit chain verifies on the full disk" eval '[ "$(verify_chain)" = ok ]'
mount -o remount,size=4m "$FULL" || not_ok "(b) grow the tmpfs"
r=$(admin network_create '{"name":"after-space","join_rule":"open"}')
check "(b) writes resume once space returns ($r)" eval '[ -n "$(jget network_id <<<"$r" 2>/dev/null)" ]'
e2e_stop_pids "$RDV_PID"
rdv_up "$FULL/st" || fatal "(b) the rendezvous restarts on the tmpfs"
got=$(admin network_list '{}' | jget 'networks[].name' 2>/dev/null | wc -l)
check "(b) after a restart: all $((n + 1)) acknowledged networks ($got) and the chain verifies" \
	eval '[ "$got" = $((n + 1)) ] && [ "$(verify_chain)" = ok ]'
e2e_stop_pids "$RDV_PID"
RDV_PIN=$RDV_PIN_MAIN

# ------------------------------------------------------------ (c) damaged files
# refused PROG STATEDIR TAG: PROG (rdv|pilotd) must exit non-zero within 10 s
# with a message naming data.mdb, and leave the file byte for byte
refused() {
	local f=$2/data.mdb before after out rc
	before=$(sha256sum <"$f")
	if [ "$1" = rdv ]; then
		out=$(ip netns exec "$NS" timeout 10 "$RDV" --listen "$RDV_IP:$RDV_PORT" --state-dir "$2" \
			--admin-token "$TOKEN" 2>&1)
	else
		out=$(ip netns exec "${HOST_NS[a]}" timeout 10 "$PILOTD" --registry "$RDV_IP:$RDV_PORT" \
			--registry-pin "$RDV_PIN" --state-dir "$2" --socket "$E2E_WORK/a/x.sock" \
			--listen-port "$NODE_PORT" --tun pilot0 2>&1)
	fi
	rc=$?
	after=$(sha256sum <"$f")
	info "(c) $1, $3: exit $rc: $(grep -E 'data.mdb' <<<"$out" | head -n 1)"
	[ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "data.mdb: .*refusing to start" <<<"$out" &&
		[ "$before" = "$after" ]
}
cp -a "$SD" "$E2E_WORK/good"
dd if=/dev/urandom of="$SD/data.mdb" bs=4096 count=2 conv=notrunc 2>/dev/null
check "(c) the rendezvous refuses a data.mdb whose meta pages are overwritten, and leaves it" refused rdv "$SD" damaged
: >"$SD/data.mdb"
check "(c) the rendezvous refuses an emptied data.mdb (no fresh deployment), and leaves it" refused rdv "$SD" emptied
head -c 4096 "$E2E_WORK/good/data.mdb" >"$SD/data.mdb"
check "(c) the rendezvous refuses a data.mdb cut to one page, and leaves it" refused rdv "$SD" truncated
rm -rf "$SD" && cp -a "$E2E_WORK/good" "$SD"
rdv_up "$SD" || fatal "(c) the rendezvous starts again on the good copy"
e2e_start_node a alice || fatal "(c) pilotd alice ready"
A_ID=${NODE_ID[a]}
e2e_stop_node a
AS=${NODE_DIR[a]}/state
: >"$AS/data.mdb"
check "(c) pilotd refuses an emptied data.mdb (no new identity), and leaves it" refused pilotd "$AS" emptied
check "(c) the audit chain of the good copy still verifies, with (a)'s $NACK networks" \
	eval '[ "$(verify_chain)" = ok ] && [ "$(admin network_list "{}" | jget "networks[].name" | grep -c "^k")" -ge "$NACK" ]'
info "(c) alice was node $A_ID"
e2e_finish
