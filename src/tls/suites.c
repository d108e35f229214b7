/* SPDX-License-Identifier: ISC */
/* Suite and protocol lists: parse with per-item errors, build OpenSSL's strings, defaults. */
#include "tls/suites.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

static int is_sep(char c)
{
	return c == ',' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The next item of a list: *p advances past it; returns its length (0: no more items). */
static size_t next_item(const char **p, const char **item)
{
	const char *s = *p;
	while (*s != '\0' && is_sep(*s))
		s++;
	*item = s;
	while (*s != '\0' && !is_sep(*s))
		s++;
	*p = s;
	return (size_t)(s - *item);
}

static int fail(struct tls_list_error *err, enum tls_list_err code, int item, const char *text,
                size_t len, const char *suggest)
{
	size_t n = len < sizeof err->text - 1 ? len : sizeof err->text - 1;
	for (size_t i = 0; i < n; i++)
		err->text[i] = (text[i] > 0x20 && text[i] < 0x7f) ? text[i] : '?';
	err->text[n] = '\0';
	err->code = code;
	err->item = item;
	err->suggest = suggest;
	err->status = TLS_SUITE_OFFERABLE;
	return -1;
}

/* Checks the text's size and that it has an item; 0 or -1 with *err. */
static int check_text(const char *text, struct tls_list_error *err)
{
	if (strnlen(text, TLS_LIST_TEXT_MAX + 1) > TLS_LIST_TEXT_MAX)
		return fail(err, TLS_LIST_TOO_LONG, 0, "", 0, NULL);
	const char *p = text, *item;
	if (next_item(&p, &item) == 0)
		return fail(err, TLS_LIST_EMPTY, 0, "", 0, NULL);
	return 0;
}

int tls_suites_parse(const char *text, struct tls_suite_list *out, struct tls_list_error *err)
{
	if (check_text(text, err) != 0)
		return -1;
	out->n = 0;
	const char *p = text, *item;
	size_t len;
	for (int k = 1; (len = next_item(&p, &item)) > 0; k++) {
		char name[TLS_SUITE_NAME_MAX];
		const struct tls_suite *s = NULL;
		enum tls_name_kind kind = TLS_NAME_UNKNOWN;
		if (len < sizeof name) {
			memcpy(name, item, len);
			name[len] = '\0';
			kind = tls_iana_resolve(name, &s);
		}
		if (kind == TLS_NAME_UNKNOWN)
			return fail(err, TLS_LIST_UNKNOWN, k, item, len, NULL);
		if (kind == TLS_NAME_OPENSSL)
			return fail(err, TLS_LIST_OPENSSL_NAME, k, item, len, s->name);
		if (kind == TLS_NAME_NEAR_MISS)
			return fail(err, TLS_LIST_NEAR_MISS, k, item, len, s->name);
		struct tls_suite_avail a;
		tls_iana_avail(s, &a);
		if (a.status == TLS_SUITE_SCSV || a.status == TLS_SUITE_NULL_CIPHER ||
		    a.status == TLS_SUITE_ANON || a.status == TLS_SUITE_EXPORT) {
			fail(err, TLS_LIST_REFUSED, k, item, len, NULL);
			err->status = a.status;
			return -1;
		}
		for (size_t i = 0; i < out->n; i++)
			if (out->s[i] == s)
				return fail(err, TLS_LIST_DUPLICATE, k, item, len, NULL);
		if (out->n == TLS_SUITES_MAX)
			return fail(err, TLS_LIST_TOO_MANY, k, item, len, NULL);
		out->s[out->n++] = s;
	}
	return 0;
}

/* Protocol names as typed, after folding case and dropping 'v', '_' -> '.'. */
static const struct {
	const char *folded;
	const char *name; /* the seed's spelling */
	unsigned bit;     /* 0: below TLS 1.2, refused */
} protocols[] = {
    {"tls1.2", "TLSv1.2", TLS_PROTO_TLS12},
    {"tls1.3", "TLSv1.3", TLS_PROTO_TLS13},
    {"tls1", "TLSv1", 0},
    {"tls1.0", "TLSv1", 0},
    {"tls1.1", "TLSv1.1", 0},
    {"ssl3", "SSLv3", 0},
    {"ssl3.0", "SSLv3", 0},
    {"ssl2", "SSLv2", 0},
};

int tls_protocols_parse(const char *text, unsigned *mask, struct tls_list_error *err)
{
	if (check_text(text, err) != 0)
		return -1;
	*mask = 0;
	const char *p = text, *item;
	size_t len;
	for (int k = 1; (len = next_item(&p, &item)) > 0; k++) {
		char folded[16];
		size_t n = 0;
		for (size_t i = 0; i < len && n < sizeof folded - 1; i++) {
			char c = item[i];
			if (c == 'v' || c == 'V')
				continue;
			folded[n++] = c == '_' ? '.' : c;
		}
		folded[n] = '\0';
		size_t row = sizeof protocols / sizeof protocols[0];
		if (len < sizeof folded)
			for (row = 0; row < sizeof protocols / sizeof protocols[0]; row++)
				if (strcasecmp(folded, protocols[row].folded) == 0)
					break;
		if (row == sizeof protocols / sizeof protocols[0])
			return fail(err, TLS_LIST_BAD_PROTOCOL, k, item, len, NULL);
		if (protocols[row].bit == 0)
			return fail(err, TLS_LIST_OLD_PROTOCOL, k, item, len, NULL);
		if (strlen(protocols[row].name) != len ||
		    memcmp(protocols[row].name, item, len) != 0)
			return fail(err, TLS_LIST_BAD_PROTOCOL, k, item, len, protocols[row].name);
		if (*mask & protocols[row].bit)
			return fail(err, TLS_LIST_DUPLICATE, k, item, len, NULL);
		*mask |= protocols[row].bit;
	}
	return 0;
}

int tls_list_error_format(const struct tls_list_error *e, char *buf, size_t cap)
{
	const char *why = "";
	switch (e->code) {
	case TLS_LIST_OK:
		why = "no error";
		break;
	case TLS_LIST_EMPTY:
		why = "the list is empty";
		break;
	case TLS_LIST_TOO_LONG:
		why = "the list is longer than 4096 bytes";
		break;
	case TLS_LIST_TOO_MANY:
		why = "more than 64 cipher suites";
		break;
	case TLS_LIST_UNKNOWN:
		why = "not an IANA cipher-suite name (the IANA TLS Cipher Suites registry)";
		break;
	case TLS_LIST_OPENSSL_NAME:
		why = "an OpenSSL name; cipher suites are named by their IANA names: use";
		break;
	case TLS_LIST_NEAR_MISS:
		why = "not in the IANA registry; did you mean";
		break;
	case TLS_LIST_REFUSED:
		why = tls_suite_status_text(e->status);
		break;
	case TLS_LIST_DUPLICATE:
		why = "listed twice";
		break;
	case TLS_LIST_BAD_PROTOCOL:
		why = e->suggest != NULL ? "not a protocol name; did you mean"
		                         : "not a protocol name (TLSv1.2, TLSv1.3)";
		break;
	case TLS_LIST_OLD_PROTOCOL:
		why = "below TLS 1.2 is never offered";
		break;
	}
	int n;
	if (e->item > 0)
		n = snprintf(buf, cap, "item %d \"%s\": %s%s%s%s", e->item, e->text, why,
		             e->suggest != NULL ? " " : "", e->suggest != NULL ? e->suggest : "",
		             e->suggest != NULL && e->code != TLS_LIST_OPENSSL_NAME ? "?" : "");
	else
		n = snprintf(buf, cap, "%s", why);
	return n >= 0 && (size_t)n < cap ? n : -1;
}

static void put_sep(struct tg_sbuf *b, const char *name)
{
	if (b->len > 0)
		tg_sbuf_put(b, ":");
	tg_sbuf_put(b, name);
}

int tls_suites_build(const struct tls_suite_list *l, struct tls_openssl_strings *out)
{
	struct tg_sbuf b12 = {out->cipher_list, sizeof out->cipher_list, 0, 0};
	struct tg_sbuf b13 = {out->ciphersuites, sizeof out->ciphersuites, 0, 0};
	int used = 0;
	out->cipher_list[0] = out->ciphersuites[0] = '\0';
	out->nskipped = 0;
	for (size_t i = 0; i < l->n && i < TLS_SUITES_MAX; i++) {
		struct tls_suite_avail a;
		tls_iana_avail(l->s[i], &a);
		if (a.status != TLS_SUITE_OFFERABLE) {
			out->skipped[out->nskipped++] = l->s[i];
			continue;
		}
		if (a.tls13)
			put_sep(&b13, l->s[i]->name);
		else
			put_sep(&b12, a.openssl_name);
		used++;
	}
	if (tg_sbuf_len(&b12) < 0 || tg_sbuf_len(&b13) < 0)
		return -1;
	return used;
}

/* Mozilla "intermediate" (Server Side TLS 5.x) without DHE_RSA_WITH_AES_{128,256}_GCM and
 * DHE_RSA_WITH_CHACHA20_POLY1305, in its order. */
static const char *const telgate_default[] = {
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
};

/* Seed 004: the cipher list a new BroadWorks install sets at system level, in its order. */
static const char *const bwks_default[] = {
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256",   "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",   "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256",
    "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256",  "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256",  "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256",
};

static const struct {
	const char *name;
	const char *const *suites;
	size_t n;
} profiles[] = {
    {"telgate-default", telgate_default, sizeof telgate_default / sizeof telgate_default[0]},
    {"bwks-default", bwks_default, sizeof bwks_default / sizeof bwks_default[0]},
};

int tls_suites_profile(const char *name, struct tls_suite_list *out)
{
	for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++) {
		if (strcmp(profiles[i].name, name) != 0)
			continue;
		out->n = 0;
		/* Every name is a registry row (the unit test checks the count). */
		for (size_t k = 0; k < profiles[i].n; k++) {
			const struct tls_suite *s = tls_iana_by_name(profiles[i].suites[k]);
			if (s != NULL)
				out->s[out->n++] = s;
		}
		return 0;
	}
	return -1;
}

void tls_suites_system_default(struct tls_suite_list *out)
{
	tls_suites_profile("telgate-default", out);
}
