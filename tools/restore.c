/* SPDX-License-Identifier: ISC */
/* telgate restore FILE: verify the whole archive, then write it through temporary names and
 * rename once it verified again (backup.h). */
#include "backup.h"
#include "cli.h"
#include "core/util.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define TMP_SUFFIX ".restore-tmp"
#define DEST_MAX (CFG_PATH_MAX + BK_NAME_MAX + 16)

struct entry {
	char name[BK_NAME_MAX + 1];
	char dest[DEST_MAX]; /* "" for meta.json, which is read, not written */
	mode_t mode;         /* as written, after mode_for */
	uint64_t size;
	int tmp_made;
};

struct restore {
	const struct tg_config *cfg;
	struct entry *v;
	size_t n, cur;
	int verify; /* pass 1: nothing is written */
	char *meta;
	size_t meta_len;
	int store_seen;
	int fd;
	uid_t uid;
	gid_t gid;
	int chown_to; /* root restoring for core.user: files get the service user's */
	struct progress pr;
	uint64_t total;
	int64_t crl_number; /* the restored store's CRL number after advance_crl_number */
	char err[DEST_MAX + 200];
};

/* Keys are 0600 whatever the archive says; nothing is ever executable or writable by
 * others. */
static mode_t mode_for(const char *name, uint32_t mode)
{
	size_t n = strlen(name);
	if (strcmp(name, "store.db") == 0 || (n > 4 && strcmp(name + n - 4, ".key") == 0) ||
	    (n > 7 && strcmp(name + n - 7, "key.pem") == 0))
		return 0600;
	return (mode_t)(mode & 0644) | 0600;
}

static int plan_entry(struct restore *r, const char *name, uint32_t mode, uint64_t size)
{
	struct entry e = {.mode = mode_for(name, mode), .size = size};
	snprintf(e.name, sizeof e.name, "%s", name);
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i].name, name) == 0) {
			snprintf(r->err, sizeof r->err, "the archive holds %s twice", name);
			return -1;
		}
	int fits = 1;
	if (strcmp(name, "meta.json") == 0) {
		if (size > BACKUP_META_MAX) {
			snprintf(r->err, sizeof r->err, "meta.json is too large");
			return -1;
		}
	} else if (strcmp(name, "store.db") == 0) {
		fits = tg_strlcpy(e.dest, r->cfg->store.path, sizeof e.dest) == 0;
		r->store_seen = 1;
	} else if (strncmp(name, "pki/", 4) == 0) {
		fits = (size_t)snprintf(e.dest, sizeof e.dest, "%s/%s", r->cfg->pki.dir, name + 4) <
		       sizeof e.dest - sizeof TMP_SUFFIX;
	} else {
		snprintf(r->err, sizeof r->err,
		         "the archive holds '%s', which restore does not know", name);
		return -1;
	}
	if (!fits) {
		snprintf(r->err, sizeof r->err, "%s: destination path too long", name);
		return -1;
	}
	struct entry *v = realloc(r->v, (r->n + 1) * sizeof *v);
	if (!v) {
		snprintf(r->err, sizeof r->err, "out of memory");
		return -1;
	}
	r->v = v;
	v[r->n++] = e;
	r->total += size;
	return 0;
}

/* The directories between base and the file dest, made 0700 (and given to the service
 * user) when missing. */
static int make_parents(struct restore *r, const char *dest)
{
	char buf[DEST_MAX];
	snprintf(buf, sizeof buf, "%s", dest);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) == 0) {
			if (r->chown_to && chown(buf, r->uid, r->gid) != 0) {
				snprintf(r->err, sizeof r->err, "chown %s: %s", buf,
				         strerror(errno));
				return -1;
			}
		} else if (errno != EEXIST) {
			snprintf(r->err, sizeof r->err, "cannot create %s: %s", buf,
			         strerror(errno));
			return -1;
		}
		*p = '/';
	}
	return 0;
}

static int on_entry(void *ud, const char *name, uint32_t mode, uint64_t size)
{
	struct restore *r = ud;
	if (r->verify)
		return plan_entry(r, name, mode, size);
	/* The second pass must read what the first one planned (the file could have been
	 * replaced in between by another archive under the same passphrase). */
	if (r->cur >= r->n || strcmp(r->v[r->cur].name, name) != 0 || r->v[r->cur].size != size) {
		snprintf(r->err, sizeof r->err, "the archive changed while it was read");
		return -1;
	}
	struct entry *e = &r->v[r->cur];
	if (!e->dest[0])
		return 0;
	char tmp[DEST_MAX + sizeof TMP_SUFFIX];
	snprintf(tmp, sizeof tmp, "%s" TMP_SUFFIX, e->dest);
	if (make_parents(r, e->dest) != 0)
		return -1;
	r->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (r->fd < 0) {
		snprintf(r->err, sizeof r->err, "cannot create %s: %s", tmp, strerror(errno));
		return -1;
	}
	e->tmp_made = 1;
	return 0;
}

static int on_data(void *ud, const unsigned char *p, size_t n)
{
	struct restore *r = ud;
	struct entry *e = &r->v[r->cur];
	if (r->verify || !e->dest[0]) {
		if (strcmp(e->name, "meta.json") == 0 && r->verify) {
			memcpy(r->meta + r->meta_len, p, n); /* at most its size: BACKUP_META_MAX */
			r->meta_len += n;
		}
		return 0;
	}
	progress_add(&r->pr, n);
	while (n) {
		ssize_t w = write(r->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(r->err, sizeof r->err, "cannot write %s: %s", e->dest,
			         strerror(errno));
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int on_end(void *ud)
{
	struct restore *r = ud;
	struct entry *e = &r->v[r->cur++];
	if (r->verify || !e->dest[0])
		return 0;
	int rc = fsync(r->fd) == 0 && fchmod(r->fd, e->mode) == 0 &&
	                 (!r->chown_to || fchown(r->fd, r->uid, r->gid) == 0)
	             ? 0
	             : -1;
	if (rc != 0)
		snprintf(r->err, sizeof r->err, "cannot write %s: %s", e->dest, strerror(errno));
	close(r->fd);
	r->fd = -1;
	return rc;
}

/* Removes the temporary files of a restore that did not finish. */
static void discard(struct restore *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	for (size_t i = 0; i < r->n; i++) {
		char tmp[DEST_MAX + sizeof TMP_SUFFIX];
		snprintf(tmp, sizeof tmp, "%s" TMP_SUFFIX, r->v[i].dest);
		if (r->v[i].tmp_made)
			unlink(tmp);
	}
}

/* Every file in place. The store's old -wal and -shm go first: SQLite would otherwise
 * read another database's journal into the restored one. */
static int commit(struct restore *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct entry *e = &r->v[i];
		if (!e->dest[0])
			continue;
		if (strcmp(e->name, "store.db") == 0) {
			static const char *const side[] = {"-wal", "-shm"};
			for (size_t k = 0; k < 2; k++) {
				char p[DEST_MAX + 8];
				snprintf(p, sizeof p, "%s%s", e->dest, side[k]);
				if (unlink(p) != 0 && errno != ENOENT) {
					snprintf(r->err, sizeof r->err, "cannot remove %s: %s", p,
					         strerror(errno));
					return -1;
				}
			}
		}
		char tmp[DEST_MAX + sizeof TMP_SUFFIX];
		snprintf(tmp, sizeof tmp, "%s" TMP_SUFFIX, e->dest);
		if (rename(tmp, e->dest) != 0) {
			snprintf(r->err, sizeof r->err, "cannot rename %s: %s", tmp,
			         strerror(errno));
			return -1;
		}
		e->tmp_made = 0;
	}
	return 0;
}

/* The restored store (still under its temporary name) gets a CRL number of at least the
 * time now in seconds: the old node may have published CRLs after the backup was taken,
 * and a new CRL must never reuse one of their numbers (RFC 5280 §5.2.3). SQLite's -wal and
 * -shm for the temporary name go away when the store closes. */
static int advance_crl_number(struct restore *r)
{
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->v[i].name, "store.db") != 0)
			continue;
		char tmp[DEST_MAX + sizeof TMP_SUFFIX], err[256];
		snprintf(tmp, sizeof tmp, "%s" TMP_SUFFIX, r->v[i].dest);
		const struct store_options so = {.backend = "sqlite",
		                                 .path = tmp,
		                                 .busy_timeout_ms = r->cfg->store.busy_timeout_ms};
		store_t *st = NULL;
		if (store_open(&so, &st, err, sizeof err) != STORE_OK) {
			snprintf(r->err, sizeof r->err, "the restored store cannot be opened: %s",
			         err);
			return -1;
		}
		int rc = store_crlnumber_floor(st, tg_now_s(), &r->crl_number);
		if (rc != STORE_OK)
			snprintf(r->err, sizeof r->err, "the restored store's CRL number: %s",
			         store_last_error());
		store_close(st);
		return rc == STORE_OK ? 0 : -1;
	}
	return 0;
}

/* 0 when nothing answers on the control socket. */
static int daemon_answers(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (tg_strlcpy(sun.sun_path, path, sizeof sun.sun_path) != 0)
		return 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int up = connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0;
	close(fd);
	return up;
}

/* meta.json: a telgate backup whose schema this program can open. */
static json_t *check_meta(struct restore *r)
{
	json_error_t je;
	json_t *m = r->meta ? json_loadb(r->meta, r->meta_len, 0, &je) : NULL;
	json_int_t schema = json_integer_value(json_object_get(m, "schema_version"));
	const char *fmt = json_string_value(json_object_get(m, "format"));
	if (!m || !fmt || strcmp(fmt, "telgate-backup") != 0) {
		snprintf(r->err, sizeof r->err, "the archive has no valid meta.json");
	} else if (!r->store_seen) {
		snprintf(r->err, sizeof r->err, "the archive holds no store");
	} else if (schema > store_schema_latest()) {
		snprintf(r->err, sizeof r->err,
		         "the backup's store has schema %lld; this telgate knows up to %d: restore "
		         "with a newer telgate",
		         (long long)schema, store_schema_latest());
	} else {
		return m;
	}
	json_decref(m);
	return NULL;
}

static int service_user(struct restore *r)
{
	if (!r->cfg->core.user[0] || geteuid() != 0)
		return 0;
	struct passwd *pw = getpwnam(r->cfg->core.user);
	if (!pw) {
		snprintf(r->err, sizeof r->err, "core.user: no such user '%s'", r->cfg->core.user);
		return -1;
	}
	r->chown_to = 1;
	r->uid = pw->pw_uid;
	r->gid = pw->pw_gid;
	return 0;
}

static int restore_fail(const struct backup_opts *o, struct restore *r, const char *file,
                        int status)
{
	discard(r);
	fprintf(o->err, "error: %s: %s; nothing was restored\n", file, r->err);
	free(r->v);
	free(r->meta);
	return status;
}

static json_t *restored_table(const struct restore *r, json_t *meta, const char *file)
{
	json_t *t = backup_table();
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].dest[0])
			backup_table_add(t, r->v[i].dest, r->v[i].mode, r->v[i].size);
	const char *node = json_string_value(json_object_get(meta, "node"));
	const char *created = json_string_value(json_object_get(meta, "created"));
	const char *fp = json_string_value(json_object_get(meta, "ca_fingerprint_sha256"));
	json_object_set_new(t, "file", json_string(file));
	json_object_set(t, "backup", meta);
	json_object_set_new(t, "crl_number", json_integer(r->crl_number));
	json_object_set_new(
	    t, "message",
	    json_sprintf(
	        "restored %zu files from the backup of node %s taken %s (CA %s); the next "
	        "CRL is numbered above %lld, past any the old node published; certificates "
	        "revoked after %s are valid again in this store: revoke them again "
	        "(telgate cert list, cert revoke); start telgated",
	        r->n - 1, node ? node : "?", created ? created : "?", fp ? fp : "?",
	        (long long)r->crl_number, created ? created : "the backup"));
	return t;
}

int restore_cmd(int argc, char **argv, const struct backup_opts *o)
{
	struct restore r = {.cfg = o->cfg, .fd = -1, .verify = 1};
	const char *file, *pass_file;
	if (backup_args(argc, argv, &file, &pass_file, r.err, sizeof r.err) != 0) {
		fprintf(o->err, "error: %s\n", r.err);
		return EX_USAGE;
	}
	if (daemon_answers(o->socket)) {
		fprintf(o->err,
		        "error: telgated is running (its control socket %s answers): stop it "
		        "before a restore; nothing was restored\n",
		        o->socket);
		return CLI_EXIT_REFUSED;
	}
	if (strcmp(o->cfg->store.backend, "sqlite") != 0) {
		snprintf(r.err, sizeof r.err, "the %s store is restored with its own tools",
		         o->cfg->store.backend);
		return restore_fail(o, &r, file, CLI_EXIT_REFUSED);
	}
	FILE *f = fopen(file, "rb");
	if (!f) {
		snprintf(r.err, sizeof r.err, "%s", strerror(errno));
		return restore_fail(o, &r, file, EX_NOINPUT);
	}
	char pass[BACKUP_PASS_MAX + 1];
	size_t plen = 0;
	int status = backup_passphrase(pass_file, 0, pass, &plen, r.err, sizeof r.err);
	struct bk_reader rd;
	int rc = status == 0 ? bk_reader_open(&rd, f, pass, plen) : BK_OK;
	sodium_memzero(pass, sizeof pass);
	if (status != 0 || rc != BK_OK) {
		if (rc != BK_OK)
			snprintf(r.err, sizeof r.err, "%s", bk_strerror(rc));
		fclose(f);
		return restore_fail(o, &r, file, status ? status : CLI_EXIT_REFUSED);
	}
	r.meta = malloc(BACKUP_META_MAX);
	const struct bk_visitor v = {on_entry, on_data, on_end, &r};
	rc = r.meta ? bk_reader_run(&rd, f, &v) : BK_ERR_NOMEM; /* pass 1: verify, plan */
	json_t *meta = rc == BK_OK ? check_meta(&r) : NULL;
	if (meta && service_user(&r) == 0) {
		r.verify = 0;
		r.cur = 0;
		progress_start(&r.pr, "restore", r.total);
		rc = bk_reader_run(&rd, f, &v); /* pass 2: write the temporary files */
		progress_done(&r.pr);
		if (rc == BK_OK && (advance_crl_number(&r) != 0 || commit(&r) != 0))
			rc = BK_ERR_IO;
	} else if (rc == BK_OK) {
		rc = BK_ERR_STOPPED; /* r.err says why */
	}
	bk_reader_free(&rd);
	fclose(f);
	if (rc != BK_OK) {
		if (rc != BK_ERR_STOPPED && !(rc == BK_ERR_IO && r.err[0])) /* else r.err says */
			snprintf(r.err, sizeof r.err, "%s", bk_strerror(rc));
		json_decref(meta);
		return restore_fail(o, &r, file, CLI_EXIT_REFUSED);
	}
	json_t *t = restored_table(&r, meta, file);
	json_decref(meta);
	int out = cli_render(o->out, o->err, t, o->json_mode);
	json_decref(t);
	free(r.v);
	free(r.meta);
	return out;
}
