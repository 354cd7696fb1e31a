/* test_flow.c - flow table and admission pipeline. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "admit.h"
#include "flow.h"

static void mkpkt(struct pkt_info *pi, int port, int proto)
{
	memset(pi, 0, sizeof(*pi));
	inet_pton(AF_INET6, "fd00:1:2:0::1", &pi->src);
	inet_pton(AF_INET6, "fd00:1:2:0::2", &pi->dst);
	pi->proto = (uint8_t)proto;
	pi->kind = proto == 6 ? PKT_TCP : PKT_UDP;
	pi->sport = (uint16_t)port;
	pi->dport = 80;
	pi->len = 60;
}

static void test_both_directions_same_flow(void **state)
{
	struct flow_table ft;
	struct pkt_info out, in;
	struct flow_key k1, k2;
	struct flow *f;
	(void)state;
	assert_int_equal(flow_table_init(&ft, 100), 0);
	mkpkt(&out, 40000, 6);
	in = out;
	in.src = out.dst;
	in.dst = out.src;
	in.sport = out.dport;
	in.dport = out.sport;
	flow_key_from_pkt(&k1, &out, 1);
	flow_key_from_pkt(&k2, &in, 0);
	assert_memory_equal(&k1, &k2, sizeof(k1));
	f = flow_insert(&ft, &k1);
	assert_non_null(f);
	assert_ptr_equal(flow_lookup(&ft, &k2), f);
	flow_table_free(&ft);
}

static int count_cb(void *arg, struct flow *f)
{
	(void)f;
	(*(int *)arg)++;
	return 0;
}

static int remove_odd(void *arg, struct flow *f)
{
	(void)arg;
	return f->key.lport % 2;
}

static void test_insert_remove_many(void **state)
{
	struct flow_table ft;
	struct pkt_info pi;
	struct flow_key k;
	int n = 0;
	(void)state;
	assert_int_equal(flow_table_init(&ft, 5000), 0);
	for (int i = 1; i <= 5000; i++) {
		mkpkt(&pi, i, 17);
		flow_key_from_pkt(&k, &pi, 1);
		assert_non_null(flow_insert(&ft, &k));
	}
	/* The limit holds. */
	mkpkt(&pi, 6000, 17);
	flow_key_from_pkt(&k, &pi, 1);
	assert_null(flow_insert(&ft, &k));
	flow_foreach(&ft, remove_odd, NULL);
	assert_int_equal(ft.count, 2500);
	/* Every even flow is still found after backward-shift deletions. */
	for (int i = 1; i <= 5000; i++) {
		mkpkt(&pi, i, 17);
		flow_key_from_pkt(&k, &pi, 1);
		if (i % 2)
			assert_null(flow_lookup(&ft, &k));
		else
			assert_non_null(flow_lookup(&ft, &k));
	}
	flow_foreach(&ft, count_cb, &n);
	assert_true(n >= 2500);
	flow_table_free(&ft);
}

static void test_tcp_tracking(void **state)
{
	struct flow f;
	struct pkt_info pi;
	(void)state;
	memset(&f, 0, sizeof(f));
	f.key.proto = 6;
	mkpkt(&pi, 1234, 6);
	pi.tcp_flags = PKT_TCP_SYN;
	pi.tcp_seq = 1000;
	pi.tcp_payload_len = 1;
	flow_track(&f, &pi, 1, 1);
	assert_int_equal(f.local_snd_nxt, 1001);
	pi.tcp_flags = PKT_TCP_SYN | PKT_TCP_ACK;
	pi.tcp_seq = 5000;
	pi.tcp_ack = 1001;
	flow_track(&f, &pi, 0, 2);
	assert_int_equal(f.local_rcv_nxt, 5001);
	pi.tcp_flags = PKT_TCP_ACK;
	pi.tcp_seq = 5001;
	pi.tcp_payload_len = 100;
	flow_track(&f, &pi, 0, 3);
	assert_int_equal(f.local_rcv_nxt, 5101);
	/* An older ACK from the local side does not move it back. */
	pi.tcp_seq = 1001;
	pi.tcp_ack = 5001;
	pi.tcp_payload_len = 0;
	flow_track(&f, &pi, 1, 4);
	assert_int_equal(f.local_rcv_nxt, 5101);
	assert_int_equal(f.tcp_fin, 0);
	pi.tcp_flags = PKT_TCP_FIN | PKT_TCP_ACK;
	flow_track(&f, &pi, 1, 5);
	assert_int_equal(f.tcp_fin, 1);
	assert_true(flow_timeout_ms(&f) <= 10000);
}

/* Admission: a fake daemon state. */
struct fake {
	uint32_t trusted, blocked;
	uint16_t shared_net;
};
static int f_trusted(void *c, uint32_t n)
{
	return ((struct fake *)c)->trusted == n;
}
static int f_blocked(void *c, uint32_t n)
{
	return ((struct fake *)c)->blocked == n;
}
static int f_shares(void *c, uint32_t n, uint16_t net)
{
	(void)n;
	return ((struct fake *)c)->shared_net == net;
}
static const struct admit_ops fops = {
    .is_blocked = f_blocked, .is_trusted = f_trusted, .shares_network = f_shares};

static enum admit_reason ask(struct admit *a, uint32_t node, uint16_t net, int inbound,
			     uint64_t now)
{
	struct pkt_info pi;
	struct admit_req r;
	mkpkt(&pi, 40000, 6);
	pi.tcp_flags = PKT_TCP_SYN;
	memset(&r, 0, sizeof(r));
	r.peer_node = node;
	r.net = net;
	r.inbound = inbound;
	r.pi = &pi;
	r.now_ms = now;
	return admit_check(a, &r);
}

static void test_admission_order(void **state)
{
	struct fake fk = {.trusted = 5, .blocked = 0, .shared_net = 7};
	struct admit a;
	(void)state;
	assert_int_equal(admit_init(&a, &fops, &fk), 0);
	assert_int_equal(ask(&a, 5, 0, 1, 1000), ADMIT_OK);
	assert_int_equal(ask(&a, 6, 0, 1, 1000), ADMIT_NOT_TRUSTED);
	/* Shared non-backbone network admits without trust; backbone never. */
	assert_int_equal(ask(&a, 6, 7, 1, 1000), ADMIT_OK);
	assert_int_equal(ask(&a, 6, 8, 1, 1000), ADMIT_NOT_TRUSTED);
	/* The block list is checked before trust. */
	fk.blocked = 5;
	assert_int_equal(ask(&a, 5, 0, 0, 1000), ADMIT_BLOCKED);
	assert_int_equal(a.denied[ADMIT_BLOCKED], 1);
	admit_free(&a);
}

static void test_syn_rate_limits(void **state)
{
	struct fake fk = {.trusted = 5};
	struct admit a;
	int ok = 0;
	(void)state;
	assert_int_equal(admit_init(&a, &fops, &fk), 0);
	a.syn_rate_per_peer = 10; /* burst 20 */
	for (int i = 0; i < 100; i++)
		ok += ask(&a, 5, 0, 1, 1000) == ADMIT_OK;
	assert_int_equal(ok, 20);
	assert_int_equal(ask(&a, 5, 0, 1, 1000), ADMIT_RATE_PEER);
	/* Outbound flows are not limited by the inbound SYN rate. */
	assert_int_equal(ask(&a, 5, 0, 0, 1000), ADMIT_OK);
	/* Tokens come back with time. */
	assert_int_equal(ask(&a, 5, 0, 1, 1500), ADMIT_OK);
	a.max_flows = 3;
	a.flows = 3;
	assert_int_equal(ask(&a, 5, 0, 0, 2000), ADMIT_LIMIT_TOTAL);
	a.max_flows = 0;
	a.max_flows_per_port = 1;
	admit_flow_added(&a, 40000);
	assert_int_equal(ask(&a, 5, 0, 0, 2000), ADMIT_LIMIT_PORT);
	admit_flow_removed(&a, 40000);
	assert_int_equal(ask(&a, 5, 0, 0, 2000), ADMIT_OK);
	admit_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_both_directions_same_flow),
	    cmocka_unit_test(test_insert_remove_many),
	    cmocka_unit_test(test_tcp_tracking),
	    cmocka_unit_test(test_admission_order),
	    cmocka_unit_test(test_syn_rate_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
