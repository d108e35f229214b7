/* SPDX-License-Identifier: ISC */
#include "cli.h"
#include "admin/commands.h"
#include "core/ctlproto.h"
#include "core/util.h"
#include "provision/import.h"
#include "tls/pem.h"

#include <errno.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>
#include <termios.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void cli_usage(FILE *f)
{
	fputs("usage: telgate [-s SOCKET | -c CONFIG] [--json] COMMAND ...\n"
	      "commands (the daemon's own list: telgate help):\n",
	      f);
	for (size_t i = 0; i < ADMIN_NCMDS; i++)
		fprintf(f, "  %s\n", admin_cmds[i].usage);
	fputs(
	    "commands of the CLI itself (tools/backup.h; the passphrase from a prompt or a file):\n"
	    "  backup FILE [--passphrase-file F]   (telgated running)\n"
	    "  restore FILE [--passphrase-file F]  (telgated stopped; paths from -c CONFIG)\n"
	    "The socket is -s, else control_socket from -c CONFIG, else $TELGATE_SOCKET,\n"
	    "else /var/lib/telgate/telgated.sock.\n",
	    f);
}

/* `telgate run sql select * from device` works without quoting too: the words after
 * "run sql" are joined into one statement. A new JSON string, or NULL (not UTF-8). */
static json_t *joined(int argc, char **argv)
{
	size_t n = 1;
	for (int i = 0; i < argc; i++)
		n += strlen(argv[i]) + 1;
	char *sql = malloc(n);
	if (!sql)
		return NULL;
	size_t used = 0;
	for (int i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]);
		if (i > 0)
			sql[used++] = ' ';
		memcpy(sql + used, argv[i], l);
		used += l;
	}
	sql[used] = '\0';
	json_t *s = json_string(sql);
	free(sql);
	return s;
}

/* The request's argv: the words, with those after "run sql" joined. NULL when a word is
 * not UTF-8 (the protocol carries JSON strings). */
static json_t *request_argv(int argc, char **argv, char *err, size_t errlen)
{
	int run_sql = argc >= 3 && strcmp(argv[0], "run") == 0 && strcmp(argv[1], "sql") == 0;
	int nwords = run_sql ? 2 : argc;
	json_t *av = json_array();
	for (int i = 0; i < nwords; i++) {
		if (json_array_append_new(av, json_string(argv[i])) != 0) {
			snprintf(err, errlen, "argument %d is not valid UTF-8", i + 1);
			json_decref(av);
			return NULL;
		}
	}
	if (run_sql && json_array_append_new(av, joined(argc - 2, argv + 2)) != 0) {
		snprintf(err, errlen, "the statement is not valid UTF-8");
		json_decref(av);
		return NULL;
	}
	return av;
}

/* Checks the words against the command table, as telgated would, so a usage error needs
 * no daemon and ends with EX_USAGE. */
static int check_usage(const json_t *av, char *err, size_t errlen)
{
	const char *w[CTL_ARGV_MAX];
	/* Every command takes far fewer than CTL_ARGV_MAX words: a longer line is cut here
	 * and still refused as too many arguments. */
	size_t n = json_array_size(av) < CTL_ARGV_MAX ? json_array_size(av) : CTL_ARGV_MAX;
	for (size_t i = 0; i < n; i++)
		w[i] = json_string_value(json_array_get(av, i));
	const struct admin_cmd *c;
	enum admin_match m = admin_cmd_find((int)n, w, &c);
	if (m == ADMIN_MATCH_OK)
		return 0;
	admin_cmd_usage_error(m, c, w[0], err, errlen);
	return -1;
}

/* import FILE, trust update LEVEL ALIAS FILE: the file's text goes in "data" (the daemon
 * may not be able to read it). max: bytes accepted, too_big: the error when larger. */
static int attach_file(json_t *req, const char *path, size_t max, const char *too_big, char *err,
                       size_t errlen)
{
	char *text;
	size_t len;
	int rc = tg_read_file(path, max, &text, &len);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", path, rc == -EFBIG ? too_big : strerror(-rc));
		return -1;
	}
	json_t *data = json_stringn(text, len);
	memset(text, 0, len);
	free(text);
	if (!data) {
		snprintf(err, errlen, "%s: not valid UTF-8 text", path);
		return -1;
	}
	json_object_set_new(req, "data", data);
	return 0;
}

/* tls cert update IFACE KEYFILE CERTFILE [CHAINFILE] (and cti-interface ssl-update
 * ADDRESS:PORT ...: files from argv[first]): the files' texts go in "data" as
 * {"key": ..., "cert": ..., "chain": ...}, so the daemon knows which file said what. */
static int attach_cert_files(json_t *req, int argc, char **argv, int first, char *err,
                             size_t errlen)
{
	static const char *const names[] = {"key", "cert", "chain"};
	json_t *o = json_object();
	int rc = o ? 0 : -1;
	for (int i = 0; rc == 0 && i + first < argc && i < 3; i++) {
		char *text;
		size_t len;
		int e = tg_read_file(argv[i + first], TLS_PEM_FILE_MAX, &text, &len);
		if (e != 0) {
			snprintf(err, errlen, "%s: %s", argv[i + first],
			         e == -EFBIG ? "file larger than 1 MiB" : strerror(-e));
			rc = -1;
			break;
		}
		json_t *v = json_stringn(text, len);
		sodium_memzero(text, len);
		free(text);
		if (!v || json_object_set_new(o, names[i], v) != 0) {
			snprintf(err, errlen, "%s: not PEM text", argv[i + first]);
			rc = -1;
		}
	}
	char *data = rc == 0 ? json_dumps(o, JSON_COMPACT) : NULL;
	json_t *k = json_object_get(o, "key");
	if (k)
		sodium_memzero((void *)(uintptr_t)json_string_value(k), json_string_length(k));
	json_decref(o);
	if (rc == 0 && !data) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
	if (data) {
		json_object_set_new(req, "data", json_string(data));
		sodium_memzero(data, strlen(data));
		free(data);
	}
	return rc;
}

/* auth test USER: the password goes in "data", never in argv. */
static int attach_password(json_t *req, char *err, size_t errlen)
{
	char pw[1025];
	size_t n = 0;
	if (cli_read_password(pw, sizeof pw, &n, err, errlen) != 0)
		return -1;
	json_t *data = json_stringn(pw, n);
	sodium_memzero(pw, sizeof pw);
	if (!data) {
		snprintf(err, errlen, "password is not valid UTF-8");
		return -1;
	}
	json_object_set_new(req, "data", data);
	return 0;
}

json_t *cli_build_request(int argc, char **argv, int *status, char *err, size_t errlen)
{
	*status = EX_USAGE;
	if (argc < 1) {
		snprintf(err, errlen, "no command given; try: telgate --help");
		return NULL;
	}
	json_t *av = request_argv(argc, argv, err, errlen);
	if (!av)
		return NULL;
	json_t *req = json_pack("{s:o}", "argv", av);
	if (!req || check_usage(av, err, errlen) != 0) {
		json_decref(req);
		return NULL;
	}
	*status = EX_NOINPUT; /* from here on, what fails is reading an input */
	int rc = 0;
	if (strcmp(argv[0], "import") == 0)
		rc = attach_file(req, argv[1], PROV_IMPORT_MAX, "file larger than 16 MiB", err,
		                 errlen);
	else if (strcmp(argv[0], "trust") == 0 && strcmp(argv[1], "update") == 0)
		rc = attach_file(req, argv[4], TLS_PEM_FILE_MAX, "file larger than 1 MiB", err,
		                 errlen);
	else if (strcmp(argv[0], "auth") == 0 && strcmp(argv[1], "test") == 0)
		rc = attach_password(req, err, errlen);
	else if (argc >= 3 && strcmp(argv[0], "tls") == 0 && strcmp(argv[1], "cert") == 0 &&
	         strcmp(argv[2], "update") == 0)
		rc = attach_cert_files(req, argc, argv, 4, err, errlen);
	else if (argc >= 2 && strcmp(argv[0], "cti-interface") == 0 &&
	         strcmp(argv[1], "ssl-update") == 0)
		rc = attach_cert_files(req, argc, argv, 3, err,
		                       errlen); /* ADDRESS:PORT, then files */
	if (rc != 0) {
		json_decref(req);
		return NULL;
	}
	*status = 0;
	return req;
}

int cli_read_line(const char *prompt, char *out, size_t cap, size_t *len, char *err, size_t errlen)
{
	int tty = isatty(STDIN_FILENO);
	struct termios old, quiet;
	if (tty) {
		fputs(prompt, stderr);
		fflush(stderr);
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	size_t n = 0;
	int c;
	while ((c = getchar()) != EOF && c != '\n') {
		if (n + 1 >= cap) {
			n = cap; /* too long: reported below */
			break;
		}
		out[n++] = (char)c;
	}
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (n >= cap) {
		sodium_memzero(out, cap);
		snprintf(err, errlen, "the secret is longer than %zu bytes", cap - 1);
		return -1;
	}
	if (n && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	*len = n;
	return 0;
}

int cli_read_password(char *out, size_t cap, size_t *len, char *err, size_t errlen)
{
	/* Never from argv (visible in ps and shell history): the environment, a prompt
	 * without echo, or one line of standard input. */
	const char *env = getenv("TELGATE_PASSWORD");
	if (!env) {
		if (cli_read_line("Password: ", out, cap, len, err, errlen) != 0) {
			snprintf(err, errlen, "password is longer than %zu bytes", cap - 1);
			return -1;
		}
		return 0;
	}
	size_t n = strlen(env);
	if (n >= cap) {
		snprintf(err, errlen, "TELGATE_PASSWORD is longer than %zu bytes", cap - 1);
		return -1;
	}
	memcpy(out, env, n);
	out[n] = '\0';
	*len = n;
	return 0;
}

static const char *cell(json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "NULL";
}

/* Display width of UTF-8 text: one column per code point (good enough for names). */
static size_t width(const char *s)
{
	size_t w = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		w += (*p & 0xc0) != 0x80;
	return w;
}

static void pad(FILE *out, size_t n, char c)
{
	while (n--)
		fputc(c, out);
}

/* The exit status a response asks for. "exit" is set by a diagnostic that found a problem
 * (1) and by a usage error (64); any other value reads as 1, so a daemon cannot make the
 * CLI claim an exit status telgate(1) does not document. */
static int exit_status(const json_t *resp)
{
	json_t *ex = json_object_get(resp, "exit");
	json_int_t v = json_is_integer(ex) ? json_integer_value(ex) : 0;
	if (v == EX_USAGE)
		return EX_USAGE;
	return v || !json_is_true(json_object_get(resp, "ok")) ? CLI_EXIT_REFUSED : CLI_EXIT_OK;
}

int cli_render(FILE *out, FILE *errf, const json_t *resp, int json_mode)
{
	if (json_mode) {
		json_dumpf(resp, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', out);
		return exit_status(resp);
	}
	if (!json_is_true(json_object_get(resp, "ok"))) {
		fprintf(errf, "error: %s\n", cell(json_object_get(resp, "error")));
		return exit_status(resp);
	}
	json_t *cols = json_object_get(resp, "columns");
	json_t *rows = json_object_get(resp, "rows");
	size_t nc = json_array_size(cols);
	if (nc > 0) {
		size_t *w = calloc(nc, sizeof *w);
		if (!w)
			return 1;
		for (size_t c = 0; c < nc; c++)
			w[c] = width(cell(json_array_get(cols, c)));
		size_t i;
		json_t *row;
		json_array_foreach(rows, i, row) for (size_t c = 0; c < nc; c++)
		{
			size_t cw = width(cell(json_array_get(row, c)));
			if (cw > w[c])
				w[c] = cw;
		}
		for (size_t c = 0; c < nc; c++) {
			const char *h = cell(json_array_get(cols, c));
			fputs(h, out);
			if (c + 1 < nc)
				pad(out, w[c] - width(h) + 1, ' ');
		}
		fputc('\n', out);
		for (size_t c = 0; c < nc; c++) {
			pad(out, w[c], '=');
			if (c + 1 < nc)
				fputc(' ', out);
		}
		fputc('\n', out);
		json_array_foreach(rows, i, row)
		{
			for (size_t c = 0; c < nc; c++) {
				const char *v = cell(json_array_get(row, c));
				fputs(v, out);
				if (c + 1 < nc)
					pad(out, w[c] - width(v) + 1, ' ');
			}
			fputc('\n', out);
		}
		free(w);
	}
	json_t *msg = json_object_get(resp, "message");
	if (json_is_string(msg))
		fprintf(out, "%s\n", json_string_value(msg));
	/* A diagnostic that found a problem answers with its table and a non-zero exit. */
	return exit_status(resp);
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t r = read(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

json_t *cli_call(const char *path, const json_t *req, char *err, size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (tg_strlcpy(sun.sun_path, path, sizeof sun.sun_path) != 0) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return NULL;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
		snprintf(err, errlen, "cannot connect to telgated at %s: %s (is it running?)", path,
		         strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	size_t len;
	char *body = ctl_encode(req, &len);
	unsigned char hdr[4];
	json_t *resp = NULL;
	if (!body) {
		snprintf(err, errlen, "request too large");
		goto out;
	}
	ctl_frame_header((uint32_t)len, hdr);
	if (write_all(fd, hdr, 4) != 0 || write_all(fd, body, len) != 0 ||
	    read_all(fd, hdr, 4) != 0) {
		snprintf(err, errlen, "connection to telgated lost");
		goto out;
	}
	uint32_t n =
	    (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (n == 0 || n > CTL_FRAME_MAX) {
		snprintf(err, errlen, "bad response frame from telgated");
		goto out;
	}
	char *rb = malloc(n);
	if (!rb || read_all(fd, rb, n) != 0) {
		free(rb);
		snprintf(err, errlen, "connection to telgated lost");
		goto out;
	}
	json_error_t je;
	resp = json_loadb(rb, n, 0, &je);
	free(rb);
	if (!resp || !json_is_object(resp)) {
		json_decref(resp);
		resp = NULL;
		snprintf(err, errlen, "malformed response from telgated");
	}
out:
	if (body) {
		memset(body, 0, len); /* may carry an import file */
		free(body);
	}
	close(fd);
	return resp;
}
