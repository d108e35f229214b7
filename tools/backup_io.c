/* SPDX-License-Identifier: ISC */
/* What telgate backup and restore share: their words, the passphrase, the progress line and
 * the table they answer with. */
#include "backup.h"
#include "cli.h"
#include "core/ctlproto.h"
#include "core/util.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int backup_args(int argc, char **argv, const char **file, const char **pass_file, char *err,
                size_t errlen)
{
	*file = *pass_file = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--passphrase-file") == 0) {
			if (i + 1 >= argc || *pass_file) {
				snprintf(err, errlen, "%s",
				         *pass_file ? "--passphrase-file given twice"
				                    : "--passphrase-file needs a value");
				return -1;
			}
			*pass_file = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1]) {
			snprintf(err, errlen, "unknown option '%.64s'", argv[i]);
			return -1;
		} else if (*file) {
			snprintf(err, errlen, "one FILE only");
			return -1;
		} else {
			*file = argv[i];
		}
	}
	if (!*file) {
		snprintf(err, errlen, "usage: %s FILE [--passphrase-file F]", argv[0]);
		return -1;
	}
	return 0;
}

static int passphrase_from_file(const char *path, char *out, size_t *len, char *err, size_t errlen)
{
	char *text;
	size_t n;
	int rc = tg_read_file(path, BACKUP_PASS_MAX + 2, &text, &n);
	if (rc != 0) {
		snprintf(err, errlen, "--passphrase-file %s: %s", path,
		         rc == -EFBIG ? "longer than one passphrase" : strerror(-rc));
		return EX_NOINPUT;
	}
	size_t line = strcspn(text, "\r\n");
	if (line > BACKUP_PASS_MAX || line == 0) {
		snprintf(err, errlen, "--passphrase-file %s: %s", path,
		         line ? "the passphrase is longer than 1024 bytes"
		              : "the first line is empty");
		rc = EX_NOINPUT;
	} else {
		memcpy(out, text, line);
		out[line] = '\0';
		*len = line;
	}
	sodium_memzero(text, n);
	free(text);
	return rc;
}

int backup_passphrase(const char *pass_file, int confirm, char out[BACKUP_PASS_MAX + 1],
                      size_t *len, char *err, size_t errlen)
{
	if (pass_file)
		return passphrase_from_file(pass_file, out, len, err, errlen);
	if (!isatty(STDIN_FILENO)) {
		snprintf(err, errlen,
		         "no terminal to ask the passphrase on: give "
		         "--passphrase-file F");
		return EX_NOINPUT;
	}
	if (cli_read_line("Passphrase: ", out, BACKUP_PASS_MAX + 1, len, err, errlen) != 0)
		return EX_NOINPUT;
	if (*len == 0) {
		snprintf(err, errlen, "empty passphrase");
		return CLI_EXIT_REFUSED;
	}
	if (!confirm)
		return 0;
	char again[BACKUP_PASS_MAX + 1];
	size_t n2 = 0;
	int rc = cli_read_line("Passphrase again: ", again, sizeof again, &n2, err, errlen);
	if (rc == 0 && (n2 != *len || sodium_memcmp(again, out, n2) != 0)) {
		snprintf(err, errlen, "the two passphrases differ");
		rc = -1;
	}
	sodium_memzero(again, sizeof again);
	if (rc != 0)
		sodium_memzero(out, BACKUP_PASS_MAX + 1);
	return rc == 0 ? 0 : CLI_EXIT_REFUSED;
}

void progress_start(struct progress *p, const char *what, uint64_t total)
{
	*p = (struct progress){.what = what, .total = total, .tty = isatty(STDERR_FILENO)};
}

static void progress_show(struct progress *p)
{
	fprintf(stderr, "\r%s: %.1f of %.1f MiB", p->what, (double)p->done / 1048576.0,
	        (double)p->total / 1048576.0);
	fflush(stderr);
	p->shown = p->done;
}

void progress_add(struct progress *p, uint64_t n)
{
	p->done += n;
	if (p->tty && p->done - p->shown >= p->total / 100 + 1)
		progress_show(p);
}

void progress_done(struct progress *p)
{
	if (!p->tty)
		return;
	progress_show(p);
	fputc('\n', stderr);
}

json_t *backup_table(void)
{
	static const char *const cols[] = {"name", "mode", "bytes"};
	return ctl_table(cols, 3);
}

void backup_table_add(json_t *t, const char *name, unsigned mode, uint64_t bytes)
{
	char m[8], b[24];
	snprintf(m, sizeof m, "%04o", mode & 07777);
	snprintf(b, sizeof b, "%" PRIu64, bytes);
	const char *row[] = {name, m, b};
	ctl_table_add_row(t, row, 3);
}
