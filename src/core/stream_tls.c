/* SPDX-License-Identifier: ISC */
/*
 * Names a TLS failure for the metrics: OpenSSL's error reason (and, for a client
 * certificate refused here, the verify result) to one of a small fixed set, so that the
 * `reason` label stays bounded whatever OpenSSL reports. The log keeps OpenSSL's text.
 */
#include "core/stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

static const char *const names[STREAM_TLS_FAIL_N] = {
    [STREAM_TLS_FAIL_HANDSHAKE_TIMEOUT] = "handshake_timeout",
    [STREAM_TLS_FAIL_PROTOCOL_VERSION] = "protocol_version",
    [STREAM_TLS_FAIL_NO_SHARED_CIPHER] = "no_shared_cipher",
    [STREAM_TLS_FAIL_NO_CERTIFICATE] = "no_certificate",
    [STREAM_TLS_FAIL_UNKNOWN_CA] = "unknown_ca",
    [STREAM_TLS_FAIL_BAD_CERTIFICATE] = "bad_certificate",
    [STREAM_TLS_FAIL_NOT_TLS] = "not_tls",
    [STREAM_TLS_FAIL_OTHER] = "other",
};

const char *stream_tls_fail_name(enum stream_tls_fail r)
{
	return (unsigned)r < STREAM_TLS_FAIL_N ? names[r] : names[STREAM_TLS_FAIL_OTHER];
}

/* Our verification of the client's certificate failed: was it the issuer? */
static enum stream_tls_fail verify_reason(long v)
{
	switch (v) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return STREAM_TLS_FAIL_UNKNOWN_CA;
	default:
		return STREAM_TLS_FAIL_BAD_CERTIFICATE;
	}
}

enum stream_tls_fail stream_tls_fail_classify(unsigned long e, long verify_result)
{
	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return STREAM_TLS_FAIL_OTHER;
	switch (ERR_GET_REASON(e)) {
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_NO_PROTOCOLS_AVAILABLE:
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
		return STREAM_TLS_FAIL_PROTOCOL_VERSION;
	case SSL_R_NO_SHARED_CIPHER:
	case SSL_R_NO_SHARED_GROUPS:
	case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
	case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
		return STREAM_TLS_FAIL_NO_SHARED_CIPHER;
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
		return STREAM_TLS_FAIL_NO_CERTIFICATE;
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
		return verify_reason(verify_result);
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
		return STREAM_TLS_FAIL_UNKNOWN_CA;
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
	case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
		return STREAM_TLS_FAIL_BAD_CERTIFICATE;
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
		return STREAM_TLS_FAIL_NOT_TLS;
	default:
		return STREAM_TLS_FAIL_OTHER;
	}
}
