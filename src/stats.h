/* stats: the counters of one relay direction and how they are read.
 *
 * A direction is polled by exactly one worker at a time, and only that
 * worker writes its counters, with plain relaxed stores (no atomic
 * read-modify-write on the hot path). Readers on other threads use
 * stats_read(), which loads each 64-bit field whole: no torn values, and no
 * counter ever goes backwards. Nobody resets them: rates are differences
 * between two snapshots a reader takes itself.
 */
#ifndef VFWD_STATS_H
#define VFWD_STATS_H

#include <stdint.h>

struct dir_counters {
	uint64_t rx_pkts, rx_bytes;          /* taken from the source side */
	uint64_t tx_pkts, tx_bytes;          /* accepted by the destination */
	/* Refused by a full destination and held, then the destination
	 * went away (worker.h: a full destination is backpressure, not
	 * drops). */
	uint64_t drop_full_pkts, drop_full_bytes;
	uint64_t drop_unconn_pkts, drop_unconn_bytes; /* destination not there */
	/* Bigger than the destination takes: over the relay's MTU, or over
	 * every buffer the guest posts (no mergeable RX buffers). */
	uint64_t drop_oversize_pkts, drop_oversize_bytes;
	uint64_t busy_cycles;                /* TSC cycles of polls that moved packets */
	uint64_t busy_polls;                 /* polls that moved packets */
	uint64_t polls;                      /* polls of this direction */
};

#define STATS_ADD(field, v) \
	__atomic_store_n(&(field), (field) + (v), __ATOMIC_RELAXED)

static inline void stats_read(const struct dir_counters *src, struct dir_counters *dst)
{
	const uint64_t *s = (const uint64_t *)src;
	uint64_t *d = (uint64_t *)dst;

	for (unsigned i = 0; i < sizeof(*src) / sizeof(uint64_t); i++)
		d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

#endif
