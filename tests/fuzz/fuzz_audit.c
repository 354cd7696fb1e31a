/* fuzz_audit.c - libFuzzer harness for the audit record parser: the bytes
 * of a stored record, which an attacker with the state file controls
 * (audit verify, query and prune all read them), and the details
 * re-emitter shared with webhook bodies. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_rec r;
	struct json_gen j;
	char *s;

	if (audit_rec_parse((const char *)data, size, &r) == 0) {
		/* What the parser accepted must be usable as C strings. */
		volatile size_t n = strlen(r.type) + strlen(r.actor) + strlen(r.subject);
		(void)n;
		audit_rec_free(&r);
	}
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (json_gen_init(&j) == 0) {
		const char *out;
		size_t len;
		if (audit_gen_details(&j, s) == 0 && json_gen_finish(&j, &out, &len) == 0 &&
		    memchr(out, '\n', len))
			abort(); /* the one-line promise JSON Lines rely on */
		json_gen_free(&j);
	}
	free(s);
	return 0;
}
