/* pilot-lmdb-tamper.c - test tool: change or delete one record of an LMDB
 * sub-database behind the daemon's back, as an attacker with the file
 * would, so tests can show that `pilotctl audit verify` notices.
 *
 *   pilot-lmdb-tamper DIR DB (edit|delete) N
 *   pilot-lmdb-tamper DIR DB hex NAME
 *
 * N is a big-endian 64-bit key (an audit event_id).  "edit" flips one bit
 * in the middle of the value.  "hex" prints the value of the key spelled
 * NAME (meta's "ed_sk": what a test must never find anywhere else) in
 * hex, changing nothing.  Exit 0 on success, 1 if the key is absent. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

/* The value of text key \p name in hex on stdout. */
static int show_hex(struct store *st, int db, const char *name)
{
	struct store_txn t;
	MDB_val v;
	char *hex;
	int rc;

	store_txn_begin(st, &t, 1);
	rc = store_get(&t, db, name, strlen(name), &v);
	if (rc < 0) {
		store_txn_abort(&t);
		fprintf(stderr, "no record %s\n", name);
		return 1;
	}
	hex = malloc(2 * v.mv_size + 1);
	rc = !hex || hex_encode(hex, 2 * v.mv_size + 1, v.mv_data, v.mv_size) < 0;
	if (!rc)
		printf("%s\n", hex);
	free(hex);
	store_txn_abort(&t);
	return rc;
}

int main(int argc, char **argv)
{
	static const char *const dbs[] = {"meta",  "trust",	 "asked",   "networks",
					  "audit", "audit_meta", "webhook", NULL};
	struct store *st;
	struct store_txn t;
	uint8_t key[8];
	MDB_val v;
	char *copy;
	int db, rc;

	if (argc != 5 || (strcmp(argv[3], "edit") != 0 && strcmp(argv[3], "delete") != 0 &&
			  strcmp(argv[3], "hex") != 0)) {
		fprintf(stderr, "usage: %s DIR DB (edit|delete) N | DIR DB hex NAME\n", argv[0]);
		return 2;
	}
	st = store_open(argv[1], dbs, 4ull << 30);
	if (!st || (db = store_dbi(st, argv[2])) < 0)
		return 1;
	if (strcmp(argv[3], "hex") == 0) {
		rc = show_hex(st, db, argv[4]);
		store_close(st);
		return rc;
	}
	store_be64(key, strtoull(argv[4], NULL, 10));
	store_txn_begin(st, &t, 0);
	if (store_get(&t, db, key, 8, &v) < 0) {
		fprintf(stderr, "no record %s in %s\n", argv[4], argv[2]);
		return 1;
	}
	if (strcmp(argv[3], "delete") == 0) {
		store_del(&t, db, key, 8);
	} else {
		copy = malloc(v.mv_size);
		memcpy(copy, v.mv_data, v.mv_size);
		copy[v.mv_size / 2] ^= 0x01;
		store_put(&t, db, key, 8, copy, v.mv_size);
		free(copy);
	}
	rc = store_txn_commit(&t);
	store_close(st);
	return rc < 0;
}
