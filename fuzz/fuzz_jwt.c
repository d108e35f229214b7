/* SPDX-License-Identifier: ISC */
/* Fuzzes the access-token verifier (issue 18): the input is a compact serialisation handed to
 * authz_verify as SIP and CTI hand it a presented token, against a real token service (a PKI,
 * a local signer holding the token key, a store), made once in a temporary directory. Every
 * input gets a verdict; none may crash. The strict JWS parser is also run on its own. */
#include "authz/authz.h"
#include "authz/jws.h"
#include "ca/ca_bootstrap.h"
#include "ca/signer.h"
#include "core/config.h"
#include "core/util.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct authz *a;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char dir[] = "/tmp/tgfuzzjwtXXXXXX", pki[64], db[64], err[512];
	if (!mkdtemp(dir))
		abort();
	snprintf(pki, sizeof pki, "%s/pki", dir);
	snprintf(db, sizeof db, "%s/telgate.db", dir);
	struct ca_bootstrap_result r;
	int created;
	static struct tg_config cfg;
	store_t *st;
	const struct store_options so = {.backend = "sqlite", .path = db, .busy_timeout_ms = 5000};
	struct signer *s = NULL;
	if (ca_bootstrap(pki, "fuzz", "", 90, &r, err, sizeof err) != 0 ||
	    ca_bootstrap_signers(pki, "fuzz", &created, err, sizeof err) != 0 ||
	    !(s = signer_local_new(pki, err, sizeof err)) ||
	    store_open(&so, &st, err, sizeof err) != STORE_OK) {
		fprintf(stderr, "fuzz_jwt: %s\n", err);
		abort();
	}
	config_defaults(&cfg);
	tg_strlcpy(cfg.oauth.issuer, "https://fuzz.example:8443", sizeof cfg.oauth.issuer);
	const struct authz_options o = {.store = st, .signer = s, .cfg = &cfg, .cid = "fuzz"};
	if (!(a = authz_new(&o, err, sizeof err))) {
		fprintf(stderr, "fuzz_jwt: %s\n", err);
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct authz_claims c;
	enum authz_verdict v =
	    authz_verify(a, (const char *)data, size, AUTHZ_AUD_CTI, tg_now_s(), &c);
	if ((unsigned)v > AUTHZ_REVOKED)
		__builtin_trap();
	struct jws_parts p;
	if (jws_parse((const char *)data, size, AUTHZ_TOKEN_MAX, &p) == 0) {
		if (!p.header || !p.payload || p.signing_input_len >= size)
			__builtin_trap();
		jws_parts_free(&p);
	}
	return 0;
}
