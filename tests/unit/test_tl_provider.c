/* SPDX-License-Identifier: ISC */
/* The trust-list provider (ca/tl_provider.h): names, what is listed, rebuilds when a
 * certificate changes, the sequence across restarts, the recovery key after the trust-list
 * key was replaced. The signer is a stand-in with keys made here (the two functions the
 * provider calls), so the test needs no signer process. */
#include "ca/tl_provider.h"
#include "ca/tl_state.h"
#include "ca/trustlist.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "testutil.h"
#include "tl_fixture.h"

struct signer {
	struct tlf_cert *tl, *rec;
	unsigned signatures;
};

int signer_certificate(struct signer *s, enum signer_key k, unsigned char **der, size_t *len)
{
	struct tlf_cert *c = k == SIGNER_KEY_TRUSTLIST  ? s->tl
	                     : k == SIGNER_KEY_RECOVERY ? s->rec
	                                                : NULL;
	if (!c)
		return -ENOENT;
	*der = malloc(c->len);
	memcpy(*der, c->der, c->len);
	*len = c->len;
	return 0;
}

int signer_sign_bytes(struct signer *s, enum signer_key k, const char *digest,
                      const unsigned char *data, size_t len, unsigned char **sig, size_t *siglen)
{
	struct tlf_cert *c = k == SIGNER_KEY_TRUSTLIST  ? s->tl
	                     : k == SIGNER_KEY_RECOVERY ? s->rec
	                                                : NULL;
	if (!c)
		return -ENOENT;
	s->signatures++;
	*sig = tlf_sign(c->key, digest, data, len, siglen);
	return 0;
}

static struct tlf_cert ca, tls, tls2, rec, server, server2, iface;

static int setup(void **state)
{
	(void)state;
	tlf_make(&ca, tlf_ec(), "telgate CA", 1, NULL);
	tlf_make(&tls, tlf_rsa(2048), "trust list", 2, &ca);
	tlf_make(&tls2, tlf_rsa(2048), "trust list", 3, &ca);
	tlf_make(&rec, tlf_rsa(2048), "recovery", 4, NULL);
	tlf_make(&server, tlf_ec(), "node1", 5, &ca);
	tlf_make(&server2, tlf_ec(), "node1", 6, &ca);
	tlf_make(&iface, tlf_ec(), "cti-interface", 7, &ca);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	struct tlf_cert *all[] = {&ca, &tls, &tls2, &rec, &server, &server2, &iface};
	for (size_t i = 0; i < 7; i++)
		tlf_free(all[i]);
	return 0;
}

static void put_pem(const char *dir, const char *name, const struct tlf_cert *c)
{
	char path[300];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	tlf_write_pem(c, path);
}

static struct files_blob *get(struct files_provider *fp, const char *name)
{
	struct files_blob *b = NULL;
	assert_int_equal(fp->lookup(fp->arg, name, &b), 0);
	return b;
}

static void test_names(void **state)
{
	(void)state;
	int ctl;
	assert_true(tl_provider_name("ITLFile.tlv", &ctl) && !ctl);
	assert_true(tl_provider_name("ITLSEP001122AABBcc.tlv", &ctl) && !ctl);
	assert_true(tl_provider_name("CTLFile.tlv", &ctl) && ctl);
	assert_true(tl_provider_name("CTLCAPFA6A63C5.tlv", &ctl) && ctl);
	const char *no[] = {"ITLSEP0011.tlv",
	                    "ITLSEP001122AABBCCDD.tlv",
	                    "ITLSEP00112233445G.tlv",
	                    "ITLFile.tlv.sgn",
	                    "itlfile.tlv",
	                    "CTLCAPF.tlv",
	                    "CTLCAPF0123456789abcdef0.tlv",
	                    "SEP001122334455.cnf.xml",
	                    "ITLSEP001122334455.tlvx",
	                    ""};
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		assert_false(tl_provider_name(no[i], &ctl));
}

static void test_provider(void **state)
{
	(void)state;
	char dir[64], err[256], path[300];
	tu_mkdtemp(dir, sizeof dir, "tgtlp");
	put_pem(dir, "ca.crt", &ca);
	put_pem(dir, "server.crt", &server);
	snprintf(path, sizeof path, "%s/interfaces", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/interfaces/a", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/interfaces/b", dir);
	mkdir(path, 0700);
	put_pem(dir, "interfaces/a/cert.pem", &iface);
	put_pem(dir, "interfaces/b/cert.pem", &server); /* the same as server.crt: listed once */

	struct signer s = {&tls, &rec, 0};
	struct files_provider fp;
	struct tl_provider_opts o = {
	    .pki_dir = dir, .node = "node1.example.net", .signer = &s, .check_s = 3600};
	assert_int_equal(tl_provider(&o, &fp, err, sizeof err), 0);
	assert_string_equal(fp.name, "trustlist");
	assert_int_equal(s.signatures, 2); /* ITL and CTL */
	uint32_t seq1 = tl_provider_sequence(fp.arg);
	assert_true(seq1 > 0);

	struct files_blob *itl = get(&fp, "ITLFile.tlv"), *ctl = get(&fp, "CTLFile.tlv");
	struct files_blob *sep = get(&fp, "ITLSEP001122AABBCC.tlv");
	struct files_blob *capf = get(&fp, "CTLCAPFA6A63C5.tlv");
	assert_ptr_equal(sep, itl);
	assert_ptr_equal(capf, ctl);
	struct files_blob *none = NULL;
	assert_int_equal(fp.lookup(fp.arg, "SEP001122334455.cnf.xml", &none), -ENOENT);

	unsigned char pin[32];
	unsigned n;
	EVP_Digest(tls.der, tls.len, pin, &n, EVP_sha256(), NULL);
	struct tl_trust t = {.pin = pin};
	static struct tl_list l1, l2, l3;
	size_t at;
	assert_int_equal(tl_verify(itl->data, itl->len, &t, &l1, &at), TL_OK);
	assert_int_equal(l1.h.timestamp, seq1);
	assert_string_equal((const char *)l1.h.filename.p, "ITLFile.tlv");
	/* signer SAST + TFTP, recovery SAST, CA CAPF, server CCM, interface a CCM. */
	assert_int_equal(l1.n, 6);
	const uint16_t roles[] = {TL_ROLE_SAST, TL_ROLE_TFTP, TL_ROLE_SAST,
	                          TL_ROLE_CAPF, TL_ROLE_CCM,  TL_ROLE_CCM};
	const struct tlf_cert *certs[] = {&tls, &tls, &rec, &ca, &server, &iface};
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(l1.rec[i].role, roles[i]);
		assert_int_equal(l1.rec[i].cert.len, certs[i]->len);
		assert_memory_equal(l1.rec[i].cert.p, certs[i]->der, certs[i]->len);
	}
	assert_string_equal((const char *)l1.rec[4].dns_name.p, "node1.example.net");
	assert_int_equal(tl_verify(ctl->data, ctl->len, &t, &l2, NULL), TL_OK);
	assert_string_equal((const char *)l2.h.filename.p, "CTLFile.tlv");

	/* Nothing changed: nothing signed. */
	assert_int_equal(tl_provider_refresh(fp.arg), 0);
	assert_int_equal(s.signatures, 2);

	/* A restart with the same certificates: the same sequence and the same bytes. */
	struct files_provider fp2;
	assert_int_equal(tl_provider(&o, &fp2, err, sizeof err), 0);
	struct files_blob *again = get(&fp2, "ITLFile.tlv");
	assert_int_equal(tl_provider_sequence(fp2.arg), seq1);
	assert_string_equal(again->etag, itl->etag);
	files_blob_unref(again);
	fp2.free(fp2.arg);

	/* The server certificate replaced: a new list, a newer sequence, accepted by a
	 * client holding the first. */
	put_pem(dir, "server.crt", &server2);
	assert_int_equal(tl_provider_refresh(fp.arg), 1);
	uint32_t seq2 = tl_provider_sequence(fp.arg);
	assert_true(seq2 > seq1);
	struct files_blob *itl2 = get(&fp, "ITLFile.tlv");
	struct tl_trust held = {.prev = &l1};
	assert_int_equal(tl_verify(itl2->data, itl2->len, &held, &l2, NULL), TL_OK);
	assert_memory_equal(l2.rec[4].cert.p, server2.der, server2.len);
	/* ... and the first list is now older than the second. */
	held.prev = &l2;
	assert_int_equal(tl_verify(itl->data, itl->len, &held, &l3, NULL), TL_OLDER);

	/* Back to the first server certificate, then server2 again: each text read is listed
	 * as it is now, whatever was read at the refreshes before (the provider keeps the DER
	 * of the texts it read last, issue 22). */
	const struct tlf_cert *back[] = {&server, &server2};
	for (size_t i = 0; i < 2; i++) {
		put_pem(dir, "server.crt", back[i]);
		assert_int_equal(tl_provider_refresh(fp.arg), 1);
		struct files_blob *b = get(&fp, "ITLFile.tlv");
		assert_int_equal(tl_parse(b->data, b->len, &l3), 0);
		assert_int_equal(l3.rec[4].cert.len, back[i]->len);
		assert_memory_equal(l3.rec[4].cert.p, back[i]->der, back[i]->len);
		files_blob_unref(b);
		assert_int_equal(tl_provider_refresh(fp.arg), 0); /* read again: the same */
	}
	uint32_t seq2b = tl_provider_sequence(fp.arg);
	assert_true(seq2b > seq2);
	seq2 = seq2b;

	/* The trust-list key replaced: the next list is signed by the recovery key, which the
	 * held list carries as SAST, so the client accepts it. */
	s.tl = &tls2;
	assert_int_equal(tl_provider_refresh(fp.arg), 1);
	struct files_blob *itl3 = get(&fp, "ITLFile.tlv");
	assert_int_equal(tl_verify(itl3->data, itl3->len, &held, &l3, &at), TL_OK);
	assert_int_equal(l3.rec[at].cert.len, rec.len);
	assert_memory_equal(l3.rec[at].cert.p, rec.der, rec.len);
	assert_true(l3.h.timestamp > seq2);

	/* The old blobs stay valid for transfers that hold them. */
	assert_int_equal(tl_parse(itl->data, itl->len, &l3), 0);
	files_blob_unref(itl);
	files_blob_unref(itl2);
	files_blob_unref(itl3);
	files_blob_unref(ctl);
	files_blob_unref(sep);
	files_blob_unref(capf);
	fp.free(fp.arg);

	/* No trust-list key: no provider, and a clear error. */
	s.tl = NULL;
	assert_int_equal(tl_provider(&o, &fp, err, sizeof err), -ENOENT);
	assert_non_null(strstr(err, "trust list"));
	tu_rmtree(dir);
}

/* A provider of one file whose content the test changes. */
struct one {
	struct files_blob *b;
};

static int one_lookup(void *arg, const char *name, struct files_blob **out)
{
	struct one *o = arg;
	if (strcmp(name, "SEP001122334455.cnf.xml") != 0)
		return -ENOENT;
	*out = files_blob_ref(o->b);
	return 0;
}

static void test_sgn(void **state)
{
	(void)state;
	struct one o = {files_blob_new("<device>one</device>", 20, 1700000000, NULL)};
	struct signer s = {&tls, &rec, 0};
	struct files_registry *reg = files_registry_new();
	struct files_provider inner = {.name = "one", .lookup = one_lookup, .arg = &o}, sgn;
	assert_int_equal(files_registry_add(reg, &inner), 0);
	assert_int_equal(tl_sgn_provider(reg, &s, &sgn), 0);
	assert_int_equal(files_registry_add(reg, &sgn), 0);

	struct files_blob *b = NULL, *b2 = NULL;
	const char *who = NULL;
	assert_int_equal(files_lookup(reg, "SEP001122334455.cnf.xml.sgn", &b, &who), 0);
	assert_string_equal(who, "sgn");
	struct tl_header h;
	assert_int_equal(tl_parse_header(b->data, b->len, &h), 0);
	assert_string_equal((const char *)h.filename.p, "SEP001122334455.cnf.xml");
	assert_int_equal(h.timestamp, 1700000000);
	assert_int_equal(b->len - h.length, 20);
	assert_memory_equal(b->data + h.length, "<device>one</device>", 20);
	assert_int_equal(tl_signature_check(b->data, b->len, &h, tls.der, tls.len), 0);
	assert_int_equal(s.signatures, 1);
	/* Cached while the inner file's ETag is the same. */
	assert_int_equal(files_lookup(reg, "SEP001122334455.cnf.xml.sgn", &b2, NULL), 0);
	assert_ptr_equal(b, b2);
	assert_int_equal(s.signatures, 1);
	files_blob_unref(b2);
	/* New content: signed again. */
	files_blob_unref(o.b);
	o.b = files_blob_new("<device>two</device>", 20, 1700000100, NULL);
	assert_int_equal(files_lookup(reg, "SEP001122334455.cnf.xml.sgn", &b2, NULL), 0);
	assert_int_equal(s.signatures, 2);
	assert_int_equal(tl_parse_header(b2->data, b2->len, &h), 0);
	assert_memory_equal(b2->data + h.length, "<device>two</device>", 20);
	assert_int_equal(tl_signature_check(b2->data, b2->len, &h, tls.der, tls.len), 0);
	assert_string_not_equal(b->etag, b2->etag);
	files_blob_unref(b);
	files_blob_unref(b2);
	/* Not ours: no inner file, a signature of a signature, not a .sgn name. */
	const char *no[] = {"nosuch.cnf.xml.sgn", "SEP001122334455.cnf.xml.sgn.sgn", ".sgn",
	                    "SEP001122334455.cnf.xml"};
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(files_lookup(reg, no[i], &b, NULL), -ENOENT);
	assert_int_equal(files_lookup(reg, no[3], &b, &who), 0);
	assert_string_equal(who, "one");
	files_blob_unref(b);
	/* The signer without the key: an error for this name (logged), not a 404. */
	s.tl = NULL;
	files_blob_unref(o.b);
	o.b = files_blob_new("<device>three</device>", 22, 1700000200, NULL);
	assert_int_equal(files_lookup(reg, "SEP001122334455.cnf.xml.sgn", &b, NULL), -EIO);
	files_registry_free(reg);
	files_blob_unref(o.b);
}

/* The next sequence and key, as a table: previous state, contents, signer -> decision. */
static void test_state_next(void **state)
{
	(void)state;
	unsigned char h1[32] = {1}, h2[32] = {2}, fp1[32] = {0xa}, fp2[32] = {0xb};
	struct tl_state none = {0}, prev = {.valid = 1, .seq = 5000, .key = SIGNER_KEY_TRUSTLIST};
	memcpy(prev.hash, h1, 32);
	memcpy(prev.tl_fp, fp1, 32);
	struct tl_state n;
	/* First start: now, trust-list key. */
	assert_int_equal(tl_state_next(&none, h1, fp1, 1, 4000, &n), 0);
	assert_true(n.valid && n.seq == 4000 && n.key == SIGNER_KEY_TRUSTLIST);
	/* Same contents: same sequence and key, whatever the clock says. */
	assert_int_equal(tl_state_next(&prev, h1, fp1, 1, 9000, &n), 0);
	assert_true(n.seq == 5000 && n.key == SIGNER_KEY_TRUSTLIST);
	/* New contents: now when later, previous + 1 when the clock is behind. */
	assert_int_equal(tl_state_next(&prev, h2, fp1, 1, 9000, &n), 0);
	assert_true(n.seq == 9000 && n.key == SIGNER_KEY_TRUSTLIST);
	assert_memory_equal(n.hash, h2, 32);
	assert_int_equal(tl_state_next(&prev, h2, fp1, 1, 10, &n), 0);
	assert_int_equal(n.seq, 5001);
	/* A new trust-list signer: the recovery key signs, when there is one. */
	assert_int_equal(tl_state_next(&prev, h2, fp2, 1, 9000, &n), 0);
	assert_int_equal(n.key, SIGNER_KEY_RECOVERY);
	assert_memory_equal(n.tl_fp, fp2, 32);
	assert_int_equal(tl_state_next(&prev, h2, fp2, 0, 9000, &n), 0);
	assert_int_equal(n.key, SIGNER_KEY_TRUSTLIST);
	/* The sequence cannot grow past 32 bits. */
	prev.seq = UINT32_MAX;
	assert_int_equal(tl_state_next(&prev, h2, fp1, 1, 10, &n), -EOVERFLOW);
}

/* The state file: written and read back; a damaged one is ignored (a new sequence). */
static void test_state_file(void **state)
{
	(void)state;
	char dir[64], path[128];
	tu_mkdtemp(dir, sizeof dir, "tgtls");
	struct tl_state st = {.valid = 1, .seq = 123456, .key = SIGNER_KEY_RECOVERY}, back;
	memset(st.hash, 0xab, 32);
	memset(st.tl_fp, 0x01, 32);
	tl_state_load(dir, &back);
	assert_false(back.valid);
	assert_int_equal(tl_state_save(dir, &st), 0);
	tl_state_load(dir, &back);
	assert_true(back.valid && back.seq == 123456 && back.key == SIGNER_KEY_RECOVERY);
	assert_memory_equal(back.hash, st.hash, 32);
	assert_memory_equal(back.tl_fp, st.tl_fp, 32);
	snprintf(path, sizeof path, "%s/trustlist.state", dir);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	FILE *f = fopen(path, "w");
	fputs("telgate-trustlist 1 12 abc def 2\n", f);
	fclose(f);
	tl_state_load(dir, &back);
	assert_false(back.valid);
	tu_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),      cmocka_unit_test(test_provider),
	    cmocka_unit_test(test_sgn),        cmocka_unit_test(test_state_next),
	    cmocka_unit_test(test_state_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
