/* SPDX-License-Identifier: ISC */
/* Fuzzes what the EST server reads from a client before any credential is checked
 * (src/ca/est_wire.c, ca_csr.c): the body's base64, the PKCS#10 decoding and checks
 * (proof of possession, key type, against every profile key type), and the HTTP Basic
 * credentials. The first byte chooses: even, the rest is a request body; odd, an
 * Authorization value. A CSR that passes is put back through the answer builders (a
 * certs-only and csrattrs body, re-encoded and decoded again), which must round-trip.
 * The full request path needs a store and a signer; tests/system/test_est.py drives it. */
#include "ca/ca_csr.h"
#include "ca/est_wire.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void body(const char *s, size_t n)
{
	unsigned char *der = NULL;
	size_t len = 0;
	if (est_base64_decode(s, n, CA_CSR_MAX, &der, &len) != 0)
		return;
	for (int t = CA_KEY_ANY; t < CA_KEY_TYPES; t++) {
		EVP_PKEY *pub = NULL;
		enum ca_csr_result r = ca_csr_check(der, len, (enum ca_key_type)t, &pub);
		if ((r == CA_CSR_OK) != (pub != NULL))
			abort();
		if (r == CA_CSR_OK && ca_key_type_of(pub) == CA_KEY_ANY)
			abort(); /* a key the CA does not issue for passed */
		EVP_PKEY_free(pub);
	}
	/* Whatever was decoded encodes and decodes back to itself. */
	char *b64 = NULL;
	size_t blen = 0;
	unsigned char *back = NULL;
	size_t backlen = 0;
	if (est_base64_encode(der, len, &b64, &blen) != 0 ||
	    est_base64_decode(b64, blen, CA_CSR_MAX, &back, &backlen) != 0 || backlen != len ||
	    memcmp(back, der, len) != 0)
		abort();
	free(back);
	free(b64);
	free(der);
}

static void auth(const char *s, size_t n)
{
	char *v = malloc(n + 1);
	if (!v)
		return;
	memcpy(v, s, n);
	v[n] = '\0';
	char user[65], pass[129];
	size_t plen = 0;
	if (est_basic_parse(v, user, sizeof user, pass, sizeof pass, &plen) == 0 &&
	    (strchr(user, ':') || strlen(pass) != plen))
		abort();
	free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	if (data[0] & 1)
		auth((const char *)data + 1, size - 1);
	else
		body((const char *)data + 1, size - 1);
	return 0;
}
