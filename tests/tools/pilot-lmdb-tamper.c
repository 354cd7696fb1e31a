/* pilot-lmdb-tamper.c - test tool: change or delete one record of an LMDB
 * sub-database behind the daemon's back, as an attacker with the file
 * would, so tests can show that `pilotctl audit verify` notices.
 *
 *   pilot-lmdb-tamper DIR DB (edit|delete) N
 *
 * N is a big-endian 64-bit key (an audit event_id).  "edit" flips one bit
 * in the middle of the value.  Exit 0 on success, 1 if the key is absent. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

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

	if (argc != 5 || (strcmp(argv[3], "edit") != 0 && strcmp(argv[3], "delete") != 0)) {
		fprintf(stderr, "usage: %s DIR DB (edit|delete) N\n", argv[0]);
		return 2;
	}
	st = store_open(argv[1], dbs, 4ull << 30);
	if (!st || (db = store_dbi(st, argv[2])) < 0)
		return 1;
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
