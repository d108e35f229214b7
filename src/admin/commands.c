/* SPDX-License-Identifier: ISC */
#include "admin/commands.h"

#include <stdio.h>
#include <string.h>

const struct admin_cmd admin_cmds[ADMIN_NCMDS] = {ADMIN_COMMANDS(ADMIN_CMD_ROW)};

/* Number of leading words of argv that equal the space-separated words, or -1 when one
 * differs or argv has too few; e.g. ("show open ports", [show, open, ports, x]) is 3. */
static int words_match(const char *words, int argc, const char *const *argv)
{
	int n = 0;
	for (const char *w = words; *w; n++) {
		size_t len = strcspn(w, " ");
		if (n >= argc || strlen(argv[n]) != len || memcmp(argv[n], w, len) != 0)
			return -1;
		w += len + (w[len] == ' ');
	}
	return n;
}

static int first_word_is(const char *words, const char *word)
{
	size_t len = strcspn(words, " ");
	return strlen(word) == len && memcmp(words, word, len) == 0;
}

enum admin_match admin_cmd_find(int argc, const char *const *argv, const struct admin_cmd **cmd)
{
	*cmd = NULL;
	for (size_t i = 0; i < ADMIN_NCMDS; i++) {
		const struct admin_cmd *c = &admin_cmds[i];
		if (words_match(c->words, argc, argv) < 0) {
			if (!*cmd && first_word_is(c->words, argv[0]))
				*cmd = c;
			continue;
		}
		*cmd = c;
		return argc < c->minargs || argc > c->maxargs ? ADMIN_MATCH_ARGC : ADMIN_MATCH_OK;
	}
	return *cmd ? ADMIN_MATCH_PARTIAL : ADMIN_MATCH_UNKNOWN;
}

void admin_cmd_usage_error(enum admin_match m, const struct admin_cmd *cmd, const char *argv0,
                           char *err, size_t errlen)
{
	if (m == ADMIN_MATCH_UNKNOWN || !cmd)
		snprintf(err, errlen, "unknown command '%.64s'; try: telgate help", argv0);
	else if (m == ADMIN_MATCH_PARTIAL)
		snprintf(err, errlen, "unknown command; did you mean: %s", cmd->usage);
	else
		snprintf(err, errlen, "usage: %s", cmd->usage);
}
