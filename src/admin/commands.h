/* SPDX-License-Identifier: ISC */
/*
 * commands: the one list of control commands, shared by telgated (which runs them, see
 * admin.c) and the telgate CLI (which checks the words before it connects and prints
 * `--help` from it), so `telgate help`, `telgate --help` and the daemon cannot disagree.
 *
 * ADMIN_COMMANDS(X) expands X(handler, words, minargs, maxargs, effect, usage) once per
 * command: handler names admin.c's cmd_<handler>; words are the fixed words, separated by
 * one space; minargs and maxargs bound argc, the words included; effect is CHANGES for a
 * command that changes something (it goes to the audit log with who asked: audit.h) or
 * READS ("store snapshot" counts as CHANGES: a copy of every password hash is worth an
 * audit line). A value that is a secret (capf's --auth-string) is never recorded: audit.c
 * redacts it. Constant data and pure
 * functions: safe from any thread.
 */
#ifndef TG_ADMIN_COMMANDS_H
#define TG_ADMIN_COMMANDS_H

#include <stddef.h>

/* clang-format off */
#define ADMIN_COMMANDS(X)                                                                  \
	X(status, "status", 1, 1, READS, "status")                                         \
	X(run_sql, "run sql", 3, 3, READS, "run sql \"SELECT ...\"")                       \
	X(open_ports, "show open ports", 3, 5, READS, "show open ports [regexp PATTERN]")  \
	X(set_param, "set param", 4, 4, CHANGES, "set param NAME VALUE")                   \
	X(get_param, "get param", 3, 3, READS, "get param NAME")                           \
	X(import, "import", 2, 2, CHANGES, "import FILE.json")                             \
	X(alarms, "show alarms", 2, 2, READS, "show alarms")                               \
	X(metrics, "show metrics", 2, 2, READS, "show metrics")                            \
	X(audit, "show audit", 2, 3, READS, "show audit [N]")                              \
	X(cti_sessions, "show cti sessions", 3, 3, READS, "show cti sessions")             \
	X(cti_monitors, "show cti monitors", 3, 3, READS, "show cti monitors")             \
	X(device_state, "device state", 4, 4, CHANGES,                                     \
	  "device state DEVICE in-service|out-of-service")                                 \
	X(tftp_show, "show tftp", 2, 2, READS, "show tftp")                                 \
	X(registrations, "show registrations", 2, 3, READS, "show registrations [DEVICE]") \
	X(unregister, "unregister", 2, 2, CHANGES, "unregister DEVICE")                    \
	X(edge_add, "edge add", 3, 4, CHANGES, "edge add IDENTITY [ADDED_BY]")             \
	X(edge_remove, "edge remove", 3, 3, CHANGES, "edge remove IDENTITY")               \
	X(edge_list, "edge list", 2, 2, READS, "edge list")                                \
	X(user_show, "user show", 3, 3, READS, "user show USER")                           \
	X(user_delete, "user delete", 3, 3, CHANGES, "user delete USER")                   \
	X(user_unlock, "user unlock", 3, 5, CHANGES,                                       \
	  "user unlock USER [--credential password|digest|all]")                           \
	X(user_lock, "user lock", 3, 5, CHANGES,                                           \
	  "user lock USER [--credential password|digest|all]")                             \
	X(user_ctiauthtype, "user ctiauthtype", 4, 4, CHANGES,                             \
	  "user ctiauthtype USER password|certificate")                                    \
	X(ldap_test, "ldap test", 2, 3, READS, "ldap test [USER]")                         \
	X(auth_test, "auth test", 3, 3, CHANGES,                                           \
	  "auth test USER (password from TELGATE_PASSWORD, a prompt or stdin)")            \
	X(tls_protocols_get, "tls protocols get", 4, 4, READS, "tls protocols get LEVEL")    \
	X(tls_protocols_add, "tls protocols add", 5, 5, CHANGES,                           \
	  "tls protocols add LEVEL TLSv1.2|TLSv1.3")                                       \
	X(tls_protocols_delete, "tls protocols delete", 5, 5, CHANGES,                     \
	  "tls protocols delete LEVEL TLSv1.2|TLSv1.3")                                    \
	X(tls_protocols_clear, "tls protocols clear", 4, 4, CHANGES,                       \
	  "tls protocols clear LEVEL")                                                     \
	X(tls_ciphers_get, "tls ciphers get", 4, 4, READS, "tls ciphers get LEVEL")          \
	X(tls_ciphers_add, "tls ciphers add", 5, 5, CHANGES,                               \
	  "tls ciphers add LEVEL IANA_SUITE_NAME")                                         \
	X(tls_ciphers_delete, "tls ciphers delete", 5, 5, CHANGES,                         \
	  "tls ciphers delete LEVEL IANA_SUITE_NAME")                                      \
	X(tls_ciphers_clear, "tls ciphers clear", 4, 4, CHANGES, "tls ciphers clear LEVEL")  \
	X(tls_profile_apply, "tls profile apply", 5, 5, CHANGES,                           \
	  "tls profile apply LEVEL bwks-default|telgate-default")                          \
	X(tls_show, "tls show", 2, 3, READS, "tls show [interface=KIND@ADDRESS:PORT]")       \
	X(tls_set, "tls set", 5, 5, CHANGES, "tls set LEVEL allowClientApp true|false|inherit")      \
	X(trust_update, "trust update", 5, 5, CHANGES, "trust update LEVEL ALIAS FILE")      \
	X(trust_get, "trust get", 2, 3, READS, "trust get [LEVEL]")                          \
	X(trust_delete, "trust delete", 4, 4, CHANGES, "trust delete LEVEL ALIAS")           \
	X(identity_add, "identity add", 4, 4, CHANGES, "identity add LEVEL NAME")            \
	X(identity_delete, "identity delete", 4, 4, CHANGES, "identity delete LEVEL NAME")   \
	X(identity_get, "identity get", 2, 3, READS, "identity get [LEVEL]")                 \
	X(tls_cert_update, "tls cert update", 6, 7, CHANGES,                               \
	  "tls cert update interface=KIND@ADDRESS:PORT KEYFILE CERTFILE [CHAINFILE]")     \
	X(tls_cert_delete, "tls cert delete", 4, 4, CHANGES,                               \
	  "tls cert delete interface=KIND@ADDRESS:PORT")                                   \
	X(tls_cert_get, "tls cert get", 3, 4, READS,                                       \
	  "tls cert get [interface=KIND@ADDRESS:PORT]")                                    \
	X(cti_iface_get, "cti-interface get", 2, 2, READS, "cti-interface get")            \
	X(cti_iface_add, "cti-interface add", 6, 7, CHANGES,                               \
	  "cti-interface add PORT SECURE SERVERCERT CLIENTAUTH [ADDRESS] (true|false each)") \
	X(cti_iface_delete, "cti-interface delete", 3, 4, CHANGES,                         \
	  "cti-interface delete PORT [ADDRESS]")                                           \
	X(cti_iface_ssl_update, "cti-interface ssl-update", 5, 6, CHANGES,                 \
	  "cti-interface ssl-update ADDRESS:PORT KEYFILE CERTFILE [CHAINFILE]")            \
	X(cti_iface_scope_add, "cti-interface scope add", 5, 5, CHANGES,                   \
	  "cti-interface scope add IDENTITY all|GROUP")                                    \
	X(cti_iface_scope_delete, "cti-interface scope delete", 5, 5, CHANGES,             \
	  "cti-interface scope delete IDENTITY all|GROUP")                                 \
	X(cti_iface_scope_get, "cti-interface scope get", 3, 4, READS,                     \
	  "cti-interface scope get [IDENTITY]")                                            \
	X(cti_iface_status, "cti-interface status", 2, 2, READS, "cti-interface status")   \
	X(show_config, "show config", 3, 3, READS, "show config DEVICE|XMLDefault.cnf.xml")  \
	X(line_show, "line show", 3, 3, READS, "line show LINE (every device the line is on)") \
	X(show_nodes, "show nodes", 2, 2, READS, "show nodes")                             \
	X(cluster_status, "cluster status", 2, 2, READS, "cluster status")                 \
	X(show_securityprofiles, "show securityprofiles", 2, 2, READS, "show securityprofiles") \
	X(node_delete, "node delete", 3, 3, CHANGES, "node delete NAME")                   \
	X(capf_add, "capf add", 5, 15, CHANGES,                                            \
	  "capf add USER --instance-id ID [--auth-mode string|none] [--auth-string S] "    \
	  "[--key ec-p256|ec-p384|rsa-2048|rsa-3072] [--operation install|delete] "        \
	  "[--expires-in DURATION]")                                                       \
	X(capf_list, "capf list", 2, 3, READS, "capf list [USER]")                         \
	X(capf_show, "capf show", 3, 3, READS, "capf show ID")                             \
	X(capf_delete, "capf delete", 3, 3, CHANGES, "capf delete ID")                     \
	X(capf_rearm, "capf rearm", 3, 7, CHANGES,                                         \
	  "capf rearm ID [--auth-string S] [--expires-in DURATION]")                       \
	X(cert_list, "cert list", 2, 3, READS, "cert list [USER]")                         \
	X(cert_revoke, "cert revoke", 4, 4, CHANGES,                                       \
	  "cert revoke SERIAL unspecified|keyCompromise|cACompromise|affiliationChanged|"  \
	  "superseded|cessationOfOperation|certificateHold|privilegeWithdrawn")            \
	X(oauth_client_add, "oauth client add", 4, 22, CHANGES,                            \
	  "oauth client add ID [--type public|confidential] [--redirect-uris URI[,URI...]] " \
	  "[--grants authorization_code,refresh_token,device_code,client_credentials] "     \
	  "[--scopes S[,S...]] [--audience sip|cti|sip,cti] [--mtls-subject CN] "           \
	  "[--secret yes|no] [--access-lifetime DURATION] [--refresh-lifetime DURATION]")   \
	X(oauth_client_list, "oauth client list", 3, 3, READS, "oauth client list")         \
	X(oauth_client_show, "oauth client show", 4, 4, READS, "oauth client show ID")      \
	X(oauth_client_delete, "oauth client delete", 4, 4, CHANGES, "oauth client delete ID") \
	X(oauth_tokens, "oauth tokens", 3, 3, READS, "oauth tokens USER")                   \
	X(oauth_revoke, "oauth revoke", 3, 4, CHANGES, "oauth revoke USER | --family ID")   \
	X(show_signer, "show signer", 2, 2, READS, "show signer")                           \
	X(oauth_keys_rotate, "oauth keys rotate", 3, 3, CHANGES, "oauth keys rotate")       \
	X(oauth_keys_list, "oauth keys list", 3, 4, READS, "oauth keys list [--json]")      \
	X(oauth_issue, "oauth issue", 7, 9, CHANGES,                                       \
	  "oauth issue USER --aud cti|sip|cti,sip --client ID [--scope S]")                 \
	X(store_snapshot, "store snapshot", 2, 2, CHANGES,                                 \
	  "store snapshot (a consistent copy of the store, for telgate backup)")            \
	X(utils_sipoauth_mode, "utils sipOAuth-mode", 3, 4, CHANGES,                      \
	  "utils sipOAuth-mode enable|disable|status [--json]")                            \
	X(help, "help", 1, 1, READS, "help")
/* clang-format on */

enum admin_effect { READS = 0, CHANGES = 1 };

struct admin_cmd {
	const char *words; /* e.g. "show open ports" */
	int minargs, maxargs;
	enum admin_effect effect;
	const char *usage;
};

#define ADMIN_CMD_ROW(handler, words, minargs, maxargs, effect, usage)                             \
	{words, minargs, maxargs, effect, usage},
#define ADMIN_CMD_ID(handler, ...) ADMIN_CMD_##handler,
/* Row numbers: ADMIN_CMD_status, ADMIN_CMD_run_sql, ...; ADMIN_NCMDS rows. */
enum admin_cmd_id { ADMIN_COMMANDS(ADMIN_CMD_ID) ADMIN_NCMDS };

/* The table, in ADMIN_COMMANDS order (ADMIN_NCMDS rows). */
extern const struct admin_cmd admin_cmds[ADMIN_NCMDS];

/* What admin_cmd_find made of a command line. */
enum admin_match {
	ADMIN_MATCH_OK,      /* *cmd is the command, argc within its bounds */
	ADMIN_MATCH_ARGC,    /* *cmd is the command, with too few or too many arguments */
	ADMIN_MATCH_PARTIAL, /* no command; *cmd is the first one sharing the first word */
	ADMIN_MATCH_UNKNOWN, /* no command starts with argv[0]; *cmd is NULL */
};

/* Finds the command argv (argc >= 1 words) names. */
enum admin_match admin_cmd_find(int argc, const char *const *argv, const struct admin_cmd **cmd);

/* The usage error for a match other than ADMIN_MATCH_OK, e.g. "usage: get param NAME" or
 * "unknown command 'x'; try: telgate help", into err (always NUL-terminated). */
void admin_cmd_usage_error(enum admin_match m, const struct admin_cmd *cmd, const char *argv0,
                           char *err, size_t errlen);

#endif
