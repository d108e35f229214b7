/* SPDX-License-Identifier: ISC */
#include "tls/apply.h"

#include <openssl/err.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Every suite this OpenSSL has, to map IANA names to OpenSSL's: a context with every
 * cipher enabled (security level 0, so that none is hidden), made once. */
static SSL_CTX *all;
static pthread_once_t all_once = PTHREAD_ONCE_INIT;

static void make_all(void)
{
	all = SSL_CTX_new(TLS_server_method());
	if (all && (SSL_CTX_set_cipher_list(all, "ALL:COMPLEMENTOFALL:@SECLEVEL=0") != 1 ||
	            SSL_CTX_set_min_proto_version(all, 0) != 1)) {
		SSL_CTX_free(all);
		all = NULL;
	}
	ERR_clear_error();
}

/* The suite of that IANA name, or NULL. */
static const SSL_CIPHER *by_iana(const char *iana)
{
	pthread_once(&all_once, make_all);
	if (!all)
		return NULL;
	STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(all);
	for (int i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);
		const char *std = SSL_CIPHER_standard_name(c);
		if (std && strcmp(std, iana) == 0)
			return c;
	}
	return NULL;
}

int tls_protocol_range(const char *list, int *min, int *max, char *err, size_t errlen)
{
	int has12 = 0, has13 = 0;
	char buf[TLS_VALUE_MAX];
	snprintf(buf, sizeof buf, "%s", list);
	char *save = NULL;
	for (char *p = strtok_r(buf, ", :", &save); p; p = strtok_r(NULL, ", :", &save)) {
		if (strcasecmp(p, "TLSv1.2") == 0)
			has12 = 1;
		else if (strcasecmp(p, "TLSv1.3") == 0)
			has13 = 1;
		else {
			snprintf(err, errlen,
			         "protocol '%.40s' is not offered (TLSv1.2 and TLSv1.3 only)", p);
			return -1;
		}
	}
	if (!has12 && !has13) {
		snprintf(err, errlen, "no protocol");
		return -1;
	}
	*min = has12 ? TLS1_2_VERSION : TLS1_3_VERSION;
	*max = has13 ? TLS1_3_VERSION : TLS1_2_VERSION;
	return 0;
}

/* Maps a comma-separated list of IANA names of one TLS version to OpenSSL's
 * colon-separated string. Returns the number of suites, or -1 with err set. */
static int to_openssl(const char *list, int tls13, char *out, size_t cap, char *err, size_t errlen)
{
	char buf[TLS_VALUE_MAX];
	snprintf(buf, sizeof buf, "%s", list);
	size_t len = 0;
	int n = 0;
	out[0] = '\0';
	char *save = NULL;
	for (char *p = strtok_r(buf, ", :", &save); p; p = strtok_r(NULL, ", :", &save)) {
		const SSL_CIPHER *c = by_iana(p);
		if (!c) {
			snprintf(err, errlen, "cipher suite '%.80s' is not known to this OpenSSL",
			         p);
			return -1;
		}
		int is13 = strcmp(SSL_CIPHER_get_version(c), "TLSv1.3") == 0;
		if (is13 != tls13) {
			snprintf(err, errlen,
			         "cipher suite '%.80s' is a TLS %s suite, listed with TLS %s", p,
			         is13 ? "1.3" : "1.2", tls13 ? "1.3" : "1.2");
			return -1;
		}
		const char *name = tls13 ? p : SSL_CIPHER_get_name(c);
		int w = snprintf(out + len, cap - len, "%s%s", n ? ":" : "", name);
		if (w < 0 || (size_t)w >= cap - len) {
			snprintf(err, errlen, "the cipher-suite list is too long");
			return -1;
		}
		len += (size_t)w;
		n++;
	}
	return n;
}

int tls_apply(SSL_CTX *ctx, const struct tls_effective *e, char *err, size_t errlen)
{
	int min, max;
	if (tls_protocol_range(e->s[TLS_SET_PROTOCOLS].value, &min, &max, err, errlen) != 0)
		return -1;
	char l12[TLS_VALUE_MAX], l13[TLS_VALUE_MAX];
	int n12 = to_openssl(e->s[TLS_SET_CIPHERS12].value, 0, l12, sizeof l12, err, errlen);
	if (n12 < 0)
		return -1;
	int n13 = to_openssl(e->s[TLS_SET_CIPHERS13].value, 1, l13, sizeof l13, err, errlen);
	if (n13 < 0)
		return -1;
	if (min == TLS1_2_VERSION && n12 == 0) {
		snprintf(err, errlen, "TLSv1.2 is enabled but no TLS 1.2 cipher suite is set");
		return -1;
	}
	if (max == TLS1_3_VERSION && n13 == 0) {
		snprintf(err, errlen, "TLSv1.3 is enabled but no TLS 1.3 cipher suite is set");
		return -1;
	}
	/* An empty TLS 1.2 list is refused by OpenSSL: with TLS 1.3 only, it is not used. */
	if (SSL_CTX_set_min_proto_version(ctx, min) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, max) != 1 ||
	    (n12 > 0 && SSL_CTX_set_cipher_list(ctx, l12) != 1) ||
	    SSL_CTX_set_ciphersuites(ctx, l13) != 1) {
		unsigned long code = ERR_get_error();
		char why[160] = "no detail";
		if (code)
			ERR_error_string_n(code, why, sizeof why);
		ERR_clear_error();
		snprintf(err, errlen, "OpenSSL refused the settings: %s", why);
		return -1;
	}
	return 0;
}
