/* SPDX-License-Identifier: ISC */
/* The trust list (ca/trustlist.h): build -> parse round trip, the signature, tampering,
 * older lists, the recovery signer, hostile lengths, signed (.sgn) files. */
#include "ca/trustlist.h"
#include "ca/tl_wire.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tl_fixture.h"

static struct tlf_cert ca, tls, rec, server;

static int setup(void **state)
{
	(void)state;
	tlf_make(&ca, tlf_ec(), "telgate CA", 1, NULL);
	tlf_make(&tls, tlf_rsa(3072), "telgate trust list", 0x1234567890LL, NULL);
	tlf_make(&rec, tlf_rsa(2048), "telgate recovery", 7, NULL);
	tlf_make(&server, tlf_ec(), "node1.example.net", 0x80, &ca);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tlf_free(&ca);
	tlf_free(&tls);
	tlf_free(&rec);
	tlf_free(&server);
	return 0;
}

/* The list telgate serves: signer as SAST and TFTP, recovery as SAST, CA as CAPF, the
 * server as CCM; signed by signer (tls or rec). */
static unsigned char *make_list(const struct tlf_cert *signer, uint32_t seq, size_t *len)
{
	const struct tl_entry e[] = {
	    {TL_ROLE_SAST, tls.der, tls.len, NULL},
	    {TL_ROLE_TFTP, tls.der, tls.len, NULL},
	    {TL_ROLE_SAST, rec.der, rec.len, NULL},
	    {TL_ROLE_CAPF, ca.der, ca.len, NULL},
	    {TL_ROLE_CCM, server.der, server.len, "node1.example.net"},
	};
	struct tl_tbs t;
	assert_int_equal(
	    tl_build(e, 5, signer->der, signer->len, TL_HASH_SHA512, seq, "ITLFile.tlv", &t), 0);
	assert_int_equal(t.sig_len, (size_t)EVP_PKEY_get_size(signer->key));
	size_t siglen;
	unsigned char *sig = tlf_sign(signer->key, "SHA512", t.data, t.len, &siglen);
	unsigned char *out;
	assert_int_equal(tl_assemble(&t, sig, siglen, &out, len), 0);
	free(sig);
	tl_tbs_free(&t);
	return out;
}

static void pin_of(const struct tlf_cert *c, unsigned char pin[32])
{
	unsigned n;
	assert_int_equal(EVP_Digest(c->der, c->len, pin, &n, EVP_sha256(), NULL), 1);
}

static void test_round_trip(void **state)
{
	(void)state;
	size_t len;
	unsigned char *f = make_list(&tls, 1000, &len);
	struct tl_list l;
	assert_int_equal(tl_parse(f, len, &l), 0);
	assert_int_equal(l.h.major, 1);
	assert_int_equal(l.h.minor, 2);
	assert_int_equal(l.h.length % 4, 0);
	assert_int_equal(l.h.hash, TL_HASH_SHA512);
	assert_int_equal(l.h.timestamp, 1000);
	assert_int_equal(l.h.signature.len, 384);
	assert_string_equal((const char *)l.h.filename.p, "ITLFile.tlv");
	assert_string_equal((const char *)l.h.signer.p, "O=telgate test,CN=telgate trust list");
	const unsigned char serial[] = {0x12, 0x34, 0x56, 0x78, 0x90};
	assert_int_equal(l.h.serial.len, 5);
	assert_memory_equal(l.h.serial.p, serial, 5);
	assert_int_equal(l.n, 5);
	assert_int_equal(l.rec[0].role, TL_ROLE_SAST);
	assert_int_equal(l.rec[1].role, TL_ROLE_TFTP);
	assert_int_equal(l.rec[3].role, TL_ROLE_CAPF);
	assert_int_equal(l.rec[4].role, TL_ROLE_CCM);
	assert_int_equal(l.rec[4].cert.len, server.len);
	assert_memory_equal(l.rec[4].cert.p, server.der, server.len);
	assert_string_equal((const char *)l.rec[4].dns_name.p, "node1.example.net");
	assert_string_equal((const char *)l.rec[4].issuer.p, "O=telgate test,CN=telgate CA");
	/* Serial 0x80: the magnitude, no DER sign byte. */
	assert_int_equal(l.rec[4].serial.len, 1);
	assert_int_equal(l.rec[4].serial.p[0], 0x80);
	/* EC key: the uncompressed point (65 bytes for P-256). */
	assert_int_equal(l.rec[4].public_key.len, 65);
	assert_int_equal(l.rec[4].public_key.p[0], 4);
	assert_string_equal(tl_role_name(l.rec[3].role), "CAPF");
	free(f);
}

static void test_signature_and_pin(void **state)
{
	(void)state;
	size_t len, at = 99;
	unsigned char *f = make_list(&tls, 1000, &len);
	unsigned char pin[32], other[32];
	pin_of(&tls, pin);
	pin_of(&ca, other);
	struct tl_list l;
	struct tl_trust t = {.pin = pin};
	assert_int_equal(tl_verify(f, len, &t, &l, &at), TL_OK);
	assert_int_equal(at, 0);
	/* Nothing trusted, or the wrong pin: the signature is fine, the signer is not. */
	assert_int_equal(tl_verify(f, len, NULL, &l, NULL), TL_UNTRUSTED);
	t.pin = other;
	assert_int_equal(tl_verify(f, len, &t, &l, NULL), TL_UNTRUSTED);
	free(f);
}

static void test_tamper(void **state)
{
	(void)state;
	size_t len;
	unsigned char *f = make_list(&tls, 1000, &len);
	unsigned char pin[32];
	pin_of(&tls, pin);
	struct tl_trust t = {.pin = pin};
	struct tl_list l;
	/* Every byte of the signed content (outside the signature TLV), and of the
	 * signature, flipped: never accepted. */
	struct tl_header h;
	assert_int_equal(tl_parse_header(f, len, &h), 0);
	size_t step = len / 97 + 1;
	for (size_t i = 0; i < len; i += step) {
		f[i] ^= 0x01;
		assert_int_not_equal(tl_verify(f, len, &t, &l, NULL), TL_OK);
		f[i] ^= 0x01;
	}
	/* One byte of a record's certificate (the CA's), precisely. */
	assert_int_equal(tl_parse(f, len, &l), 0);
	size_t off = (size_t)(l.rec[3].cert.p - f) + 40;
	f[off] ^= 0x80;
	assert_int_equal(tl_verify(f, len, &t, &l, NULL), TL_BAD_SIGNATURE);
	f[off] ^= 0x80;
	assert_int_equal(tl_verify(f, len, &t, &l, NULL), TL_OK);
	/* Truncated by one byte: not a list any more (a record runs past the end). */
	assert_int_equal(tl_verify(f, len - 1, &t, &l, NULL), TL_BAD_FORMAT);
	free(f);
}

static void test_older_and_recovery(void **state)
{
	(void)state;
	size_t len1, len2, len3, len4;
	unsigned char *v1 = make_list(&tls, 2000, &len1);
	unsigned char *v2 = make_list(&tls, 2001, &len2);
	unsigned char *old = make_list(&tls, 1999, &len3);
	unsigned char *byrec = make_list(&rec, 2002, &len4);
	struct tl_list prev, l;
	assert_int_equal(tl_parse(v1, len1, &prev), 0);
	struct tl_trust t = {.prev = &prev};
	assert_int_equal(tl_verify(v2, len2, &t, &l, NULL), TL_OK);
	assert_int_equal(tl_verify(v1, len1, &t, &l, NULL), TL_OK); /* the same again */
	assert_int_equal(tl_verify(old, len3, &t, &l, NULL), TL_OLDER);
	/* Signed by the recovery key, which the held list carries as SAST: accepted. */
	size_t at;
	assert_int_equal(tl_verify(byrec, len4, &t, &l, &at), TL_OK);
	assert_int_equal(at, 2);
	/* A list signed by a key the held list does not know is refused, even if it lists
	 * itself as SAST. */
	struct tlf_cert rogue;
	tlf_make(&rogue, tlf_rsa(2048), "telgate trust list", 0x1234567890LL, NULL);
	const struct tl_entry e[] = {{TL_ROLE_SAST, rogue.der, rogue.len, NULL},
	                             {TL_ROLE_SAST, tls.der, tls.len, NULL}};
	struct tl_tbs tb;
	assert_int_equal(
	    tl_build(e, 2, rogue.der, rogue.len, TL_HASH_SHA1, 3000, "ITLFile.tlv", &tb), 0);
	size_t siglen, rlen;
	unsigned char *sig = tlf_sign(rogue.key, "SHA1", tb.data, tb.len, &siglen);
	unsigned char *rf;
	assert_int_equal(tl_assemble(&tb, sig, siglen, &rf, &rlen), 0);
	assert_int_equal(tl_verify(rf, rlen, &t, &l, NULL), TL_UNTRUSTED);
	/* The rogue signs, but names the real signer's serial in the header: the signature
	 * is checked with the real certificate and fails. */
	struct tl_tbs tb2;
	assert_int_equal(tl_build(e + 1, 1, tls.der, tls.len, TL_HASH_SHA512, 3000, "x", &tb2), 0);
	free(sig);
	size_t siglen2, rlen2;
	unsigned char *sig2 = tlf_sign(rogue.key, "SHA512", tb2.data, tb2.len, &siglen2);
	unsigned char *pad = calloc(1, 384);
	memcpy(pad, sig2, siglen2); /* 2048-bit signature in a 3072-bit slot */
	unsigned char *rf2;
	assert_int_equal(tl_assemble(&tb2, pad, 384, &rf2, &rlen2), 0);
	assert_int_equal(tl_verify(rf2, rlen2, &t, &l, NULL), TL_BAD_SIGNATURE);
	free(pad);
	free(sig2);
	free(rf2);
	tl_tbs_free(&tb2);
	free(rf);
	tl_tbs_free(&tb);
	tlf_free(&rogue);
	free(v1);
	free(v2);
	free(old);
	free(byrec);
}

static void test_no_signer(void **state)
{
	(void)state;
	/* Signed by tls, but tls is not listed as SAST (only as TFTP). */
	const struct tl_entry e[] = {{TL_ROLE_TFTP, tls.der, tls.len, NULL}};
	struct tl_tbs t;
	assert_int_equal(tl_build(e, 1, tls.der, tls.len, TL_HASH_SHA512, 1, "CTLFile.tlv", &t), 0);
	size_t siglen, len;
	unsigned char *sig = tlf_sign(tls.key, "SHA512", t.data, t.len, &siglen);
	unsigned char *f;
	assert_int_equal(tl_assemble(&t, sig, siglen, &f, &len), 0);
	struct tl_list l;
	assert_int_equal(tl_verify(f, len, NULL, &l, NULL), TL_NO_SIGNER);
	free(f);
	free(sig);
	tl_tbs_free(&t);
}

static void test_build_refusals(void **state)
{
	(void)state;
	struct tl_tbs t;
	const struct tl_entry e[] = {{TL_ROLE_SAST, tls.der, tls.len, NULL}};
	/* An EC signer: the format signs with RSA. */
	assert_int_equal(tl_build(e, 1, ca.der, ca.len, TL_HASH_SHA512, 1, "x", &t), -EINVAL);
	/* No entries, too many, a broken certificate, an unknown digest. */
	assert_int_equal(tl_build(e, 0, tls.der, tls.len, TL_HASH_SHA512, 1, "x", &t), -E2BIG);
	assert_int_equal(
	    tl_build(e, TL_RECORDS_MAX + 1, tls.der, tls.len, TL_HASH_SHA512, 1, "x", &t), -E2BIG);
	const struct tl_entry bad[] = {{TL_ROLE_SAST, tls.der, tls.len - 1, NULL}};
	assert_int_equal(tl_build(bad, 1, tls.der, tls.len, TL_HASH_SHA512, 1, "x", &t), -EINVAL);
	assert_int_equal(tl_build(e, 1, tls.der, tls.len, (enum tl_hash)9, 1, "x", &t), -EINVAL);
	assert_null(t.data);
	/* A wrong signature length. */
	assert_int_equal(tl_build(e, 1, tls.der, tls.len, TL_HASH_SHA512, 1, "x", &t), 0);
	unsigned char sig[10] = {0}, *out;
	size_t len;
	assert_int_equal(tl_assemble(&t, sig, sizeof sig, &out, &len), -EINVAL);
	tl_tbs_free(&t);
}

/* Hand-made files whose lengths lie: each refused, none read past its end (ASan). */
static void test_hostile_lengths(void **state)
{
	(void)state;
	size_t len;
	unsigned char *f = make_list(&tls, 5, &len);
	struct tl_list l;
	struct tl_header h;
	assert_int_equal(tl_parse(f, len, &l), 0);
	unsigned char *c = malloc(len);
	/* Every prefix of the file: malformed, or (cut at a record boundary) not signed. */
	unsigned char pin[32];
	pin_of(&tls, pin);
	struct tl_trust t = {.pin = pin};
	for (size_t n = 0; n < len; n += (n < 600 ? 1 : 37)) {
		memcpy(c, f, n);
		assert_int_not_equal(tl_verify(c, n, &t, &l, NULL), TL_OK);
	}
	/* The header length above the file, below the fixed part, off by one. */
	memcpy(c, f, len);
	c[8] = 0xff;
	c[9] = 0xff;
	assert_int_equal(tl_parse_header(c, len, &h), -EINVAL);
	c[8] = 0;
	c[9] = 9;
	assert_int_equal(tl_parse_header(c, len, &h), -EINVAL);
	memcpy(c, f, len);
	c[9] ^= 1;
	assert_int_not_equal(tl_parse(c, len, &l), 0);
	/* A record length past the end, and one too short to hold its own TLV. */
	assert_int_equal(tl_parse_header(f, len, &h), 0);
	memcpy(c, f, len);
	c[h.length + 3] = 0xff;
	c[h.length + 4] = 0xff;
	assert_int_equal(tl_parse(c, len, &l), -EINVAL);
	c[h.length + 3] = 0;
	c[h.length + 4] = 4;
	assert_int_equal(tl_parse(c, len, &l), -EINVAL);
	/* A TLV inside the first record claiming more than the record. */
	memcpy(c, f, len);
	c[h.length + 6] = 0xff;
	c[h.length + 7] = 0xff;
	assert_int_equal(tl_parse(c, len, &l), -EINVAL);
	/* A header field claiming more than the header (the signer info container). */
	memcpy(c, f, len);
	assert_int_equal(c[15], TL_HDR_SIGNER_INFO);
	c[16] = 0xff;
	c[17] = 0xf0;
	assert_int_not_equal(tl_parse(c, len, &l), 0);
	/* Above the size limit. */
	assert_int_equal(tl_parse(f, TL_FILE_MAX + 1, &l), -EMSGSIZE);
	free(c);
	free(f);
	/* More records than TL_RECORDS_MAX: refused with -E2BIG. */
	size_t one = 5 + 3 + 2 + 3 + 1;
	size_t hdr = 0;
	unsigned char *big = malloc(64 + one * (TL_RECORDS_MAX + 1));
	const unsigned char head[] = {1, 0, 2, 1, 2, 2, 0,  2, 0, 24,   8,    0,
	                              1, 3, 5, 0, 1, 9, 12, 0, 2, 0xaa, 0xbb, 13};
	memcpy(big, head, sizeof head);
	hdr = sizeof head;
	for (int i = 0; i <= TL_RECORDS_MAX; i++) {
		unsigned char r[] = {1, 0, 2, 0, (unsigned char)one, 4, 0, 2, 0, 0, 9, 0, 1, 0x30};
		memcpy(big + hdr + (size_t)i * one, r, one);
	}
	assert_int_equal(tl_parse(big, hdr + one * TL_RECORDS_MAX, &l), 0);
	assert_int_equal(l.n, TL_RECORDS_MAX);
	assert_int_equal(tl_parse(big, hdr + one * (TL_RECORDS_MAX + 1), &l), -E2BIG);
	/* A duplicated signature TLV in the header. */
	const unsigned char dup[] = {1, 0, 2, 1, 2, 2,  0, 2, 0,    26, 8, 0, 1,
	                             3, 5, 0, 1, 9, 12, 0, 1, 0xaa, 12, 0, 1, 0xbb};
	assert_int_equal(tl_parse_header(dup, sizeof dup, &h), -EINVAL);
	free(big);
}

static void test_sgn(void **state)
{
	(void)state;
	const char body[] = "<device><fullConfig>true</fullConfig></device>\n";
	struct tl_tbs t;
	assert_int_equal(tl_sgn_build(tls.der, tls.len, TL_HASH_SHA512, 77, "SEP0011.cnf.xml",
	                              (const unsigned char *)body, sizeof body - 1, &t),
	                 0);
	size_t siglen, len;
	unsigned char *sig = tlf_sign(tls.key, "SHA512", t.data, t.len, &siglen);
	unsigned char *f;
	assert_int_equal(tl_assemble(&t, sig, siglen, &f, &len), 0);
	struct tl_header h;
	assert_int_equal(tl_parse_header(f, len, &h), 0);
	assert_string_equal((const char *)h.filename.p, "SEP0011.cnf.xml");
	assert_int_equal(len - h.length, sizeof body - 1);
	assert_memory_equal(f + h.length, body, sizeof body - 1);
	assert_int_equal(tl_signature_check(f, len, &h, tls.der, tls.len), 0);
	assert_int_equal(tl_signature_check(f, len, &h, rec.der, rec.len), -EBADMSG);
	f[len - 2] ^= 1;
	assert_int_equal(tl_signature_check(f, len, &h, tls.der, tls.len), -EBADMSG);
	free(f);
	free(sig);
	tl_tbs_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_signature_and_pin),
	    cmocka_unit_test(test_tamper),          cmocka_unit_test(test_older_and_recovery),
	    cmocka_unit_test(test_no_signer),       cmocka_unit_test(test_build_refusals),
	    cmocka_unit_test(test_hostile_lengths), cmocka_unit_test(test_sgn),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
