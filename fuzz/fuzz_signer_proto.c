/* SPDX-License-Identifier: ISC */
/* Fuzzes what the signer process parses from the network engine (issue 17): the input is a
 * sequence of records (a 2-byte big-endian length, then the record: flag + piece), fed to
 * the reassembly as the signer receives them; every complete message is decoded as a
 * request and, when it decodes, answered by the signer's policy with real keys (made once
 * in a temporary directory), and decoded as a response as the engine would. A compromised
 * engine may get refusals, never a crash. */
#include "ca/ca_bootstrap.h"
#include "ca/signer_core.h"
#include "ca/signer_proto.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct signer_keys keys;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char dir[] = "/tmp/tgfuzzsignerXXXXXX";
	if (!mkdtemp(dir))
		abort();
	struct ca_bootstrap_result r;
	char err[512];
	int created;
	if (ca_bootstrap(dir, "fuzz", "", 90, &r, err, sizeof err) != 0 ||
	    ca_bootstrap_signers(dir, "fuzz", &created, err, sizeof err) != 0 ||
	    signer_keys_load(&keys, dir, err, sizeof err) != 0) {
		fprintf(stderr, "fuzz_signer_proto: %s\n", err);
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct signer_rx rx = {0};
	while (size >= 2) {
		size_t n = (size_t)data[0] << 8 | data[1];
		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		if (signer_rx_feed(&rx, data, n) == 1) {
			struct signer_req rq;
			if (signer_req_decode(rx.buf, rx.have, &rq) == 0) {
				unsigned char *out = NULL;
				size_t outlen = 0;
				int rc = signer_core_handle(&keys, &rq, &out, &outlen);
				if ((rc == 0) != (out != NULL))
					__builtin_trap();
				free(out);
			}
			struct signer_resp resp;
			if (signer_resp_decode(rx.buf, rx.have, &resp) == 0 &&
			    (resp.status > 0 || resp.len > rx.have))
				__builtin_trap();
		}
		data += n;
		size -= n;
	}
	signer_rx_free(&rx);
	return 0;
}
