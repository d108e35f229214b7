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

/* Builds {"argv": [...]} from the command words. "run sql" joins the words after it into
 * one statement; "import FILE" reads FILE into "data". Returns NULL with err set. */
json_t *cli_build_request(int argc, char **argv, char *err, size_t errlen);

/* Reads a password from $TELGATE_PASSWORD, a no-echo prompt on a terminal, or one line
 * of standard input. Returns 0 with *len set (out NUL-terminated), or -1 with err. */
int cli_read_password(char *out, size_t cap, size_t *len, char *err, size_t errlen);

/* Prints resp; returns the exit status the CLI should end with (0 ok, 1 refused). */
int cli_render(FILE *out, FILE *errf, const json_t *resp, int json_mode);

/* Sends req over the UNIX socket at path and reads one response. NULL with err set. */
json_t *cli_call(const char *path, const json_t *req, char *err, size_t errlen);

#endif
