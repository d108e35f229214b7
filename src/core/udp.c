/* SPDX-License-Identifier: ISC */
/* struct in6_pktinfo (RFC 3542) and recvmmsg() are behind _GNU_SOURCE in glibc. */
#define _GNU_SOURCE
#include "core/udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

int udp_pktinfo_on(int fd)
{
	int one = 1;
	struct sockaddr_storage sa;
	socklen_t sl = sizeof sa;
	if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
		return -errno;
	int rc = sa.ss_family == AF_INET6
	             ? setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one)
	             : setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
	return rc == 0 ? 0 : -errno;
}

void udp_rcvbuf(int fd, int bytes)
{
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

/* Room for either control message. */
union cmsg_space {
	char v4[CMSG_SPACE(sizeof(struct in_pktinfo))];
	char v6[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct cmsghdr align;
};

/* The address a received datagram was sent to, from its IP_PKTINFO / IPV6_PKTINFO. */
static void local_of(struct msghdr *mh, struct sockaddr_storage *local, int *has_local)
{
	*has_local = 0;
	memset(local, 0, sizeof *local);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof pi);
			struct sockaddr_in *a = (struct sockaddr_in *)local;
			a->sin_family = AF_INET;
			/* the local address for answers (ipi_addr would be a broadcast or
			 * multicast destination as sent) */
			a->sin_addr = pi.ipi_spec_dst;
			*has_local = 1;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof pi);
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)local;
			a->sin6_family = AF_INET6;
			a->sin6_addr = pi.ipi6_addr;
			a->sin6_scope_id = pi.ipi6_ifindex; /* a link-local answer needs it */
			*has_local = 1;
		}
	}
}

ssize_t udp_recv(int fd, char *buf, size_t cap, struct sockaddr_storage *from, socklen_t *fromlen,
                 struct sockaddr_storage *local, int *has_local)
{
	union cmsg_space cs;
	struct iovec iov = {buf, cap};
	struct msghdr mh = {.msg_name = from,
	                    .msg_namelen = sizeof *from,
	                    .msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = &cs,
	                    .msg_controllen = sizeof cs};
	*has_local = 0;
	ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0)
		return -1;
	*fromlen = mh.msg_namelen;
	local_of(&mh, local, has_local);
	return n;
}

int udp_recv_batch(int fd, struct udp_msg *m, unsigned n)
{
	if (n > UDP_BATCH_MAX)
		n = UDP_BATCH_MAX;
	struct mmsghdr mm[UDP_BATCH_MAX];
	struct iovec iov[UDP_BATCH_MAX];
	union cmsg_space cs[UDP_BATCH_MAX];
	for (unsigned i = 0; i < n; i++) {
		iov[i] = (struct iovec){m[i].buf, m[i].cap};
		mm[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &m[i].from,
		                                     .msg_namelen = sizeof m[i].from,
		                                     .msg_iov = &iov[i],
		                                     .msg_iovlen = 1,
		                                     .msg_control = &cs[i],
		                                     .msg_controllen = sizeof cs[i]}};
	}
	/* MSG_TRUNC: each msg_len is the datagram's length, not what fitted */
	int got = recvmmsg(fd, mm, n, MSG_DONTWAIT | MSG_TRUNC, NULL);
	if (got <= 0)
		return got < 0 ? -1 : (errno = EAGAIN, -1);
	for (int i = 0; i < got; i++) {
		m[i].len = mm[i].msg_len;
		m[i].fromlen = mm[i].msg_hdr.msg_namelen;
		local_of(&mm[i].msg_hdr, &m[i].local, &m[i].has_local);
	}
	return got;
}

/* One control message in mh (whose buffer is cs). */
static void put_cmsg(struct msghdr *mh, union cmsg_space *cs, int level, int type, const void *data,
                     size_t len)
{
	mh->msg_control = cs;
	mh->msg_controllen = CMSG_SPACE(len);
	struct cmsghdr *c = CMSG_FIRSTHDR(mh);
	c->cmsg_level = level;
	c->cmsg_type = type;
	c->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(c), data, len);
}

/* The source address of mh (IP_PKTINFO / IPV6_PKTINFO) from local, when given. */
static void put_local(struct msghdr *mh, union cmsg_space *cs, const struct sockaddr_storage *local)
{
	memset(cs, 0, sizeof *cs);
	if (local && local->ss_family == AF_INET) {
		struct in_pktinfo pi;
		memset(&pi, 0, sizeof pi);
		pi.ipi_spec_dst = ((const struct sockaddr_in *)local)->sin_addr;
		put_cmsg(mh, cs, IPPROTO_IP, IP_PKTINFO, &pi, sizeof pi);
	} else if (local && local->ss_family == AF_INET6) {
		struct in6_pktinfo pi;
		memset(&pi, 0, sizeof pi);
		pi.ipi6_addr = ((const struct sockaddr_in6 *)local)->sin6_addr;
		pi.ipi6_ifindex = ((const struct sockaddr_in6 *)local)->sin6_scope_id;
		put_cmsg(mh, cs, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof pi);
	}
}

ssize_t udp_send(int fd, const char *buf, size_t len, const struct sockaddr *to, socklen_t tolen,
                 const struct sockaddr_storage *local)
{
	union cmsg_space cs;
	struct iovec iov = {(void *)(uintptr_t)buf, len};
	struct msghdr mh = {.msg_name = (void *)(uintptr_t)to,
	                    .msg_namelen = tolen,
	                    .msg_iov = &iov,
	                    .msg_iovlen = 1};
	put_local(&mh, &cs, local);
	return sendmsg(fd, &mh, MSG_DONTWAIT);
}

unsigned udp_send_batch(int fd, const struct udp_out *o, unsigned n)
{
	if (n > UDP_BATCH_MAX)
		n = UDP_BATCH_MAX;
	struct mmsghdr mm[UDP_BATCH_MAX];
	struct iovec iov[UDP_BATCH_MAX];
	union cmsg_space cs[UDP_BATCH_MAX];
	for (unsigned i = 0; i < n; i++) {
		iov[i] = (struct iovec){(void *)(uintptr_t)o[i].buf, o[i].len};
		mm[i] = (struct mmsghdr){.msg_hdr = {.msg_name = (void *)(uintptr_t)&o[i].to,
		                                     .msg_namelen = o[i].tolen,
		                                     .msg_iov = &iov[i],
		                                     .msg_iovlen = 1}};
		put_local(&mm[i].msg_hdr, &cs[i], o[i].has_local ? &o[i].local : NULL);
	}
	unsigned sent = 0;
	for (unsigned at = 0; at < n;) {
		int k = sendmmsg(fd, mm + at, n - at, MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k > 0)
			sent += (unsigned)k;
		/* mm[at + k] was refused (or k < 0: mm[at]): dropped, the rest go */
		at += (k > 0 ? (unsigned)k : 0) + 1;
	}
	return sent;
}
