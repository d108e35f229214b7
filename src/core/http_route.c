/* SPDX-License-Identifier: ISC */
#include "core/http_int.h"
#include "core/util.h"

#include <string.h>

static int path_matches(const struct http_route *rt, const char *path)
{
	if (rt->match == HTTP_PREFIX)
		return strncmp(path, rt->path, strlen(rt->path)) == 0;
	return strcmp(path, rt->path) == 0;
}

/* Adds method to the comma-separated list unless it is there. */
static void allow_add(struct tg_sbuf *b, const char *method)
{
	size_t ml = strlen(method);
	for (const char *p = b->p; b->len && *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == ml && memcmp(p, method, ml) == 0)
			return;
		if (!end)
			break;
		p = end + 2; /* ", " */
	}
	if (b->len)
		tg_sbuf_put(b, ", ");
	tg_sbuf_put(b, method);
}

const struct http_route *http_route_find(const struct http_route *routes, size_t n,
                                         const char *method, const char *path, int *status,
                                         char *allow, size_t allowcap)
{
	const struct http_route *get = NULL;
	int path_hit = 0, has_get = 0, has_head = 0;
	for (size_t i = 0; i < n; i++) {
		const struct http_route *rt = &routes[i];
		if (!path_matches(rt, path))
			continue;
		path_hit = 1;
		if (strcmp(rt->method, method) == 0)
			return rt;
		/* HEAD is GET without the body (RFC 9110 §9.3.2), unless a route says
		 * otherwise. */
		if (!get && strcmp(rt->method, "GET") == 0)
			get = rt;
	}
	if (get && strcmp(method, "HEAD") == 0)
		return get;
	if (!path_hit) {
		*status = 404;
		return NULL;
	}
	*status = 405;
	struct tg_sbuf b = {allow, allowcap, 0, 0};
	if (allowcap)
		allow[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (!path_matches(&routes[i], path))
			continue;
		allow_add(&b, routes[i].method);
		has_get |= strcmp(routes[i].method, "GET") == 0;
		has_head |= strcmp(routes[i].method, "HEAD") == 0;
	}
	if (has_get && !has_head)
		allow_add(&b, "HEAD");
	if (tg_sbuf_len(&b) < 0 && allowcap)
		allow[0] = '\0'; /* too many to list: an empty Allow is still an answer */
	return NULL;
}
