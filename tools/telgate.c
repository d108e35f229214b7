/* telgate: the admin CLI. Talks to telgated over its UNIX control socket. */
#include "cli.h"
#include "core/config.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: telgate [-s SOCKET | -c CONFIG] [--json] COMMAND ...\n"
	           "commands:\n"
	           "  status\n"
	           "  run sql \"SELECT ...\"              read-only; anything else is refused\n"
	           "  show open ports [regexp PATTERN]\n"
	           "  set param NAME VALUE | get param NAME\n"
	           "  import FILE.json                  all or nothing\n"
	           "  show alarms\n"
	           "  help                              the daemon's own list of commands\n"
	           "The socket is -s, else control_socket from -c CONFIG, else $TELGATE_SOCKET,\n"
	           "else /var/lib/telgate/telgated.sock.\n");
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
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 64;
	}
	static struct tg_config cfg;
	if (!sock && config) {
		struct config_error e;
		if (config_load(config, &cfg, &e) != 0) {
			char msg[600];
			config_error_format(&e, msg, sizeof msg);
			fprintf(stderr, "%s\n", msg);
			return 2;
		}
		sock = cfg.core.control_socket;
	}
	if (!sock)
		sock = getenv("TELGATE_SOCKET");
	if (!sock || !*sock) {
		config_defaults(&cfg);
		sock = cfg.core.control_socket;
	}
	char err[600];
	json_t *req = cli_build_request(argc - optind, argv + optind, err, sizeof err);
	if (!req) {
		fprintf(stderr, "error: %s\n", err);
		return 64;
	}
	json_t *resp = cli_call(sock, req, err, sizeof err);
	json_decref(req);
	if (!resp) {
		fprintf(stderr, "error: %s\n", err);
		return 2;
	}
	int rc = cli_render(stdout, stderr, resp, json_mode);
	json_decref(resp);
	return rc;
}
