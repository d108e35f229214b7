/* SPDX-License-Identifier: ISC */
/*
 * cnf: device configuration files (seed 002): <DEVICE>.cnf.xml, which Jabber and Cisco
 * phones fetch over HTTP 6970 and TFTP to learn their call-control nodes, their lines and
 * whether SIP OAuth mode is on, and XMLDefault.cnf.xml, the file a phone without a device
 * entry fetches (the node list only). The element names and values are those of Cisco's
 * files: docs/device-files.md cites where each was verified; what only telgate knows
 * (model, CTI ports, trust-list file names, the security profile) goes in a <telgate>
 * element of its own that Cisco's parsers ignore.
 *
 * Three parts, one file each:
 *   cnf.c          the generator: a pure function from a struct cnf_device_input to XML
 *                  bytes (libxml2's xmlTextWriter). Deterministic: the same input gives
 *                  the same bytes on every node, so the ETag (a hash of the bytes) is the
 *                  same wherever a phone asks. Every text value is escaped, and characters
 *                  XML 1.0 cannot carry (C0 controls but tab/LF/CR, invalid UTF-8,
 *                  U+FFFE/U+FFFF, surrogates) become U+FFFD, so any store value gives a
 *                  well-formed file.
 *   cnf_load.c     the loader: fills the input from the store (device, lines, owner's
 *                  name, security profile, process nodes, ClusterSIPOAuthMode).
 *   cnf_provider.c the files provider (provision/files.h): answers <DEVICE>.cnf.xml and
 *                  XMLDefault.cnf.xml from a cache that is rebuilt only when the store
 *                  changed (store_generation), negative answers included.
 *
 * Threads: the generator is pure and thread-safe; the loader blocks on the store (a
 * worker or a provider lookup, never a loop's hot path); the provider is called from any
 * loop thread at once (provision/files.h).
 */
#ifndef TG_PROVISION_CNF_H
#define TG_PROVISION_CNF_H

#include <stddef.h>
#include <stdint.h>

#include "provision/files.h"
#include "store/store.h"

#define CNF_NODES_MAX 16 /* process nodes listed in a file */
#define CNF_LINES_MAX 32 /* lines of one device */
#define CNF_TEXT_MAX 256 /* bytes of one text value, NUL included */

/* One call-control node (Unified CM's processnode with its SIP and CTI ports). Ports are
 * TCP/UDP port numbers; 0 leaves that port out of the file. */
struct cnf_node {
	char name[CNF_TEXT_MAX];        /* -> callManager/name */
	char description[CNF_TEXT_MAX]; /* -> callManager/description ("" = left out) */
	char address[CNF_TEXT_MAX];     /* host name or address -> callManager/processNodeName */
	uint16_t sip_port;              /* sipPort, 5060 */
	uint16_t secured_sip_port;      /* securedSipPort, 5061 */
	uint16_t sip_oauth_port;        /* sipOAuthPort, 5090 (seed 002: 1024-49151) */
	uint16_t sip_mra_oauth_port;    /* sipMRAOAuthPort, 5091 (seed 002: 1024-49151) */
	uint16_t cti_port;              /* CTI (CSTA) over TCP -> telgate/nodes */
	uint16_t cti_tls_port;          /* CTI over TLS -> telgate/nodes */
};

/* One line: the AOR user part the device registers for (e.g. "1001") and the name shown
 * for it. */
struct cnf_line {
	char name[CNF_TEXT_MAX];
	char display_name[CNF_TEXT_MAX]; /* "" = name */
};

/* Everything a <DEVICE>.cnf.xml depends on. Strings are NUL-terminated and may hold any
 * bytes (they are escaped). */
struct cnf_device_input {
	char name[CNF_TEXT_MAX];        /* device name, e.g. SEP001122AABBCC or CSFjdoe */
	char model[CNF_TEXT_MAX];       /* e.g. "Cisco Unified Client Services Framework" */
	char protocol[16];              /* SIP, SCCP -> deviceProtocol */
	char description[CNF_TEXT_MAX]; /* device description */
	/* The device's security profile ("" = none): its name, its transport (TCP, UDP,
	 * TLS, "TCP+UDP") and its "Enable OAuth Authentication". */
	char security_profile[CNF_TEXT_MAX];
	char transport[16];
	int profile_oauth; /* 1: the profile enables OAuth authentication */
	/* The enterprise parameter ClusterSIPOAuthMode: 0 disabled (default), 1 enabled. */
	int cluster_sip_oauth_mode;
	struct cnf_line lines[CNF_LINES_MAX];
	size_t nlines;
	struct cnf_node nodes[CNF_NODES_MAX]; /* in priority order: member priority 0, 1, ... */
	size_t nnodes;
	char itl_file[64]; /* trust-list file names, e.g. ITLFile.tlv ("" = left out) */
	char ctl_file[64]; /* e.g. CTLFile.tlv */
};

/* The sipOAuthMode value a device gets: 1 (SIP OAuth enabled) when the cluster's
 * ClusterSIPOAuthMode is 1 and the device's security profile enables OAuth
 * authentication (seed 002), else 0 (disabled). Pure. */
int cnf_sip_oauth_mode(int cluster_sip_oauth_mode, int profile_oauth);

/* Generates <in->name>.cnf.xml. On success returns 0 and *out (malloc'ed, caller frees;
 * not NUL-terminated) with *len bytes. -EINVAL when in is NULL or has more lines or nodes
 * than the maxima; -ENOMEM. Pure, thread-safe, deterministic. */
int cnf_generate(const struct cnf_device_input *in, unsigned char **out, size_t *len);

/* Generates XMLDefault.cnf.xml: the n nodes (n <= CNF_NODES_MAX) and the trust-list file
 * names (either may be NULL or ""), nothing device-specific. Same returns as
 * cnf_generate. */
int cnf_default(const struct cnf_node *nodes, size_t n, const char *itl_file, const char *ctl_file,
                unsigned char **out, size_t *len);

/* What the loader needs beyond the store: the trust-list file names the file service
 * offers (NULL or "" = none). */
struct cnf_load_options {
	const char *itl_file, *ctl_file;
};
/* The names Unified CM gives its trust lists (seed 001): what telgated offers, and what
 * `telgate show config` prints. */
#define CNF_ITL_FILE "ITLFile.tlv"
#define CNF_CTL_FILE "CTLFile.tlv"

/* Fills *in for the device named device (matched exactly as stored) from the store: the
 * device row, its lines (display name: the owner's first and last name, else the line),
 * its security profile, every process node, ClusterSIPOAuthMode. Returns 0,
 * STORE_NOTFOUND for no such device, or another store_rc (store_last_error says why).
 * Blocking. */
int cnf_load(store_t *st, const char *device, const struct cnf_load_options *o,
             struct cnf_device_input *in);

/* The bytes of the file named name now: "XMLDefault.cnf.xml" or "<DEVICE>.cnf.xml" (device
 * per cnf_device_from_file). Returns 0 with *out (malloc'ed, caller frees) and *len,
 * -ENOENT when name is neither or the device does not exist, -EIO for a store failure
 * (store_last_error says why), -ENOMEM. Blocking. */
int cnf_file(store_t *st, const char *name, const struct cnf_load_options *o, unsigned char **out,
             size_t *len);

/* The device row of device and the sipOAuthMode its cnf.xml says (cnf_sip_oauth_mode of
 * ClusterSIPOAuthMode and its security profile): what cnf_guard.h asks before serving the
 * file over HTTPS. Returns STORE_OK, STORE_NOTFOUND (no such device), or a store error.
 * Blocking. */
int cnf_device_oauth(store_t *st, const char *device, struct store_device *dev, int *mode);

/* Fills *nodes (CNF_NODES_MAX entries) with the store's process nodes, in name order;
 * *n gets how many. Returns 0 or a store_rc. Blocking. */
int cnf_load_nodes(store_t *st, struct cnf_node *nodes, size_t *n);

/* The device a requested file name is for: "<DEVICE>.cnf.xml" gives DEVICE into out (cap
 * bytes); a Cisco phone's name "SEP" + 12 hex digits is canonical with upper-case hex
 * (the MAC as the phone asks for it and as the store keeps it), so "sep001122aabbcc" maps
 * to "SEP001122AABBCC"; other names are kept as sent (the store matches them exactly).
 * Returns 0, or -ENOENT when name is not a device file name (XMLDefault.cnf.xml is not:
 * it has its own answer). Pure. */
int cnf_device_from_file(const char *name, char *out, size_t cap);

/* The provider of <DEVICE>.cnf.xml and XMLDefault.cnf.xml for provision/files.h. Blobs
 * are cached by file name and rebuilt when store_generation(st) moved on since they were
 * made; unknown devices are cached as such too (per generation, a bounded number), so a
 * scan of names costs one store read per name and generation. st is borrowed and must
 * outlive the provider. Returns 0 and fills *p, or -ENOMEM. */
int cnf_provider(store_t *st, const struct cnf_load_options *o, struct files_provider *p);

#endif
