/* SPDX-License-Identifier: ISC */
/* Fuzzes the HTTP path -> file resolution of the device-file service (src/provision/
 * files.c, files_static.c): the one name rule, percent-decoding on, then off (TFTP), then
 * the registry with a static provider over a small tree made at start, which holds a
 * symbolic link to a secret outside it. Crashes when a refused name is written out, when
 * an accepted name holds anything outside the rule, or when any lookup returns a file
 * that is not one of the tree's own (the secret, a directory, the FIFO). */
#include "provision/files.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct files_registry *reg;

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	static char dir[] = "/tmp/tgfuzzfilesXXXXXX";
	if (!mkdtemp(dir))
		abort();
	char p[256], q[256];
	snprintf(p, sizeof p, "%s/root", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof p, "%s/root/sub", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof p, "%s/secret", dir);
	put(p, "SECRET");
	snprintf(p, sizeof p, "%s/root/SEP001122334455.cnf.xml", dir);
	put(p, "ok:cnf");
	snprintf(p, sizeof p, "%s/root/sub/a.b-c_d", dir);
	put(p, "ok:sub");
	snprintf(p, sizeof p, "%s/secret", dir);
	snprintf(q, sizeof q, "%s/root/link", dir);
	if (symlink(p, q) != 0)
		abort();
	snprintf(p, sizeof p, "%s", dir);
	snprintf(q, sizeof q, "%s/root/up", dir);
	if (symlink(p, q) != 0)
		abort();
	snprintf(p, sizeof p, "%s/root/fifo", dir);
	if (mkfifo(p, 0600) != 0)
		abort();
	reg = files_registry_new();
	struct files_provider prov;
	snprintf(p, sizeof p, "%s/root", dir);
	if (!reg || files_static_provider(p, 1024, &prov) != 0 ||
	    files_registry_add(reg, &prov) != 0)
		abort();
	return 0;
}

static void check_name(const char *out)
{
	size_t n = strlen(out);
	if (n == 0 || n > FILES_NAME_MAX || out[0] == '/' || out[n - 1] == '/')
		abort();
	for (size_t i = 0; i < n; i++) {
		char c = out[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		         (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' || c == '/';
		if (!ok || (c == '.' && (i == 0 || out[i - 1] == '/')) ||
		    (c == '/' && out[i + 1] == '/'))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int pct = 1; pct >= 0; pct--) {
		char out[FILES_NAME_MAX + 1];
		memset(out, 0x55, sizeof out);
		int rc = files_name_check((const char *)data, size, pct, out, sizeof out);
		if (rc == -EINVAL || rc == -ENAMETOOLONG)
			continue;
		if (rc != 0)
			abort();
		check_name(out);
		struct files_blob *b = NULL;
		rc = files_lookup(reg, out, &b, NULL);
		if (rc == 0) {
			if (b->len < 3 || memcmp(b->data, "ok:", 3) != 0)
				abort(); /* only the tree's own files */
			files_blob_unref(b);
		} else if (rc != -ENOENT) {
			abort();
		}
	}
	return 0;
}
