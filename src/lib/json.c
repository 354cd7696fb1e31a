/* json.c - see json.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "json.h"
#include "util.h"

#define JSON_MAX_DEPTH 32

static int depth_ok(yajl_val v, int depth)
{
	if (depth > JSON_MAX_DEPTH)
		return 0;
	if (YAJL_IS_OBJECT(v)) {
		for (size_t i = 0; i < v->u.object.len; i++)
			if (!depth_ok(v->u.object.values[i], depth + 1))
				return 0;
	} else if (YAJL_IS_ARRAY(v)) {
		for (size_t i = 0; i < v->u.array.len; i++)
			if (!depth_ok(v->u.array.values[i], depth + 1))
				return 0;
	}
	return 1;
}

/* Cheap pre-scan so a hostile document cannot drive yajl's recursive tree
 * builder deep before we look at it (brackets inside strings are skipped). */
static int nesting_ok(const char *buf, size_t len)
{
	int depth = 0, in_str = 0;
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			if (++depth > JSON_MAX_DEPTH)
				return 0;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return 1;
}

yajl_val json_parse(const char *buf, size_t len, int allow_comments, char *err, size_t errlen)
{
	char *copy;
	yajl_val v;

	if (err && errlen)
		err[0] = '\0';
	if (memchr(buf, '\0', len)) {
		if (err)
			snprintf(err, errlen, "NUL byte in JSON");
		return NULL;
	}
	if (!nesting_ok(buf, len)) {
		if (err)
			snprintf(err, errlen, "JSON nested too deeply");
		return NULL;
	}
	copy = malloc(len + 1);
	if (!copy)
		return NULL;
	memcpy(copy, buf, len);
	copy[len] = '\0';
	if (!allow_comments) {
		/* yajl_tree_parse always allows comments; refuse them ourselves
		 * outside strings for wire input. */
		int in_str = 0;
		for (size_t i = 0; i < len; i++) {
			if (in_str) {
				if (copy[i] == '\\')
					i++;
				else if (copy[i] == '"')
					in_str = 0;
			} else if (copy[i] == '"') {
				in_str = 1;
			} else if (copy[i] == '/') {
				if (err)
					snprintf(err, errlen, "comments are not allowed here");
				free(copy);
				return NULL;
			}
		}
	}
	v = yajl_tree_parse(copy, err, errlen);
	free(copy);
	if (v && !depth_ok(v, 0)) {
		yajl_tree_free(v);
		if (err)
			snprintf(err, errlen, "JSON nested too deeply");
		return NULL;
	}
	if (!v && err && errlen && !err[0])
		snprintf(err, errlen, "invalid JSON");
	if (err) {
		/* yajl's messages are multi-line; keep the first line. */
		char *nl = strchr(err, '\n');
		if (nl)
			*nl = '\0';
	}
	return v;
}

bool json_has_nul_escape(const char *buf, size_t len)
{
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		if (!in_str) {
			in_str = buf[i] == '"';
		} else if (buf[i] == '"') {
			in_str = false;
		} else if (buf[i] == '\\' && i + 1 < len) {
			if (buf[i + 1] == 'u' && i + 5 < len && memcmp(buf + i + 2, "0000", 4) == 0)
				return true;
			i++;
		}
	}
	return false;
}

yajl_val json_get(yajl_val obj, const char *key)
{
	if (!obj || !YAJL_IS_OBJECT(obj))
		return NULL;
	for (size_t i = 0; i < obj->u.object.len; i++)
		if (strcmp(obj->u.object.keys[i], key) == 0)
			return obj->u.object.values[i];
	return NULL;
}

int json_get_str(yajl_val obj, const char *key, const char **out)
{
	yajl_val v = json_get(obj, key);
	if (!v)
		return -ENOENT;
	if (!YAJL_IS_STRING(v))
		return -EINVAL;
	*out = v->u.string;
	return 0;
}

int json_get_u64(yajl_val obj, const char *key, uint64_t *out)
{
	yajl_val v = json_get(obj, key);
	const char *r;
	if (!v)
		return -ENOENT;
	if (!YAJL_IS_INTEGER(v))
		return -EINVAL;
	/* Use the raw text: YAJL_GET_INTEGER is a signed long long. */
	r = v->u.number.r;
	if (!r || r[0] == '-')
		return -EINVAL;
	errno = 0;
	{
		char *end;
		unsigned long long x = strtoull(r, &end, 10);
		if (errno || *end)
			return -EINVAL;
		*out = x;
	}
	return 0;
}

int json_get_u32(yajl_val obj, const char *key, uint32_t *out)
{
	uint64_t v;
	int rc = json_get_u64(obj, key, &v);
	if (rc)
		return rc;
	if (v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int json_get_bool(yajl_val obj, const char *key, int *out)
{
	yajl_val v = json_get(obj, key);
	if (!v)
		return -ENOENT;
	if (YAJL_IS_TRUE(v))
		*out = 1;
	else if (YAJL_IS_FALSE(v))
		*out = 0;
	else
		return -EINVAL;
	return 0;
}

int json_get_b64(yajl_val obj, const char *key, uint8_t *out, size_t len)
{
	const char *s;
	uint8_t tmp[512];
	int rc = json_get_str(obj, key, &s), n;
	if (rc)
		return rc;
	if (len > sizeof(tmp))
		return -EINVAL;
	n = b64_decode(tmp, sizeof(tmp), s);
	if (n < 0 || (size_t)n != len)
		return -EINVAL;
	memcpy(out, tmp, len);
	return 0;
}

int json_only_keys(yajl_val obj, const char *const *allowed, const char **bad)
{
	if (!obj || !YAJL_IS_OBJECT(obj))
		return -EINVAL;
	for (size_t i = 0; i < obj->u.object.len; i++) {
		const char *k = obj->u.object.keys[i];
		size_t j;
		for (j = 0; allowed[j]; j++)
			if (strcmp(allowed[j], k) == 0)
				break;
		if (!allowed[j]) {
			if (bad)
				*bad = k;
			return -EINVAL;
		}
	}
	return 0;
}

int json_gen_init(struct json_gen *j)
{
	j->err = 0;
	j->g = yajl_gen_alloc(NULL);
	if (!j->g)
		return -ENOMEM;
	yajl_gen_config(j->g, yajl_gen_validate_utf8, 1);
	return 0;
}

void json_gen_free(struct json_gen *j)
{
	if (j->g)
		yajl_gen_free(j->g);
	j->g = NULL;
}

#define JG(call)                                                                                   \
	do {                                                                                       \
		if (!j->err && (call) != yajl_gen_status_ok)                                       \
			j->err = 1;                                                                \
	} while (0)

void jg_map_open(struct json_gen *j)
{
	JG(yajl_gen_map_open(j->g));
}
void jg_map_close(struct json_gen *j)
{
	JG(yajl_gen_map_close(j->g));
}
void jg_array_open(struct json_gen *j)
{
	JG(yajl_gen_array_open(j->g));
}
void jg_array_close(struct json_gen *j)
{
	JG(yajl_gen_array_close(j->g));
}
void jg_key(struct json_gen *j, const char *k)
{
	JG(yajl_gen_string(j->g, (const unsigned char *)k, strlen(k)));
}
void jg_str(struct json_gen *j, const char *s)
{
	if (!s)
		JG(yajl_gen_null(j->g));
	else
		JG(yajl_gen_string(j->g, (const unsigned char *)s, strlen(s)));
}
void jg_strn(struct json_gen *j, const char *s, size_t n)
{
	JG(yajl_gen_string(j->g, (const unsigned char *)s, n));
}
void jg_u64(struct json_gen *j, uint64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	JG(yajl_gen_number(j->g, buf, (size_t)n));
}
void jg_i64(struct json_gen *j, int64_t v)
{
	JG(yajl_gen_integer(j->g, (long long)v));
}
void jg_bool(struct json_gen *j, int v)
{
	JG(yajl_gen_bool(j->g, v));
}
void jg_null(struct json_gen *j)
{
	JG(yajl_gen_null(j->g));
}
void jg_b64(struct json_gen *j, const uint8_t *b, size_t n)
{
	char buf[1024];
	if (b64_encode(buf, sizeof(buf), b, n) < 0) {
		j->err = 1;
		return;
	}
	jg_str(j, buf);
}
void jg_khex(struct json_gen *j, const char *k, const uint8_t *b, size_t n)
{
	char buf[2 * 64 + 1];
	if (hex_encode(buf, sizeof(buf), b, n) < 0) {
		j->err = 1;
		return;
	}
	jg_kstr(j, k, buf);
}
void jg_kstr(struct json_gen *j, const char *k, const char *s)
{
	jg_key(j, k);
	jg_str(j, s);
}
void jg_ku64(struct json_gen *j, const char *k, uint64_t v)
{
	jg_key(j, k);
	jg_u64(j, v);
}
void jg_kbool(struct json_gen *j, const char *k, int v)
{
	jg_key(j, k);
	jg_bool(j, v);
}
void jg_kb64(struct json_gen *j, const char *k, const uint8_t *b, size_t n)
{
	jg_key(j, k);
	jg_b64(j, b, n);
}
void jg_raw(struct json_gen *j, const char *json, size_t len)
{
	/* yajl_gen_number emits its argument verbatim, with state tracking. */
	JG(yajl_gen_number(j->g, json, len));
}

int json_gen_finish(struct json_gen *j, const char **out, size_t *len)
{
	const unsigned char *buf;
	size_t l;
	if (j->err)
		return -EINVAL;
	if (yajl_gen_get_buf(j->g, &buf, &l) != yajl_gen_status_ok)
		return -EINVAL;
	*out = (const char *)buf;
	*len = l;
	return 0;
}

void json_gen_value(struct json_gen *j, yajl_val v)
{
	if (!v) {
		jg_null(j);
	} else if (YAJL_IS_STRING(v)) {
		jg_str(j, v->u.string);
	} else if (YAJL_IS_NUMBER(v)) {
		if (v->u.number.r)
			jg_raw(j, v->u.number.r, strlen(v->u.number.r));
		else
			jg_null(j);
	} else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
		jg_bool(j, YAJL_IS_TRUE(v));
	} else if (YAJL_IS_OBJECT(v)) {
		jg_map_open(j);
		for (size_t i = 0; i < v->u.object.len; i++) {
			jg_key(j, v->u.object.keys[i]);
			json_gen_value(j, v->u.object.values[i]);
		}
		jg_map_close(j);
	} else if (YAJL_IS_ARRAY(v)) {
		jg_array_open(j);
		for (size_t i = 0; i < v->u.array.len; i++)
			json_gen_value(j, v->u.array.values[i]);
		jg_array_close(j);
	} else {
		jg_null(j);
	}
}

size_t json_escape_byte(char out[6], unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	if (c == '"' || c == '\\') {
		out[0] = '\\';
		out[1] = (char)c;
		return 2;
	}
	if (c < 0x20) {
		memcpy(out, "\\u00", 4);
		out[4] = hex[c >> 4];
		out[5] = hex[c & 0xf];
		return 6;
	}
	out[0] = (char)c;
	return 1;
}

int json_quote(char *out, size_t outlen, const char *s)
{
	size_t o = 0;

	if (outlen < 3)
		return -ENOSPC;
	out[o++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (o + 8 >= outlen)
			return -ENOSPC;
		o += json_escape_byte(out + o, c);
	}
	out[o++] = '"';
	out[o] = '\0';
	return (int)o;
}

bool json_has_dup_keys(yajl_val v)
{
	if (YAJL_IS_ARRAY(v)) {
		for (size_t i = 0; i < v->u.array.len; i++)
			if (json_has_dup_keys(v->u.array.values[i]))
				return true;
	} else if (YAJL_IS_OBJECT(v)) {
		/* Quadratic, but the parser's input is bounded (and depth 32). */
		for (size_t i = 0; i < v->u.object.len; i++) {
			for (size_t k = 0; k < i; k++)
				if (strcmp(v->u.object.keys[i], v->u.object.keys[k]) == 0)
					return true;
			if (json_has_dup_keys(v->u.object.values[i]))
				return true;
		}
	}
	return false;
}
