/* SPDX-License-Identifier: ISC */
/* strptime() is X/Open. */
#define _XOPEN_SOURCE 700
#include "provision/files_http.h"

#include "core/conncap.h"
#include "core/http.h"
#include "core/log.h"
#include "core/ports.h"
#include "core/ratelimit.h"
#include "core/util.h"
#include "provision/files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct files_http {
	struct files_registry *reg;
	struct http_server *srv;
	struct conncap *caps;
	struct tg_ratelimit *misses; /* 404s per source address per minute */
	struct stream_stats stats;
	struct http_stats http_stats;
	struct http_route routes[1];
	struct http_listeners *lis;
	struct files_guard guard; /* check NULL: none */
};

/* The same body for every missing file, whatever the reason. */
static const char not_found[] = "not found\n";

/* An IMF-fixdate into Unix seconds; -1 when it is not one (the obsolete formats of RFC
 * 9110 §5.6.7 are not sent by the clients we serve: the condition is then ignored). */
static int64_t parse_http_date(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return -1;
	return (int64_t)timegm(&tm);
}

/* If-None-Match (RFC 9110 §13.1.2): "*" or a list of entity tags, compared weakly (a
 * W/ prefix is ignored). 1 when one matches etag. */
static int etag_matches(const char *list, const char *etag)
{
	size_t el = strlen(etag);
	const char *p = list;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (*p != '"')
			return 0; /* not a list of tags: no match, send the file */
		const char *q = strchr(p + 1, '"');
		if (!q)
			return 0;
		if ((size_t)(q - p + 1) == el && memcmp(p, etag, el) == 0)
			return 1;
		p = q + 1;
	}
	return 0;
}

/* 1 when the request's validators say the client's copy is current (RFC 9110 §13.2.2:
 * If-None-Match first; If-Modified-Since only without it). */
static int not_modified(struct http_request *req, const struct files_blob *b)
{
	const char *inm = http_header(req, "If-None-Match");
	if (inm)
		return etag_matches(inm, b->etag);
	const char *ims = http_header(req, "If-Modified-Since");
	if (ims) {
		int64_t t = parse_http_date(ims);
		return t >= 0 && b->mtime <= t;
	}
	return 0;
}

static void on_file(struct http_request *req, void *arg)
{
	struct files_http *h = arg;
	const char *path = http_path(req);
	char name[FILES_NAME_MAX + 1], src[64];
	http_peer_address(req, src, sizeof src);
	int64_t now = tg_now_s();
	if (tg_ratelimit_check(h->misses, src, now, 0)) {
		if (tg_ratelimit_due(h->misses, src, now))
			log_ev(LOG_LVL_WARNING, http_cid(req), "files_http_throttled",
			       LOG_S("peer", src),
			       LOG_I("misses_per_minute", FILES_HTTP_MISSES_MAX));
		http_add_header(req, "Retry-After", "60");
		http_reply(req, 429, "text/plain", "too many missing files\n", 23);
		return;
	}
	int rc = files_name_check(path, strlen(path), 1, name, sizeof name);
	if (rc == -ENAMETOOLONG) {
		http_reply_status(req, 414);
		return;
	}
	if (rc != 0) {
		http_reply(req, 400, "text/plain", "bad file name\n", 14);
		return;
	}
	if (h->guard.check) {
		const char *challenge = NULL;
		int st = h->guard.check(h->guard.arg, name, http_header(req, "Authorization"),
		                        http_cid(req), &challenge);
		if (st) {
			if (challenge)
				http_add_header(req, "WWW-Authenticate", challenge);
			http_reply_status(req, st);
			return;
		}
	}
	struct files_blob *b = NULL;
	const char *provider = NULL;
	rc = files_lookup(h->reg, name, &b, &provider);
	if (rc == -ENOENT) {
		(void)tg_ratelimit_check(h->misses, src, now, 1);
		http_reply(req, 404, "text/plain", not_found, sizeof not_found - 1);
		return;
	}
	if (rc != 0) {
		log_ev(LOG_LVL_ERROR, http_cid(req), "files_http_failed", LOG_S("file", name),
		       LOG_S("provider", provider ? provider : ""), LOG_S("error", strerror(-rc)));
		http_reply_status(req, 500);
		return;
	}
	char date[32];
	http_date_format(b->mtime, date);
	http_add_header(req, "ETag", b->etag);
	http_add_header(req, "Last-Modified", date);
	/* Phones keep their copy and ask again with its tag: a change is seen at once. */
	http_add_header(req, "Cache-Control", "no-cache");
	if (not_modified(req, b))
		http_reply(req, 304, NULL, NULL, 0);
	else
		http_reply(req, 200, b->ctype, b->data, b->len);
	files_blob_unref(b);
}

static void files_http_free(struct files_http *h)
{
	http_listeners_free(h->lis);
	http_server_free(h->srv);
	conncap_free(h->caps);
	tg_ratelimit_free(h->misses);
	free(h);
}

struct files_http *files_http_start(struct files_registry *reg, struct loop_group *loops,
                                    const char *address, int port, size_t max_file_bytes,
                                    struct tlsctx *tls, const struct files_guard *guard, char *err,
                                    size_t errlen)
{
	struct files_http *h = calloc(1, sizeof *h);
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->reg = reg;
	if (guard)
		h->guard = *guard;
	h->routes[0] = (struct http_route){"GET", "/", HTTP_PREFIX, on_file, h};
	const char *name = tls ? "files-https" : "files-http";
	struct http_server_options so = {
	    .name = name,
	    .routes = h->routes,
	    .nroutes = 1,
	    .max_header_bytes = 8192,
	    .max_body_bytes = 1024, /* GET and HEAD carry none */
	    .access_log = 1,
	    .stats = &h->http_stats,
	};
	h->srv = http_server_new(&so, err, errlen);
	h->caps = conncap_new(FILES_HTTP_MAX_CONNECTIONS, FILES_HTTP_MAX_PER_SOURCE);
	h->misses = tg_ratelimit_new(4096, 60, FILES_HTTP_MISSES_MAX);
	if (!h->srv || !h->caps || !h->misses) {
		if (h->srv)
			snprintf(err, errlen, "out of memory");
		files_http_free(h);
		return NULL;
	}
	struct stream_listener_options o = {
	    .name = name,
	    .kind = tls ? STREAM_TLS : STREAM_TCP,
	    .tls = tls,
	    .caps = h->caps,
	    .node_cap_setting = "the device-file service's 20000 connections",
	    .source_cap_setting = "256 connections per source address",
	    .stats = &h->stats,
	    .write_limit = 2 * max_file_bytes + 1024 * 1024,
	    .first_message_timeout_s = 10,
	    .idle_timeout_s = 60,
	};
	h->lis = http_listen_all(loops, address, port, h->srv, &o, err, errlen);
	if (!h->lis) {
		files_http_free(h);
		return NULL;
	}
	ports_name("tcp", (unsigned)port, NULL, name);
	return h;
}

void files_http_stop(struct files_http *h)
{
	if (h)
		files_http_free(h);
}
