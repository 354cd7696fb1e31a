/* pilotd_token.c - this node's tokens for oidc and spiffe networks (SPEC
 * sections 6 and 8, doc/IDENTITY.md): an OIDC ID token read from
 * `oidc_token_path` (re-read when the file changes: whatever refreshes it
 * -- a CI runner, a token helper, a sidecar -- renews our memberships), or
 * a token or JWT-SVID handed over by `network join --oidc-token/--svid`.
 * They are offered at every join and sent with network_renew when they
 * change.  The registry verifies them; here a token's exp is only read
 * (unverified) to know when it runs out and to say so.
 */
#include "config.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jwt.h"
#include "log.h"
#include "pilotd.h"
#include "util.h"

#define TOKEN_RECHECK_MS 5000 /* how often oidc_token_path is looked at */

/* The exp of a token, unverified (0 if it has none we can read). */
uint64_t pilotd_token_exp(const char *tok)
{
	uint64_t exp;

	return jwt_peek_exp(tok, strlen(tok), &exp) == 0 ? exp : 0;
}

static void tok_set(char **slot, uint64_t *exp, const char *text, size_t len)
{
	if (*slot) {
		sodium_memzero(*slot, strlen(*slot));
		free(*slot);
	}
	*slot = strndup(text, len);
	*exp = *slot ? pilotd_token_exp(*slot) : 0;
}

/* The token file: one token, surrounding whitespace ignored.  \retval 1
 * changed, 0 the same, <0 unreadable (the one we had stays). */
static int read_file(struct pilotd *d)
{
	struct pilotd_tokens *t = &d->tokens;
	const char *path = d->cfg.oidc_token_path;
	char *text = NULL;
	size_t len = 0, a = 0;
	int rc = file_read_all(path, JWT_MAX + 64, &text, &len);

	if (rc < 0) {
		if (!t->read_failed)
			log_warnx("oidc_token_path %s: %s (the token read before stays in use)",
				  path, strerror(-rc));
		t->read_failed = 1;
		return rc;
	}
	t->read_failed = 0;
	while (a < len && strchr(" \t\r\n", text[a]))
		a++;
	while (len > a && strchr(" \t\r\n", text[len - 1]))
		len--;
	rc = !t->oidc || strlen(t->oidc) != len - a || memcmp(t->oidc, text + a, len - a) != 0;
	if (rc && len > a)
		tok_set(&t->oidc, &t->oidc_exp, text + a, len - a);
	else
		rc = 0;
	sodium_memzero(text, len);
	free(text);
	return rc;
}

void pilotd_tokens_load(struct pilotd *d)
{
	if (d->cfg.oidc_token_path && read_file(d) > 0)
		log_info("OIDC token from %s (exp %llu)", d->cfg.oidc_token_path,
			 (unsigned long long)d->tokens.oidc_exp);
}

void pilotd_token_keep(struct pilotd *d, const char *rule, const char *tok)
{
	struct pilotd_tokens *t = &d->tokens;

	if (strcmp(rule, "spiffe") == 0)
		tok_set(&t->svid, &t->svid_exp, tok, strlen(tok));
	else if (!d->cfg.oidc_token_path) /* the file's, when there is one */
		tok_set(&t->oidc, &t->oidc_exp, tok, strlen(tok));
}

void pilotd_tokens_put(struct pilotd *d, struct json_gen *j)
{
	uint64_t now_s = now_real_ms() / 1000;

	if (d->tokens.oidc && (!d->tokens.oidc_exp || d->tokens.oidc_exp > now_s))
		jg_kstr(j, "oidc_token", d->tokens.oidc);
	if (d->tokens.svid && (!d->tokens.svid_exp || d->tokens.svid_exp > now_s))
		jg_kstr(j, "svid", d->tokens.svid);
}

int pilotd_tokens_tick(struct pilotd *d)
{
	uint64_t now_ms = now_real_ms();

	if (!d->cfg.oidc_token_path || now_ms - d->tokens.checked_ms < TOKEN_RECHECK_MS)
		return 0;
	d->tokens.checked_ms = now_ms;
	if (read_file(d) <= 0)
		return 0;
	log_info("OIDC token in %s changed (exp %llu): renewing", d->cfg.oidc_token_path,
		 (unsigned long long)d->tokens.oidc_exp);
	return 1;
}

void pilotd_tokens_free(struct pilotd *d)
{
	uint64_t x;

	tok_set(&d->tokens.oidc, &x, "", 0);
	tok_set(&d->tokens.svid, &x, "", 0);
	free(d->tokens.oidc);
	free(d->tokens.svid);
	d->tokens.oidc = d->tokens.svid = NULL;
}
