/* SPDX-License-Identifier: ISC */
#include "core/http_int.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

/* Copies a name that is plain text: no NUL, no control characters, not too long.
 * Returns 0, or -1 (the name is left out). */
static int name_copy(const unsigned char *p, int len, char *out)
{
	if (len <= 0 || len > HTTP_CERT_NAME_MAX)
		return -1;
	for (int i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return -1;
	memcpy(out, p, (size_t)len);
	out[len] = '\0';
	return 0;
}

int http_cert_identity(SSL *ssl, struct http_client_cert *id)
{
	memset(id, 0, sizeof *id);
	/* Only a certificate that verified against the listener's client CA: without a
	 * certificate the verify result is X509_V_OK too, hence both checks. */
	X509 *x = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	if (!x || SSL_get_verify_result(ssl) != X509_V_OK)
		return 0;
	X509_NAME *subj = X509_get_subject_name(x);
	int i = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
	if (i >= 0) {
		unsigned char *u = NULL;
		int len =
		    ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)));
		if (len > 0)
			(void)name_copy(u, len, id->cn);
		OPENSSL_free(u);
	}
	GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int k = 0; sans && k < sk_GENERAL_NAME_num(sans) && id->ndns < HTTP_CERT_SANS_MAX;
	     k++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, k);
		if (g->type != GEN_DNS)
			continue;
		const ASN1_IA5STRING *s = g->d.dNSName;
		if (name_copy(ASN1_STRING_get0_data(s), ASN1_STRING_length(s), id->dns[id->ndns]) ==
		    0)
			id->ndns++;
	}
	GENERAL_NAMES_free(sans);
	return 1;
}
