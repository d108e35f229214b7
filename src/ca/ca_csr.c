/* SPDX-License-Identifier: ISC */
#include "ca/ca_csr.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <string.h>

/* One row per type: its name and what makes a key that type. */
static const struct key_row {
	const char *name;
	int base_id;       /* EVP_PKEY_EC or EVP_PKEY_RSA */
	const char *group; /* EC: the curve's OpenSSL name */
	int bits;          /* RSA: the modulus size */
} key_rows[CA_KEY_TYPES] = {
    [CA_KEY_ANY] = {"any", 0, NULL, 0},
    [CA_KEY_EC_P256] = {"ec-p256", EVP_PKEY_EC, "prime256v1", 0},
    [CA_KEY_EC_P384] = {"ec-p384", EVP_PKEY_EC, "secp384r1", 0},
    [CA_KEY_RSA_2048] = {"rsa-2048", EVP_PKEY_RSA, NULL, 2048},
    [CA_KEY_RSA_3072] = {"rsa-3072", EVP_PKEY_RSA, NULL, 3072},
};

const char *ca_key_type_name(enum ca_key_type t)
{
	return (unsigned)t < CA_KEY_TYPES ? key_rows[t].name : "?";
}

int ca_key_type_parse(const char *name, enum ca_key_type *out)
{
	for (int i = 0; i < CA_KEY_TYPES; i++)
		if (strcmp(name, key_rows[i].name) == 0) {
			*out = (enum ca_key_type)i;
			return 0;
		}
	return -1;
}

enum ca_key_type ca_key_type_of(const EVP_PKEY *k)
{
	if (!k)
		return CA_KEY_ANY;
	int id = EVP_PKEY_get_base_id(k);
	char group[64] = "";
	size_t glen = 0;
	if (id == EVP_PKEY_EC &&
	    !EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof group, &glen))
		group[0] = '\0';
	int bits = EVP_PKEY_get_bits(k);
	for (int i = 1; i < CA_KEY_TYPES; i++) {
		const struct key_row *r = &key_rows[i];
		if (r->base_id != id)
			continue;
		if (r->group ? strcmp(group, r->group) == 0 : bits == r->bits)
			return (enum ca_key_type)i;
	}
	return CA_KEY_ANY;
}

static const char *const result_text[] = {
    [CA_CSR_OK] = "ok",
    [CA_CSR_MALFORMED] = "the request is not a DER PKCS#10 certificate request",
    [CA_CSR_SIGNATURE] = "the request's signature does not verify (no proof of possession)",
    [CA_CSR_KEY_TYPE] = ("the request's key type or size is not one the CA issues for "
                         "(ec-p256, ec-p384, rsa-2048, rsa-3072)"),
    [CA_CSR_KEY_MISMATCH] = "the request's key is not the type the enrolment profile asks for",
};

const char *ca_csr_result_text(enum ca_csr_result r)
{
	return (unsigned)r < sizeof result_text / sizeof result_text[0] ? result_text[r] : "?";
}

enum ca_csr_result ca_csr_check(const unsigned char *der, size_t len, enum ca_key_type want,
                                EVP_PKEY **pub)
{
	if (pub)
		*pub = NULL;
	if (!der || len == 0 || len > CA_CSR_MAX)
		return CA_CSR_MALFORMED;
	const unsigned char *p = der;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
	enum ca_csr_result r = CA_CSR_MALFORMED;
	/* Trailing bytes would let two different requests read as one: refuse them. */
	if (!req || p != der + len)
		goto out;
	EVP_PKEY *k = X509_REQ_get0_pubkey(req);
	if (!k)
		goto out;
	/* Type first: an unsupported key (DSA, an odd curve) is refused before any work on it. */
	enum ca_key_type t = ca_key_type_of(k);
	r = t == CA_KEY_ANY                   ? CA_CSR_KEY_TYPE
	    : want != CA_KEY_ANY && t != want ? CA_CSR_KEY_MISMATCH
	    : X509_REQ_verify(req, k) != 1    ? CA_CSR_SIGNATURE
	                                      : CA_CSR_OK;
	if (r == CA_CSR_OK && pub && EVP_PKEY_up_ref(k))
		*pub = k;
out:
	X509_REQ_free(req);
	ERR_clear_error();
	return r;
}
