/* SPDX-License-Identifier: ISC */
#include "admin/signer_cmds.h"

#include "ca/signer.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>

static void row(json_t *t, const char *name, const char *value)
{
	const char *r[] = {name, value};
	ctl_table_add_row(t, r, 2);
}

static void row_u(json_t *t, const char *name, unsigned long long v)
{
	char buf[24];
	snprintf(buf, sizeof buf, "%llu", v);
	row(t, name, buf);
}

/* "subject" and "sha256" rows of one key's certificate; "absent" when the signer has none,
 * the error when it cannot answer. */
static void key_rows(json_t *t, struct signer *s, enum signer_key k, const char *name)
{
	char label[64], subject[256] = "", fp[3 * EVP_MAX_MD_SIZE + 1] = "";
	unsigned char *der = NULL;
	size_t len = 0;
	int rc = signer_certificate(s, k, &der, &len);
	const unsigned char *p = der;
	X509 *x = rc == 0 ? d2i_X509(NULL, &p, (long)len) : NULL;
	if (x) {
		X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof subject);
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned mdlen = 0;
		X509_digest(x, EVP_sha256(), md, &mdlen);
		for (unsigned i = 0; i < mdlen; i++)
			snprintf(fp + 3 * i, 4, i + 1 < mdlen ? "%02X:" : "%02X", md[i]);
	}
	snprintf(label, sizeof label, "key_%s_subject", name);
	row(t, label, x ? subject : rc == -ENOENT ? "absent" : "unavailable (signer not running)");
	if (x) {
		snprintf(label, sizeof label, "key_%s_sha256", name);
		row(t, label, fp);
	}
	X509_free(x);
	free(der);
}

json_t *cmd_show_signer(struct admin_ctx *a, const struct ctl_request *r, const char *cid)
{
	(void)r;
	(void)cid;
	if (!a->signer)
		return ctl_error("the signer is not started");
	struct signer_stats st;
	signer_stats(a->signer, &st);
	static const char *const cols[] = {"name", "value"};
	json_t *t = ctl_table(cols, 2);
	row(t, "mode", st.remote ? "process" : "in-process");
	row_u(t, "pid", (unsigned long long)st.pid);
	row_u(t, "restarts", st.restarts);
	row(t, "seccomp", st.seccomp ? "on" : "off");
	row_u(t, "requests_served", st.served);
	row_u(t, "requests_failed", st.failed);
	row_u(t, "queue_depth", st.in_flight);
	row_u(t, "queue_max", st.queue_max);
	static const struct {
		enum signer_key k;
		const char *name;
	} keys[] = {{SIGNER_KEY_CA, "ca"},
	            {SIGNER_KEY_TRUSTLIST, "trustlist"},
	            {SIGNER_KEY_RECOVERY, "recovery"},
	            {SIGNER_KEY_TOKEN, "token"}};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		key_rows(t, a->signer, keys[i].k, keys[i].name);
	return t;
}
