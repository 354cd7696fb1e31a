/* ctl_out.c - everything pilotctl prints: the --json envelope (exactly one
 * object per run, on stdout), errors (envelope or text on stderr), and the
 * human tables and key: value lists. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "util.h"

static const char *sanitize(const char *s, char *buf, size_t len);

int ctl_fail(struct ctl *c, int err, const char *code, const char *hint, const char *fmt, ...)
{
	va_list ap;

	/* The innermost report is the most precise one: keep it. */
	if (c->err.code[0])
		return err;
	snprintf(c->err.code, sizeof(c->err.code), "%s", code);
	snprintf(c->err.hint, sizeof(c->err.hint), "%s", hint ? hint : "");
	va_start(ap, fmt);
	vsnprintf(c->err.message, sizeof(c->err.message), fmt, ap);
	va_end(ap);
	c->err.exit_status = strcmp(code, "usage") == 0 ? CTL_EXIT_USAGE : CTL_EXIT_FAIL;
	return err;
}

int ctl_usage(struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	if (c->err.code[0])
		return -EINVAL;
	snprintf(c->err.code, sizeof(c->err.code), "usage");
	snprintf(c->err.hint, sizeof(c->err.hint), "usage: pilotctl %s", c->synopsis);
	va_start(ap, fmt);
	vsnprintf(c->err.message, sizeof(c->err.message), fmt, ap);
	va_end(ap);
	c->err.exit_status = CTL_EXIT_USAGE;
	return -EINVAL;
}

/* Write one finished JSON document as a line on stdout. */
static int emit_line(const char *buf, size_t len)
{
	if (fwrite(buf, 1, len, stdout) != len || fputc('\n', stdout) == EOF ||
	    fflush(stdout) == EOF)
		return -EIO;
	return 0;
}

int ctl_report_error(struct ctl *c, int err)
{
	struct json_gen g;
	const char *out;
	size_t len;

	if (!c->err.code[0])
		ctl_fail(c, err, "internal", "", "%s", strerror(err < 0 ? -err : err));
	if (c->json && json_gen_init(&g) == 0) {
		ctl_gen_envelope(&g, &c->err, NULL);
		if (json_gen_finish(&g, &out, &len) == 0)
			emit_line(out, len);
		json_gen_free(&g);
	} else {
		char msg[sizeof(c->err.message)], hint[sizeof(c->err.hint)];
		fflush(stdout);
		fprintf(stderr, "pilotctl: %s\n", sanitize(c->err.message, msg, sizeof(msg)));
		if (c->err.hint[0])
			fprintf(stderr, "%s%s\n", strncmp(c->err.hint, "usage:", 6) ? "hint: " : "",
				sanitize(c->err.hint, hint, sizeof(hint)));
	}
	return c->err.exit_status ? c->err.exit_status : CTL_EXIT_FAIL;
}

int ctl_emit_begin(struct json_gen *g)
{
	int ret = json_gen_init(g);
	if (ret)
		return ret;
	jg_map_open(g);
	jg_kstr(g, "status", "ok");
	jg_key(g, "data");
	jg_map_open(g);
	return 0;
}

int ctl_emit_end(struct ctl *c, struct json_gen *g)
{
	const char *out;
	size_t len;
	int ret;

	jg_map_close(g);
	jg_map_close(g);
	ret = json_gen_finish(g, &out, &len);
	if (ret == 0)
		ret = emit_line(out, len);
	json_gen_free(g);
	return ret;
}

void ctl_gen_envelope(struct json_gen *g, const struct ctl_err *e, yajl_val data)
{
	jg_map_open(g);
	if (e && e->code[0]) {
		jg_kstr(g, "status", "error");
		jg_kstr(g, "code", e->code);
		jg_kstr(g, "message", e->message);
		jg_kstr(g, "hint", e->hint);
	} else {
		jg_kstr(g, "status", "ok");
		jg_key(g, "data");
		if (YAJL_IS_OBJECT(data)) {
			json_gen_value(g, data);
		} else {
			/* The envelope promises an object even if a daemon sent none. */
			jg_map_open(g);
			jg_map_close(g);
		}
	}
	jg_map_close(g);
}

int ctl_emit_ok_val(struct ctl *c, yajl_val data)
{
	struct json_gen g;
	const char *out;
	size_t len;
	int ret = json_gen_init(&g);

	if (ret)
		return ret;
	ctl_gen_envelope(&g, NULL, data);
	ret = json_gen_finish(&g, &out, &len);
	if (ret == 0)
		ret = emit_line(out, len);
	json_gen_free(&g);
	return ret;
}

/* Copy \p s replacing C0/C1 control characters: strings come from peers
 * (hostnames, justifications) and must not move the cursor or retitle the
 * operator's terminal. */
static const char *sanitize(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	if (!len)
		return "";
	for (const unsigned char *p = (const unsigned char *)s; *p && o + 1 < len; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			buf[o++] = '?';
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			buf[o++] = '?'; /* UTF-8 encoded C1 control */
			p++;
		} else {
			buf[o++] = (char)*p;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* Compact JSON of a container, for generic human output. */
static const char *compact(yajl_val v, char *buf, size_t len)
{
	struct json_gen g;
	const char *out;
	size_t n;

	if (json_gen_init(&g))
		return "-";
	json_gen_value(&g, v);
	if (json_gen_finish(&g, &out, &n) == 0) {
		char tmp[4096];
		n = MIN(n, sizeof(tmp) - 1);
		memcpy(tmp, out, n);
		tmp[n] = '\0';
		sanitize(tmp, buf, len);
	} else {
		snprintf(buf, len, "-");
	}
	json_gen_free(&g);
	return buf;
}

const char *ctl_text(yajl_val v, char *buf, size_t len)
{
	if (!v || YAJL_IS_NULL(v))
		return "-";
	if (YAJL_IS_STRING(v))
		return v->u.string[0] ? sanitize(v->u.string, buf, len) : "-";
	if (YAJL_IS_NUMBER(v))
		return sanitize(v->u.number.r, buf, len);
	if (YAJL_IS_TRUE(v))
		return "yes";
	if (YAJL_IS_FALSE(v))
		return "no";
	return compact(v, buf, len);
}

const char *ctl_mtext(yajl_val obj, const char *key, char *buf, size_t len)
{
	return ctl_text(json_get(obj, key), buf, len);
}

const char *ctl_duration(uint64_t s, const char *suffix, char *buf, size_t len)
{
	if (s < 60)
		snprintf(buf, len, "%llus%s", (unsigned long long)s, suffix);
	else if (s < 3600)
		snprintf(buf, len, "%llum %llus%s", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60), suffix);
	else if (s < 86400)
		snprintf(buf, len, "%lluh %llum%s", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60), suffix);
	else
		snprintf(buf, len, "%llud %lluh%s", (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600), suffix);
	return buf;
}

const char *ctl_mage(yajl_val obj, const char *key, char *buf, size_t len)
{
	uint64_t t, now = (uint64_t)time(NULL), d;

	if (json_get_u64(obj, key, &t) != 0 || t == 0)
		return "never";
	d = now > t ? now - t : 0;
	return ctl_duration(d, " ago", buf, len);
}

struct ctl_table {
	size_t ncols, nrows, cap;
	const char *const *headers;
	char **cells; /* nrows * ncols */
};

struct ctl_table *ctl_table_new(size_t ncols, const char *const *headers)
{
	struct ctl_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ncols = ncols;
	t->headers = headers;
	return t;
}

int ctl_table_add(struct ctl_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		char **n = realloc(t->cells, ncap * t->ncols * sizeof(*n));
		if (!n)
			return -ENOMEM;
		t->cells = n;
		t->cap = ncap;
	}
	for (size_t i = 0; i < t->ncols; i++) {
		char *s = strdup(cells[i] ? cells[i] : "-");
		if (!s) {
			while (i--)
				free(t->cells[t->nrows * t->ncols + i]);
			return -ENOMEM;
		}
		t->cells[t->nrows * t->ncols + i] = s;
	}
	t->nrows++;
	return 0;
}

static void print_row(const struct ctl_table *t, const size_t *w, const char *const *row)
{
	for (size_t i = 0; i < t->ncols; i++) {
		/* No padding after the last column: no trailing blanks. */
		if (i + 1 < t->ncols)
			printf("%-*s  ", (int)w[i], row[i]);
		else
			printf("%s\n", row[i]);
	}
}

void ctl_table_print(struct ctl_table *t)
{
	size_t *w = calloc(t->ncols, sizeof(*w));

	if (!w)
		return;
	for (size_t i = 0; i < t->ncols; i++)
		w[i] = strlen(t->headers[i]);
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t i = 0; i < t->ncols; i++)
			w[i] = MAX(w[i], strlen(t->cells[r * t->ncols + i]));
	print_row(t, w, t->headers);
	for (size_t r = 0; r < t->nrows; r++)
		print_row(t, w, (const char *const *)&t->cells[r * t->ncols]);
	free(w);
}

void ctl_table_free(struct ctl_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

void ctl_kv(const char *const *pairs, size_t npairs)
{
	size_t w = 0;

	for (size_t i = 0; i < npairs; i++)
		w = MAX(w, strlen(pairs[2 * i]) + 1);
	for (size_t i = 0; i < npairs; i++) {
		printf("%s:%*s %s\n", pairs[2 * i], (int)(w - strlen(pairs[2 * i]) - 1), "",
		       pairs[2 * i + 1] ? pairs[2 * i + 1] : "-");
	}
}

/* An array whose elements are all objects prints as a table. */
static int is_object_array(yajl_val v)
{
	if (!YAJL_IS_ARRAY(v) || v->u.array.len == 0)
		return 0;
	for (size_t i = 0; i < v->u.array.len; i++)
		if (!YAJL_IS_OBJECT(v->u.array.values[i]))
			return 0;
	return 1;
}

static void print_object_array(const char *title, yajl_val arr, int blank_first)
{
	yajl_val first = arr->u.array.values[0];
	size_t ncols = first->u.object.len;
	const char **keys = calloc(ncols ? ncols : 1, sizeof(*keys));
	char(*hdr_bufs)[64] = calloc(ncols ? ncols : 1, sizeof(*hdr_bufs));
	const char **hdr = calloc(ncols ? ncols : 1, sizeof(*hdr));
	const char **row = calloc(ncols ? ncols : 1, sizeof(*row));
	char(*bufs)[256] = calloc(ncols ? ncols : 1, sizeof(*bufs));
	struct ctl_table *t = NULL;
	char up[64];

	if (!keys || !hdr_bufs || !hdr || !row || !bufs || ncols == 0)
		goto out;
	/* Headers as in the hand-made tables: "last_handshake" -> "LAST HANDSHAKE". */
	for (size_t i = 0; i < ncols; i++) {
		size_t k;
		keys[i] = first->u.object.keys[i];
		sanitize(keys[i], hdr_bufs[i], sizeof(hdr_bufs[i]));
		for (k = 0; hdr_bufs[i][k]; k++)
			hdr_bufs[i][k] = hdr_bufs[i][k] == '_'
					     ? ' '
					     : (char)toupper((unsigned char)hdr_bufs[i][k]);
		hdr[i] = hdr_bufs[i];
	}
	t = ctl_table_new(ncols, hdr);
	if (!t)
		goto out;
	for (size_t r = 0; r < arr->u.array.len; r++) {
		for (size_t i = 0; i < ncols; i++)
			row[i] =
			    ctl_mtext(arr->u.array.values[r], keys[i], bufs[i], sizeof(bufs[i]));
		if (ctl_table_add(t, row))
			goto out;
	}
	sanitize(title, up, sizeof(up));
	printf("%s%s:\n", blank_first ? "\n" : "", up);
	ctl_table_print(t);
out:
	ctl_table_free(t);
	free(keys);
	free(hdr_bufs);
	free(hdr);
	free(row);
	free(bufs);
}

void ctl_print_val(yajl_val data)
{
	size_t n, np = 0;
	const char **pairs;
	char(*bufs)[512];

	if (!YAJL_IS_OBJECT(data) || data->u.object.len == 0) {
		printf("ok\n");
		return;
	}
	n = data->u.object.len;
	pairs = calloc(2 * n, sizeof(*pairs));
	bufs = calloc(n, sizeof(*bufs));
	if (!pairs || !bufs)
		goto out;
	for (size_t i = 0; i < n; i++) {
		yajl_val v = data->u.object.values[i];
		if (is_object_array(v))
			continue;
		pairs[2 * np] = data->u.object.keys[i];
		pairs[2 * np + 1] = ctl_text(v, bufs[i], sizeof(bufs[i]));
		np++;
	}
	ctl_kv(pairs, np);
	for (size_t i = 0; i < n; i++) {
		if (!is_object_array(data->u.object.values[i]))
			continue;
		print_object_array(data->u.object.keys[i], data->u.object.values[i], np > 0);
		np++;
	}
out:
	free(pairs);
	free(bufs);
}
