/* SPDX-License-Identifier: ISC */
#include "tls/tickets.h"
#include "core/util.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

struct tkey {
	unsigned char name[16], aes[32], hmac[32];
	int set;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct tkey cur, prev;
static int64_t rotated_at; /* tg_mono_us()/1e6 of the current key; 0 = none yet */

/* A new current key, the current one kept as the previous. Under mu. 0 or -1. */
static int rotate_locked(int64_t now)
{
	struct tkey k = {.set = 1};
	if (RAND_bytes(k.name, sizeof k.name) != 1 || RAND_bytes(k.aes, sizeof k.aes) != 1 ||
	    RAND_bytes(k.hmac, sizeof k.hmac) != 1)
		return -1;
	prev = cur;
	cur = k;
	rotated_at = now;
	OPENSSL_cleanse(&k, sizeof k);
	return 0;
}

void tls_tickets_rotate(void)
{
	pthread_mutex_lock(&mu);
	(void)rotate_locked(tg_mono_us() / 1000000 + 1);
	pthread_mutex_unlock(&mu);
}

static int mac_key(EVP_MAC_CTX *h, unsigned char *key)
{
	OSSL_PARAM p[] = {OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32),
	                  OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
	                  OSSL_PARAM_construct_end()};
	return EVP_MAC_CTX_set_params(h, p) == 1;
}

/* OpenSSL's ticket key callback: seal with the current key (enc), open with the current
 * (1) or the previous one (2: issue a fresh ticket); 0 = unknown key, full handshake. */
static int ticket_cb(SSL *s, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *c,
                     EVP_MAC_CTX *h, int enc)
{
	(void)s;
	struct tkey k;
	int rc = 0;
	pthread_mutex_lock(&mu);
	int64_t now = tg_mono_us() / 1000000 + 1;
	if (!rotated_at || now - rotated_at >= TLS_TICKET_ROTATE_S)
		(void)rotate_locked(now);
	if (enc) {
		k = cur;
		rc = k.set ? 1 : -1;
	} else if (cur.set && !memcmp(name, cur.name, 16)) {
		k = cur;
		rc = 1;
	} else if (prev.set && !memcmp(name, prev.name, 16)) {
		k = prev;
		rc = 2;
	}
	pthread_mutex_unlock(&mu);
	if (rc <= 0)
		return rc;
	int ok;
	if (enc) {
		memcpy(name, k.name, 16);
		ok = RAND_bytes(iv, 16) == 1 && mac_key(h, k.hmac) &&
		     EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1;
	} else {
		ok = mac_key(h, k.hmac) &&
		     EVP_DecryptInit_ex(c, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1;
	}
	OPENSSL_cleanse(&k, sizeof k);
	return ok ? rc : -1;
}

int tls_tickets_enable(SSL_CTX *ctx)
{
	SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
	/* Stateless: the ticket carries the session, no server-side cache grows with it. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_set_num_tickets(ctx, 1) != 1 ||
	    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) != 1)
		return -1;
	return 0;
}
