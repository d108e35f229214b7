/* SPDX-License-Identifier: ISC */
/* telgate backup FILE: the store copied by the daemon, pki.dir read here, one encrypted
 * archive (backup.h). */
#include "backup.h"
#include "cli.h"
#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PKI_DEPTH_MAX 8 /* pki.dir/interfaces/<name>/file is depth 2 */
#define PKI_FILES_MAX 10000

struct pki_file {
	char rel[BK_NAME_MAX + 1]; /* below pki.dir */
	mode_t mode;
	uint64_t size;
};

struct pki_list {
	struct pki_file *v;
	size_t n;
	uint64_t bytes;
};

static int skipped_name(const char *name)
{
	/* Temporary files of an atomic write (tg_write_file_atomic, restore) in flight. */
	size_t n = strlen(name);
	return (n > 4 && strcmp(name + n - 4, ".tmp") == 0) ||
	       (n > 12 && strcmp(name + n - 12, ".restore-tmp") == 0);
}

/* Every regular file below base/rel, in name order. Anything else (a symbolic link, a
 * socket) is refused: restore could not give it back as it was. */
static int collect(const char *base, const char *rel, int depth, struct pki_list *l, char *err,
                   size_t errlen)
{
	char dir[CFG_PATH_MAX + BK_NAME_MAX + 2];
	snprintf(dir, sizeof dir, "%s%s%s", base, *rel ? "/" : "", rel);
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		snprintf(err, errlen, "cannot read %.400s: %s", dir, strerror(errno));
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char sub[BK_NAME_MAX + 1], path[sizeof dir + 256];
		struct stat sb;
		if (rc != 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
		    skipped_name(name))
			goto next;
		if ((size_t)snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", name) >=
		    sizeof sub - 4) { /* "pki/" is put before it */
			snprintf(err, errlen, "%.300s/%.100s: path too long", dir, name);
			rc = -1;
			goto next;
		}
		snprintf(path, sizeof path, "%s/%s", dir, name);
		if (lstat(path, &sb) != 0) {
			snprintf(err, errlen, "%.400s: %s", path, strerror(errno));
			rc = -1;
		} else if (S_ISDIR(sb.st_mode) && depth < PKI_DEPTH_MAX) {
			rc = collect(base, sub, depth + 1, l, err, errlen);
		} else if (!S_ISREG(sb.st_mode)) {
			snprintf(err, errlen, "%.400s: not a regular file or a directory", path);
			rc = -1;
		} else if (l->n >= PKI_FILES_MAX) {
			snprintf(err, errlen, "%s: more than %d files", base, PKI_FILES_MAX);
			rc = -1;
		} else if (access(path, R_OK) != 0) {
			/* Said before anything is written: keys are readable by their owner only.
			 */
			snprintf(err, errlen,
			         "cannot read %.400s: %s (run telgate backup as root or as "
			         "the service user)",
			         path, strerror(errno));
			rc = -1;
		} else {
			struct pki_file *v = realloc(l->v, (l->n + 1) * sizeof *v);
			if (!v) {
				snprintf(err, errlen, "out of memory");
				rc = -1;
				goto next;
			}
			l->v = v;
			snprintf(v[l->n].rel, sizeof v[l->n].rel, "%s", sub);
			v[l->n].mode = sb.st_mode & 07777;
			v[l->n].size = (uint64_t)sb.st_size;
			l->bytes += (uint64_t)sb.st_size;
			l->n++;
		}
	next:
		free(names[i]);
	}
	free(names);
	return rc;
}

/* One file into the archive as name, its bytes streamed. */
static int add_file(struct bk_writer *w, const char *path, const char *name, mode_t mode,
                    struct progress *pr, uint64_t *bytes, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) != 0) {
		snprintf(err, errlen, "cannot read %.400s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	uint64_t size = (uint64_t)sb.st_size, got = 0;
	bk_writer_entry(w, name, (uint32_t)mode, size);
	unsigned char buf[65536];
	ssize_t r;
	while (got < size && (r = read(fd, buf, sizeof buf)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		size_t take = (uint64_t)r > size - got ? (size_t)(size - got) : (size_t)r;
		bk_writer_data(w, buf, take);
		got += take;
		progress_add(pr, take);
	}
	sodium_memzero(buf, sizeof buf);
	close(fd);
	if (got != size) { /* the file shrank while it was read */
		snprintf(err, errlen, "%.400s changed while it was read; try again", path);
		return -1;
	}
	*bytes = size;
	return 0;
}

/* The daemon's answer: the snapshot and what meta.json says. */
struct snap {
	const char *path, *pki_dir, *node, *ca_fp;
	json_int_t bytes, schema;
};

static json_t *meta_json(const struct snap *s)
{
	char created[32];
	tg_fmt_time(tg_now_s(), created, sizeof created);
	return json_pack("{s:s, s:i, s:s, s:s, s:s, s:I, s:s, s:s}", "format", "telgate-backup",
	                 "version", BK_VERSION, "created", created, "telgate_version",
	                 TELGATE_VERSION, "node", s->node, "schema_version", s->schema,
	                 "ca_fingerprint_sha256", s->ca_fp, "store_backend", "sqlite");
}

/* The archive into fd: meta.json, store.db, pki/... Adds rows to t. */
static int write_archive(FILE *f, const char *pass, size_t plen, const struct snap *s,
                         const struct pki_list *l, const struct backup_opts *o, json_t *t,
                         uint64_t *written, char *err, size_t errlen)
{
	struct bk_writer w;
	int rc = bk_writer_open(&w, f, pass, plen, o->kdf);
	json_t *meta = meta_json(s);
	char *mtext = meta ? json_dumps(meta, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(meta);
	if (rc == BK_OK && mtext) {
		bk_writer_entry(&w, "meta.json", 0600, strlen(mtext));
		bk_writer_data(&w, mtext, strlen(mtext));
		backup_table_add(t, "meta.json", 0600, strlen(mtext));
	}
	free(mtext);
	struct progress pr;
	progress_start(&pr, "backup", (uint64_t)s->bytes + l->bytes);
	uint64_t n = 0;
	int frc = rc == BK_OK ? add_file(&w, s->path, "store.db", 0600, &pr, &n, err, errlen) : 0;
	if (frc == 0 && rc == BK_OK)
		backup_table_add(t, "store.db", 0600, n);
	for (size_t i = 0; frc == 0 && rc == BK_OK && i < l->n; i++) {
		char path[CFG_PATH_MAX + BK_NAME_MAX + 2], name[BK_NAME_MAX + 8];
		snprintf(path, sizeof path, "%s/%s", s->pki_dir, l->v[i].rel);
		snprintf(name, sizeof name, "pki/%s", l->v[i].rel);
		frc = add_file(&w, path, name, l->v[i].mode, &pr, &n, err, errlen);
		if (frc == 0)
			backup_table_add(t, name, l->v[i].mode, n);
	}
	progress_done(&pr);
	int crc = bk_writer_close(&w);
	*written = w.written;
	if (frc != 0)
		return -1;
	if (rc == BK_OK)
		rc = crc;
	if (rc != BK_OK) {
		snprintf(err, errlen, "%s", bk_strerror(rc));
		return -1;
	}
	return 0;
}

/* FILE.tmp written, synced, then linked to FILE: an existing FILE is never replaced, and a
 * reader never sees half an archive. */
static int write_file(const char *file, const char *pass, size_t plen, const struct snap *s,
                      const struct pki_list *l, const struct backup_opts *o, json_t *t,
                      uint64_t *written, char *err, size_t errlen)
{
	char tmp[4200];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", file) >= sizeof tmp) {
		snprintf(err, errlen, "%.400s: name too long", file);
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
	if (!f) {
		snprintf(err, errlen, "cannot create %.400s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int rc = write_archive(f, pass, plen, s, l, o, t, written, err, errlen);
	if (rc == 0 && (fflush(f) != 0 || fsync(fd) != 0)) {
		snprintf(err, errlen, "cannot write %.400s: %s", tmp, strerror(errno));
		rc = -1;
	}
	if (fclose(f) != 0 && rc == 0) {
		snprintf(err, errlen, "cannot write %.400s: %s", tmp, strerror(errno));
		rc = -1;
	}
	if (rc == 0 && link(tmp, file) != 0) {
		snprintf(err, errlen, "cannot create %.400s: %s", file, strerror(errno));
		rc = -1;
	}
	unlink(tmp);
	return rc;
}

/* Asks the daemon for the snapshot. NULL with *status and err when there is none. */
static json_t *snapshot(const struct backup_opts *o, struct snap *s, int *status, char *err,
                        size_t errlen)
{
	json_t *req = json_pack("{s:[ss]}", "argv", "store", "snapshot");
	json_t *resp = req ? cli_call(o->socket, req, err, errlen) : NULL;
	json_decref(req);
	if (!resp) {
		size_t used = strlen(err);
		snprintf(err + used, errlen - used,
		         "; telgate backup copies the store through the running telgated");
		*status = CLI_EXIT_NO_DAEMON;
		return NULL;
	}
	*status = CLI_EXIT_REFUSED;
	if (!json_is_true(json_object_get(resp, "ok"))) {
		const char *e = json_string_value(json_object_get(resp, "error"));
		snprintf(err, errlen, "telgated: %s", e ? e : "the snapshot failed");
		json_decref(resp);
		return NULL;
	}
	s->path = json_string_value(json_object_get(resp, "snapshot"));
	s->pki_dir = json_string_value(json_object_get(resp, "pki_dir"));
	s->node = json_string_value(json_object_get(resp, "node"));
	s->ca_fp = json_string_value(json_object_get(resp, "ca_fingerprint_sha256"));
	s->bytes = json_integer_value(json_object_get(resp, "bytes"));
	s->schema = json_integer_value(json_object_get(resp, "schema_version"));
	/* The CLI (often root) removes the file afterwards: only a name the daemon makes, so
	 * that an answer cannot point it at another file. */
	const char *base = s->path ? strrchr(s->path, '/') : NULL;
	if (!s->path || !s->pki_dir || !s->node || !s->ca_fp || !base ||
	    strncmp(base + 1, "snapshot-", 9) != 0 || strlen(base + 1) != 18 ||
	    strcmp(base + 16, ".db") != 0) {
		snprintf(err, errlen, "telgated answered without a snapshot");
		json_decref(resp);
		return NULL;
	}
	return resp;
}

int backup_cmd(int argc, char **argv, const struct backup_opts *o)
{
	char err[700];
	const char *file, *pass_file;
	if (backup_args(argc, argv, &file, &pass_file, err, sizeof err) != 0) {
		fprintf(o->err, "error: %s\n", err);
		return EX_USAGE;
	}
	if (access(file, F_OK) == 0) {
		fprintf(o->err, "error: %s exists; a backup never replaces a file\n", file);
		return CLI_EXIT_REFUSED;
	}
	char pass[BACKUP_PASS_MAX + 1];
	size_t plen = 0;
	int status = backup_passphrase(pass_file, 1, pass, &plen, err, sizeof err);
	if (status == 0 && plen < BACKUP_PASS_MIN) {
		snprintf(err, sizeof err, "the passphrase must have at least %d characters",
		         BACKUP_PASS_MIN);
		status = CLI_EXIT_REFUSED;
	}
	struct snap s = {0};
	json_t *resp = status == 0 ? snapshot(o, &s, &status, err, sizeof err) : NULL;
	struct pki_list l = {0};
	json_t *t = NULL;
	uint64_t written = 0;
	if (resp) {
		t = backup_table();
		status = collect(s.pki_dir, "", 0, &l, err, sizeof err) == 0 &&
		                 write_file(file, pass, plen, &s, &l, o, t, &written, err,
		                            sizeof err) == 0
		             ? 0
		             : CLI_EXIT_REFUSED;
		/* The copy holds every password hash: never left behind. */
		if (unlink(s.path) != 0 && status == 0)
			fprintf(o->err, "warning: cannot remove the store snapshot %s: %s\n",
			        s.path, strerror(errno));
	}
	sodium_memzero(pass, sizeof pass);
	if (status != 0) {
		fprintf(o->err, "error: %s\n", err);
		json_decref(t);
		json_decref(resp);
		free(l.v);
		return status;
	}
	json_object_set_new(t, "file", json_string(file));
	json_object_set_new(t, "bytes", json_integer((json_int_t)written));
	json_object_set_new(t, "node", json_string(s.node));
	json_object_set_new(t, "schema_version", json_integer(s.schema));
	json_object_set_new(t, "ca_fingerprint_sha256", json_string(s.ca_fp));
	json_object_set_new(t, "message",
	                    json_sprintf("backup of node %s written to %s (%llu bytes: the store "
	                                 "and %zu files of %s); CA %s. Keep the passphrase apart "
	                                 "from the file.",
	                                 s.node, file, (unsigned long long)written, l.n, s.pki_dir,
	                                 s.ca_fp));
	int rc = cli_render(o->out, o->err, t, o->json_mode);
	json_decref(t);
	json_decref(resp);
	free(l.v);
	return rc;
}
