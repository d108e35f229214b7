/* SPDX-License-Identifier: ISC */
/*
 * signer_cert: a certificate template checked and signed with the CA key (the policy in
 * ca/signer_core.h), without decoding the template's public key. d2i_X509 decodes the
 * subject's key with OpenSSL 3's decoders, which took two thirds of the signer process's
 * time per certificate (perf: OSSL_DECODER_CTX_new_for_pkey), and the signer has no use
 * for the key beyond "not the CA's": the template is read with its own ASN.1 items that
 * keep subjectPublicKeyInfo as bytes, re-encoded as they came, and signed over the
 * TBSCertificate as X509_sign does.
 */
#include "ca/signer_core.h"

#include <errno.h>
#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

/* SubjectPublicKeyInfo (RFC 5280 4.1.2.7) as an algorithm and bits. */
typedef struct {
	X509_ALGOR *algorithm;
	ASN1_BIT_STRING *key;
} signer_spki;

ASN1_SEQUENCE(signer_spki) =
    {
        ASN1_SIMPLE(signer_spki, algorithm, X509_ALGOR),
        ASN1_SIMPLE(signer_spki, key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(signer_spki)

    /* TBSCertificate (RFC 5280 4.1), the key kept as its encoding (ASN1_ANY). */
    typedef struct {
	ASN1_INTEGER *version;
	ASN1_INTEGER *serial;
	X509_ALGOR *signature;
	X509_NAME *issuer;
	X509_VAL *validity;
	X509_NAME *subject;
	ASN1_TYPE *spki;
	ASN1_BIT_STRING *issuer_uid;
	ASN1_BIT_STRING *subject_uid;
	STACK_OF(X509_EXTENSION) * extensions;
} signer_tbs;

ASN1_SEQUENCE(signer_tbs) =
    {
        ASN1_EXP_OPT(signer_tbs, version, ASN1_INTEGER, 0),
        ASN1_SIMPLE(signer_tbs, serial, ASN1_INTEGER),
        ASN1_SIMPLE(signer_tbs, signature, X509_ALGOR),
        ASN1_SIMPLE(signer_tbs, issuer, X509_NAME),
        ASN1_SIMPLE(signer_tbs, validity, X509_VAL),
        ASN1_SIMPLE(signer_tbs, subject, X509_NAME),
        ASN1_SIMPLE(signer_tbs, spki, ASN1_ANY),
        ASN1_IMP_OPT(signer_tbs, issuer_uid, ASN1_BIT_STRING, 1),
        ASN1_IMP_OPT(signer_tbs, subject_uid, ASN1_BIT_STRING, 2),
        ASN1_EXP_SEQUENCE_OF_OPT(signer_tbs, extensions, X509_EXTENSION, 3),
} static_ASN1_SEQUENCE_END(signer_tbs)

    /* Certificate (RFC 5280 4.1). */
    typedef struct {
	signer_tbs *tbs;
	X509_ALGOR *algorithm;
	ASN1_BIT_STRING *signature;
} signer_x509;

ASN1_SEQUENCE(signer_x509) =
    {
        ASN1_SIMPLE(signer_x509, tbs, signer_tbs),
        ASN1_SIMPLE(signer_x509, algorithm, X509_ALGOR),
        ASN1_SIMPLE(signer_x509, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(signer_x509)

    /* Every extension OpenSSL knows decodes, and none appears twice (what X509_get_extension_flags
     * reports as EXFLAG_INVALID, and stricter). */
    static int extensions_valid(const STACK_OF(X509_EXTENSION) * exts)
{
	int n = sk_X509_EXTENSION_num(exts);
	for (int i = 0; i < n; i++) {
		X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
		const ASN1_OBJECT *o = X509_EXTENSION_get_object(e);
		for (int j = 0; j < i; j++)
			if (OBJ_cmp(o, X509_EXTENSION_get_object(
			                   sk_X509_EXTENSION_value(exts, j))) == 0)
				return 0;
		if (X509V3_EXT_get(e)) {
			void *v = X509V3_EXT_d2i(e);
			if (!v)
				return 0;
			const X509V3_EXT_METHOD *m = X509V3_EXT_get(e);
			if (m->it)
				ASN1_item_free(v, ASN1_ITEM_ptr(m->it));
			else
				m->ext_free(v);
		}
	}
	return 1;
}

/* The x-coordinate of an EC point's encoding (SEC 1 2.3.3: 02/03 compressed, 04 plain,
 * 06/07 hybrid); 0 when it is not one. */
static int ec_x(const unsigned char *p, int len, const unsigned char **x, int *xlen)
{
	if (len < 2)
		return 0;
	if (p[0] == 2 || p[0] == 3)
		*xlen = len - 1;
	else if ((p[0] == 4 || p[0] == 6 || p[0] == 7) && len % 2 == 1)
		*xlen = (len - 1) / 2;
	else
		return 0;
	*x = p + 1;
	return 1;
}

/* The template's key is a key, and not the CA's. An EC key (what enrolment issues for by
 * default) is compared by its curve and x-coordinate, without decoding it (the engine
 * verified the CSR's signature with it: proof of possession); the same x with the other y
 * is refused too, which costs nothing. Any other key is decoded and compared. */
static int key_allowed(X509 *ca, EVP_PKEY *cakey, const ASN1_TYPE *spki)
{
	if (spki->type != V_ASN1_SEQUENCE)
		return 0;
	const unsigned char *p = spki->value.sequence->data;
	long len = spki->value.sequence->length;
	signer_spki *k = (signer_spki *)ASN1_item_d2i(NULL, &p, len, ASN1_ITEM_rptr(signer_spki));
	int ok = 0;
	if (!k || p != spki->value.sequence->data + len)
		goto out;
	if (OBJ_obj2nid(k->algorithm->algorithm) == NID_X9_62_id_ecPublicKey) {
		const ASN1_OBJECT *caalg, *tcurve = NULL;
		const unsigned char *capt, *cax, *tx;
		int calen, caxlen, txlen, ptype;
		const void *pval;
		X509_ALGOR *caalgor;
		X509_ALGOR_get0(NULL, &ptype, &pval, k->algorithm);
		if (ptype != V_ASN1_OBJECT) /* a named curve (RFC 5480 2.1.1) */
			goto out;
		tcurve = pval;
		if (!ec_x(k->key->data, k->key->length, &tx, &txlen))
			goto out;
		ok = 1;
		if (X509_PUBKEY_get0_param((ASN1_OBJECT **)&caalg, &capt, &calen, &caalgor,
		                           X509_get_X509_PUBKEY(ca)) == 1 &&
		    OBJ_obj2nid(caalg) == NID_X9_62_id_ecPublicKey) {
			X509_ALGOR_get0(NULL, &ptype, &pval, caalgor);
			ok = !(ptype == V_ASN1_OBJECT && OBJ_cmp(pval, tcurve) == 0 &&
			       ec_x(capt, calen, &cax, &caxlen) && caxlen == txlen &&
			       memcmp(cax, tx, (size_t)txlen) == 0);
		}
	} else {
		p = spki->value.sequence->data;
		EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, len);
		ok = pub && EVP_PKEY_eq(pub, cakey) != 1;
		EVP_PKEY_free(pub);
	}
out:
	ASN1_item_free((ASN1_VALUE *)k, ASN1_ITEM_rptr(signer_spki));
	return ok;
}

/* What a certificate the engine asks for may not be: see ca/signer_core.h. */
static int cert_allowed(X509 *ca, EVP_PKEY *cakey, const signer_tbs *t)
{
	if (!t->version || ASN1_INTEGER_get(t->version) != X509_VERSION_3 ||
	    !extensions_valid(t->extensions))
		return 0;
	int crit = -1;
	BASIC_CONSTRAINTS *bc = X509V3_get_d2i(t->extensions, NID_basic_constraints, &crit, NULL);
	int ca_true = bc && bc->ca;
	BASIC_CONSTRAINTS_free(bc);
	if (ca_true)
		return 0;
	ASN1_BIT_STRING *ku = X509V3_get_d2i(t->extensions, NID_key_usage, &crit, NULL);
	int ca_use = ku && (ASN1_BIT_STRING_get_bit(ku, 5) /* keyCertSign */ ||
	                    ASN1_BIT_STRING_get_bit(ku, 6) /* cRLSign */);
	ASN1_BIT_STRING_free(ku);
	if (ca_use)
		return 0;
	static const int ca_only[] = {NID_name_constraints, NID_policy_constraints,
	                              NID_inhibit_any_policy};
	for (size_t i = 0; i < sizeof ca_only / sizeof ca_only[0]; i++)
		if (X509v3_get_ext_by_NID(t->extensions, ca_only[i], -1) >= 0)
			return 0;
	const ASN1_TIME *nb = t->validity->notBefore, *na = t->validity->notAfter;
	if (!nb || !na || ASN1_TIME_compare(nb, na) >= 0 ||
	    ASN1_TIME_compare(nb, X509_get0_notBefore(ca)) < 0 ||
	    ASN1_TIME_compare(na, X509_get0_notAfter(ca)) > 0)
		return 0;
	if (X509_NAME_cmp(t->subject, X509_get_subject_name(ca)) == 0)
		return 0;
	if (!key_allowed(ca, cakey, t->spki))
		return 0;
	/* RFC 5280 4.1.2.2: a positive serial of at most 20 octets. */
	BIGNUM *sn = ASN1_INTEGER_to_BN(t->serial, NULL);
	int sn_ok = sn && !BN_is_negative(sn) && !BN_is_zero(sn) && BN_num_bytes(sn) <= 20;
	BN_free(sn);
	return sn_ok;
}

int signer_cert_sign(const struct signer_keys *ks, const unsigned char *p, size_t len,
                     unsigned char **out, size_t *outlen)
{
	X509 *ca = ks->cert[SIGNER_KEY_CA];
	EVP_PKEY *cakey = ks->key[SIGNER_KEY_CA];
	if (!ca)
		return -ENOENT;
	if (len == 0 || len > SIGNER_DATA_MAX)
		return -EINVAL;
	const unsigned char *q = p;
	const ASN1_ITEM *it = ASN1_ITEM_rptr(signer_x509);
	signer_x509 *x = (signer_x509 *)ASN1_item_d2i(NULL, &q, (long)len, it);
	int rc = -EINVAL, i;
	if (!x || q != p + len || !cert_allowed(ca, cakey, x->tbs))
		goto out;
	rc = -EIO;
	/* The issuer and the authority key identifier are the CA's, whatever the template says. */
	while ((i = X509v3_get_ext_by_NID(x->tbs->extensions, NID_authority_key_identifier, -1)) >=
	       0)
		X509_EXTENSION_free(X509v3_delete_ext(x->tbs->extensions, i));
	if (!X509_NAME_set(&x->tbs->issuer, X509_get_subject_name(ca)) ||
	    !X509v3_add_ext(&x->tbs->extensions, ks->ca_aki, -1) ||
	    ASN1_item_sign(ASN1_ITEM_rptr(signer_tbs), x->tbs->signature, x->algorithm,
	                   x->signature, x->tbs, cakey, EVP_sha256()) <= 0)
		goto out;
	int n = ASN1_item_i2d((ASN1_VALUE *)x, NULL, it);
	unsigned char *b = n > 0 ? malloc((size_t)n) : NULL, *w = b;
	if (!b || ASN1_item_i2d((ASN1_VALUE *)x, &w, it) != n) {
		free(b);
		rc = -ENOMEM;
		goto out;
	}
	*out = b;
	*outlen = (size_t)n;
	rc = 0;
out:
	ASN1_item_free((ASN1_VALUE *)x, it);
	ERR_clear_error();
	return rc;
}
