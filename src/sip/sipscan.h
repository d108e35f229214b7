/* SPDX-License-Identifier: ISC */
/*
 * sipscan: the fast REGISTER parse's line scan (sipfast.c). One pass over a header line
 * finds where it ends and whether the fast parse may take its bytes: printable ASCII and
 * tab, no escape ('\\'), quotes balanced (libosip2's line finder reads a quoted string
 * across line ends: sipfast.h). Sixteen bytes at a time with SSE2 (x86-64's baseline),
 * eight with SWAR elsewhere (issue 22: a memchr per line and a second scan of the value
 * were a fifth of the parse).
 *
 * Threads: pure. Ownership: nothing kept.
 */
#ifndef TG_SIP_SIPSCAN_H
#define TG_SIP_SIPSCAN_H

/* The first byte in [p, e) that a header line may not hold — a control character but tab
 * (so CR and LF, where a line ends), DEL, a non-ASCII byte or '\\' — or e when there is
 * none. *odd = 1 when an odd number of '"' comes before it, else 0. p <= e; reads only
 * [p, e). */
const char *sip_scan_line(const char *p, const char *e, unsigned *odd);

/* Which implementation sip_scan_line is: "sse2" or "swar" (the tests check both run). */
extern const char sip_scan_impl[];

#endif
