/* SPDX-License-Identifier: ISC */
#include "sip/commitq.h"

#include <stddef.h>

enum sip_commit_state sip_commit_state(const struct sip_loc_ticket *t,
                                       const struct sip_commit_point *p)
{
	if (!t->last)
		return SIP_COMMIT_DURABLE;
	if (t->first <= p->lost_upto && t->last > p->lost_from)
		return SIP_COMMIT_LOST;
	return t->last <= p->written ? SIP_COMMIT_DURABLE : SIP_COMMIT_PENDING;
}

long sip_commit_gather_ms(long queued, int durable, long interval_ms, long flush_ms, long batch_max)
{
	if (queued >= batch_max)
		return 0;
	return durable ? interval_ms : flush_ms;
}

void sip_commitq_init(struct sip_commitq *q, int max)
{
	q->head = NULL;
	q->tail = &q->head;
	q->n = 0;
	q->max = max;
}

int sip_commitq_push(struct sip_commitq *q, struct sip_commitq_node *n)
{
	if (q->n >= q->max)
		return -1;
	n->next = NULL;
	*q->tail = n;
	q->tail = &n->next;
	q->n++;
	return 0;
}

struct sip_commitq_node *sip_commitq_pop(struct sip_commitq *q)
{
	struct sip_commitq_node *n = q->head;
	if (!n)
		return NULL;
	q->head = n->next;
	if (!q->head)
		q->tail = &q->head;
	q->n--;
	n->next = NULL;
	return n;
}

struct sip_commitq_node *sip_commitq_pop_ready(struct sip_commitq *q,
                                               const struct sip_commit_point *p, int64_t now_us,
                                               enum sip_commit_state *st)
{
	struct sip_commitq_node *n = q->head;
	if (!n)
		return NULL;
	enum sip_commit_state s = sip_commit_state(&n->t, p);
	if (s == SIP_COMMIT_PENDING && n->deadline_us <= now_us)
		s = SIP_COMMIT_EXPIRED;
	if (s == SIP_COMMIT_PENDING)
		return NULL;
	*st = s;
	return sip_commitq_pop(q);
}

int64_t sip_commitq_next_deadline(const struct sip_commitq *q)
{
	return q->head ? q->head->deadline_us : -1;
}

int sip_commitq_behind(const struct sip_commitq *q, int64_t now_us, int64_t wait_us)
{
	return q->head && q->head->deadline_us - now_us <= wait_us / 2;
}
