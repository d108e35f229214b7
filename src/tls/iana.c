/* SPDX-License-Identifier: ISC */
/* The IANA cipher-suite registry, names both ways, and what this OpenSSL can offer. */
#include "tls/iana.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>

static const struct tls_suite registry[] = {
#include "tls/iana_suites.inc"
};
#define NSUITES (sizeof registry / sizeof registry[0])

/* What tls_iana_init() learnt, one entry per registry row. */
static struct {
	const SSL_CIPHER *cipher; /* libssl's static cipher, NULL when unknown to it */
	unsigned char loaded;     /* in the cipher list of a context with every cipher */
} lib[NSUITES];
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc = -1;

size_t tls_iana_count(void)
{
	return NSUITES;
}

const struct tls_suite *tls_iana_at(size_t i)
{
	return i < NSUITES ? &registry[i] : NULL;
}

/* A linear scan: ~330 rows, run when an administrator changes a list, not per connection. */
const struct tls_suite *tls_iana_by_name(const char *name)
{
	for (size_t i = 0; i < NSUITES; i++)
		if (strcmp(registry[i].name, name) == 0)
			return &registry[i];
	return NULL;
}

const struct tls_suite *tls_iana_by_code(uint16_t code)
{
	size_t lo = 0, hi = NSUITES; /* the table is sorted by code point */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (registry[mid].code == code)
			return &registry[mid];
		if (registry[mid].code < code)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static size_t row_of(const struct tls_suite *s)
{
	return (size_t)(s - registry);
}

static const char TLS13_ALL[] = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256:"
                                "TLS_AES_128_CCM_8_SHA256";

static void init_table(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	SSL *ssl = NULL;
	if (ctx == NULL)
		goto out;
	/* Level 0 and COMPLEMENTOFALL: every cipher the loaded providers can run, including
	 * the ones policy refuses, so that "not loaded" means exactly that. */
	SSL_CTX_set_security_level(ctx, 0);
	if (SSL_CTX_set_cipher_list(ctx, "ALL:COMPLEMENTOFALL:@SECLEVEL=0") != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS13_ALL) != 1 || (ssl = SSL_new(ctx)) == NULL)
		goto out;
	STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(ctx);
	for (size_t i = 0; i < NSUITES; i++) {
		const unsigned char cp[2] = {(unsigned char)(registry[i].code >> 8),
		                             (unsigned char)(registry[i].code & 0xff)};
		lib[i].cipher = SSL_CIPHER_find(ssl, cp);
	}
	for (int k = 0; k < sk_SSL_CIPHER_num(sk); k++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, k);
		const struct tls_suite *s =
		    tls_iana_by_code((uint16_t)(SSL_CIPHER_get_protocol_id(c) & 0xffff));
		if (s != NULL)
			lib[row_of(s)].loaded = 1;
	}
	init_rc = 0;
out:
	/* The SSL_CIPHERs are libssl's static tables: they outlive the context. */
	SSL_free(ssl);
	SSL_CTX_free(ctx);
}

int tls_iana_init(void)
{
	pthread_once(&init_once, init_table);
	return init_rc;
}

/* name without its last "_PART" equals base (case-insensitively), PART a MAC/PRF hash. */
static int is_hash_completion(const char *name, const char *base)
{
	static const char *const hashes[] = {"_SHA", "_SHA256", "_SHA384", "_MD5"};
	size_t nb = strlen(base), nn = strlen(name);
	if (nn <= nb || strncasecmp(name, base, nb) != 0)
		return 0;
	for (size_t i = 0; i < sizeof hashes / sizeof hashes[0]; i++)
		if (strcmp(name + nb, hashes[i]) == 0)
			return 1;
	return 0;
}

static const struct tls_suite *near_miss(const char *name)
{
	const struct tls_suite *hit = NULL;
	int hits = 0;
	char alt[TLS_SUITE_NAME_MAX + 8];
	/* Java's old spelling, SSL_RSA_WITH_..., for TLS_RSA_WITH_... */
	size_t n = strlen(name);
	if (strncasecmp(name, "SSL_", 4) == 0 && n < sizeof alt) {
		memcpy(alt, "TLS_", 4);
		memcpy(alt + 4, name + 4, n - 4 + 1);
		name = alt;
	}
	for (size_t i = 0; i < NSUITES; i++)
		if (strcasecmp(registry[i].name, name) == 0)
			return &registry[i];
	for (size_t i = 0; i < NSUITES; i++)
		if (is_hash_completion(registry[i].name, name)) {
			hit = &registry[i];
			hits++;
		}
	return hits == 1 ? hit : NULL; /* two completions (_SHA, _SHA256): no guess */
}

enum tls_name_kind tls_iana_resolve(const char *name, const struct tls_suite **suite)
{
	const struct tls_suite *s = NULL;
	enum tls_name_kind kind = TLS_NAME_UNKNOWN;
	if (strlen(name) >= TLS_SUITE_NAME_MAX) {
		/* longer than every registry name and every OpenSSL name */
	} else if ((s = tls_iana_by_name(name)) != NULL) {
		kind = TLS_NAME_IANA;
	} else {
		tls_iana_init();
		/* TLS 1.3 suites carry their IANA name in OpenSSL too: another case of it is a
		 * near miss, not an OpenSSL name. */
		for (size_t i = 0; i < NSUITES && s == NULL; i++)
			if (lib[i].cipher != NULL && !tls_suite_is_tls13(&registry[i]) &&
			    strcasecmp(SSL_CIPHER_get_name(lib[i].cipher), name) == 0)
				s = &registry[i];
		if (s != NULL)
			kind = TLS_NAME_OPENSSL;
		else if ((s = near_miss(name)) != NULL)
			kind = TLS_NAME_NEAR_MISS;
	}
	if (suite != NULL)
		*suite = s;
	return kind;
}

/* TLS 1.3 suites registered outside 0x13,*: RFC 8998 (ShangMi), RFC 9150 (integrity only),
 * RFC 9367 (GOST). */
static const uint16_t tls13_elsewhere[] = {0x00C6, 0x00C7, 0xC0B4, 0xC0B5,
                                           0xC103, 0xC104, 0xC105, 0xC106};

int tls_suite_is_tls13(const struct tls_suite *s)
{
	if ((s->code >> 8) == 0x13)
		return 1;
	for (size_t i = 0; i < sizeof tls13_elsewhere / sizeof tls13_elsewhere[0]; i++)
		if (s->code == tls13_elsewhere[i])
			return 1;
	return 0;
}

/* RFC 9150: TLS 1.3 with an HMAC and no encryption (TLS_SHA256_SHA256, TLS_SHA384_SHA384). */
static int integrity_only(const struct tls_suite *s)
{
	return s->code == 0xC0B4 || s->code == 0xC0B5;
}

/* The key-exchange/authentication part: between "TLS_" and "_WITH_" ("" for TLS 1.3 and
 * the signalling values). */
static int kx_has(const struct tls_suite *s, const char *part)
{
	const char *with = strstr(s->name, "_WITH_");
	const char *p = strstr(s->name + 3, part);
	return with != NULL && p != NULL && p < with;
}

static int kx_starts(const struct tls_suite *s, const char *prefix)
{
	return strstr(s->name, "_WITH_") != NULL &&
	       strncmp(s->name + 4, prefix, strlen(prefix)) == 0;
}

int tls_suite_forward_secret(const struct tls_suite *s)
{
	if (tls_suite_is_tls13(s))
		return 1;
	return (kx_starts(s, "ECDHE_") || kx_starts(s, "DHE_")) && !kx_has(s, "_PSK") &&
	       !kx_has(s, "_anon");
}

int tls_suite_aead(const struct tls_suite *s)
{
	if (tls_suite_is_tls13(s))
		return !integrity_only(s);
	const char *with = strstr(s->name, "_WITH_");
	return with != NULL && (strstr(with, "_GCM") != NULL || strstr(with, "_CCM") != NULL ||
	                        strstr(with, "_CHACHA20_POLY1305") != NULL);
}

int tls_suite_ecdhe_aead(const struct tls_suite *s)
{
	if (tls_suite_is_tls13(s))
		return tls_suite_aead(s);
	return (kx_starts(s, "ECDHE_RSA_") || kx_starts(s, "ECDHE_ECDSA_")) && tls_suite_aead(s);
}

static enum tls_suite_status status_of(const struct tls_suite *s)
{
	size_t i = row_of(s);
	size_t n = strlen(s->name);
	if (n > 5 && strcmp(s->name + n - 5, "_SCSV") == 0)
		return TLS_SUITE_SCSV;
	if (strstr(s->name, "_WITH_NULL_") != NULL || integrity_only(s))
		return TLS_SUITE_NULL_CIPHER;
	if (kx_has(s, "_anon"))
		return TLS_SUITE_ANON;
	if (strstr(s->name, "_EXPORT") != NULL)
		return TLS_SUITE_EXPORT;
	/* What telgate has no credentials for, whether or not this OpenSSL has the suite. */
	if (kx_has(s, "PSK"))
		return TLS_SUITE_NEEDS_PSK;
	if (kx_starts(s, "SRP_"))
		return TLS_SUITE_NEEDS_SRP;
	if (lib[i].cipher == NULL) {
		if (kx_starts(s, "ECDH_") || kx_starts(s, "DH_"))
			return TLS_SUITE_STATIC_DH;
		if (kx_starts(s, "KRB5"))
			return TLS_SUITE_KRB5;
		if (strstr(s->name, "_RC4_") != NULL)
			return TLS_SUITE_RC4;
		return TLS_SUITE_NOT_COMPILED;
	}
	if (!lib[i].loaded)
		return TLS_SUITE_NOT_LOADED;
	if (kx_has(s, "_DSS"))
		return TLS_SUITE_NEEDS_DSA_CERT;
	return TLS_SUITE_OFFERABLE;
}

void tls_iana_avail(const struct tls_suite *s, struct tls_suite_avail *out)
{
	tls_iana_init();
	out->status = status_of(s);
	out->tls13 = tls_suite_is_tls13(s);
	const SSL_CIPHER *c = lib[row_of(s)].cipher;
	out->openssl_name = c != NULL ? SSL_CIPHER_get_name(c) : NULL;
}

static const char *const status_text[] = {
    [TLS_SUITE_OFFERABLE] = "offerable",
    [TLS_SUITE_SCSV] = "a signalling value, not a cipher suite",
    [TLS_SUITE_NULL_CIPHER] = "NULL encryption (refused by policy)",
    [TLS_SUITE_ANON] = "anonymous key exchange, no authentication (refused by policy)",
    [TLS_SUITE_EXPORT] = "export grade (refused by policy)",
    [TLS_SUITE_STATIC_DH] = "static ECDH/DH key exchange (removed in OpenSSL 1.1.0)",
    [TLS_SUITE_KRB5] = "Kerberos key exchange (not in OpenSSL 3)",
    [TLS_SUITE_RC4] = "RC4 (prohibited by RFC 7465; not in this OpenSSL)",
    [TLS_SUITE_NOT_COMPILED] = "not compiled into this OpenSSL",
    [TLS_SUITE_NOT_LOADED] =
        "cipher not in the loaded OpenSSL providers (legacy provider or GOST engine)",
    [TLS_SUITE_NEEDS_DSA_CERT] = "needs a DSA certificate (telgate's are RSA or ECDSA)",
    [TLS_SUITE_NEEDS_PSK] = "needs pre-shared keys (telgate authenticates by certificate)",
    [TLS_SUITE_NEEDS_SRP] = "needs SRP passwords (not used by telgate)",
};

const char *tls_suite_status_text(enum tls_suite_status st)
{
	if ((size_t)st >= sizeof status_text / sizeof status_text[0] || status_text[st] == NULL)
		return "?";
	return status_text[st];
}
