/* SPDX-License-Identifier: ISC */
/*
 * ctlproto: the control-socket wire format shared by telgated and the telgate CLI.
 *
 * A frame is a 4-byte big-endian body length followed by a UTF-8 JSON object of that
 * length (at most CTL_FRAME_MAX bytes). Requests: {"argv": ["run","sql","select 1"],
 * "data": "..." (optional, e.g. the file for import)}. Responses: {"ok": true, "columns":
 * [...], "rows": [[...]], "message": "..."} or {"ok": false, "error": "..."}, either with
 * an optional "exit" (the CLI's exit status: 1 a diagnostic found a problem, 64 a usage
 * error; docs/control-protocol.md). Several
 * requests may follow each other on one connection; each gets exactly one response, in
 * order.
 *
 * Pure functions, no I/O, no global state: safe from any thread.
 */
#ifndef TG_CTLPROTO_H
#define TG_CTLPROTO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_FRAME_MAX (32u * 1024 * 1024)
#define CTL_ARGV_MAX 32
#define CTL_ARG_MAX 65536

#define CTL_HDR_LEN 4

/* Looks for one frame at the start of buf. Returns 1 when a whole frame is there (*body,
 * *body_len set; *consumed = header + body), 0 when more bytes are needed (*consumed is
 * the whole frame's length once the header is in, else 0), -1 when the announced length
 * is 0 or over CTL_FRAME_MAX (the peer is broken: close). The caller never decodes the
 * header again: a frame's body starts CTL_HDR_LEN bytes in. */
int ctl_frame_peek(const unsigned char *buf, size_t len, const unsigned char **body,
                   size_t *body_len, size_t *consumed);

/* Writes the 4-byte header for a body of body_len bytes. */
void ctl_frame_header(uint32_t body_len, unsigned char out[4]);

/* Serialises obj compactly; caller frees. NULL on failure or if over CTL_FRAME_MAX. */
char *ctl_encode(const json_t *obj, size_t *len);

struct ctl_request {
	int argc;
	const char *argv[CTL_ARGV_MAX]; /* point into the json object; valid while it lives */
	const char *data;               /* NULL when absent */
	size_t data_len;
	json_t *root; /* owned by the request: free with ctl_request_free */
	/* Who sent it (SO_PEERCRED on the control socket; -1 unknown). Set by the server,
	 * not parsed: for the audit log. */
	long peer_uid, peer_pid;
};

/* Parses and validates a request body. Returns 0, or -1 with a reason in err (for an
 * {"ok":false} answer). On success the caller owns req->root (ctl_request_free). */
int ctl_request_parse(const char *body, size_t len, struct ctl_request *req, char *err,
                      size_t errlen);
void ctl_request_free(struct ctl_request *req);

/* Response helpers (new references). */
json_t *ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
json_t *ctl_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* {"ok":true,"columns":[...],"rows":[]}: append rows with ctl_table_add_row. */
json_t *ctl_table(const char *const *columns, size_t ncols);
/* Appends one row of ncols strings (NULL becomes JSON null). */
int ctl_table_add_row(json_t *table, const char *const *vals, size_t ncols);

#endif
