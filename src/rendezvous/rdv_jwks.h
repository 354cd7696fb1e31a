/* rdv_jwks.h - the key set fetcher of oidc and spiffe networks
 * (rdv_jwks.c), and what it reads of a network's settings
 * (rdv_reg_idp.c). */
#ifndef PILOT_RDV_JWKS_H
#define PILOT_RDV_JWKS_H

#include <stdint.h>

struct rdv;
struct rdv_db;

/* Where a network's keys come from. */
struct rdv_idp_source {
	int spiffe; /* 0: an OIDC issuer (url), 1: a SPIFFE bundle endpoint (url) */
	char url[256];
	char *ca; /* malloc'd PEM roots, or NULL (the system's) */
};

/** \p net's key source.  \retval 0, -ENOENT (no settings, or a bundle
 *  given as a file: nothing to fetch), -EBADMSG, -ENOMEM. */
int rdv_idp_source(struct rdv_db *db, uint16_t net, struct rdv_idp_source *src);

/** Start fetching (and hook db->keys_want).  \retval 0 or -ENOMEM. */
int rdv_jwks_start(struct rdv *r);
void rdv_jwks_stop(struct rdv *r);
/** Fetches that stored a set, and that failed, since start. */
void rdv_jwks_counts(const struct rdv *r, uint64_t *fetched, uint64_t *failed);

#endif
