/* SPDX-License-Identifier: ISC */
#include "tls/apply.h"

#include "tls/suites.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <stdio.h>
#include <string.h>

int tls_protocol_range(const char *list, int *min, int *max, char *err, size_t errlen)
{
	unsigned mask;
	struct tls_list_error le;
	if (tls_protocols_parse(list, &mask, &le) != 0) {
		char why[300];
		tls_list_error_format(&le, why, sizeof why);
		snprintf(err, errlen, "protocols: %s", why);
		return -1;
	}
	*min = mask & TLS_PROTO_TLS12 ? TLS1_2_VERSION : TLS1_3_VERSION;
	*max = mask & TLS_PROTO_TLS13 ? TLS1_3_VERSION : TLS1_2_VERSION;
	return 0;
}

/* Maps a stored list of IANA names of one TLS version to OpenSSL's string (tls/suites.h).
 * Suites this OpenSSL cannot offer are skipped (telgate tls show lists them). Returns the
 * number of suites in the string, or -1 with err set. */
static int to_openssl(const char *list, int tls13, char *out, size_t cap, char *err, size_t errlen)
{
	out[0] = '\0';
	if (!list[0])
		return 0;
	struct tls_suite_list l;
	struct tls_list_error le;
	if (tls_suites_parse(list, &l, &le) != 0) {
		char why[300];
		tls_list_error_format(&le, why, sizeof why);
		snprintf(err, errlen, "ciphers-tls1%d: %s", tls13 ? 3 : 2, why);
		return -1;
	}
	for (size_t i = 0; i < l.n; i++)
		if (tls_suite_is_tls13(l.s[i]) != tls13) {
			snprintf(err, errlen,
			         "cipher suite '%s' is a TLS %s suite, listed with TLS %s",
			         l.s[i]->name, tls13 ? "1.2" : "1.3", tls13 ? "1.3" : "1.2");
			return -1;
		}
	struct tls_openssl_strings s;
	int n = tls_suites_build(&l, &s);
	if (n < 0) {
		snprintf(err, errlen, "the cipher-suite list is too long");
		return -1;
	}
	snprintf(out, cap, "%s", tls13 ? s.ciphersuites : s.cipher_list);
	return n;
}

int tls_key_fits(SSL_CTX *ctx, EVP_PKEY *key, char *err, size_t errlen)
{
	int want = EVP_PKEY_is_a(key, "RSA")                                   ? NID_auth_rsa
	           : EVP_PKEY_is_a(key, "EC") || EVP_PKEY_is_a(key, "ED25519") ? NID_auth_ecdsa
	                                                                       : NID_undef;
	if (want == NID_undef)
		return 0;
	/* 0 from OpenSSL means "no bound": the lowest and highest there are. */
	int min = SSL_CTX_get_min_proto_version(ctx), max = SSL_CTX_get_max_proto_version(ctx);
	int tls12 = min == 0 || min <= TLS1_2_VERSION;
	int tls13 = max == 0 || max >= TLS1_3_VERSION;
	int fits12 = 0, fits13 = 0;
	STACK_OF(SSL_CIPHER) *cs = SSL_CTX_get_ciphers(ctx);
	for (int i = 0; i < sk_SSL_CIPHER_num(cs); i++) {
		int auth = SSL_CIPHER_get_auth_nid(sk_SSL_CIPHER_value(cs, i));
		fits12 |= auth == want;
		fits13 |= auth == NID_auth_any;
	}
	const char *type = want == NID_auth_rsa ? "RSA" : "EC";
	if (tls12 && !fits12) {
		snprintf(err, errlen,
		         "TLSv1.2 is enabled but none of its TLS 1.2 suites can be used with the "
		         "listener's %s certificate (ECDHE_%s suites are needed)",
		         type, want == NID_auth_rsa ? "RSA" : "ECDSA");
		return -1;
	}
	if (tls13 && !fits13) {
		snprintf(err, errlen, "TLSv1.3 is enabled but no TLS 1.3 suite is set");
		return -1;
	}
	return 0;
}

int tls_apply(SSL_CTX *ctx, const struct tls_effective *e, char *err, size_t errlen)
{
	int min, max;
	if (tls_protocol_range(e->s[TLS_SET_PROTOCOLS].value, &min, &max, err, errlen) != 0)
		return -1;
	char l12[TLS_OPENSSL_STR_MAX], l13[TLS_OPENSSL_STR_MAX];
	int n12 = to_openssl(e->s[TLS_SET_CIPHERS12].value, 0, l12, sizeof l12, err, errlen);
	if (n12 < 0)
		return -1;
	int n13 = to_openssl(e->s[TLS_SET_CIPHERS13].value, 1, l13, sizeof l13, err, errlen);
	if (n13 < 0)
		return -1;
	if (min == TLS1_2_VERSION && n12 == 0) {
		snprintf(
		    err, errlen,
		    "TLSv1.2 is enabled but no TLS 1.2 cipher suite that this OpenSSL can offer "
		    "is set");
		return -1;
	}
	if (max == TLS1_3_VERSION && n13 == 0) {
		snprintf(err, errlen, "TLSv1.3 is enabled but no TLS 1.3 cipher suite is set");
		return -1;
	}
	/* OpenSSL refuses an empty TLS 1.2 list: with TLS 1.3 only, it is not used. */
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
