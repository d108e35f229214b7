/* SPDX-License-Identifier: ISC */
/*
 * telgate-cti: log in to telgate's CTI server, open devices, print their events.
 *
 *   telgate-cti --tls -u wwhite open SEP001794625DE5 --follow
 *
 * The password comes from $TELGATE_PASSWORD, --password-file, or a prompt without echo;
 * never from the command line.
 */
#include "cli.h"
#include "tgcti.h"

#include <errno.h>
#include <getopt.h>
#include <libxml/parser.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: telgate-cti [--tls] [-H HOST] [-p PORT] [--ca FILE] [--server-name NAME]\n"
	        "                   [-a APPLICATION] -u USER [--password-file FILE]\n"
	        "                   [--duration S] open DEVICE... [--follow | --events N]\n"
	        "Logs in, opens each device (MonitorStart) and prints BackInService /\n"
	        "OutOfService events: until interrupted with --follow, until N with --events.\n"
	        "Exit: 0 done, 1 refused (login or a device), 2 connection problem, 64 usage.\n");
}

static int read_password_file(const char *path, char *out, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(out, 1, cap - 1, f);
	fclose(f);
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		n--;
	out[n] = '\0';
	*len = n;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"tls", no_argument, NULL, 't'},
	    {"host", required_argument, NULL, 'H'},
	    {"port", required_argument, NULL, 'p'},
	    {"ca", required_argument, NULL, 'C'},
	    {"server-name", required_argument, NULL, 'N'},
	    {"app", required_argument, NULL, 'a'},
	    {"user", required_argument, NULL, 'u'},
	    {"password-file", required_argument, NULL, 'P'},
	    {"duration", required_argument, NULL, 'd'},
	    {"follow", no_argument, NULL, 'f'},
	    {"events", required_argument, NULL, 'e'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct tgcti_opts o = {"127.0.0.1", 0, 0, NULL, NULL, 10000};
	const char *app = "telgate-cti", *user = NULL, *pwfile = NULL;
	int duration = 0, follow = 0, events = 0, opt;
	while ((opt = getopt_long(argc, argv, "tH:p:a:u:h", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			o.tls = 1;
			break;
		case 'H':
			o.host = optarg;
			break;
		case 'p':
			o.port = atoi(optarg);
			break;
		case 'C':
			o.ca_file = optarg;
			break;
		case 'N':
			o.server_name = optarg;
			break;
		case 'a':
			app = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'P':
			pwfile = optarg;
			break;
		case 'd':
			duration = atoi(optarg);
			break;
		case 'f':
			follow = 1;
			break;
		case 'e':
			events = atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (!user || optind >= argc || strcmp(argv[optind], "open") != 0 || optind + 1 >= argc) {
		usage(stderr);
		return 64;
	}
	if (!o.port)
		o.port = o.tls ? 2749 : 2748;
	signal(SIGPIPE, SIG_IGN);
	xmlInitParser();
	char pw[1025], err[512];
	size_t pwlen = 0;
	if (pwfile ? read_password_file(pwfile, pw, sizeof pw, &pwlen)
	           : cli_read_password(pw, sizeof pw, &pwlen, err, sizeof err)) {
		fprintf(stderr, "telgate-cti: password: %s\n", pwfile ? strerror(errno) : err);
		return 64;
	}
	struct tgcti *c = tgcti_connect(&o, err, sizeof err);
	if (!c) {
		sodium_memzero(pw, sizeof pw);
		fprintf(stderr, "telgate-cti: %s\n", err);
		return 2;
	}
	int rc = tgcti_login(c, app, user, pw, pwlen, duration, err, sizeof err);
	sodium_memzero(pw, sizeof pw);
	if (rc != 0) {
		fprintf(stderr, "telgate-cti: %s\n", err);
		tgcti_close(c);
		return 1;
	}
	printf("logged in as %s\n", user);
	int status = 0;
	for (int i = optind + 1; i < argc; i++) {
		unsigned long x;
		if (tgcti_monitor(c, argv[i], &x, err, sizeof err) != 0) {
			fprintf(stderr, "telgate-cti: open refused: %s\n", err);
			status = 1;
			continue;
		}
		printf("opened %s monitor=%lu\n", argv[i], x);
	}
	fflush(stdout);
	for (int n = 0; (follow || n < events) && status == 0; n++) {
		struct tgcti_event ev;
		int r = tgcti_next_event(c, -1, &ev, err, sizeof err);
		if (r < 0) {
			fprintf(stderr, "telgate-cti: %s\n", err);
			status = 2;
			break;
		}
		char ts[32];
		time_t t = time(NULL);
		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
		printf("%s %s %s monitor=%lu\n", ts,
		       ev.in_service ? "BackInService" : "OutOfService", ev.device, ev.xref);
		fflush(stdout);
	}
	tgcti_close(c);
	return status;
}
