/* conf.c - see conf.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>

#include "conf.h"
#include "json.h"
#include "log.h"
#include "util.h"

#define CONF_MAX_FILE (1 << 20)

#define MEMBER(cfg, k) ((char *)(cfg) + (k)->offset)

const char *conf_loaded_path(const void *cfg)
{
	return ((const struct conf_head *)cfg)->loaded_path;
}

static void flag_name(const char *key, char *out, size_t len)
{
	size_t i;
	for (i = 0; key[i] && i + 1 < len; i++)
		out[i] = key[i] == '_' ? '-' : key[i];
	out[i] = '\0';
}

int conf_split_hostport(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon, *h = s;
	size_t hl;
	char *end;
	unsigned long p;
	struct in6_addr a6;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return -EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (s[0] == '[' && inet_pton(AF_INET6, host, &a6) != 1)
		return -EINVAL;
	errno = 0;
	/* Digits only: strtoul alone would take " 80", "+80" and "-0". */
	if (colon[1] < '0' || colon[1] > '9')
		return -EINVAL;
	p = strtoul(colon + 1, &end, 10);
	if (errno || *end || p > 65535)
		return -EINVAL;
	*port = (uint16_t)p;
	return 0;
}

static void free_member(const struct conf_key *k, void *cfg)
{
	char **sp = (char **)MEMBER(cfg, k);
	switch (k->type) {
	case CONF_STR:
	case CONF_HOSTPORT:
	case CONF_FLAGSTR:
		free(*sp);
		*sp = NULL;
		break;
	case CONF_STRLIST: {
		char ***lp = (char ***)MEMBER(cfg, k);
		if (*lp)
			for (char **p = *lp; *p; p++)
				free(*p);
		free(*lp);
		*lp = NULL;
		break;
	}
	default:
		break;
	}
}

void conf_free(const struct conf_key *schema, void *cfg)
{
	for (const struct conf_key *k = schema; k->name; k++)
		free_member(k, cfg);
}

/* Split "a,b,c" into a NULL-terminated list; empty items are refused. */
static int split_list(const char *s, char ***out)
{
	size_t n = 1, i = 0;
	char **list;
	const char *p = s;

	for (const char *c = s; *c; c++)
		n += *c == ',';
	list = calloc(n + 1, sizeof(*list));
	if (!list)
		return -ENOMEM;
	for (;;) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		if (len == 0) {
			for (size_t j = 0; j < i; j++)
				free(list[j]);
			free(list);
			return -EINVAL;
		}
		list[i] = strndup(p, len);
		if (!list[i++])
			return -ENOMEM;
		if (!c)
			break;
		p = c + 1;
	}
	*out = list;
	return 0;
}

/* Set \p k from text (flags and defaults).  \p why gets a reason on error. */
static int set_from_text(const struct conf_key *k, void *cfg, const char *v, const char **why)
{
	char *m = MEMBER(cfg, k);
	char host[256];
	uint16_t port;

	switch (k->type) {
	case CONF_STR:
	case CONF_HOSTPORT:
	case CONF_FLAGSTR:
		if (k->type == CONF_HOSTPORT &&
		    conf_split_hostport(v, host, sizeof(host), &port) < 0) {
			*why = "expected HOST:PORT or [IPV6]:PORT";
			return -EINVAL;
		}
		free(*(char **)m);
		*(char **)m = strdup(v);
		return *(char **)m ? 0 : -ENOMEM;
	case CONF_U32: {
		char *end;
		unsigned long long x;
		errno = 0;
		x = strtoull(v, &end, 10);
		if (errno || *end || !*v || v[0] == '-' || v[0] == '+') {
			*why = "expected a whole number";
			return -EINVAL;
		}
		if (x < k->min || x > k->max) {
			*why = "out of range";
			return -ERANGE;
		}
		*(uint32_t *)m = (uint32_t)x;
		return 0;
	}
	case CONF_BOOL:
	case CONF_ACTION:
		if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0)
			*(int *)m = 1;
		else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "no") == 0)
			*(int *)m = 0;
		else {
			*why = "expected true or false";
			return -EINVAL;
		}
		return 0;
	case CONF_STRLIST: {
		char **list = NULL;
		int rc = split_list(v, &list);
		if (rc < 0) {
			*why = "expected a comma-separated list";
			return rc;
		}
		free_member(k, cfg);
		*(char ***)m = list;
		return 0;
	}
	}
	return -EINVAL;
}

/* Line of the first `"key" :` in \p text (1-based), or 0. */
static int key_line(const char *text, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = text; (p = strchr(p, '"')) != NULL; p++) {
		const char *q = p + 1 + kl;
		if (strncmp(p + 1, key, kl) == 0 && *q == '"') {
			q++;
			while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')
				q++;
			if (*q == ':') {
				int line = 1;
				for (const char *c = text; c < p; c++)
					line += *c == '\n';
				return line;
			}
		}
	}
	return 0;
}

static int set_from_json(const struct conf_key *k, void *cfg, yajl_val v, const char **why)
{
	char *m = MEMBER(cfg, k);
	char buf[32];

	switch (k->type) {
	case CONF_STR:
	case CONF_HOSTPORT:
		if (!YAJL_IS_STRING(v)) {
			*why = "expected a string";
			return -EINVAL;
		}
		return set_from_text(k, cfg, v->u.string, why);
	case CONF_U32:
		if (!YAJL_IS_INTEGER(v) || !v->u.number.r) {
			*why = "expected a whole number";
			return -EINVAL;
		}
		return set_from_text(k, cfg, v->u.number.r, why);
	case CONF_BOOL:
		if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v)) {
			*why = "expected true or false";
			return -EINVAL;
		}
		*(int *)m = YAJL_IS_TRUE(v);
		return 0;
	case CONF_STRLIST: {
		char **list;
		size_t n;
		/* One string is a one-element (or comma-separated) list: a key
		 * that became a list keeps accepting what it took before. */
		if (YAJL_IS_STRING(v))
			return set_from_text(k, cfg, v->u.string, why);
		if (!YAJL_IS_ARRAY(v)) {
			*why = "expected an array";
			return -EINVAL;
		}
		n = v->u.array.len;
		list = calloc(n + 1, sizeof(*list));
		if (!list)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			yajl_val e = v->u.array.values[i];
			const char *s = NULL;
			if (YAJL_IS_STRING(e) && e->u.string[0])
				s = e->u.string;
			else if (YAJL_IS_INTEGER(e) && e->u.number.r) {
				snprintf(buf, sizeof(buf), "%s", e->u.number.r);
				s = buf;
			}
			if (!s || !(list[i] = strdup(s))) {
				for (size_t j = 0; j < i; j++)
					free(list[j]);
				free(list);
				*why = "expected non-empty strings";
				return -EINVAL;
			}
		}
		free_member(k, cfg);
		*(char ***)m = list;
		return 0;
	}
	case CONF_ACTION:
	case CONF_FLAGSTR:
		break;
	}
	*why = "not a configuration file key";
	return -EINVAL;
}

/* Flag-only keys (actions and their options) are not file keys. */
static int flag_only(const struct conf_key *k)
{
	return k->type == CONF_ACTION || k->type == CONF_FLAGSTR;
}

static const struct conf_key *find_key(const struct conf_key *schema, const char *name)
{
	for (const struct conf_key *k = schema; k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

static const struct conf_key *find_flag(const struct conf_key *schema, const char *flag, size_t len)
{
	char fn[64];
	for (const struct conf_key *k = schema; k->name; k++) {
		flag_name(k->name, fn, sizeof(fn));
		if (strlen(fn) == len && strncmp(fn, flag, len) == 0)
			return k;
	}
	return NULL;
}

/* Syntax check with yajl's incremental parser to get the failing line. */
static int json_syntax_line(const char *text, size_t len, char *msg, size_t msglen)
{
	yajl_handle h = yajl_alloc(NULL, NULL, NULL);
	yajl_status st;
	int line = 0;

	if (!h)
		return -1;
	yajl_config(h, yajl_allow_comments, 1);
	st = yajl_parse(h, (const unsigned char *)text, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	if (st != yajl_status_ok) {
		size_t off = yajl_get_bytes_consumed(h);
		unsigned char *e = yajl_get_error(h, 0, (const unsigned char *)text, len);
		line = 1;
		for (size_t i = 0; i < off && i < len; i++)
			line += text[i] == '\n';
		snprintf(msg, msglen, "%s", e ? (const char *)e : "invalid JSON");
		if (e)
			yajl_free_error(h, e);
	}
	yajl_free(h);
	return line;
}

static int load_file(const struct conf_key *schema, void *cfg, const char *path, char *err,
		     size_t errlen)
{
	char *text = NULL, msg[256];
	size_t len = 0;
	yajl_val root = NULL;
	int rc, line;

	rc = file_read_all(path, CONF_MAX_FILE, &text, &len);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	line = json_syntax_line(text, len, msg, sizeof(msg));
	if (line != 0) {
		char *nl = strchr(msg, '\n');
		if (nl)
			*nl = '\0';
		snprintf(err, errlen, "%s:%d: %s", path, line, msg);
		rc = -EINVAL;
		goto out;
	}
	root = json_parse(text, len, 1, msg, sizeof(msg));
	if (!root) {
		snprintf(err, errlen, "%s: %s", path, msg);
		rc = -EINVAL;
		goto out;
	}
	if (!YAJL_IS_OBJECT(root)) {
		snprintf(err, errlen, "%s:1: the configuration must be a JSON object", path);
		rc = -EINVAL;
		goto out;
	}
	for (size_t i = 0; i < root->u.object.len; i++) {
		const char *name = root->u.object.keys[i], *why = NULL;
		const struct conf_key *k = find_key(schema, name);
		if (!k || flag_only(k)) {
			snprintf(err, errlen, "%s:%d: unknown key '%s'", path, key_line(text, name),
				 name);
			rc = -EINVAL;
			goto out;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(root->u.object.keys[j], name) == 0) {
				snprintf(err, errlen, "%s:%d: key '%s' given twice", path,
					 key_line(text, name), name);
				rc = -EINVAL;
				goto out;
			}
		}
		rc = set_from_json(k, cfg, root->u.object.values[i], &why);
		if (rc < 0) {
			snprintf(err, errlen, "%s:%d: key '%s': %s", path, key_line(text, name),
				 name, why ? why : strerror(-rc));
			goto out;
		}
	}
	snprintf(((struct conf_head *)cfg)->loaded_path,
		 sizeof(((struct conf_head *)cfg)->loaded_path), "%s", path);
out:
	if (root)
		yajl_tree_free(root);
	free(text);
	return rc;
}

int conf_load(const struct conf_key *schema, void *cfg, const char *default_path, int argc,
	      char **argv, char *err, size_t errlen)
{
	const char *path = NULL, *why = NULL;
	int rc, explicit = 0;

	err[0] = '\0';
	((struct conf_head *)cfg)->loaded_path[0] = '\0';
	((struct conf_head *)cfg)->from_flag = 0;
	for (const struct conf_key *k = schema; k->name; k++) {
		if (!k->def)
			continue;
		rc = set_from_text(k, cfg, k->def, &why);
		if (rc < 0) {
			snprintf(err, errlen, "internal: bad default for '%s'", k->name);
			return rc;
		}
	}
	/* --config first, so flags can override the file whatever their order. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "--config: needs a FILE");
				return -EINVAL;
			}
			path = argv[++i];
			explicit = 1;
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			path = argv[i] + 9;
			explicit = 1;
		}
	}
	if (!path && default_path && access(default_path, F_OK) == 0)
		path = default_path;
	if (path) {
		rc = load_file(schema, cfg, path, err, errlen);
		if (rc < 0)
			return rc;
	}
	(void)explicit;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL, *eq;
		const struct conf_key *k;
		size_t nlen;

		if (strcmp(a, "--config") == 0) {
			i++;
			continue;
		}
		if (strncmp(a, "--config=", 9) == 0)
			continue;
		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			snprintf(err, errlen, "%s: unexpected argument", a);
			return -EINVAL;
		}
		a += 2;
		eq = strchr(a, '=');
		nlen = eq ? (size_t)(eq - a) : strlen(a);
		k = find_flag(schema, a, nlen);
		if (!k) {
			snprintf(err, errlen, "--%.*s: unknown option (see --help)", (int)nlen, a);
			return -EINVAL;
		}
		if (eq) {
			val = eq + 1;
		} else if (k->type == CONF_BOOL || k->type == CONF_ACTION) {
			val = "true";
		} else {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "--%.*s: needs a value", (int)nlen, a);
				return -EINVAL;
			}
			val = argv[++i];
		}
		rc = set_from_text(k, cfg, val, &why);
		if (rc < 0) {
			snprintf(err, errlen, "--%.*s '%s': %s", (int)nlen, a,
				 k->secret ? "***" : val, why ? why : strerror(-rc));
			return rc;
		}
		if (k - schema < 64)
			((struct conf_head *)cfg)->from_flag |= UINT64_C(1) << (k - schema);
	}
	return 0;
}

void conf_usage(const struct conf_key *schema, const char *prog, const char *synopsis)
{
	char fn[64], opt[96];

	printf("usage: %s %s\n\noptions:\n", prog, synopsis);
	printf("  %-28s %s\n", "--config FILE", "configuration file (JSON, comments allowed)");
	for (const struct conf_key *k = schema; k->name; k++) {
		const char *arg = "";
		flag_name(k->name, fn, sizeof(fn));
		switch (k->type) {
		case CONF_STR:
		case CONF_FLAGSTR:
			arg = " VALUE";
			break;
		case CONF_U32:
			arg = " N";
			break;
		case CONF_STRLIST:
			arg = " A,B,...";
			break;
		case CONF_HOSTPORT:
			arg = " HOST:PORT";
			break;
		default:
			break;
		}
		snprintf(opt, sizeof(opt), "--%s%s", fn, arg);
		if (k->def && k->type != CONF_BOOL && k->type != CONF_ACTION)
			printf("  %-28s %s (default: %s)\n", opt, k->help ? k->help : "", k->def);
		else
			printf("  %-28s %s\n", opt, k->help ? k->help : "");
	}
}

/* Was key k set by a flag (rather than the file or the defaults)? */
static int set_by_flag(const struct conf_key *schema, const struct conf_key *k, const void *cfg)
{
	const struct conf_head *h = cfg;

	return k - schema < 64 && (h->from_flag >> (k - schema) & 1);
}

int conf_key_from_flag(const struct conf_key *schema, const void *cfg, const char *name)
{
	const struct conf_key *k = find_key(schema, name);

	return k && set_by_flag(schema, k, cfg);
}

/* "*** (from WHERE)": the secret's place in a dump, with its source. */
static void jg_secret(struct json_gen *j, const struct conf_key *schema, const struct conf_key *k,
		      const void *cfg, const char *prefix, size_t prefixlen)
{
	const struct conf_head *h = cfg;
	char where[300], flag[64], buf[400];

	if (set_by_flag(schema, k, cfg)) {
		snprintf(flag, sizeof(flag), "--%s", k->name);
		for (char *c = flag; *c; c++)
			if (*c == '_')
				*c = '-';
		snprintf(where, sizeof(where), "%s", flag);
	} else {
		snprintf(where, sizeof(where), "%s",
			 h->loaded_path[0] ? h->loaded_path : "defaults");
	}
	snprintf(buf, sizeof(buf), "%.*s" CONF_REDACTED "%s)", (int)prefixlen, prefix, where);
	jg_str(j, buf);
}

/* How much of URL \p u a dump shows: "scheme://host[:port]/", or only
 * "scheme://" when the authority carries user information.  \retval that
 * length, or strlen(u) when nothing follows it. */
static size_t url_public_len(const char *u)
{
	const char *auth = strstr(u, "://"), *end;
	size_t alen;

	if (!auth)
		return 0; /* not a URL: hide it all */
	auth += 3;
	alen = strcspn(auth, "/?#");
	end = auth + alen;
	if (memchr(auth, '@', alen))
		return (size_t)(auth - u);
	if (*end == '/')
		end++;
	return *end ? (size_t)(end - u) : strlen(u);
}

/* Does key k hold a secret, set by the file rather than by a flag? */
static int secret_from_file(const struct conf_key *schema, const struct conf_key *k,
			    const void *cfg)
{
	const char *m = (const char *)cfg + k->offset;

	if (set_by_flag(schema, k, cfg))
		return 0;
	if (k->secret == CONF_SECRET_ALL && k->type != CONF_STRLIST)
		return *(char *const *)m != NULL;
	if (k->secret == CONF_SECRET_TAIL && k->type == CONF_STRLIST)
		for (char *const *l = *(char **const *)m; l && *l; l++)
			if (strchr(*l, ':'))
				return 1;
	return 0;
}

int conf_exposed_secrets(const struct conf_key *schema, const void *cfg, char *names, size_t len)
{
	const struct conf_head *h = cfg;
	struct stat st;
	size_t used = 0;
	int n = 0;

	if (len)
		names[0] = '\0';
	if (!h->loaded_path[0] || stat(h->loaded_path, &st) < 0 || !(st.st_mode & S_IRWXO))
		return 0;
	for (const struct conf_key *k = schema; k->name; k++) {
		if (!secret_from_file(schema, k, cfg))
			continue;
		if (used < len) {
			int w = snprintf(names + used, len - used, "%s%s", n ? ", " : "", k->name);
			used += w > 0 ? (size_t)w : 0;
		}
		n++;
	}
	return n;
}

void conf_warn_exposed(const struct conf_key *schema, const void *cfg)
{
	char names[256];

	if (conf_exposed_secrets(schema, cfg, names, sizeof(names)) > 0)
		log_warnx("%s holds secrets (%s) and is readable by others: chmod o-rwx it, "
			  "or move them to files of their own",
			  conf_loaded_path(cfg), names);
}

/* A CONF_STR or CONF_HOSTPORT value, hidden as far as its class says. */
static void dump_str(struct json_gen *j, const struct conf_key *schema, const struct conf_key *k,
		     const void *cfg, const char *v)
{
	size_t pub;

	if (v && k->secret == CONF_SECRET_ALL) {
		jg_secret(j, schema, k, cfg, "", 0);
		return;
	}
	if (v && k->secret == CONF_SECRET_URL && (pub = url_public_len(v)) < strlen(v)) {
		jg_secret(j, schema, k, cfg, v, pub);
		return;
	}
	jg_str(j, v);
}

void conf_dump_gen(const struct conf_key *schema, const void *cfg, struct json_gen *j)
{
	jg_map_open(j);
	for (const struct conf_key *k = schema; k->name; k++) {
		const char *m = (const char *)cfg + k->offset;
		if (flag_only(k))
			continue;
		jg_key(j, k->name);
		switch (k->type) {
		case CONF_STR:
		case CONF_HOSTPORT:
			dump_str(j, schema, k, cfg, *(char *const *)m);
			break;
		case CONF_U32:
			jg_u64(j, *(const uint32_t *)m);
			break;
		case CONF_BOOL:
			jg_bool(j, *(const int *)m);
			break;
		case CONF_STRLIST: {
			char *const *l = *(char **const *)m;
			jg_array_open(j);
			for (; l && *l; l++) {
				const char *colon = strchr(*l, ':');
				if (k->secret == CONF_SECRET_TAIL && colon)
					jg_secret(j, schema, k, cfg, *l, (size_t)(colon - *l + 1));
				else if (k->secret == CONF_SECRET_ALL)
					jg_secret(j, schema, k, cfg, "", 0);
				else
					jg_str(j, *l);
			}
			jg_array_close(j);
			break;
		}
		default:
			break;
		}
	}
	jg_map_close(j);
}

char *conf_dump(const struct conf_key *schema, const void *cfg)
{
	struct json_gen j;
	const char *out;
	size_t len;
	char *ret = NULL;

	if (json_gen_init(&j) < 0)
		return NULL;
	yajl_gen_config(j.g, yajl_gen_beautify, 1);
	conf_dump_gen(schema, cfg, &j);
	if (json_gen_finish(&j, &out, &len) == 0)
		ret = strndup(out, len);
	json_gen_free(&j);
	return ret;
}
