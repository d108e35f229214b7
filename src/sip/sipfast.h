/* SPDX-License-Identifier: ISC */
/*
 * sipfast: a zero-copy scan of the REGISTER headers the registrar needs (Via, From, To,
 * Call-ID, CSeq, Contact, Expires, Authorization, Max-Forwards, Content-Length,
 * User-Agent) for the common shape of a REGISTER, in place of libosip2's parse (which
 * allocates per header and per parameter: half of a refresh's instructions, callgrind,
 * docs/sip.md "Speed"). It reads a narrow grammar and defers everything else to the full
 * parse (msg.h): another method, folded lines, control or non-ASCII bytes, display names,
 * escapes, quoted strings outside Contact parameters, headers that libosip2 parses for
 * structure (Route, Content-Type, ...), duplicates, Require, a user id Contact
 * parameter, any value the full parse would refuse. What it accepts, libosip2 accepts
 * with the same fields (fuzz/fuzz_sipfast.c, the differential target). Each line is read
 * once by sipscan.h (its end, its bytes, its quotes); names and values are then parsed in
 * place.
 *
 * Threads: pure. Ownership: r keeps copies (struct sip_fast), none of buf.
 */
#ifndef TG_SIP_SIPFAST_H
#define TG_SIP_SIPFAST_H

#include "sip/msg.h"

#include <stddef.h>

/* 1 with r filled as sip_req_parse would (r->m NULL, r->fast set; the caller cleared r
 * and set r->expires = -1), or 0: defer to the full parse (r then holds partial fields
 * that the full parse overwrites). */
int sip_fast_parse(const char *buf, size_t len, struct sip_req *r);

#endif
