/* SPDX-License-Identifier: ISC */
/*
 * tl_gen: writes trust lists and a signed file made by telgate's builder (ca/trustlist.h)
 * into a directory, with the certificates they list as PEM, for a reader that is not
 * telgate's (tests/system/trustlist_parse.py) and for the fuzz corpus.
 *
 *   tl_gen DIR
 *
 * DIR/ITLFile.tlv      sequence 1000, signed by the trust-list signer (RSA 3072, SHA-512)
 * DIR/ITLRecovery.tlv  sequence 1001, signed by the recovery signer (RSA 2048, SHA-1)
 * DIR/SEP001122334455.cnf.xml.sgn  a signed configuration file (trust-list signer)
 * DIR/{signer,recovery,ca,server}.pem  the certificates; the keys are not written.
 */
#include "ca/trustlist.h"

#include "../unit/tl_fixture.h"

#include <stdint.h>

static void write_file(const char *dir, const char *name, const unsigned char *p, size_t n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		fprintf(stderr, "tl_gen: cannot write %s\n", path);
		exit(1);
	}
}

static void signed_out(const char *dir, const char *name, struct tl_tbs *t, EVP_PKEY *k,
                       const char *md)
{
	size_t siglen, len;
	unsigned char *sig = tlf_sign(k, md, t->data, t->len, &siglen), *f;
	if (tl_assemble(t, sig, siglen, &f, &len) != 0)
		abort();
	write_file(dir, name, f, len);
	free(f);
	free(sig);
	tl_tbs_free(t);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: tl_gen DIR\n");
		return 2;
	}
	const char *dir = argv[1];
	struct tlf_cert ca, tls, rec, server;
	tlf_make(&ca, tlf_ec(), "telgate CA", 1, NULL);
	tlf_make(&tls, tlf_rsa(3072), "telgate trust list", 0x1234567890LL, NULL);
	tlf_make(&rec, tlf_rsa(2048), "telgate recovery", 0x8765, NULL);
	tlf_make(&server, tlf_ec(), "node1.example.net", 0x80, &ca);
	const struct tl_entry e[] = {
	    {TL_ROLE_SAST, tls.der, tls.len, NULL},
	    {TL_ROLE_TFTP, tls.der, tls.len, NULL},
	    {TL_ROLE_SAST, rec.der, rec.len, NULL},
	    {TL_ROLE_CAPF, ca.der, ca.len, NULL},
	    {TL_ROLE_CCM, server.der, server.len, "node1.example.net"},
	};
	size_t n = sizeof e / sizeof e[0];
	struct tl_tbs t;
	if (tl_build(e, n, tls.der, tls.len, TL_HASH_SHA512, 1000, "ITLFile.tlv", &t) != 0)
		abort();
	signed_out(dir, "ITLFile.tlv", &t, tls.key, "SHA512");
	if (tl_build(e, n, rec.der, rec.len, TL_HASH_SHA1, 1001, "ITLFile.tlv", &t) != 0)
		abort();
	signed_out(dir, "ITLRecovery.tlv", &t, rec.key, "SHA1");
	static const char cnf[] = "<device><fullConfig>true</fullConfig></device>\n";
	if (tl_sgn_build(tls.der, tls.len, TL_HASH_SHA512, 1000, "SEP001122334455.cnf.xml",
	                 (const unsigned char *)cnf, sizeof cnf - 1, &t) != 0)
		abort();
	signed_out(dir, "SEP001122334455.cnf.xml.sgn", &t, tls.key, "SHA512");
	char path[512];
	const struct {
		const char *name;
		const struct tlf_cert *c;
	} pems[] = {
	    {"signer.pem", &tls}, {"recovery.pem", &rec}, {"ca.pem", &ca}, {"server.pem", &server}};
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, pems[i].name);
		tlf_write_pem(pems[i].c, path);
	}
	tlf_free(&ca);
	tlf_free(&tls);
	tlf_free(&rec);
	tlf_free(&server);
	return 0;
}
