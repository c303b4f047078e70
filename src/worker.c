/* The poll loop. Shaped like DPDK's l2fwd: an endless loop over a small
 * list of things to poll, reporting a quiescent state after every pass so
 * that control threads know when the worker has let go of an old list. */
#include "worker.h"

#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>

#include "log.h"

/* A direction on a worker's list, with the worker's own note of when it
 * last moved packets (the list is the worker's to write once published). */
struct poll_slot {
	struct fwd_dir *dir;
	uint64_t last_busy;              /* TSC of its last poll that moved packets */
	bool dormant;
};

/* next_poll[i]: slot i is dormant, not polled before this TSC. An array of
 * its own, so that passing over 126 dormant directions reads 16 cache
 * lines rather than 126 fwd_dirs. */
struct poll_list {
	unsigned n;
	unsigned nb_dormant;
	uint64_t *next_poll;
	struct poll_slot *slots;
};

struct worker {
	struct poll_list *list;          /* published with release semantics */
	unsigned lcore;
	unsigned id;                     /* thread id in the QSBR variable */
	unsigned nb_dirs;                /* of list, for readers that must not touch it */
	bool stop;
	/* Written by the worker only. */
	uint64_t loops;
	uint64_t busy_cycles;
	uint64_t tsc_start;
} __rte_cache_aligned;

static struct worker workers[WORKER_MAX];
static unsigned nb_workers;
static struct rte_rcu_qsbr *qsbr;
static struct poll_list empty_list;

/* A direction that moved nothing for DORMANT_AFTER_US is dormant: polled
 * once every DORMANT_POLL_US until it moves something. With 63 idle
 * relays beside a busy one, each loop would otherwise spend longer on 126
 * empty queues (a few hundred cycles each) than on the busy relay's
 * bursts. A direction with traffic every millisecond or more often never
 * becomes dormant, so its latency is untouched; the first packet after a
 * quiet spell waits up to DORMANT_POLL_US, which the rings behind it
 * (1024 descriptors) hold at up to 10 Mpps.
 * Even so, a dormant poll costs the busy directions beside it: its queues'
 * state has gone cold in the caches meanwhile, some 300 cycles of misses.
 * 126 dormant directions polled every 100 us took 15% of a worker from its
 * one busy relay. So the dormant directions of a worker share
 * DORMANT_POLLS_SHARED polls per DORMANT_POLL_US: beyond that many, each
 * is polled less often (126: every 800 us, which a 1024-descriptor ring
 * holds at up to 1.3 Mpps), and their cost stays near 2%. */
#define DORMANT_AFTER_US 1000
#define DORMANT_POLL_US 100
#define DORMANT_POLLS_SHARED 16
static uint64_t dormant_after_tsc, dormant_poll_tsc;

/* How long a dormant direction sleeps, with n dormant on its worker. */
static inline uint64_t dormant_interval(unsigned n)
{
	return n <= DORMANT_POLLS_SHARED ? dormant_poll_tsc :
	       dormant_poll_tsc * n / DORMANT_POLLS_SHARED;
}

/* The longest a poll of one source queue can really take: a full burst of
 * jumbo chains copied to or from guest memory, a few microseconds a
 * packet. A busy poll that took longer was mostly time the kernel gave the
 * CPU to someone else (lcores sharing a CPU, an interrupt storm). */
#define POLL_US_PER_PKT_MAX 5
static uint64_t poll_cycles_per_pkt_max;

int worker_init(const unsigned *lcores, unsigned n)
{
	size_t sz;

	if (n == 0 || n > WORKER_MAX)
		return -1;
	sz = rte_rcu_qsbr_get_memsize(n);
	qsbr = rte_zmalloc("vfwd_qsbr", sz, RTE_CACHE_LINE_SIZE);
	if (!qsbr || rte_rcu_qsbr_init(qsbr, n) != 0)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		workers[i].lcore = lcores[i];
		workers[i].id = i;
		workers[i].list = &empty_list;
		if (rte_rcu_qsbr_thread_register(qsbr, i) != 0)
			return -1;
	}
	nb_workers = n;
	poll_cycles_per_pkt_max = rte_get_tsc_hz() / 1000000 * POLL_US_PER_PKT_MAX;
	dormant_after_tsc = rte_get_tsc_hz() / 1000000 * DORMANT_AFTER_US;
	dormant_poll_tsc = rte_get_tsc_hz() / 1000000 * DORMANT_POLL_US;
	return 0;
}

unsigned worker_count(void)
{
	return nb_workers;
}

unsigned worker_lcore(unsigned w)
{
	return workers[w].lcore;
}

int worker_by_lcore(unsigned lcore)
{
	for (unsigned i = 0; i < nb_workers; i++)
		if (workers[i].lcore == lcore)
			return (int)i;
	return -1;
}

static void count_drop(struct fwd_dir *d, enum fwd_drop_cause cause, uint64_t pkts,
		       uint64_t bytes)
{
	struct dir_counters *c = &d->counters;

	switch (cause) {
	case FWD_DROP_FULL:
		STATS_ADD(c->drop_full_pkts, pkts);
		STATS_ADD(c->drop_full_bytes, bytes);
		break;
	case FWD_DROP_UNCONNECTED:
		STATS_ADD(c->drop_unconn_pkts, pkts);
		STATS_ADD(c->drop_unconn_bytes, bytes);
		break;
	case FWD_DROP_OVERSIZE:
		STATS_ADD(c->drop_oversize_pkts, pkts);
		STATS_ADD(c->drop_oversize_bytes, bytes);
		break;
	}
}

/* The bytes of pkts[0..n), and the longest of them in *longest. */
static uint64_t sum_bytes(struct rte_mbuf *const *pkts, uint16_t n, uint32_t *longest)
{
	uint64_t bytes = 0;
	uint32_t max = 0;

	for (uint16_t i = 0; i < n; i++) {
		uint32_t len = rte_pktmbuf_pkt_len(pkts[i]);

		bytes += len;
		max = RTE_MAX(max, len);
	}
	*longest = max;
	return bytes;
}

/* Frees m, counted as oversize; its length. */
static uint32_t drop_one_oversize(struct fwd_dir *d, struct rte_mbuf *m)
{
	uint32_t len = rte_pktmbuf_pkt_len(m);

	count_drop(d, FWD_DROP_OVERSIZE, 1, len);
	rte_pktmbuf_free(m);
	return len;
}

/* Drops the frames of pkts[0..n) longer than the relay's MTU allows,
 * counted oversize, rather than have the destination cut or refuse them.
 * Returns how many are left, in order at the front; *bytes follows. */
static uint16_t drop_oversize(struct fwd_dir *d, struct rte_mbuf **pkts, uint16_t n,
			      uint64_t *bytes)
{
	uint16_t kept = 0;

	for (uint16_t i = 0; i < n; i++) {
		if (rte_pktmbuf_pkt_len(pkts[i]) <= d->p.max_frame ||
		    (d->p.tso && (pkts[i]->ol_flags & RTE_MBUF_F_TX_TCP_SEG)))
			pkts[kept++] = pkts[i];
		else
			*bytes -= drop_one_oversize(d, pkts[i]);
	}
	return kept;
}

uint16_t fwd_sink_none(struct fwd_dir *d, uint16_t qi, struct rte_mbuf **pkts, uint16_t n)
{
	RTE_SET_USED(d);
	RTE_SET_USED(qi);
	RTE_SET_USED(pkts);
	RTE_SET_USED(n);
	return 0;
}

static void set_held(struct fwd_dir *d, struct fwd_hold *h, uint16_t n, uint64_t bytes)
{
	__atomic_store_n(&d->nb_held, (uint16_t)(d->nb_held - h->n + n), __ATOMIC_RELAXED);
	h->n = n;
	h->bytes = bytes;
}

/* Frees what h holds, counted as dropped because its destination was full. */
static void drop_hold(struct fwd_dir *d, struct fwd_hold *h)
{
	count_drop(d, FWD_DROP_FULL, h->n, h->bytes);
	rte_pktmbuf_free_bulk(h->pkts, h->n);
	set_held(d, h, 0, 0);
	/* A sink's verdict on a packet freed here would otherwise fall on
	 * whichever packet its mbuf carries next. */
	h->refused_with_room = NULL;
}

void fwd_map_queues(struct fwd_params *p)
{
	uint16_t ns = p->nb_src_queues, nd = p->nb_dst_queues;

	for (uint16_t i = 0; i < ns && nd > 0; i++) {
		p->dst_first[i] = (uint8_t)(i % nd);
		p->dst_count[i] = ns >= nd ? 1 : (uint8_t)((nd - i + ns - 1) / ns);
	}
}

void fwd_set_params(struct fwd_dir *d, const struct fwd_params *p)
{
	for (uint16_t qi = p->nb_src_queues; qi < FWD_MAX_QUEUES; qi++)
		if (d->held[qi].n > 0)
			drop_hold(d, &d->held[qi]);
	d->p = *p;
	memset(d->dst_full_since, 0, sizeof(d->dst_full_since));
}

void fwd_drop_held(struct fwd_dir *d)
{
	for (uint16_t qi = 0; qi < FWD_MAX_QUEUES; qi++)
		drop_hold(d, &d->held[qi]);
	/* Parts of packets already counted as sent. */
	rte_pktmbuf_free_bulk(d->staged, d->nb_staged);
	d->nb_staged = 0;
	d->unplaceable = false;
}

/* Offers what source queue qi holds to the sink; true when nothing is
 * left held. */
static bool send_held(struct fwd_dir *d, uint16_t qi)
{
	struct fwd_hold *h = &d->held[qi];
	uint16_t n = h->n;
	uint16_t sent = d->p.sink(d, qi, h->pkts, n);
	uint16_t left = (uint16_t)(n - sent);
	/* pkts[sent..n) are still ours: their bytes can be read. A sink that
	 * took nothing (the usual case while holding) leaves the sum as it was. */
	uint32_t longest;
	uint64_t left_bytes = sent == 0 ? h->bytes :
			      left ? sum_bytes(h->pkts + sent, left, &longest) : 0;
	uint16_t delivered = sent;
	uint64_t delivered_bytes = h->bytes - left_bytes;

	if (unlikely(d->sink_dropped)) {
		count_drop(d, FWD_DROP_FULL, d->sink_dropped, d->sink_dropped_bytes);
		delivered -= d->sink_dropped;
		delivered_bytes -= d->sink_dropped_bytes;
		d->sink_dropped = 0;
		d->sink_dropped_bytes = 0;
	}
	STATS_ADD(d->counters.tx_pkts, delivered);
	STATS_ADD(d->counters.tx_bytes, delivered_bytes);
	if (left == 0) {
		set_held(d, h, 0, 0);
		return true;
	}
	if (d->p.drop_cause == FWD_DROP_UNCONNECTED) {
		count_drop(d, FWD_DROP_UNCONNECTED, left, left_bytes);
		rte_pktmbuf_free_bulk(h->pkts + sent, left);
		set_held(d, h, 0, 0);
		return true;
	}
	if (unlikely(d->unplaceable)) {
		d->unplaceable = false;
		left_bytes -= drop_one_oversize(d, h->pkts[sent]);
		sent++;
		left--;
		if (left == 0) {
			set_held(d, h, 0, 0);
			return true;
		}
	}
	if (sent > 0)
		memmove(h->pkts, h->pkts + sent, left * sizeof(h->pkts[0]));
	set_held(d, h, left, left_bytes);
	return false;
}

void fwd_poll(struct fwd_dir *d)
{
	for (uint16_t qi = 0; qi < d->p.nb_src_queues; qi++) {
		struct fwd_hold *h = &d->held[qi];
		uint32_t longest;
		uint64_t bytes;
		uint16_t n;

		if (unlikely(h->n > 0) && !send_held(d, qi))
			continue;
		n = d->p.source(d, qi, h->pkts, d->p.burst);
		if (n == 0)
			continue;
		bytes = sum_bytes(h->pkts, n, &longest);
		STATS_ADD(d->counters.rx_pkts, n);
		STATS_ADD(d->counters.rx_bytes, bytes);
		if (unlikely(longest > d->p.max_frame)) {
			n = drop_oversize(d, h->pkts, n, &bytes);
			if (n == 0)
				continue;
		}
		set_held(d, h, n, bytes);
		send_held(d, qi);
	}
}

/* Charges a busy poll's cycles to its direction and worker. The load the
 * scheduler balances is made of these, so a span the thread spent
 * descheduled must not count: charged whole, it would weigh directions by
 * how often they happened to be polled when the CPU was taken away rather
 * than by what they cost. Such a span is charged as the direction's mean
 * busy poll instead. */
static inline void charge_busy(struct worker *w, struct fwd_dir *d, uint64_t span)
{
	struct dir_counters *c = &d->counters;

	if (unlikely(span > poll_cycles_per_pkt_max * d->p.burst * d->p.nb_src_queues))
		span = c->busy_polls ? c->busy_cycles / c->busy_polls : 0;
	STATS_ADD(c->busy_cycles, span);
	STATS_ADD(c->busy_polls, 1);
	STATS_ADD(w->busy_cycles, span);
}

static int worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t prev;

	rte_rcu_qsbr_thread_online(qsbr, w->id);
	w->tsc_start = rte_rdtsc();
	prev = w->tsc_start;
	while (!__atomic_load_n(&w->stop, __ATOMIC_RELAXED)) {
		struct poll_list *list = __atomic_load_n(&w->list, __ATOMIC_ACQUIRE);
		bool polled = false;

		for (unsigned i = 0; i < list->n; i++) {
			struct poll_slot *slot;
			struct fwd_dir *d;
			uint64_t rx_before, now;
			bool moved;

			if (prev < list->next_poll[i])
				continue;
			slot = &list->slots[i];
			d = slot->dir;
			rx_before = d->counters.rx_pkts;
			fwd_poll(d);
			now = rte_rdtsc();
			polled = true;
			moved = d->counters.rx_pkts != rx_before;
			STATS_ADD(d->counters.polls, 1);
			if (moved)
				charge_busy(w, d, now - prev);
			if (moved || d->nb_held > 0) {
				slot->last_busy = now;
				if (unlikely(slot->dormant)) {
					slot->dormant = false;
					list->nb_dormant--;
				}
			} else if (now - slot->last_busy > dormant_after_tsc) {
				if (!slot->dormant) {
					slot->dormant = true;
					list->nb_dormant++;
				}
				list->next_poll[i] = now + dormant_interval(list->nb_dormant);
			}
			prev = now;
		}
		if (!polled)
			prev = rte_rdtsc();
		STATS_ADD(w->loops, 1);
		rte_rcu_qsbr_quiescent(qsbr, w->id);
		if (list->n == 0)
			/* Nothing to poll: let the core breathe a little
			 * without leaving the quiescent-state protocol. */
			rte_pause();
	}
	rte_rcu_qsbr_thread_offline(qsbr, w->id);
	return 0;
}

int worker_launch_all(void)
{
	for (unsigned i = 0; i < nb_workers; i++) {
		if (rte_eal_remote_launch(worker_main, &workers[i], workers[i].lcore) != 0) {
			VLOG_ERR("cannot launch worker on lcore %u", workers[i].lcore);
			return -1;
		}
		VLOG_INFO("worker %u polling on lcore %u", i, workers[i].lcore);
	}
	return 0;
}

void worker_publish(unsigned w, struct fwd_dir *const *dirs, unsigned n)
{
	struct poll_list *next = &empty_list, *old;

	if (n > 0) {
		/* Control path: allocation is fine here. If it fails the
		 * worker keeps an empty list rather than a half-built one. */
		next = calloc(1, sizeof(*next) + n * (sizeof(next->next_poll[0]) +
						      sizeof(next->slots[0])));
		if (!next) {
			VLOG_CRIT("out of memory publishing the poll list of lcore %u",
				  workers[w].lcore);
			next = &empty_list;
		} else {
			uint64_t now = rte_rdtsc();

			next->n = n;
			next->next_poll = (uint64_t *)(next + 1);
			next->slots = (struct poll_slot *)(next->next_poll + n);
			for (unsigned i = 0; i < n; i++) {
				/* Awake at first: a direction (re)published has
				 * its first packets on the way, as like as not. */
				next->slots[i].dir = dirs[i];
				next->slots[i].last_busy = now;
			}
		}
	}
	old = workers[w].list;
	__atomic_store_n(&workers[w].list, next, __ATOMIC_RELEASE);
	__atomic_store_n(&workers[w].nb_dirs, next->n, __ATOMIC_RELAXED);
	/* After this, worker w has finished any pass that began with the old
	 * list, so directions dropped from it are no longer touched. */
	rte_rcu_qsbr_synchronize(qsbr, RTE_QSBR_THRID_INVALID);
	if (old != &empty_list)
		free(old);
}

void worker_stop_all(void)
{
	for (unsigned i = 0; i < nb_workers; i++)
		__atomic_store_n(&workers[i].stop, true, __ATOMIC_RELAXED);
	rte_eal_mp_wait_lcore();
	for (unsigned i = 0; i < nb_workers; i++) {
		if (workers[i].list != &empty_list)
			free(workers[i].list);
		workers[i].list = &empty_list;
	}
}

void worker_get_info(unsigned w, struct worker_info *out)
{
	const struct worker *wk = &workers[w];

	out->lcore = wk->lcore;
	out->nb_dirs = __atomic_load_n(&wk->nb_dirs, __ATOMIC_RELAXED);
	out->loops = __atomic_load_n(&wk->loops, __ATOMIC_RELAXED);
	out->busy_cycles = __atomic_load_n(&wk->busy_cycles, __ATOMIC_RELAXED);
	out->tsc_start = wk->tsc_start;
}
