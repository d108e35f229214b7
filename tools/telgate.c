/* SPDX-License-Identifier: ISC */
/* telgate: the admin CLI. Talks to telgated over its UNIX control socket. Exit statuses
 * are telgate(1)'s: see cli.h. */
#include "backup.h"
#include "cli.h"
#include "core/config.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* The socket: -s, else control_socket from -c CONFIG, else $TELGATE_SOCKET, else the
 * built-in default. NULL with err when CONFIG cannot be loaded. */
static const char *socket_path(const char *sock, const char *config, char *err, size_t errlen)
{
	static struct tg_config cfg;
	if (!sock && config) {
		struct config_error e;
		if (config_load(config, &cfg, &e) != 0) {
			config_error_format(&e, err, errlen);
			return NULL;
		}
		sock = cfg.core.control_socket;
	}
	if (!sock)
		sock = getenv("TELGATE_SOCKET");
	if (!sock || !*sock) {
		config_defaults(&cfg);
		sock = cfg.core.control_socket;
	}
	return sock;
}

/* backup and restore are the CLI's own commands (tools/backup.h): restore runs with the
 * daemon stopped, so the destination paths come from -c CONFIG (else the defaults). */
static int local_command(int argc, char **argv, const char *sock, const char *config, int json_mode)
{
	static struct tg_config cfg;
	char err[600];
	if (config) {
		struct config_error e;
		if (config_load(config, &cfg, &e) != 0) {
			config_error_format(&e, err, sizeof err);
			fprintf(stderr, "error: %s\n", err);
			return EX_USAGE;
		}
	} else {
		config_defaults(&cfg);
	}
	if (!sock && !config)
		sock = getenv("TELGATE_SOCKET");
	if (!sock || !*sock)
		sock = cfg.core.control_socket;
	const struct backup_opts o = {
	    .socket = sock, .cfg = &cfg, .json_mode = json_mode, .out = stdout, .err = stderr};
	return strcmp(argv[0], "backup") == 0 ? backup_cmd(argc, argv, &o)
	                                      : restore_cmd(argc, argv, &o);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"config", required_argument, NULL, 'c'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *sock = NULL, *config = NULL;
	int json_mode = 0, opt;
	/* '+': stop at the first command word, so "run sql select -1" keeps its words. */
	while ((opt = getopt_long(argc, argv, "+s:c:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'j':
			json_mode = 1;
			break;
		case 'h':
			cli_usage(stdout);
			return CLI_EXIT_OK;
		default:
			cli_usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind < argc &&
	    (strcmp(argv[optind], "backup") == 0 || strcmp(argv[optind], "restore") == 0))
		return local_command(argc - optind, argv + optind, sock, config, json_mode);
	char err[600];
	int status;
	/* The words are checked before anything else, so a usage error needs no daemon. */
	json_t *req = cli_build_request(argc - optind, argv + optind, &status, err, sizeof err);
	if (!req) {
		fprintf(stderr, "error: %s\n", err);
		return status;
	}
	sock = socket_path(sock, config, err, sizeof err);
	json_t *resp = sock ? cli_call(sock, req, err, sizeof err) : NULL;
	json_decref(req);
	if (!resp) {
		fprintf(stderr, "error: %s\n", err);
		return CLI_EXIT_NO_DAEMON;
	}
	int rc = cli_render(stdout, stderr, resp, json_mode);
	json_decref(resp);
	return rc;
}
