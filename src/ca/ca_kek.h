/* SPDX-License-Identifier: ISC */
/*
 * ca_kek: the key-encryption key of a cluster (issue 21) and the one format the shared
 * signing keys are kept in under it (ca/ca_cluster.h puts them in the store).
 *
 * The KEK is a file ([pki] kek_file), the same on every node, made once with e.g.
 * `openssl rand -base64 48 > kek`: at least CA_KEK_MIN bytes (one trailing newline is not
 * part of it), owned by root or by the user telgated starts as, mode 0600 or 0400 (any
 * group or other bit is refused). Only the PKI child of the monitor reads it (ca/privsep.h):
 * neither the network engine nor the signer ever holds it.
 *
 * Format: PKCS#8 EncryptedPrivateKeyInfo in PEM ("ENCRYPTED PRIVATE KEY"), PBES2 with
 * PBKDF2-HMAC-SHA256 and AES-256-CBC, the KEK as the passphrase: OpenSSL's own, kept
 * format, which any OpenSSL can read back (`openssl pkey -in k.pem -passin file:kek`) when
 * an operator must recover a key by hand, rather than an envelope of our own. The pairing
 * of each key with its certificate (checked on load) stands in for the integrity that CBC
 * lacks: a key altered in the store does not match its certificate and is refused.
 *
 * Errors: -1 with err; err never holds the KEK or a key.
 * Threads: any; nothing shared. Ownership: the caller frees what it gets (EVP_PKEY_free,
 * free for the PEM) and wipes the KEK with ca_kek_wipe.
 */
#ifndef TG_CA_KEK_H
#define TG_CA_KEK_H

#include <openssl/evp.h>
#include <stddef.h>

#define CA_KEK_MIN 32  /* bytes */
#define CA_KEK_MAX 512 /* bytes */

struct ca_kek {
	unsigned char k[CA_KEK_MAX];
	size_t len;
};

/* Reads and checks the KEK file. 0, or -1 with err (the path and what is wrong). */
int ca_kek_read(const char *path, struct ca_kek *kek, char *err, size_t errlen);
void ca_kek_wipe(struct ca_kek *kek);

/* The key encrypted under the KEK as a PKCS#8 PEM (malloc'ed, NUL-terminated). 0 or -1. */
int ca_kek_seal(const struct ca_kek *kek, EVP_PKEY *key, char **pem, char *err, size_t errlen);

/* The key of such a PEM, or NULL with err when the KEK does not decrypt it (another KEK). */
EVP_PKEY *ca_kek_open(const struct ca_kek *kek, const char *pem, char *err, size_t errlen);

#endif
