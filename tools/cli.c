#include "cli.h"
#include "core/ctlproto.h"
#include "core/util.h"
#include "provision/import.h"

#include <errno.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>
#include <termios.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

json_t *cli_build_request(int argc, char **argv, char *err, size_t errlen)
{
	if (argc < 1) {
		snprintf(err, errlen, "no command given; try: telgate help");
		return NULL;
	}
	json_t *av = json_array();
	json_t *req = json_pack("{s:o}", "argv", av);
	if (argc >= 3 && strcmp(argv[0], "run") == 0 && strcmp(argv[1], "sql") == 0) {
		/* `telgate run sql select * from device` works without quoting too. */
		size_t n = 0;
		for (int i = 2; i < argc; i++)
			n += strlen(argv[i]) + 1;
		char *sql = malloc(n);
		if (!sql) {
			json_decref(req);
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		size_t used = 0;
		for (int i = 2; i < argc; i++) {
			size_t l = strlen(argv[i]);
			if (i > 2)
				sql[used++] = ' ';
			memcpy(sql + used, argv[i], l);
			used += l;
		}
		sql[used] = '\0';
		json_array_append_new(av, json_string("run"));
		json_array_append_new(av, json_string("sql"));
		json_t *s = json_string(sql);
		free(sql);
		if (!s) {
			json_decref(req);
			snprintf(err, errlen, "the statement is not valid UTF-8");
			return NULL;
		}
		json_array_append_new(av, s);
		return req;
	}
	for (int i = 0; i < argc; i++) {
		json_t *s = json_string(argv[i]);
		if (!s) {
			json_decref(req);
			snprintf(err, errlen, "argument %d is not valid UTF-8", i + 1);
			return NULL;
		}
		json_array_append_new(av, s);
	}
	if (strcmp(argv[0], "import") == 0 && argc == 2) {
		char *text;
		size_t len;
		int rc = tg_read_file(argv[1], PROV_IMPORT_MAX, &text, &len);
		if (rc != 0) {
			json_decref(req);
			snprintf(err, errlen, "%s: %s", argv[1],
			         rc == -EFBIG ? "file larger than 16 MiB" : strerror(-rc));
			return NULL;
		}
		json_t *data = json_stringn(text, len);
		memset(text, 0, len);
		free(text);
		if (!data) {
			json_decref(req);
			snprintf(err, errlen, "%s: not valid UTF-8 text", argv[1]);
			return NULL;
		}
		json_object_set_new(req, "data", data);
	}
	if (argc == 3 && strcmp(argv[0], "auth") == 0 && strcmp(argv[1], "test") == 0) {
		char pw[1025];
		size_t n = 0;
		if (cli_read_password(pw, sizeof pw, &n, err, errlen) != 0) {
			json_decref(req);
			return NULL;
		}
		json_t *data = json_stringn(pw, n);
		sodium_memzero(pw, sizeof pw);
		if (!data) {
			json_decref(req);
			snprintf(err, errlen, "password is not valid UTF-8");
			return NULL;
		}
		json_object_set_new(req, "data", data);
	}
	return req;
}

int cli_read_password(char *out, size_t cap, size_t *len, char *err, size_t errlen)
{
	/* Never from argv (visible in ps and shell history): the environment, a prompt
	 * without echo, or one line of standard input. */
	const char *env = getenv("TELGATE_PASSWORD");
	size_t n = 0;
	if (env) {
		n = strlen(env);
		if (n >= cap) {
			snprintf(err, errlen, "TELGATE_PASSWORD is longer than %zu bytes", cap - 1);
			return -1;
		}
		memcpy(out, env, n);
	} else {
		int tty = isatty(STDIN_FILENO);
		struct termios old, quiet;
		if (tty) {
			fputs("Password: ", stderr);
			fflush(stderr);
			tcgetattr(STDIN_FILENO, &old);
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		}
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
			snprintf(err, errlen, "password is longer than %zu bytes", cap - 1);
			return -1;
		}
		if (n && out[n - 1] == '\r')
			n--;
	}
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

int cli_render(FILE *out, FILE *errf, const json_t *resp, int json_mode)
{
	int ok = json_is_true(json_object_get(resp, "ok"));
	if (json_mode) {
		json_dumpf(resp, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', out);
		json_t *ex = json_object_get(resp, "exit");
		return ok && !(json_is_integer(ex) && json_integer_value(ex)) ? 0 : 1;
	}
	if (!ok) {
		fprintf(errf, "error: %s\n", cell(json_object_get(resp, "error")));
		return 1;
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
	json_t *ex = json_object_get(resp, "exit");
	return json_is_integer(ex) && json_integer_value(ex) ? 1 : 0;
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
