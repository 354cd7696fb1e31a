#!/bin/sh
# etcd_import.sh - a deployment moves from the embedded LMDB registry to the
# registry on etcd without losing anything (issue 18):
#   - an LMDB registry with two trusted nodes, a network and audit records;
#   - stopped; `pilot-rendezvous --import-lmdb OLD_STATE --store etcd ...`
#     copies it into a one-member etcd over TLS with client certificates
#     (refused without one); a second import into the same
#     prefix is refused and changes nothing;
#   - a replica starts on an empty state directory (with the old one's keys
#     and TLS files, so the nodes' pin holds) at the same address;
#   - the nodes carry on: a new curl crosses the overlay, the trust, the
#     network and the deployment prefix are the old ones, the node IDs go
#     on from where they were (a new node gets the next one), and the audit
#     chain, old records included, verifies.
# Needs root, etcd and curl; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require curl
[ -x /usr/bin/etcd ] || skip "no /usr/bin/etcd (Debian's etcd-server)"
MARK="PILOTMARK$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
TOKEN=import-admin-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
RDV_EXTRA_ARGS="--admin-token $TOKEN"
e2e_lan_pair b a
e2e_host e1 11
e2e_host c 4
ok "setup: an LMDB registry, A and B trust each other"
admin() { # OP JSON: an admin call to the registry's address; the answer on stdout
	ip netns exec "${HOST_NS[rdv]}" curl -sS -k --max-time 5 --pinnedpubkey "sha256//$RDV_PIN" \
		-H "Authorization: Bearer $TOKEN" -d "$2" "https://$RDV_IP:$RDV_PORT/v1/admin/$1" 2>/dev/null
}
net=$(admin network_create '{"name":"moved","join_rule":"open"}' | jget network_id)
check "setup: network 'moved' created (id $net)" eval '[ -n "$net" ] && [ "$net" != null ]'
e2e_serve a 8000 http "$MARK" || fatal "HTTP server on A"
e2e_curl_until 10 b a 8000 /before "$E2E_WORK/b0.html" && grep -qs "$MARK" "$E2E_WORK/b0.html" ||
	fatal "setup: curl B -> A"
prefix0=$(pctl a info | jget data.ipv6)
recs0=$(admin audit_verify '{}' | jget records)
info "before: A at $prefix0, $recs0 audit records"

# ------------------------------------------------------------ etcd and the import
ip=${HOST_IP[e1]}
mkdir -p -m 0700 "$E2E_WORK/e1"
# etcd over TLS with client certificates (a CA made here): the registry's
# etcd_ca, etcd_cert and etcd_key, as production would run it.  etcd's own
# JSON gateway dials etcd with the server certificate, so that one must be
# good for client authentication too.
P=$E2E_WORK/pki
mkdir -p -m 0700 "$P"
pki() { openssl "$@" >>"$P/openssl.log" 2>&1; }
pki req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=test-etcd-ca \
	-keyout "$P/ca.key" -out "$P/ca.crt"
for who in server client; do
	pki req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$who" \
		-keyout "$P/$who.key" -out "$P/$who.csr"
	printf 'subjectAltName=IP:%s\nextendedKeyUsage=%s\n' "$ip" \
		"$([ $who = server ] && echo serverAuth,clientAuth || echo clientAuth)" >"$P/$who.ext"
	pki x509 -req -in "$P/$who.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 2 \
		-extfile "$P/$who.ext" -out "$P/$who.crt"
done
[ -s "$P/client.crt" ] || fatal "test PKI for etcd (openssl: $(tail -n 2 "$P/openssl.log"))"
e2e_bg "${HOST_NS[e1]}" "$E2E_WORK/e1/etcd.log" /usr/bin/etcd --name e1 --data-dir "$E2E_WORK/e1/data" \
	--listen-peer-urls "http://$ip:2380" --initial-advertise-peer-urls "http://$ip:2380" \
	--initial-cluster "e1=http://$ip:2380" --listen-client-urls "https://$ip:2379" \
	--advertise-client-urls "https://$ip:2379" --listen-metrics-urls "" \
	--cert-file "$P/server.crt" --key-file "$P/server.key" --client-cert-auth \
	--trusted-ca-file "$P/ca.crt"
e2e_add_log etcd "$E2E_WORK/e1/etcd.log"
EP=https://$ip:2379
ETLS="--etcd-ca $P/ca.crt --etcd-cert $P/client.crt --etcd-key $P/client.key"
check "etcd up (TLS, client certificates required)" e2e_wait 20 eval 'ip netns exec "${HOST_NS[e1]}" curl -sS --max-time 1 \
	--cacert "$P/ca.crt" --cert "$P/client.crt" --key "$P/client.key" "$EP/health" | grep -q "\"true\""' ||
	fatal "etcd up"
out=$(ip netns exec "${HOST_NS[rdv]}" timeout 30 "$RDV" --import-lmdb "$E2E_WORK/rdv/state" --store etcd \
	--etcd-endpoints "$EP" --etcd-ca "$P/ca.crt" --etcd-timeout-ms 2000 --state-dir "$E2E_WORK/new" 2>&1)
rc=$?
check "without a client certificate etcd refuses the registry (exit $rc, nothing imported)" \
	eval '[ "$rc" = 1 ] && ! grep -q "imported" <<<"$out"'
e2e_stop_pids "$RDV_PID"
OLD=$E2E_WORK/rdv/state
sum0=$(sha256sum <"$OLD/data.mdb")
imp() { ip netns exec "${HOST_NS[rdv]}" timeout 60 "$RDV" --import-lmdb "$OLD" --store etcd \
	--etcd-endpoints "$EP" $ETLS --state-dir "$E2E_WORK/new" 2>&1; }
out=$(imp)
rc=$?
info "import: $out"
check "--import-lmdb copies the LMDB registry into etcd (exit $rc)" \
	eval '[ "$rc" = 0 ] && grep -q "imported [0-9]* keys" <<<"$out"'
out=$(imp)
rc=$?
check "a second import into the same prefix is refused (exit $rc): $(tail -n 1 <<<"$out" | cut -c1-100)" \
	eval '[ "$rc" = 1 ] && grep -q "already holds keys under the prefix" <<<"$out"'
out=$(ip netns exec "${HOST_NS[rdv]}" timeout 20 "$RDV" --import-lmdb "$E2E_WORK/nothing" --store etcd \
	--etcd-endpoints "$EP" $ETLS --etcd-prefix /other/ 2>&1)
rc=$?
check "an import from a directory without a registry is refused (exit $rc)" \
	eval '[ "$rc" = 1 ] && grep -q "no LMDB registry" <<<"$out" && [ ! -e "$E2E_WORK/nothing/data.mdb" ]'
check "the LMDB store was only read" eval '[ "$(sha256sum <"$OLD/data.mdb")" = "$sum0" ]'

# ------------------------------------------------------------ the replica
NEW=$E2E_WORK/new
mkdir -p -m 0700 "$NEW"
cp -p "$OLD"/tls.crt "$OLD"/tls.key "$OLD"/audit.key "$OLD"/invite.key "$OLD"/beacon.key "$NEW/"
e2e_bg "${HOST_NS[rdv]}" "$E2E_WORK/rdv/replica.log" "$RDV" --listen "$RDV_IP:$RDV_PORT" \
	--state-dir "$NEW" --store etcd --etcd-endpoints "$EP" $ETLS --admin-token "$TOKEN" --log-level debug
RDV_PID=$LASTPID
e2e_add_log replica "$E2E_WORK/rdv/replica.log"
check "the replica (store etcd, an empty state dir) is up at the old address" e2e_wait 15 e2e_rdv_ready ||
	fatal "replica up"
check "A's and B's registry link comes back" \
	e2e_wait 40 eval 'pctl a status | grep -q "\"connected\":true" && pctl b status | grep -q "\"connected\":true"'
e2e_curl_until 10 b a 8000 /after "$E2E_WORK/b1.html"
check "a new curl B -> A crosses the overlay" grep -qs "$MARK" "$E2E_WORK/b1.html"
check "A still trusts B (from the registry's trust sync)" pctl_has a trust 'data.trusted[].node_id' "${NODE_ID[b]}"
check "network 'moved' is there with id $net" \
	eval 'admin network_list "{}" | jget "networks[].name" | grep -qx moved'
e2e_start_node c carol || fatal "pilotd carol ready"
check "a new node gets the next node ID (${NODE_ID[c]}, after ${NODE_ID[a]} and ${NODE_ID[b]})" \
	eval '[ "${NODE_ID[c]}" -gt "${NODE_ID[a]}" ] && [ "${NODE_ID[c]}" -gt "${NODE_ID[b]}" ]'
check "the deployment prefix is the old one (A at $(pctl a info | jget data.ipv6))" \
	eval '[ "$(pctl a info | jget data.ipv6)" = "$prefix0" ]'
v=$(admin audit_verify '{}')
check "the audit chain verifies with the old records ($(jget records <<<"$v") now, $recs0 before)" \
	eval '[ "$(jget ok <<<"$v")" = true ] && [ "$(jget errors <<<"$v")" = 0 ] && [ "$(jget records <<<"$v")" -ge "$recs0" ]'
e2e_finish
