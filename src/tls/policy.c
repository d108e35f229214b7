/* SPDX-License-Identifier: ISC */
#include "tls/policy.h"

#include "tls/suites.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const setting_names[TLS_SETTINGS] = {"protocols", "ciphers-tls12",
                                                        "ciphers-tls13", "allowClientApp"};

const char *tls_setting_name(enum tls_setting s)
{
	return (unsigned)s < TLS_SETTINGS ? setting_names[s] : "?";
}

int tls_setting_parse(const char *name, enum tls_setting *out)
{
	for (int i = 0; i < TLS_SETTINGS; i++)
		if (strcasecmp(name, setting_names[i]) == 0) {
			*out = (enum tls_setting)i;
			return 0;
		}
	return -1;
}

void tls_suites_split(const struct tls_suite_list *l, char out12[TLS_VALUE_MAX],
                      char out13[TLS_VALUE_MAX])
{
	out12[0] = out13[0] = '\0';
	for (size_t i = 0; i < l->n; i++) {
		char *dst = tls_suite_is_tls13(l->s[i]) ? out13 : out12;
		size_t len = strlen(dst);
		snprintf(dst + len, TLS_VALUE_MAX - len, "%s%s", len ? "," : "", l->s[i]->name);
	}
}

int tls_resolve(const struct tls_row *rows, size_t n, const struct tls_listener_id *id,
                const char *const defaults[TLS_SETTINGS], struct tls_effective *out)
{
	char levels[TLS_LEVELS][TLS_LEVEL_MAX];
	if (tls_levels_of(id, levels) != 0)
		return -1;
	for (int s = 0; s < TLS_SETTINGS; s++) {
		const struct tls_row *best = NULL;
		int best_rank = TLS_LEVELS; /* 0 = interface, the most specific */
		for (size_t i = 0; i < n; i++) {
			if (strcasecmp(rows[i].name, setting_names[s]) != 0)
				continue;
			for (int r = 0; r < best_rank; r++)
				if (strcmp(rows[i].level, levels[r]) == 0) {
					best = &rows[i];
					best_rank = r;
					break;
				}
		}
		snprintf(out->s[s].value, sizeof out->s[s].value, "%s",
		         best          ? best->value
		         : defaults[s] ? defaults[s]
		                       : "");
		snprintf(out->s[s].source, sizeof out->s[s].source, "%s",
		         best ? best->level : "default");
	}
	return 0;
}

/* --- the snapshot ---------------------------------------------------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct tls_row *snap;
static size_t nsnap;
static char *snap_mem;
static char *defaults_copy[TLS_SETTINGS];
static unsigned long generation = 1; /* under mu */

unsigned long tls_policy_generation(void)
{
	pthread_mutex_lock(&mu);
	unsigned long g = generation;
	pthread_mutex_unlock(&mu);
	return g;
}

int tls_policy_set_rows(const struct tls_row *rows, size_t n)
{
	size_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += strlen(rows[i].level) + strlen(rows[i].name) + strlen(rows[i].value) + 3;
	struct tls_row *r = calloc(n ? n : 1, sizeof *r);
	char *mem = malloc(bytes ? bytes : 1);
	if (!r || !mem) {
		free(r);
		free(mem);
		return -1;
	}
	char *p = mem;
	for (size_t i = 0; i < n; i++) {
		const char *f[3] = {rows[i].level, rows[i].name, rows[i].value};
		const char **t[3] = {&r[i].level, &r[i].name, &r[i].value};
		for (int k = 0; k < 3; k++) {
			size_t len = strlen(f[k]) + 1;
			memcpy(p, f[k], len);
			*t[k] = p;
			p += len;
		}
	}
	pthread_mutex_lock(&mu);
	free(snap);
	free(snap_mem);
	snap = r;
	nsnap = n;
	snap_mem = mem;
	generation++;
	pthread_mutex_unlock(&mu);
	return 0;
}

void tls_policy_set_defaults(const char *const defaults[TLS_SETTINGS])
{
	pthread_mutex_lock(&mu);
	for (int i = 0; i < TLS_SETTINGS; i++) {
		free(defaults_copy[i]);
		defaults_copy[i] = defaults[i] ? strdup(defaults[i]) : NULL;
	}
	generation++;
	pthread_mutex_unlock(&mu);
}

/* telgate's built-in defaults (tls/suites.h), made once: used while nobody set others. */
static char builtin12[TLS_VALUE_MAX], builtin13[TLS_VALUE_MAX];
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static void make_builtin(void)
{
	struct tls_suite_list l;
	tls_suites_system_default(&l);
	tls_suites_split(&l, builtin12, builtin13);
}

/* The defaults to resolve over, under mu. */
static void current_defaults(const char *out[TLS_SETTINGS])
{
	pthread_once(&builtin_once, make_builtin);
	static const char *const builtin_protocols = "TLSv1.2,TLSv1.3";
	const char *builtin[TLS_SETTINGS] = {builtin_protocols, builtin12, builtin13, "false"};
	for (int i = 0; i < TLS_SETTINGS; i++)
		out[i] = defaults_copy[i] ? defaults_copy[i] : builtin[i];
}

void tls_policy_defaults(const char *out[TLS_SETTINGS])
{
	pthread_mutex_lock(&mu);
	current_defaults(out);
	pthread_mutex_unlock(&mu);
}

int tls_policy_effective(const struct tls_listener_id *id, struct tls_effective *out)
{
	pthread_mutex_lock(&mu);
	const char *d[TLS_SETTINGS];
	current_defaults(d);
	int rc = tls_resolve(snap, nsnap, id, d, out);
	pthread_mutex_unlock(&mu);
	return rc;
}

void tls_policy_clear(void)
{
	pthread_mutex_lock(&mu);
	free(snap);
	free(snap_mem);
	snap = NULL;
	snap_mem = NULL;
	nsnap = 0;
	for (int i = 0; i < TLS_SETTINGS; i++) {
		free(defaults_copy[i]);
		defaults_copy[i] = NULL;
	}
	pthread_mutex_unlock(&mu);
}
