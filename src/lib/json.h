/* json.h - thin helpers over yajl: a bounded tree parser for untrusted
 * input and typed getters, plus a generator that builds a string. */
#ifndef PILOT_JSON_H
#define PILOT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

/** Parse \p len bytes (need not be NUL-terminated) into a tree.  Comments
 *  are allowed only when \p allow_comments.  Depth is limited to 32.
 *  \retval tree (free with yajl_tree_free) or NULL with \p err filled. */
yajl_val json_parse(const char *buf, size_t len, int allow_comments, char *err, size_t errlen);
/** Does \p buf hold a "\u0000" escape inside a string?  yajl's tree keeps
 *  strings NUL-terminated without their length, so "tag:web\u0000x" would
 *  be read as "tag:web": refuse such text before json_parse where a value
 *  must not mean less than what was sent. */
bool json_has_nul_escape(const char *buf, size_t len);

/** Does the tree \p v repeat a key in any of its objects?  yajl keeps
 *  both members, so "the" value would depend on who reads it: signed or
 *  security-relevant documents (tokens, key sets) refuse such input.
 *  \retval true or false. */
bool json_has_dup_keys(yajl_val v);

/** Object member by key (NULL if absent or \p obj not an object). */
yajl_val json_get(yajl_val obj, const char *key);
/** Typed getters.  \retval 0, -ENOENT (absent), -EINVAL (wrong type/range). */
int json_get_str(yajl_val obj, const char *key, const char **out);
int json_get_u64(yajl_val obj, const char *key, uint64_t *out);
int json_get_u32(yajl_val obj, const char *key, uint32_t *out);
int json_get_bool(yajl_val obj, const char *key, int *out);
/** A string that base64-decodes to exactly \p len bytes. */
int json_get_b64(yajl_val obj, const char *key, uint8_t *out, size_t len);
/** Refuse members not in \p allowed (NULL-terminated).  \retval 0 or -EINVAL
 *  with *bad set to the first unknown key. */
int json_only_keys(yajl_val obj, const char *const *allowed, const char **bad);

/* Generator: a yajl_gen that never fails silently.  All adders ignore calls
 * after an error; json_gen_finish reports it. */
struct json_gen {
	yajl_gen g;
	int err;
};
int json_gen_init(struct json_gen *j);
void json_gen_free(struct json_gen *j);
void jg_map_open(struct json_gen *j);
void jg_map_close(struct json_gen *j);
void jg_array_open(struct json_gen *j);
void jg_array_close(struct json_gen *j);
void jg_key(struct json_gen *j, const char *k);
void jg_str(struct json_gen *j, const char *s);
void jg_strn(struct json_gen *j, const char *s, size_t n);
void jg_u64(struct json_gen *j, uint64_t v);
void jg_i64(struct json_gen *j, int64_t v);
void jg_bool(struct json_gen *j, int v);
void jg_null(struct json_gen *j);
void jg_b64(struct json_gen *j, const uint8_t *b, size_t n);
/* key + value shorthands */
void jg_kstr(struct json_gen *j, const char *k, const char *s);
void jg_ku64(struct json_gen *j, const char *k, uint64_t v);
void jg_kbool(struct json_gen *j, const char *k, int v);
void jg_kb64(struct json_gen *j, const char *k, const uint8_t *b, size_t n);
/* Member \p k: \p b (at most 64 bytes) as lower-case hex. */
void jg_khex(struct json_gen *j, const char *k, const uint8_t *b, size_t n);
/** Embed an already-serialised JSON value verbatim (trusted input only). */
void jg_raw(struct json_gen *j, const char *json, size_t len);
/** Serialise a parsed tree (numbers keep their original text). */
void json_gen_value(struct json_gen *j, yajl_val v);
/** One byte of a JSON string as written: '"' and '\\' escaped, control
 *  characters as \u00xx, anything else as is (no NUL added).
 *  \retval bytes written to \p out: 1, 2 or 6. */
size_t json_escape_byte(char out[6], unsigned char c);
/** Write \p s as a quoted, escaped JSON string. \retval length or -ENOSPC. */
int json_quote(char *out, size_t outlen, const char *s);
/** \retval 0 and a pointer/length into the generator's buffer (valid until
 *  json_gen_free), or -EINVAL if any step failed. */
int json_gen_finish(struct json_gen *j, const char **out, size_t *len);

#endif
