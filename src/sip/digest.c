/* SPDX-License-Identifier: ISC */
#include "sip/digest.h"
#include "core/b64url.h"
#include "core/util.h"

#include <ctype.h>
#include <nettle/aes.h>
#include <nettle/md5.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sip_digest_alg_name(enum sip_digest_alg a)
{
	return a == SIP_DIGEST_SHA256 ? "SHA-256" : "MD5";
}

int sip_digest_alg_parse(const char *s, enum sip_digest_alg *out)
{
	if (!strcasecmp(s, "MD5"))
		*out = SIP_DIGEST_MD5;
	else if (!strcasecmp(s, "SHA-256"))
		*out = SIP_DIGEST_SHA256;
	else
		return -1;
	return 0;
}

/* MD5 through nettle, SHA-256 through OpenSSL. MD5 is what nearly every phone offers and
 * what every REGISTER of the benchmark checks: nettle's md5_* are plain functions on a
 * context on the stack, while OpenSSL 3's EVP goes through its provider for every init,
 * update and final (issue 22, ninth round, callgrind, the response's ~140 bytes: EVP 2,774
 * instructions per hash, OpenSSL's deprecated MD5_* 2,124, nettle 1,972). nettle is a
 * maintained Debian library (nettle-dev), GnuTLS's own hashes. For SHA-256 OpenSSL is the
 * faster (SHA extensions or its AVX2 code: 6,612 against nettle's 9,312), so it stays. */

/* SHA-256: the digest, fetched once, and a context per thread kept between requests:
 * EVP_sha256() makes OpenSSL 3 fetch the implementation at every init, and a new context
 * allocates one. With the fetched EVP_MD, EVP_DigestInit_ex2 on a context that already
 * holds it only resets its state. A thread's context is freed when it ends (the key's
 * destructor). */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static pthread_key_t sha256_key;

static void sha256_ctx_free(void *p)
{
	EVP_MD_CTX_free(p);
}

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	(void)pthread_key_create(&sha256_key, sha256_ctx_free);
}

/* This thread's SHA-256 context, made on first use; NULL when out of memory. */
static EVP_MD_CTX *sha256_ctx(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	EVP_MD_CTX *c = pthread_getspecific(sha256_key);
	if (!c && sha256_md && (c = EVP_MD_CTX_new()) && pthread_setspecific(sha256_key, c) != 0) {
		EVP_MD_CTX_free(c);
		c = NULL;
	}
	return c;
}

/* One hash being made: MD5 in md5, SHA-256 in evp. */
struct hash {
	enum sip_digest_alg alg;
	struct md5_ctx md5;
	EVP_MD_CTX *evp;
};

static int hash_init(struct hash *h, enum sip_digest_alg a)
{
	h->alg = a;
	if (a != SIP_DIGEST_SHA256) {
		h->alg = SIP_DIGEST_MD5;
		md5_init(&h->md5);
		return 0;
	}
	h->evp = sha256_ctx();
	return h->evp && EVP_DigestInit_ex2(h->evp, sha256_md, NULL) == 1 ? 0 : -1;
}

static int hash_update(struct hash *h, const void *p, size_t n)
{
	if (h->alg == SIP_DIGEST_MD5) {
		md5_update(&h->md5, n, p);
		return 0;
	}
	return EVP_DigestUpdate(h->evp, p, n) == 1 ? 0 : -1;
}

/* The digest into md (EVP_MAX_MD_SIZE bytes); its length, or -1. The state, which may
 * have held a password, is wiped. */
static int hash_final(struct hash *h, unsigned char *md)
{
	if (h->alg == SIP_DIGEST_MD5) {
		md5_digest(&h->md5, MD5_DIGEST_SIZE, md);
		sodium_memzero(&h->md5, sizeof h->md5);
		return MD5_DIGEST_SIZE;
	}
	unsigned int len = 0;
	return EVP_DigestFinal_ex(h->evp, md, &len) == 1 ? (int)len : -1;
}

/* Lower-case hex of n bytes into out (2n + 1 bytes). By table, not sodium_bin2hex, whose
 * constant-time encoding is for secrets: a digest's hex is compared in constant time
 * (sodium_memcmp) or sent. */
static void to_hex(char *out, const unsigned char *b, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The pieces joined with ':' in one buffer, then one update: OpenSSL 3 goes through its
 * provider for every update, and the response check's six pieces and five colons were
 * eleven of them (issue 22: ~3,300 instructions per hash, a third of them the calls).
 * Pieces that do not fit are hashed one by one. */
#define JOIN_MAX 1024

/* H over the pieces joined with ':', in hex. */
static int hash_hex(enum sip_digest_alg a, const char *const *parts, const size_t *lens, int n,
                    char out[SIP_DIGEST_HEX_MAX])
{
	struct hash h;
	unsigned char md[EVP_MAX_MD_SIZE];
	char join[JOIN_MAX];
	size_t total = 0;
	for (int i = 0; i < n && total <= sizeof join; i++)
		total += lens[i] + (i > 0);
	int ok = hash_init(&h, a) == 0;
	if (ok && total <= sizeof join) {
		size_t o = 0;
		for (int i = 0; i < n; i++) {
			if (i > 0)
				join[o++] = ':';
			memcpy(join + o, parts[i], lens[i]);
			o += lens[i];
		}
		ok = hash_update(&h, join, o) == 0;
		sodium_memzero(join, o); /* HA1's pieces hold the password */
	} else {
		for (int i = 0; ok && i < n; i++)
			ok = (i == 0 || hash_update(&h, ":", 1) == 0) &&
			     hash_update(&h, parts[i], lens[i]) == 0;
	}
	int mdlen = ok ? hash_final(&h, md) : -1;
	if (mdlen <= 0 || 2 * (size_t)mdlen >= SIP_DIGEST_HEX_MAX)
		return -1;
	to_hex(out, md, (size_t)mdlen);
	sodium_memzero(md, sizeof md);
	return 0;
}

int sip_digest_ha1(enum sip_digest_alg a, const char *user, const char *realm, const char *password,
                   size_t pwlen, char out[SIP_DIGEST_HEX_MAX])
{
	const char *p[] = {user, realm, password};
	size_t l[] = {strlen(user), strlen(realm), pwlen};
	return hash_hex(a, p, l, 3, out);
}

#define NONCE_RAW 32   /* 8 time + 8 random + 16 mac */
#define NONCE_CHARS 43 /* its base64url without padding */

/* The MAC is one AES-128 block under the secret over the nonce's 16 bytes (time ‖ random):
 * a block cipher on one fixed-length block is a PRF (the PRP/PRF switching lemma: a
 * distinguisher needs ~2^64 nonces), so the 128-bit tag under a 128-bit random key leaves
 * a peer nothing but guessing, one request a guess, as the SipHash-2-4-128 and the
 * truncated HMAC-SHA256 before it did. It only has to stop a peer from making a nonce of
 * its own (an issue time it chose). With AES-NI (nettle picks it at run time) a block is
 * ~40 instructions against ~250 for libsodium's siphashx24 over the 16 bytes (issue 22,
 * ninth round; one MAC per challenge and one per check). The key schedule is kept per
 * thread with the secret it was made from (making it costs ~900). The nonce's form is
 * unchanged; nonces of an earlier build do not check, as after any restart (the secret is
 * drawn at start). */
_Static_assert(SIP_DIGEST_SECRET_LEN == AES128_KEY_SIZE, "the nonce secret is the AES-128 key");
_Static_assert(AES_BLOCK_SIZE == 16, "the MAC is one block over time and random");

static _Thread_local struct {
	int set;
	uint8_t secret[SIP_DIGEST_SECRET_LEN];
	struct aes128_ctx aes;
} mac_key;

static void nonce_mac(const uint8_t *secret, const uint8_t *msg, uint8_t mac[16])
{
	if (!mac_key.set || memcmp(mac_key.secret, secret, SIP_DIGEST_SECRET_LEN) != 0) {
		aes128_set_encrypt_key(&mac_key.aes, secret);
		memcpy(mac_key.secret, secret, SIP_DIGEST_SECRET_LEN);
		mac_key.set = 1;
	}
	aes128_encrypt(&mac_key.aes, AES_BLOCK_SIZE, mac, msg);
}

/* The nonce's random bytes come from a pool per thread, refilled NONCE_POOL bytes at a
 * time from the kernel's CSPRNG (randombytes_buf) and used once each, front to back:
 * randombytes_buf is a getrandom() system call per call, so every challenge paid one
 * (issue 22: 3,000 of them for 3,000 registrations in `strace -c`; now one per 512
 * challenges). The bytes are published in the nonce, so nothing here is secret; the
 * pool is filled on first use in the thread that makes the nonce (the engine's loops,
 * after the fork), so no two processes share one. */
#define NONCE_POOL 4096
static _Thread_local struct {
	size_t used;
	uint8_t b[NONCE_POOL];
} pool = {NONCE_POOL, {0}};

static void nonce_random(uint8_t *out, size_t n)
{
	if (pool.used + n > sizeof pool.b) {
		randombytes_buf(pool.b, sizeof pool.b);
		pool.used = 0;
	}
	memcpy(out, pool.b + pool.used, n);
	pool.used += n;
}

void sip_nonce_make(const uint8_t secret[SIP_DIGEST_SECRET_LEN], int64_t now,
                    char out[SIP_NONCE_MAX])
{
	uint8_t raw[NONCE_RAW];
	uint64_t t = (uint64_t)now;
	for (int i = 0; i < 8; i++)
		raw[i] = (uint8_t)(t >> (56 - 8 * i));
	nonce_random(raw + 8, 8);
	nonce_mac(secret, raw, raw + 16);
	/* core/b64url by table (~750 instructions per challenge less than libsodium's
	 * constant-time encoder, which is for secrets): a nonce is published. */
	tg_b64url_encode(raw, NONCE_RAW, out, NONCE_CHARS + 1);
}

/* The nonce's base64url (no padding) back to its 32 bytes: exactly 43 characters, the last
 * one's two spare bits zero (what sodium_base642bin accepts for this length). By table
 * (core/b64url): libsodium's constant-time decoding cost ~3,400 instructions per check,
 * and a nonce is no secret. 0 or -1. */
static int nonce_decode(const char *s, uint8_t raw[NONCE_RAW])
{
	return s[NONCE_CHARS] == '\0' &&
	               tg_b64url_decode(s, NONCE_CHARS, raw, NONCE_RAW) == NONCE_RAW
	           ? 0
	           : -1;
}

enum sip_nonce_rc sip_nonce_check(const uint8_t secret[SIP_DIGEST_SECRET_LEN], const char *nonce,
                                  int64_t now, int lifetime_s, int64_t *issued)
{
	uint8_t raw[NONCE_RAW], mac[16];
	if (strnlen(nonce, NONCE_CHARS + 1) != NONCE_CHARS || nonce_decode(nonce, raw) != 0)
		return SIP_NONCE_INVALID;
	nonce_mac(secret, raw, mac);
	if (sodium_memcmp(mac, raw + 16, 16) != 0)
		return SIP_NONCE_INVALID;
	uint64_t t = 0;
	for (int i = 0; i < 8; i++)
		t = t << 8 | raw[i];
	*issued = (int64_t)t;
	if ((int64_t)t > now + 5) /* from the future: not ours in any sane sense */
		return SIP_NONCE_INVALID;
	return now - (int64_t)t >= lifetime_s ? SIP_NONCE_STALE : SIP_NONCE_OK;
}

/* --- Authorization header ------------------------------------------------------------ */

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	return s;
}

/* The credential's parameters, told apart by length first, then by name. */
enum {
	F_USERNAME,
	F_REALM,
	F_NONCE,
	F_URI,
	F_RESPONSE,
	F_CNONCE,
	F_QOP,
	F_NC,
	F_OPAQUE,
	F_ALG,
	NF
};

/* low: a name's l bytes of [A-Za-z0-9_-], folded with | 0x20 as they were read, then
 * compared by length with memcmp of a constant size (inlined): the names are lower-case
 * letters, and a byte folds onto a lower-case letter only when it is that letter in
 * either case ('_' folds onto DEL, digits and '-' onto themselves). strncasecmp per
 * candidate was ~15 library calls per credential (issue 22); a fold loop, then memcmp
 * calls over the candidates of the length, ~60 instructions a parameter (ninth round). */
static int field_of(const char *low, size_t l)
{
#define IS(name) (memcmp(low, name, sizeof name - 1) == 0)
	switch (l) {
	case 2:
		return IS("nc") ? F_NC : -1;
	case 3:
		return IS("uri") ? F_URI : IS("qop") ? F_QOP : -1;
	case 5:
		return IS("realm") ? F_REALM : IS("nonce") ? F_NONCE : -1;
	case 6:
		return IS("cnonce") ? F_CNONCE : IS("opaque") ? F_OPAQUE : -1;
	case 8:
		return IS("username") ? F_USERNAME : IS("response") ? F_RESPONSE : -1;
	case 9:
		return IS("algorithm") ? F_ALG : -1;
	default:
		return -1;
	}
#undef IS
}

/* A byte of a parameter name ([A-Za-z0-9_-]: RFC 7616's token, as the parse always read
 * it), without the locale's ctype. */
static int name_byte(unsigned char c)
{
	unsigned char l = c | 0x20;
	return (l >= 'a' && l <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

#define PARAM_VALUE_MAX 599 /* any parameter's value, known or not */

/* One parameter's value at *pv (quoted, with escapes, or a token) into dst (cap bytes,
 * NULL: only measured), *pv moved past it. The value's length, or -1 when it is longer
 * than cap - 1 or PARAM_VALUE_MAX, -2 for an unterminated quoted string. */
static long param_value(const char **pv, char *dst, size_t cap)
{
	const char *v = *pv;
	size_t m = 0, lim = dst ? cap - 1 : PARAM_VALUE_MAX;
	if (lim > PARAM_VALUE_MAX)
		lim = PARAM_VALUE_MAX;
	/* The common shapes in one library scan and one copy: a quoted string without
	 * escapes, or a token; an escape takes the byte-by-byte loop below. */
	int quoted = *v == '"';
	size_t run = strcspn(v + quoted, quoted ? "\"\\" : ", \t");
	if (!quoted || v[1 + run] == '"') {
		if (run > lim)
			return -1;
		if (dst) {
			memcpy(dst, v + quoted, run);
			dst[run] = '\0';
		}
		*pv = v + quoted + run + quoted;
		return (long)run;
	}
	if (*v == '"') {
		v++;
		while (*v && *v != '"') {
			if (*v == '\\' && v[1])
				v++;
			if (m >= lim)
				return -1;
			if (dst)
				dst[m] = *v;
			m++;
			v++;
		}
		if (*v != '"')
			return -2;
		v++;
	} else {
		while (*v && *v != ',' && *v != ' ' && *v != '\t') {
			if (m >= lim)
				return -1;
			if (dst)
				dst[m] = *v;
			m++;
			v++;
		}
	}
	if (dst)
		dst[m] = '\0';
	*pv = v;
	return (long)m;
}

/* One pass over the value, each parameter copied once into its field: the earlier parse
 * copied every value into a buffer first and matched its name against every field with
 * strcasecmp (issue 22: ~6,900 instructions per REGISTER with credentials). */
int sip_digest_parse(const char *v, struct sip_digest_creds *c, char *err, size_t errlen)
{
	char *const dsts[NF] = {c->username, c->realm, c->nonce, c->uri,    c->response,
	                        c->cnonce,   c->qop,   c->nc,    c->opaque, NULL};
	const size_t caps[NF] = {sizeof c->username, sizeof c->realm,
	                         sizeof c->nonce,    sizeof c->uri,
	                         sizeof c->response, sizeof c->cnonce,
	                         sizeof c->qop,      sizeof c->nc,
	                         sizeof c->opaque,   32};
	for (int k = 0; k < F_ALG; k++)
		dsts[k][0] = '\0';
	c->alg = 0;
	c->has_alg = 0;
	v = skip_ws(v);
	if (strncasecmp(v, "Digest", 6) != 0 || (v[6] != ' ' && v[6] != '\t')) {
		snprintf(err, errlen, "not a Digest credential");
		return -1;
	}
	v = skip_ws(v + 6);
	unsigned seen = 0;
	char alg[32] = "";
	while (*v) {
		const char *name = v;
		char low[32];
		size_t n = 0;
		for (; name_byte((unsigned char)*v); v++, n++)
			if (n < sizeof low)
				low[n] = (char)(*v | 0x20);
		if (n >= 32) {
			snprintf(err, errlen, "parameter name too long");
			return -1;
		}
		v = skip_ws(v);
		if (!n || *v != '=') {
			snprintf(err, errlen, "malformed parameter list");
			return -1;
		}
		v = skip_ws(v + 1);
		int k = field_of(low, n);
		if (k >= 0 && (seen & 1u << k)) {
			snprintf(err, errlen, "duplicate parameter %.*s", (int)n, name);
			return -1;
		}
		long m = param_value(&v,
		                     k < 0        ? NULL
		                     : k == F_ALG ? alg
		                                  : dsts[k],
		                     caps[k < 0 ? 0 : k]);
		if (m == -2) {
			snprintf(err, errlen, "unterminated quoted string");
			return -1;
		}
		if (m < 0) {
			snprintf(err, errlen, "parameter %.*s too long", (int)n, name);
			return -1;
		}
		if (k >= 0)
			seen |= 1u << k;
		/* Unknown parameters (auth-param extensions) are ignored, as RFC 7616 says. */
		v = skip_ws(v);
		if (*v == ',')
			v = skip_ws(v + 1);
		else if (*v) {
			snprintf(err, errlen, "malformed parameter list");
			return -1;
		}
	}
	if (alg[0]) {
		if (sip_digest_alg_parse(alg, &c->alg) != 0) {
			snprintf(err, errlen, "unsupported algorithm %.20s", alg);
			return -2;
		}
		c->has_alg = 1;
	}
	if (!c->username[0] || !c->realm[0] || !c->nonce[0] || !c->uri[0] || !c->response[0]) {
		snprintf(err, errlen, "missing username, realm, nonce, uri or response");
		return -1;
	}
	return 0;
}

/* H(A2) = H(method ":" uri) of the last check on this thread, and what it was made of
 * (alg, then method, ':' and uri as hashed): every REGISTER of every phone names the same
 * method and, nearly always, the same digest-uri (the registrar's), so a check usually
 * makes one hash instead of two (issue 22: ~2,100 instructions per REGISTER). A2 holds no
 * secret. len 0: nothing kept (a longer A2 is hashed each time). */
static _Thread_local struct {
	size_t len;
	char in[1 + 256];
	char ha2[SIP_DIGEST_HEX_MAX];
} a2_last;

/* This thread's H(A2) for alg, method and uri (valid until its next call), or NULL when it
 * cannot be made. */
static const char *ha2_of(enum sip_digest_alg alg, const char *method, const char *uri)
{
	size_t ml = strlen(method), ul = strlen(uri), n = 1 + ml + 1 + ul;
	int fits = n <= sizeof a2_last.in;
	if (fits && a2_last.len == n && a2_last.in[0] == (char)alg &&
	    memcmp(a2_last.in + 1, method, ml) == 0 && a2_last.in[1 + ml] == ':' &&
	    memcmp(a2_last.in + 2 + ml, uri, ul) == 0)
		return a2_last.ha2;
	a2_last.len = 0;
	const char *p2[] = {method, uri};
	size_t l2[] = {ml, ul};
	if (hash_hex(alg, p2, l2, 2, a2_last.ha2) != 0)
		return NULL;
	if (fits) {
		a2_last.in[0] = (char)alg;
		memcpy(a2_last.in + 1, method, ml);
		a2_last.in[1 + ml] = ':';
		memcpy(a2_last.in + 2 + ml, uri, ul);
		a2_last.len = n;
	}
	return a2_last.ha2;
}

int sip_digest_verify(const struct sip_digest_creds *c, const char *method, const char *ha1)
{
	if (strcasecmp(c->qop, "auth") != 0 || !c->cnonce[0] || strlen(c->nc) != 8)
		return 0;
	char want[SIP_DIGEST_HEX_MAX];
	const char *ha2 = ha2_of(c->alg, method, c->uri);
	if (!ha2)
		return 0;
	const char *p[] = {ha1, c->nonce, c->nc, c->cnonce, "auth", ha2};
	size_t l[] = {strlen(ha1), strlen(c->nonce), 8, strlen(c->cnonce), 4, strlen(ha2)};
	if (hash_hex(c->alg, p, l, 6, want) != 0)
		return 0;
	size_t wl = strlen(want);
	char got[SIP_DIGEST_HEX_MAX] = "";
	/* ASCII letters folded inline: tolower() is a library call per byte (64 for SHA-256) */
	for (size_t i = 0; i < wl && c->response[i]; i++) {
		char r = c->response[i];
		got[i] = r >= 'A' && r <= 'Z' ? (char)(r + ('a' - 'A')) : r;
	}
	int ok = strlen(c->response) == wl && sodium_memcmp(got, want, wl) == 0;
	sodium_memzero(want, sizeof want);
	return ok;
}

int sip_digest_challenge(char *out, size_t cap, const char *realm, const char *nonce,
                         const char *opaque, enum sip_digest_alg a, int stale)
{
	/* pieces, not snprintf: every challenge is built on the loop (issue 22) */
	struct tg_sbuf b = {out, cap, 0, 0};
	tg_sbuf_putn(&b, "Digest realm=\"", 14);
	tg_sbuf_put(&b, realm);
	tg_sbuf_putn(&b, "\", nonce=\"", 10);
	tg_sbuf_put(&b, nonce);
	tg_sbuf_putn(&b, "\", opaque=\"", 11);
	tg_sbuf_put(&b, opaque);
	tg_sbuf_putn(&b, "\", algorithm=", 13);
	tg_sbuf_put(&b, sip_digest_alg_name(a));
	tg_sbuf_putn(&b, ", qop=\"auth\"", 12);
	if (stale)
		tg_sbuf_putn(&b, ", stale=true", 12);
	return tg_sbuf_len(&b);
}

/* --- nonce counts -------------------------------------------------------------------- */

/* Not a core/shtable, on purpose: the cache is a fixed array (capacity entries, set at
 * start), 8-way set associative: the nonce's hash picks a set of 8 slots and a new nonce
 * takes the place of the set's least recently used one. It never allocates after start and
 * never needs a sweep: a forgotten nonce is stale by the time it would matter (digest.h). A
 * chained table would have to grow with every nonce handed out, or add an LRU list and
 * an expiry sweep to stay bounded. The set is picked with SipHash under a key drawn
 * per cache (as core/shtable does), not FNV-1a: a peer that collects nonces from our
 * challenges cannot pick ones that crowd one set.
 *
 * Laid out for the cache lines a lookup touches (issue 22: nc_mark was 2.8 % of the CPU
 * under load, 8 strcmp over ~10 lines of a 5 MB array per lookup). A nonce is known by
 * 128 bits of SipHash-2-4 (libsodium's crypto_shorthash_siphashx24) under the cache's
 * secret key: the low 64 bits pick the set, the high 64 bits are its tag in the set
 * (never 0: a free slot); the nonce itself is not kept. A set is two 64-byte lines, its 8
 * tags in the first, its marks and ranks in the second. Two nonces with one set and one
 * tag would share a mark: with a secret key a peer cannot make such a pair, and by
 * chance a lookup meets one with odds of 8 in 2^64. A new nonce's check (every REGISTER
 * that answers a challenge) reads one line; adding the nonce, two. */

#define NC_WAYS 8

/* Recency is each slot's rank in its set, 0 the most recently moved and NC_WAYS - 1 the
 * least: the ranks of a set are always a permutation of 0..NC_WAYS-1, so the victim is
 * exact LRU and nothing wraps. (Stamps of a shared 32-bit counter did: after 2^32 accepted
 * counts, about a day at 50,000/s, an old slot's age read as young and a young nonce
 * could be evicted in its place, its mark forgotten; and the counter was one more write
 * shared by every thread.) */
struct nc_set {
	_Alignas(64) uint64_t tag[NC_WAYS]; /* 0: a free slot */
	uint32_t nc[NC_WAYS];               /* the mark */
	uint8_t rank[NC_WAYS];              /* recency, see above */
};

/* Slot k becomes the most recent; the ones more recent than it move down one. */
_Static_assert(sizeof(struct nc_set) == 128, "a set is two cache lines");

static void nc_touch(struct nc_set *s, unsigned k)
{
	uint8_t was = s->rank[k];
	for (unsigned j = 0; j < NC_WAYS; j++)
		s->rank[j] += s->rank[j] < was;
	s->rank[k] = 0;
}

struct sip_nc_cache {
	unsigned char hkey[crypto_shorthash_siphashx24_KEYBYTES];
	pthread_mutex_t mu;
	struct nc_set *set;
	size_t nsets; /* a power of two */
};

struct sip_nc_cache *sip_nc_cache_new(size_t capacity)
{
	/* A power of two, at most capacity / NC_WAYS (at least 1): the set is the hash's low
	 * bits, not a remainder (a 64-bit division, ~40 cycles, three per REGISTER; issue 22). */
	size_t nsets = 1;
	while (nsets * 2 * NC_WAYS <= capacity)
		nsets *= 2;
	struct sip_nc_cache *c = calloc(1, sizeof *c);
	if (!c || !(c->set = aligned_alloc(64, nsets * sizeof *c->set))) {
		free(c);
		return NULL;
	}
	memset(c->set, 0, nsets * sizeof *c->set);
	for (size_t i = 0; i < nsets; i++)
		for (unsigned k = 0; k < NC_WAYS; k++)
			c->set[i].rank[k] = (uint8_t)k;
	c->nsets = nsets;
	randombytes_buf(c->hkey, sizeof c->hkey);
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

void sip_nc_cache_free(struct sip_nc_cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->mu);
	free(c->set);
	free(c);
}

/* The nc as a number; 0 when it is not 8 hex digits or is zero. */
static uint32_t nc_value(const char *nc)
{
	if (strlen(nc) != 8)
		return 0;
	uint32_t v = 0;
	for (int i = 0; i < 8; i++) {
		if (!isxdigit((unsigned char)nc[i]))
			return 0;
		v = v << 4 | (uint32_t)(isdigit((unsigned char)nc[i])
		                            ? nc[i] - '0'
		                            : (tolower((unsigned char)nc[i]) - 'a' + 10));
	}
	return v;
}

/* The nonce's 128-bit hash under c's key (h[0] the set, h[1] the tag). A request's nonce
 * is looked up twice on one thread (sip_nc_fresh before the digest check, sip_nc_accept
 * after it): the last hash is kept with its key and nonce, so the second lookup hashes
 * nothing (issue 22: ~230 instructions per REGISTER). nonce: shorter than SIP_NONCE_MAX
 * (the callers check). */
static _Thread_local struct {
	unsigned char hkey[crypto_shorthash_siphashx24_KEYBYTES];
	char nonce[SIP_NONCE_MAX];
	uint64_t h[2];
} nc_last;

static const uint64_t *nc_hash(const struct sip_nc_cache *c, const char *nonce)
{
	if (nc_last.nonce[0] && strcmp(nc_last.nonce, nonce) == 0 &&
	    memcmp(nc_last.hkey, c->hkey, sizeof c->hkey) == 0)
		return nc_last.h;
	unsigned char hb[crypto_shorthash_siphashx24_BYTES];
	size_t n = strlen(nonce);
	crypto_shorthash_siphashx24(hb, (const unsigned char *)nonce, n, c->hkey);
	memcpy(nc_last.h, hb, sizeof nc_last.h);
	memcpy(nc_last.hkey, c->hkey, sizeof c->hkey);
	memcpy(nc_last.nonce, nonce, n + 1);
	return nc_last.h;
}

/* Looks the nonce up; with commit, moves its mark to v when v is above it (adding the
 * nonce, in place of the least recently used slot of its set, when absent). Returns 1 when
 * v is above the mark, else 0. */
static int nc_mark(struct sip_nc_cache *c, const char *nonce, uint32_t v, int commit)
{
	const uint64_t *h = nc_hash(c, nonce);
	uint64_t tag = h[1] ? h[1] : 1; /* never 0 (a free slot) */
	struct nc_set *s = &c->set[h[0] & (c->nsets - 1)];
	pthread_mutex_lock(&c->mu);
	for (unsigned k = 0; k < NC_WAYS; k++) {
		if (s->tag[k] != tag)
			continue;
		int above = v > s->nc[k];
		if (above && commit) {
			s->nc[k] = v;
			nc_touch(s, k);
		}
		pthread_mutex_unlock(&c->mu);
		return above;
	}
	if (commit) {
		/* A free slot first, else the least recently moved. */
		unsigned victim = 0;
		for (unsigned k = 0; k < NC_WAYS; k++) {
			if (!s->tag[k]) {
				victim = k;
				break;
			}
			if (s->rank[k] > s->rank[victim])
				victim = k;
		}
		s->tag[victim] = tag;
		s->nc[victim] = v;
		nc_touch(s, victim);
	}
	pthread_mutex_unlock(&c->mu);
	return 1;
}

void sip_nc_prefetch(struct sip_nc_cache *c, const char *nonce)
{
	if (strlen(nonce) >= SIP_NONCE_MAX)
		return;
	const uint64_t *h = nc_hash(c, nonce);
	const struct nc_set *s = &c->set[h[0] & (c->nsets - 1)];
	__builtin_prefetch(s->tag);
	/* the marks' line too: a check that finds the nonce reads it, an accept writes it */
	__builtin_prefetch(s->nc, 1);
}

int sip_nc_fresh(struct sip_nc_cache *c, const char *nonce, const char *nc)
{
	uint32_t v = nc_value(nc);
	if (!v || strlen(nonce) >= SIP_NONCE_MAX)
		return -1;
	return nc_mark(c, nonce, v, 0);
}

int sip_nc_accept(struct sip_nc_cache *c, const char *nonce, const char *nc)
{
	uint32_t v = nc_value(nc);
	if (!v || strlen(nonce) >= SIP_NONCE_MAX)
		return -1;
	return nc_mark(c, nonce, v, 1);
}
