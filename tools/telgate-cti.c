/* SPDX-License-Identifier: ISC */
/*
 * telgate-cti: log in to telgate's CTI server, open devices, print their events; and the
 * seed-001 client side: fetch and verify the trust list, enrol over EST.
 *
 *   telgate-cti --tls -u wwhite open SEP001794625DE5 --follow
 *   telgate-cti enrol --server tg.example.net --instance-id 1234 \
 *               --auth-string-file /run/s --out ~/.telgate --pin sha256:HEX
 *   telgate-cti --tls --ca ~/.telgate/ca.pem --cert ~/.telgate/cert.pem \
 *               --key ~/.telgate/key.pem -u wwhite open SEP001794625DE5
 *
 * The password comes from $TELGATE_PASSWORD, --password-file, or a prompt without echo;
 * the authentication string from --auth-string-file; never from the command line.
 */
#include "cli.h"
#include "tgcti.h"
#include "tgenrol.h"
#include "tgtrust.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: telgate-cti [--tls] [-H HOST] [-p PORT] [--ca FILE] [--server-name NAME]\n"
	    "                   [--cert FILE --key FILE] [-a APPLICATION] -u USER\n"
	    "                   [--password-file FILE | --access-token-file FILE] [--duration S]\n"
	    "                   open DEVICE... [--follow | --events N]\n"
	    "       telgate-cti enrol --server HOST [--tftp-port N | --http-port N]\n"
	    "                   [--est-port N] [--server-name NAME] --instance-id ID\n"
	    "                   [--auth-string-file FILE] --out DIR [--pin sha256:HEX]\n"
	    "                   [--key ec-p256|ec-p384|rsa-2048|rsa-3072]\n"
	    "                   [--trust-list-file NAME] [--max-wait S] [--json]\n"
	    "       telgate-cti trust-list --server HOST [--tftp-port N | --http-port N]\n"
	    "                   --out DIR [--pin sha256:HEX] [--trust-list-file NAME] [--json]\n"
	    "open: logs in, opens each device (MonitorStart) and prints BackInService /\n"
	    "OutOfService events: until interrupted with --follow, until N with --events.\n"
	    "--access-token-file: log in with an OAuth access token (aud cti, docs/oauth.md)\n"
	    "instead of a password; -u may then be left out (the token names the user).\n"
	    "enrol: fetches the trust list (TFTP unless --http-port), verifies it (first use:\n"
	    "--pin; later: DIR/trustlist.tlv), enrols over EST and writes DIR/key.pem (0600)\n"
	    "and DIR/cert.pem (--est-port: telgated's [est] port, default 8443;\n"
	    "--auth-string-file: the profile's one-time string, omitted for a profile made\n"
	    "with --auth-mode none). trust-list: the first two steps only.\n"
	    "Exit: 0 done, 1 refused (login, a device, the trust list or the enrolment),\n"
	    "2 connection problem, 64 usage.\n");
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

struct args {
	struct tgcti_opts o;
	const char *app, *user, *pwfile, *key, *tokenfile;
	int duration, follow, events, json, max_wait;
	struct tgenrol_opts e;
	const char *secret_file, *pin;
};

static void print_trust(const struct tgenrol_info *in, const char *dir)
{
	printf("trust list: sequence %u, signer %s, %zu records, %s -> %s/trustlist.tlv\n",
	       in->tl_sequence, in->tl_signer, in->tl_records,
	       in->tl_first_use ? "first use (pinned signer)" : "verified against the list held",
	       dir);
}

static void print_json(const struct tgenrol_info *in, int enrolled)
{
	json_t *j = json_pack("{s:{s:I,s:s,s:I,s:b,s:s,s:s}}", "trust_list", "sequence",
	                      (json_int_t)in->tl_sequence, "signer", in->tl_signer, "records",
	                      (json_int_t)in->tl_records, "first_use", in->tl_first_use, "path",
	                      in->tl_path, "ca", in->ca_path);
	if (j && enrolled)
		json_object_set_new(j, "certificate",
		                    json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "serial", in->serial,
		                              "subject", in->subject, "issuer", in->issuer,
		                              "not_after", in->not_after, "cert", in->cert_path,
		                              "key", in->key_path, "ca", in->ca_path));
	if (j)
		json_dumpf(j, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(j);
}

/* enrol and trust-list. */
static int cmd_enrol(struct args *a, int enrol)
{
	unsigned char pin[TGTRUST_PIN_LEN];
	const char *missing = !a->e.server                 ? "--server HOST"
	                      : !a->e.out_dir              ? "--out DIR"
	                      : enrol && !a->e.instance_id ? "--instance-id ID"
	                                                   : NULL;
	if (missing || (a->e.http_port && a->e.tftp_port)) {
		if (missing)
			fprintf(stderr, "telgate-cti: %s needs %s\n",
			        enrol ? "enrol" : "trust-list", missing);
		else
			fprintf(stderr,
			        "telgate-cti: --tftp-port and --http-port exclude each other\n");
		usage(stderr);
		return 64;
	}
	if (a->pin && tgtrust_parse_pin(a->pin, pin) != 0) {
		fprintf(stderr, "telgate-cti: --pin wants sha256: and 64 hex digits\n");
		return 64;
	}
	a->e.pin = a->pin ? pin : NULL;
	a->e.key_type = a->key;
	a->e.max_wait_s = a->max_wait;
	char secret[1025] = "", err[512];
	size_t slen = 0;
	/* No file: an empty string, what a profile with authentication mode none expects. */
	if (enrol && a->secret_file &&
	    read_password_file(a->secret_file, secret, sizeof secret, &slen) != 0) {
		fprintf(stderr, "telgate-cti: --auth-string-file %s: %s\n", a->secret_file,
		        strerror(errno));
		return 64;
	}
	a->e.secret = secret;
	a->e.secretlen = slen;
	struct tgenrol_info in;
	enum tgenrol_result r = enrol ? tgenrol_run(&a->e, &in, err, sizeof err)
	                              : tgenrol_trust(&a->e, &in, err, sizeof err);
	sodium_memzero(secret, sizeof secret);
	if (r != TGENROL_OK) {
		fprintf(stderr, "telgate-cti: %s\n", err);
		return r == TGENROL_REFUSED ? 1 : 2;
	}
	if (a->json) {
		print_json(&in, enrol);
		return 0;
	}
	print_trust(&in, a->e.out_dir);
	if (enrol)
		printf("enrolled: serial %s\n  subject %s\n  issuer %s\n  not after %s\n"
		       "  key %s (0600)\n  certificate %s\n  CA %s\n",
		       in.serial, in.subject, in.issuer, in.not_after, in.key_path, in.cert_path,
		       in.ca_path);
	return 0;
}

/* open: log in and follow devices. */
static int cmd_open(struct args *a, int argc, char **argv, int first)
{
	struct tgcti_opts o = a->o;
	if ((!a->user && !a->tokenfile) || first >= argc || (a->tokenfile && a->pwfile)) {
		usage(stderr);
		return 64;
	}
	o.key_file = a->key;
	if (!o.port)
		o.port = o.tls ? 2749 : 2748;
	/* A password (file, prompt) or an access token (file): never on the command line. */
	char pw[TGCTI_TOKEN_MAX + 2], err[512];
	size_t pwlen = 0;
	if (a->tokenfile) {
		if (read_password_file(a->tokenfile, pw, sizeof pw, &pwlen) != 0) {
			fprintf(stderr, "telgate-cti: --access-token-file %s: %s\n", a->tokenfile,
			        strerror(errno));
			return 64;
		}
	} else if (a->pwfile ? read_password_file(a->pwfile, pw, 1025, &pwlen)
	                     : cli_read_password(pw, 1025, &pwlen, err, sizeof err)) {
		fprintf(stderr, "telgate-cti: password: %s\n", a->pwfile ? strerror(errno) : err);
		return 64;
	}
	struct tgcti *c = tgcti_connect(&o, err, sizeof err);
	if (!c) {
		sodium_memzero(pw, sizeof pw);
		fprintf(stderr, "telgate-cti: %s\n", err);
		return 2;
	}
	int rc =
	    a->tokenfile
	        ? tgcti_login_token(c, a->app, a->user, pw, pwlen, a->duration, err, sizeof err)
	        : tgcti_login(c, a->app, a->user, pw, pwlen, a->duration, err, sizeof err);
	sodium_memzero(pw, sizeof pw);
	if (rc != 0) {
		fprintf(stderr, "telgate-cti: %s\n", err);
		tgcti_close(c);
		return 1;
	}
	printf("logged in as %s%s\n", a->user ? a->user : "the access token's subject",
	       a->tokenfile  ? " with an access token"
	       : o.cert_file ? " with a certificate"
	                     : "");
	int status = 0;
	for (int i = first; i < argc; i++) {
		unsigned long x;
		if (tgcti_monitor(c, argv[i], &x, err, sizeof err) != 0) {
			fprintf(stderr, "telgate-cti: open refused: %s\n", err);
			status = 1;
			continue;
		}
		printf("opened %s monitor=%lu\n", argv[i], x);
	}
	fflush(stdout);
	for (int n = 0; (a->follow || n < a->events) && status == 0; n++) {
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

int main(int argc, char **argv)
{
	enum {
		O_CERT = 256,
		O_KEY,
		O_TFTP_PORT,
		O_HTTP_PORT,
		O_EST_PORT,
		O_INSTANCE,
		O_SECRET_FILE,
		O_OUT,
		O_PIN,
		O_TL_FILE,
		O_JSON,
		O_MAX_WAIT,
		O_TOKEN_FILE,
	};
	static const struct option opts[] = {
	    {"tls", no_argument, NULL, 't'},
	    {"host", required_argument, NULL, 'H'},
	    {"server", required_argument, NULL, 'H'},
	    {"port", required_argument, NULL, 'p'},
	    {"ca", required_argument, NULL, 'C'},
	    {"server-name", required_argument, NULL, 'N'},
	    {"app", required_argument, NULL, 'a'},
	    {"user", required_argument, NULL, 'u'},
	    {"password-file", required_argument, NULL, 'P'},
	    {"duration", required_argument, NULL, 'd'},
	    {"follow", no_argument, NULL, 'f'},
	    {"events", required_argument, NULL, 'e'},
	    {"cert", required_argument, NULL, O_CERT},
	    {"key", required_argument, NULL, O_KEY},
	    {"tftp-port", required_argument, NULL, O_TFTP_PORT},
	    {"http-port", required_argument, NULL, O_HTTP_PORT},
	    {"est-port", required_argument, NULL, O_EST_PORT},
	    {"instance-id", required_argument, NULL, O_INSTANCE},
	    {"auth-string-file", required_argument, NULL, O_SECRET_FILE},
	    {"out", required_argument, NULL, O_OUT},
	    {"pin", required_argument, NULL, O_PIN},
	    {"trust-list-file", required_argument, NULL, O_TL_FILE},
	    {"json", no_argument, NULL, O_JSON},
	    {"max-wait", required_argument, NULL, O_MAX_WAIT},
	    {"access-token-file", required_argument, NULL, O_TOKEN_FILE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct args a = {.o = {.host = "127.0.0.1", .timeout_ms = 10000}, .app = "telgate-cti"};
	int opt, hostset = 0;
	while ((opt = getopt_long(argc, argv, "tH:p:a:u:h", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			a.o.tls = 1;
			break;
		case 'H':
			a.o.host = optarg;
			hostset = 1;
			break;
		case 'p':
			a.o.port = atoi(optarg);
			break;
		case 'C':
			a.o.ca_file = optarg;
			break;
		case 'N':
			a.o.server_name = optarg;
			break;
		case 'a':
			a.app = optarg;
			break;
		case 'u':
			a.user = optarg;
			break;
		case 'P':
			a.pwfile = optarg;
			break;
		case O_TOKEN_FILE:
			a.tokenfile = optarg;
			break;
		case 'd':
			a.duration = atoi(optarg);
			break;
		case 'f':
			a.follow = 1;
			break;
		case 'e':
			a.events = atoi(optarg);
			break;
		case O_CERT:
			a.o.cert_file = optarg;
			break;
		case O_KEY: /* open: the key file; enrol: the key type */
			a.key = optarg;
			break;
		case O_TFTP_PORT:
			a.e.tftp_port = atoi(optarg);
			break;
		case O_HTTP_PORT:
			a.e.http_port = atoi(optarg);
			break;
		case O_EST_PORT:
			a.e.est_port = atoi(optarg);
			break;
		case O_INSTANCE:
			a.e.instance_id = optarg;
			break;
		case O_SECRET_FILE:
			a.secret_file = optarg;
			break;
		case O_OUT:
			a.e.out_dir = optarg;
			break;
		case O_PIN:
			a.pin = optarg;
			break;
		case O_TL_FILE:
			a.e.trust_file = optarg;
			break;
		case O_JSON:
			a.json = 1;
			break;
		case O_MAX_WAIT:
			a.max_wait = atoi(optarg);
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
	signal(SIGPIPE, SIG_IGN);
	const char *cmd = argv[optind];
	if (strcmp(cmd, "enrol") == 0 || strcmp(cmd, "trust-list") == 0) {
		if (optind + 1 != argc) {
			usage(stderr);
			return 64;
		}
		a.e.server = hostset ? a.o.host : NULL;
		a.e.server_name = a.o.server_name;
		return cmd_enrol(&a, cmd[0] == 'e');
	}
	if (strcmp(cmd, "open") != 0) {
		usage(stderr);
		return 64;
	}
	xmlInitParser();
	return cmd_open(&a, argc, argv, optind + 1);
}
