/* SPDX-License-Identifier: ISC */
#include "admin/metrics.h"
#include "authz/authz.h"
#include "authz/oauth.h"

#include "ca/est_enrol.h"
#include "ca/est_server.h"
#include "ca/signer.h"
#include "core/alarm.h"
#include "core/devstate.h"
#include "core/stream.h"
#include "core/worker.h"
#include "provision/tftp.h"
#include "sip/location.h"

#include <stddef.h>
#include <string.h>

/* --- the listeners (core/stream counters) ---------------------------------------------- */

/* One family per counter, a sample per listener: families must be contiguous in the
 * text format, so each family walks the listener list once. */
struct stream_family {
	const char *name, *help;
	enum metrics_type type;
	size_t offset; /* of the field in struct stream_stats */
	int is_signed;
};

#define SF(n, h, t, f, s)                                                                          \
	{                                                                                          \
		n, h, t, offsetof(struct stream_stats, f), s                                       \
	}
static const struct stream_family stream_families[] = {
    SF("telgate_connections_accepted_total", "Connections accepted, after the caps.",
       METRICS_COUNTER, accepted, 0),
    SF("telgate_connections_refused_cap_total",
       "Connections refused by the node or per-source connection cap, before any TLS work.",
       METRICS_COUNTER, refused_cap, 0),
    SF("telgate_connections_refused_fd_total",
       "Connections not accepted for want of file descriptors (accepting pauses).", METRICS_COUNTER,
       refused_fd, 0),
    SF("telgate_connections_timeouts_total",
       "Connections closed by the first-message, idle or "
       "flush timeout.",
       METRICS_COUNTER, timeouts, 0),
    SF("telgate_connections_slow_consumers_total",
       "Connections cut off because the peer did not read what was queued for it.", METRICS_COUNTER,
       slow_consumers, 0),
    SF("telgate_connection_received_bytes_total", "Bytes read from connections, after TLS.",
       METRICS_COUNTER, bytes_in, 0),
    SF("telgate_connection_sent_bytes_total", "Bytes queued for writing, before TLS.",
       METRICS_COUNTER, bytes_out, 0),
    SF("telgate_connections_open", "Connections open now.", METRICS_GAUGE, open, 1),
};

struct stream_walk {
	struct metrics_out *o;
	const struct stream_family *f;
};

static void stream_sample(void *arg, const char *listener, const struct stream_stats *st)
{
	struct stream_walk *w = arg;
	const char *p = (const char *)st + w->f->offset;
	if (w->f->is_signed)
		metrics_sample_i(
		    w->o, w->f->name,
		    atomic_load_explicit((const _Atomic int64_t *)p, memory_order_relaxed),
		    "listener", listener, (char *)NULL);
	else
		metrics_sample_u(
		    w->o, w->f->name,
		    atomic_load_explicit((const _Atomic uint64_t *)p, memory_order_relaxed),
		    "listener", listener, (char *)NULL);
}

#define TLS_FAILED "telgate_connections_tls_failed_total"

/* Every reason of the fixed set, zeros included: the series exist from the start. */
static void tls_failed_samples(void *arg, const char *listener, const struct stream_stats *st)
{
	struct metrics_out *o = arg;
	for (int r = 0; r < STREAM_TLS_FAIL_N; r++)
		metrics_sample_u(o, TLS_FAILED,
		                 atomic_load_explicit(&st->tls_failed_by[r], memory_order_relaxed),
		                 "listener", listener, "reason",
		                 stream_tls_fail_name((enum stream_tls_fail)r), (char *)NULL);
}

static void listeners(struct metrics_out *o)
{
	for (size_t i = 0; i < sizeof stream_families / sizeof stream_families[0]; i++) {
		struct stream_walk w = {o, &stream_families[i]};
		metrics_family(o, w.f->name, w.f->type, w.f->help);
		stream_stats_foreach(stream_sample, &w);
	}
	metrics_family(o, TLS_FAILED, METRICS_COUNTER,
	               "TLS handshakes or records refused, by reason (a fixed set; OpenSSL's own "
	               "text is in the log line stream_tls_failed).");
	stream_stats_foreach(tls_failed_samples, o);
}

/* --- SIP ---------------------------------------------------------------------------- */

/* A family of one unlabelled sample. */
static void single(struct metrics_out *o, const char *name, enum metrics_type type,
                   const char *help, uint64_t v)
{
	metrics_family(o, name, type, help);
	metrics_sample_u(o, name, v, (char *)NULL);
}

static void sip(struct metrics_out *o, struct sip_registrar *r)
{
	if (!r)
		return;
	struct sip_registrar_stats st;
	sip_registrar_stats(r, &st);
	metrics_family(o, "telgate_sip_registrations", METRICS_GAUGE,
	               "Live registration bindings (contacts) in the location service.");
	metrics_sample_u(o, "telgate_sip_registrations", st.bindings, (char *)NULL);
	metrics_family(o, "telgate_sip_requests_total", METRICS_COUNTER,
	               "SIP requests received (UDP datagrams and stream frames), by method; other: "
	               "any other method, or a message unreadable as far as its method.");
	metrics_sample_u(o, "telgate_sip_requests_total", st.requests_register, "method",
	                 "REGISTER", (char *)NULL);
	metrics_sample_u(o, "telgate_sip_requests_total", st.requests_options, "method", "OPTIONS",
	                 (char *)NULL);
	metrics_sample_u(o, "telgate_sip_requests_total", st.requests_other, "method", "other",
	                 (char *)NULL);
	metrics_family(o, "telgate_sip_responses_total", METRICS_COUNTER,
	               "SIP responses sent, by class (retransmitted answers and held 403s "
	               "included).");
	static const char *const classes[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx", "6xx"};
	for (int c = 1; c <= 6; c++)
		metrics_sample_u(o, "telgate_sip_responses_total", st.responses[c], "class",
		                 classes[c], (char *)NULL);
	metrics_family(o, "telgate_sip_throttled_total", METRICS_COUNTER,
	               "REGISTERs refused because their source failed too often this minute "
	               "(sip.source_failures_max).");
	metrics_sample_u(o, "telgate_sip_throttled_total", st.throttled, (char *)NULL);
	metrics_family(o, "telgate_sip_answers_held_for_store", METRICS_GAUGE,
	               "200s held now until the binding they add or remove is committed.");
	metrics_sample_u(o, "telgate_sip_answers_held_for_store", st.held_for_store, (char *)NULL);
	single(o, "telgate_sip_store_behind_total", METRICS_COUNTER,
	       "New bindings and removals answered 503 Retry-After at once because the store was "
	       "behind (admission control) or too many answers were held.",
	       st.store_busy);
	metrics_family(o, "telgate_sip_retransmissions_total", METRICS_COUNTER,
	               "UDP retransmissions of REGISTERs recognised (RFC 3261 "
	               "17.2.2): repeated: answered with their transaction's answer; absorbed: "
	               "dropped while that answer was decided or held for the store.");
	metrics_sample_u(o, "telgate_sip_retransmissions_total", st.retrans_repeated, "result",
	                 "repeated", (char *)NULL);
	metrics_sample_u(o, "telgate_sip_retransmissions_total", st.retrans_absorbed, "result",
	                 "absorbed", (char *)NULL);
	single(o, "telgate_sip_transactions", METRICS_GAUGE,
	       "UDP REGISTER transactions whose answer is kept for retransmissions (32 s).",
	       st.txn_entries);
	single(o, "telgate_sip_transactions_bytes", METRICS_GAUGE,
	       "Memory of the kept transactions' answers (bytes).", st.txn_bytes);
	single(o, "telgate_sip_transactions_evicted_early_total", METRICS_COUNTER,
	       "Kept answers forgotten before their 32 s because of the memory bound.",
	       st.txn_evicted_early);
	single(o, "telgate_sip_nonce_replays_total", METRICS_COUNTER,
	       "Authenticated REGISTERs challenged again because their nonce count was used "
	       "already (replays, or retransmissions that missed their transaction).",
	       st.nonce_replays);
	const struct sip_loc_stats *ls = sip_registrar_commit_stats(r);
	metrics_histogram_write(o, "telgate_sip_location_commit_seconds",
	                        "Location writer commits, from begin (the wait for the write lock "
	                        "included) to commit.",
	                        &ls->commit_latency);
	metrics_histogram_write(o, "telgate_sip_location_commit_changes",
	                        "Binding changes per location writer commit (le and _sum count "
	                        "changes, not seconds).",
	                        &ls->batch_changes);
}

/* --- CTI ------------------------------------------------------------------------------ */

struct cti_count {
	uint64_t sessions[2]; /* [0] tcp, [1] tls */
};

static void count_session(void *ud, const struct cti_session_info *i)
{
	struct cti_count *c = ud;
	c->sessions[i->transport && strcmp(i->transport, "tls") == 0]++;
}

static void cti(struct metrics_out *o, struct cti_server *s)
{
	if (!s)
		return;
	struct cti_count c = {{0, 0}};
	cti_server_sessions(s, count_session, &c);
	struct cti_server_stats st;
	cti_server_stats(s, &st);
	metrics_family(o, "telgate_cti_logins_total", METRICS_COUNTER,
	               "CTI logins (StartApplicationSession), by result and by the directory "
	               "that decided (none: refused before the directory was asked).");
	const char *n = "telgate_cti_logins_total";
	metrics_sample_u(o, n, st.logins_ok_local, "result", "success", "directory", "local",
	                 (char *)NULL);
	metrics_sample_u(o, n, st.logins_ok_ldap, "result", "success", "directory", "ldap",
	                 (char *)NULL);
	metrics_sample_u(o, n, st.logins_refused_local, "result", "refused", "directory", "local",
	                 (char *)NULL);
	metrics_sample_u(o, n, st.logins_refused_ldap, "result", "refused", "directory", "ldap",
	                 (char *)NULL);
	metrics_sample_u(o, n, st.logins_refused_other, "result", "refused", "directory", "none",
	                 (char *)NULL);
	metrics_family(o, "telgate_cti_sessions", METRICS_GAUGE,
	               "CTI application sessions open now, by transport.");
	metrics_sample_u(o, "telgate_cti_sessions", c.sessions[0], "transport", "tcp",
	                 (char *)NULL);
	metrics_sample_u(o, "telgate_cti_sessions", c.sessions[1], "transport", "tls",
	                 (char *)NULL);
	metrics_family(o, "telgate_cti_monitors", METRICS_GAUGE, "CTI device monitors open now.");
	metrics_sample_u(o, "telgate_cti_monitors", st.monitors_open, (char *)NULL);
	metrics_family(
	    o, "telgate_cti_device_state_changes_total", METRICS_COUNTER,
	    "Device-state changes (in service, out of service) the CTI server received.");
	metrics_sample_u(o, "telgate_cti_device_state_changes_total", st.device_events_in,
	                 (char *)NULL);
	metrics_family(o, "telgate_cti_device_events_sent_total", METRICS_COUNTER,
	               "Device-state events (BackInService, OutOfService) sent to monitoring "
	               "sessions.");
	metrics_sample_u(o, "telgate_cti_device_events_sent_total", st.device_events_sent,
	                 (char *)NULL);
}

static void devices(struct metrics_out *o, struct devstate *b)
{
	if (!b)
		return;
	metrics_family(o, "telgate_devices_in_service", METRICS_GAUGE,
	               "Devices in service now (registered: at least one binding).");
	metrics_sample_u(o, "telgate_devices_in_service", (uint64_t)devstate_in_service(b),
	                 (char *)NULL);
	metrics_family(o, "telgate_device_state_changes_total", METRICS_COUNTER,
	               "Device-state changes published on the device-state bus (in service, out "
	               "of service).");
	metrics_sample_u(o, "telgate_device_state_changes_total", devstate_changes(b),
	                 (char *)NULL);
}

/* --- TFTP ------------------------------------------------------------------------------ */

static void tftp(struct metrics_out *o, struct tftp_server *s)
{
	if (!s)
		return;
	struct tftp_stats st;
	tftp_stats(s, &st);
	metrics_family(o, "telgate_tftp_requests_total", METRICS_COUNTER,
	               "Well-formed TFTP read and write requests received.");
	metrics_sample_u(o, "telgate_tftp_requests_total", st.requests, (char *)NULL);
	metrics_family(o, "telgate_tftp_malformed_total", METRICS_COUNTER,
	               "Datagrams at the TFTP port that were not a well-formed request.");
	metrics_sample_u(o, "telgate_tftp_malformed_total", st.malformed, (char *)NULL);
	metrics_family(o, "telgate_tftp_refused_total", METRICS_COUNTER,
	               "TFTP requests refused, by the TFTP error code answered (0 includes the "
	               "caps' \"server busy\", 1 file not found, 2 access violation, 8 options).");
	static const char *const codes[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8"};
	for (int c = 0; c < 9; c++)
		if (c == 0 || c == 1 || c == 2 || c == 4 || c == 8)
			metrics_sample_u(o, "telgate_tftp_refused_total", st.refused[c], "code",
			                 codes[c], (char *)NULL);
	metrics_family(o, "telgate_tftp_busy_total", METRICS_COUNTER,
	               "TFTP requests refused by the node or per-source transfer cap.");
	metrics_sample_u(o, "telgate_tftp_busy_total", st.busy, (char *)NULL);
	metrics_family(o, "telgate_tftp_transfers_total", METRICS_COUNTER,
	               "TFTP transfers finished, by result.");
	for (int r = 0; r < TFTP_RESULT_N; r++)
		metrics_sample_u(o, "telgate_tftp_transfers_total", st.results[r], "result",
		                 tftp_result_name((enum tftp_result)r), (char *)NULL);
	metrics_family(o, "telgate_tftp_transfers_active", METRICS_GAUGE,
	               "TFTP transfers running now.");
	metrics_sample_u(o, "telgate_tftp_transfers_active", st.active, (char *)NULL);
	metrics_family(o, "telgate_tftp_sent_bytes_total", METRICS_COUNTER,
	               "TFTP DATA payload bytes sent, retransmissions included.");
	metrics_sample_u(o, "telgate_tftp_sent_bytes_total", st.data_bytes, (char *)NULL);
	metrics_family(o, "telgate_tftp_data_packets_total", METRICS_COUNTER,
	               "TFTP DATA packets sent, retransmissions included.");
	metrics_sample_u(o, "telgate_tftp_data_packets_total", st.data_packets, (char *)NULL);
	metrics_family(o, "telgate_tftp_retransmits_total", METRICS_COUNTER,
	               "TFTP DATA and OACK packets sent again after a timeout.");
	metrics_sample_u(o, "telgate_tftp_retransmits_total", st.retransmits, (char *)NULL);
	metrics_family(o, "telgate_tftp_wrong_tid_total", METRICS_COUNTER,
	               "Datagrams at a transfer's port from another address or port (answered "
	               "with error 5).");
	metrics_sample_u(o, "telgate_tftp_wrong_tid_total", st.wrong_tid, (char *)NULL);
}

/* --- OAuth tokens (authz/authz.h) ------------------------------------------------------- */

static void oauth(struct metrics_out *o, struct authz *a)
{
	if (!a)
		return;
	struct authz_stats st;
	authz_stats_get(a, &st);
	metrics_family(
	    o, "telgate_oauth_verifications_total", METRICS_COUNTER,
	    "Access tokens verified (authz_verify), by result: ok with a signature check "
	    "(cold), ok from the verified-token cache (cached), or the refusal's verdict.");
	metrics_sample_u(o, "telgate_oauth_verifications_total", st.verified_cold, "result", "ok",
	                 "path", "cold", (char *)NULL);
	metrics_sample_u(o, "telgate_oauth_verifications_total", st.verified_cached, "result", "ok",
	                 "path", "cached", (char *)NULL);
	for (int v = AUTHZ_OK + 1; v < AUTHZ_VERDICT_N; v++)
		metrics_sample_u(o, "telgate_oauth_verifications_total", st.refused[v], "result",
		                 authz_verdict_name((enum authz_verdict)v), "path", "refused",
		                 (char *)NULL);
	metrics_family(o, "telgate_oauth_tokens_issued_total", METRICS_COUNTER,
	               "Access tokens signed (result ok) or not (failed: signer, key).");
	metrics_sample_u(o, "telgate_oauth_tokens_issued_total", st.issued, "result", "ok",
	                 (char *)NULL);
	metrics_sample_u(o, "telgate_oauth_tokens_issued_total", st.issue_failed, "result",
	                 "failed", (char *)NULL);
	metrics_family(o, "telgate_oauth_verified_cache_entries", METRICS_GAUGE,
	               "Verified access tokens remembered until their exp.");
	metrics_sample_u(o, "telgate_oauth_verified_cache_entries", st.cache_entries, (char *)NULL);
}

/* --- EST and the signer ---------------------------------------------------------------- */

_Static_assert(sizeof((struct est_server_stats *)0)->enrolments == EST_OUTCOMES * sizeof(uint64_t),
               "an enrolments counter per outcome");

static void est(struct metrics_out *o, struct est_server *e)
{
	if (!e)
		return;
	struct est_server_stats st;
	est_server_stats(e, &st);
	metrics_family(o, "telgate_est_enrolments_total", METRICS_COUNTER,
	               "EST enrolments decided on a worker, by outcome (issued, revoked, bad_csr, "
	               "auth, cert_refused, throttled, busy: the signer's queue was full, "
	               "unavailable: the signer was not answering, error).");
	for (int i = 0; i < EST_OUTCOMES; i++)
		metrics_sample_u(o, "telgate_est_enrolments_total", st.enrolments[i], "outcome",
		                 est_outcome_name((enum est_outcome)i), (char *)NULL);
	metrics_family(o, "telgate_est_admission_refused_total", METRICS_COUNTER,
	               "EST enrolments answered 202 + Retry-After before any work, by the limit "
	               "reached (queue: est.queue, rate: est.rate).");
	metrics_sample_u(o, "telgate_est_admission_refused_total", st.refused_queue, "limit",
	                 "queue", (char *)NULL);
	metrics_sample_u(o, "telgate_est_admission_refused_total", st.refused_rate, "limit", "rate",
	                 (char *)NULL);
	metrics_family(o, "telgate_est_enrolments_in_flight", METRICS_GAUGE,
	               "EST enrolments admitted and not yet answered.");
	metrics_sample_u(o, "telgate_est_enrolments_in_flight", st.in_flight, (char *)NULL);
}

static void signer(struct metrics_out *o, struct signer *s)
{
	if (!s)
		return;
	struct signer_stats st;
	signer_stats(s, &st);
	metrics_family(o, "telgate_signer_requests_total", METRICS_COUNTER,
	               "Requests to the signer process, by result (answered: any answer, a refusal "
	               "included; failed: its queue was full, it did not answer or restarted).");
	metrics_sample_u(o, "telgate_signer_requests_total", st.served, "result", "answered",
	                 (char *)NULL);
	metrics_sample_u(o, "telgate_signer_requests_total", st.failed, "result", "failed",
	                 (char *)NULL);
	metrics_family(o, "telgate_signer_queue_depth", METRICS_GAUGE,
	               "Requests to the signer waiting for their answer now.");
	metrics_sample_u(o, "telgate_signer_queue_depth", st.in_flight, (char *)NULL);
	metrics_family(o, "telgate_signer_restarts_total", METRICS_COUNTER,
	               "Times the monitor restarted the signer process.");
	metrics_sample_u(o, "telgate_signer_restarts_total", st.restarts, (char *)NULL);
	metrics_histogram_write(o, "telgate_signer_request_seconds",
	                        "Requests to the signer, from the call to the answer (its queue "
	                        "and the round trip included).",
	                        signer_latency(s));
}

/* --- the OAuth server (authz/oauth.h) ------------------------------------------------- */

static void oauth_server(struct metrics_out *o, struct oauth *s)
{
	if (!s)
		return;
	struct oauth_stats st;
	oauth_stats(s, &st);
	metrics_family(o, "telgate_oauth_grants_total", METRICS_COUNTER,
	               "Token-endpoint answers that issued an access token (every grant type).");
	metrics_sample_u(o, "telgate_oauth_grants_total", st.tokens_issued, (char *)NULL);
	metrics_family(
	    o, "telgate_oauth_refreshes_total", METRICS_COUNTER,
	    "Refresh-token grants by outcome: rotated (a new successor), retry (the same "
	    "successor again within refresh_grace_s), reuse (a used token after it: the "
	    "family revoked).");
	metrics_sample_u(o, "telgate_oauth_refreshes_total", st.refresh_rotations, "outcome",
	                 "rotated", (char *)NULL);
	metrics_sample_u(o, "telgate_oauth_refreshes_total", st.refresh_retries, "outcome", "retry",
	                 (char *)NULL);
	metrics_sample_u(o, "telgate_oauth_refreshes_total", st.refresh_reuse_revocations,
	                 "outcome", "reuse", (char *)NULL);
	metrics_family(o, "telgate_oauth_logins_total", METRICS_COUNTER,
	               "Passwords posted on the login and device pages, by result; unknown_user "
	               "went through the directory's dummy hash at the cost of a real one.");
	metrics_sample_u(o, "telgate_oauth_logins_total", st.logins_ok, "result", "ok",
	                 (char *)NULL);
	metrics_sample_u(o, "telgate_oauth_logins_total", st.logins_failed, "result", "failed",
	                 (char *)NULL);
	metrics_sample_u(o, "telgate_oauth_logins_total", st.logins_unknown_user, "result",
	                 "unknown_user", (char *)NULL);
	metrics_family(o, "telgate_oauth_requests_total", METRICS_COUNTER,
	               "Introspection and revocation requests by authenticated clients, and "
	               "requests refused before any decision (bad form, bad client credentials "
	               "syntax).");
	metrics_sample_u(o, "telgate_oauth_requests_total", st.introspections, "endpoint",
	                 "introspect", (char *)NULL);
	metrics_sample_u(o, "telgate_oauth_requests_total", st.revocations, "endpoint", "revoke",
	                 (char *)NULL);
	metrics_sample_u(o, "telgate_oauth_requests_total", st.bad_requests, "endpoint", "refused",
	                 (char *)NULL);
}

/* --- the directory ------------------------------------------------------------------- */

static void directory(struct metrics_out *o, struct dir *d)
{
	if (!d)
		return;
	struct dir_stats s;
	dir_stats(d, &s);
	metrics_family(o, "telgate_dir_authentications_total", METRICS_COUNTER,
	               "Password authentications by the directory (CTI logins, auth test), by "
	               "result.");
	metrics_sample_u(o, "telgate_dir_authentications_total", s.successes, "result", "success",
	                 (char *)NULL);
	metrics_sample_u(o, "telgate_dir_authentications_total", s.failures, "result", "failure",
	                 (char *)NULL);
	metrics_family(o, "telgate_ldap_operations_total", METRICS_COUNTER,
	               "LDAP operations, by kind.");
	metrics_sample_u(o, "telgate_ldap_operations_total", s.ldap_searches, "operation", "search",
	                 (char *)NULL);
	metrics_sample_u(o, "telgate_ldap_operations_total", s.ldap_user_binds, "operation", "bind",
	                 (char *)NULL);
	metrics_sample_u(o, "telgate_ldap_operations_total", s.ldap_connects, "operation",
	                 "connect", (char *)NULL);
	metrics_family(o, "telgate_ldap_timeouts_total", METRICS_COUNTER,
	               "LDAP operations that timed out.");
	metrics_sample_u(o, "telgate_ldap_timeouts_total", s.ldap_timeouts, (char *)NULL);
	metrics_family(o, "telgate_ldap_failovers_total", METRICS_COUNTER,
	               "Times the LDAP pool moved to another server.");
	metrics_sample_u(o, "telgate_ldap_failovers_total", s.ldap_failovers, (char *)NULL);
}

/* --- the process ---------------------------------------------------------------------- */

static void workers(struct metrics_out *o, struct workers *w)
{
	if (!w)
		return;
	metrics_family(o, "telgate_worker_jobs", METRICS_GAUGE,
	               "Worker-pool jobs queued or running now.");
	metrics_sample_u(o, "telgate_worker_jobs", (uint64_t)workers_pending(w), (char *)NULL);
	metrics_family(o, "telgate_worker_rejections_total", METRICS_COUNTER,
	               "Jobs refused because the worker queue was full (the request was answered "
	               "with an overload error).");
	metrics_sample_u(o, "telgate_worker_rejections_total", workers_rejected(w), (char *)NULL);
}

static void alarms(struct metrics_out *o)
{
	struct alarm_count c[ALARM_COUNTS_MAX];
	size_t n = alarm_counts(c, ALARM_COUNTS_MAX);
	metrics_family(o, "telgate_alarms_raised_total", METRICS_COUNTER,
	               "Alarms raised since the start, by alarm name and severity.");
	for (size_t i = 0; i < n; i++)
		metrics_sample_u(o, "telgate_alarms_raised_total", c[i].raised, "alarm", c[i].name,
		                 "severity", alarm_severity_name(c[i].severity), (char *)NULL);
}

int admin_metrics_render(struct admin_ctx *a, struct metrics_out *o)
{
	metrics_family(o, "telgate_start_time_seconds", METRICS_GAUGE,
	               "When telgated started, in seconds since the Unix epoch.");
	metrics_sample_i(o, "telgate_start_time_seconds", a->started_s, (char *)NULL);
	listeners(o);
	sip(o, a->sip);
	devices(o, a->devstate);
	cti(o, a->cti);
	tftp(o, a->tftp);
	est(o, a->est);
	signer(o, a->signer);
	directory(o, a->dir);
	oauth(o, a->authz);
	oauth_server(o, a->oauth);
	workers(o, a->workers);
	metrics_histogram_write(o, "telgate_store_transaction_seconds",
	                        "Store transactions, from begin (the wait for the write lock "
	                        "included) to commit or rollback.",
	                        store_txn_latency(a->store));
	alarms(o);
	return o->failed ? -1 : 0;
}
