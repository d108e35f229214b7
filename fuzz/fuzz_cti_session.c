/* SPDX-License-Identifier: ISC */
/* Fuzzes the CTI server's connection and session state machine (src/cti/server.c), not
 * only the frame parser (fuzz_cti.c): each input is a byte stream written in one go to a
 * fresh TCP connection of the real server, which runs on its own loop with a real
 * directory and store (SQLite in a temporary directory, one local user who may open
 * every device, one device). The input may hold any number of frames: logins (good and
 * bad), device requests that go to the worker pool, StopApplicationSession, framing
 * errors, half frames. The iteration ends when the server has closed the connection,
 * after the client's end of input: so every frame has been consumed.
 *
 * Cost per iteration: one loopback connection and, per login, one argon2id check with
 * the cheapest parameters libsodium allows. The server is started once and reused; what
 * a connection allocates is freed when it closes (LeakSanitizer checks). */
#include "core/config.h"
#include "core/devstate.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/worker.h"
#include "cti/server.h"
#include "dir/dir.h"
#include "dir/passwd.h"
#include "provision/import.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libxml/parser.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define WAIT_MS 5000 /* the server answers a burst in milliseconds: longer is a hang */

/* mjavier / Fuzz-Pass-1 may open every device; failed logins never lock the account
 * (threshold 0), so the corpus's good login keeps working after bad ones. */
static const char provisioning[] =
    "{\"version\": 1, \"credentialpolicies\": [{\"name\": \"Fuzz\", "
    "\"failedlogonthreshold\": 0, \"resetfailedlogonsafter\": 30, \"lockoutduration\": 30, "
    "\"adminmustunlock\": false, \"expiresafterdays\": 0, \"expirywarningdays\": 0, "
    "\"inactivedaysallowed\": 0, \"minlength\": 8}], "
    "\"users\": [{\"userid\": \"mjavier\", \"directory\": \"local\", "
    "\"password\": \"Fuzz-Pass-1\", \"credentialpolicy\": \"Fuzz\", \"groups\": "
    "[\"Standard CTI Enabled\", \"Standard CTI Allow Control of All Devices\"]}], "
    "\"devices\": [{\"name\": \"SEP001794625DE5\", \"model\": \"Cisco 8865\", "
    "\"protocol\": \"SIP\", \"owner\": \"mjavier\"}]}";

static int port;

static void die(const char *what, const char *err)
{
	fprintf(stderr, "fuzz_cti_session: %s: %s\n", what, err);
	abort();
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0)
		die("free port", strerror(errno));
	close(fd);
	return ntohs(a.sin_port);
}

/* Store, directory, workers, one loop and the CTI server: started once, never stopped
 * (the process ends with the fuzzing run). */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	static struct tg_config cfg;
	char err[512], dir[] = "/tmp/fuzz_cti_session.XXXXXX", db[64];
	signal(SIGPIPE, SIG_IGN);
	xmlInitParser();
	if (loop_threads_init() != 0 || dir_passwd_init() != 0 || !mkdtemp(dir))
		die("init", "libevent threads, libsodium or mkdtemp");
	if (log_configure(LOG_LVL_CRIT, LOG_FMT_KV, "file:/dev/null", err, sizeof err) != 0)
		die("log", err);
	snprintf(db, sizeof db, "%s/telgate.db", dir);
	config_defaults(&cfg);
	cfg.password.argon2_t = 1;
	cfg.password.argon2_m_kib = 8;
	cfg.dir.workers = 1;
	cfg.dir.failure_delay_ms = 0;
	snprintf(cfg.cti.address, sizeof cfg.cti.address, "127.0.0.1");
	cfg.cti.port = port = free_port();
	cfg.cti.tls_port = 0;
	cfg.cti.allow_plain_login = 1;
	struct store_options so = {.backend = "sqlite", .path = db, .busy_timeout_ms = 5000};
	store_t *st;
	if (store_open(&so, &st, err, sizeof err) != STORE_OK)
		die("store", err);
	struct prov_options po = {.pw = {.t = 1, .m_kib = 8}, .sip_realm = "fuzz"};
	struct prov_result pr;
	if (prov_import(st, provisioning, sizeof provisioning - 1, &po, &pr, err, sizeof err) != 0)
		die("provisioning", err);
	struct loop_group *lg = loop_group_start(1);
	struct workers *w = workers_start(1, 1024);
	struct dir_options dopt = {.store = st, .cfg = &cfg};
	struct dir *d = lg && w ? dir_start(&dopt, err, sizeof err) : NULL;
	if (!d)
		die("directory", err);
	struct devstate *bus = devstate_new();
	if (!bus)
		die("device-state bus", "out of memory");
	struct cti_server_options co = {
	    .cfg = &cfg, .store = st, .dir = d, .workers = w, .loops = lg, .devstate = bus};
	if (!cti_server_start(&co, err, sizeof err))
		die("cti server", err);
	return 0;
}

/* Writes all of data while reading (and dropping) the answers, so that neither side
 * blocks on a full socket buffer; then half-closes and reads until the server closes.
 * Returns 0, or -1 when the server stops making progress for WAIT_MS. */
static int exchange(int fd, const uint8_t *data, size_t size)
{
	size_t off = 0;
	int wr_open = 1;
	char buf[65536];
	for (;;) {
		if (wr_open && off == size) {
			shutdown(fd, SHUT_WR);
			wr_open = 0;
		}
		struct pollfd p = {fd, (short)(POLLIN | (wr_open ? POLLOUT : 0)), 0};
		int n = poll(&p, 1, WAIT_MS);
		if (n == 0)
			return -1;
		if (n < 0)
			continue;
		if (p.revents & POLLIN || p.revents & (POLLHUP | POLLERR)) {
			ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
				return 0; /* the server closed: everything was consumed */
		}
		if (wr_open && p.revents & POLLOUT) {
			ssize_t r = send(fd, data + off, size - off, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (r > 0)
				off += (size_t)r;
			else if (r < 0 && errno != EAGAIN && errno != EINTR)
				wr_open =
				    0; /* closed by the server (framing error, failed logins) */
		}
	}
}

/* A connected socket to the server. Non-blocking: libFuzzer's SIGALRM (its -timeout
 * watchdog, every few seconds, without SA_RESTART) interrupts a blocking connect() that
 * waits for the handshake with EINTR; poll() is simply called again. */
static int connect_server(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0 || (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS &&
	               errno != EINTR))
		die("connect", strerror(errno));
	struct pollfd p = {fd, POLLOUT, 0};
	int n;
	while ((n = poll(&p, 1, WAIT_MS)) < 0 && errno == EINTR)
		;
	int soerr = 0;
	socklen_t sl = sizeof soerr;
	if (n == 0)
		die("connect", "no answer within WAIT_MS");
	if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr)
		die("connect", strerror(n < 0 ? errno : soerr ? soerr : errno));
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = connect_server();
	if (exchange(fd, data, size) != 0)
		die("exchange", "the server neither answered nor closed within WAIT_MS");
	close(fd);
	return 0;
}
