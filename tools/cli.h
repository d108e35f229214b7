/* SPDX-License-Identifier: ISC */
/*
 * cli: the pieces of the telgate admin CLI that are not I/O: turning command words into
 * a control request, and rendering a response as aligned tables (the seeds' style: a
 * header, '=' underlines, one row a line) or JSON. Pure functions; the caller owns every
 * json_t it passes and frees the ones returned.
 */
#ifndef TG_CLI_H
#define TG_CLI_H

#include <jansson.h>
#include <stdio.h>
#include <sysexits.h>

/* Exit statuses, as telgate(1) documents them; with EX_USAGE (64) and EX_NOINPUT (66). */
enum { CLI_EXIT_OK = 0, CLI_EXIT_REFUSED = 1, CLI_EXIT_NO_DAEMON = 2 };

/* Builds {"argv": [...]} from the command words, checked against the command table
 * (admin/commands.h) as telgated would check them. "run sql" joins the words after it into
 * one statement; "import FILE" reads FILE into "data"; "auth test" reads the password
 * into "data". Returns NULL with err set and *status the exit status: EX_USAGE (64) for
 * a usage error, EX_NOINPUT (66) when the file or the password cannot be read. */
json_t *cli_build_request(int argc, char **argv, int *status, char *err, size_t errlen);

/* Prints `telgate --help`: the options and every command of the table. */
void cli_usage(FILE *f);

/* Reads a password from $TELGATE_PASSWORD, a no-echo prompt on a terminal, or one line
 * of standard input. Returns 0 with *len set (out NUL-terminated), or -1 with err. */
int cli_read_password(char *out, size_t cap, size_t *len, char *err, size_t errlen);

/* Reads one line of standard input into out (NUL-terminated, without its end of line):
 * after prompt on standard error and without echo when standard input is a terminal.
 * Returns 0 with *len set, or -1 with err (longer than cap - 1 bytes; out is wiped). */
int cli_read_line(const char *prompt, char *out, size_t cap, size_t *len, char *err, size_t errlen);

/* Prints resp; returns the exit status the CLI should end with: 0 done, 1 refused (or a
 * diagnostic that found a problem), 64 (EX_USAGE) when the daemon says the command's
 * words were wrong (an "exit": 64 member). */
int cli_render(FILE *out, FILE *errf, const json_t *resp, int json_mode);

/* Sends req over the UNIX socket at path and reads one response. NULL with err set. */
json_t *cli_call(const char *path, const json_t *req, char *err, size_t errlen);

#endif
