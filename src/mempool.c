#include "mempool.h"

#include <stdio.h>

#include <rte_mbuf.h>
#include <rte_errno.h>
#include <rte_mempool.h>

#include "log.h"

/* Enough for the VF's RX and TX rings (1024 each), bursts in flight on
 * every worker and the per-lcore caches; 2^n - 1 suits the ring below. */
#define POOL_MBUFS 8191
#define POOL_CACHE 256

struct rte_mempool *pool_create(unsigned relay_id, int node, const char *why)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	struct rte_mempool *mp;
	snprintf(name, sizeof(name), "vfwd_relay%u_node%d", relay_id, node);
	mp = rte_mempool_lookup(name);
	if (mp)
		return mp;
	mp = rte_pktmbuf_pool_create(name, POOL_MBUFS, POOL_CACHE, 0,
				     RTE_MBUF_DEFAULT_BUF_SIZE, node);
	if (!mp)
		VLOG_ERR("relay %u: cannot create its mbuf pool on NUMA node %d: %s "
			 "(too few free hugepages? see /sys/kernel/mm/hugepages)",
			 relay_id, node, rte_strerror(rte_errno));
	else
		VLOG_INFO("relay %u: %u mbufs on NUMA node %d: %s", relay_id, POOL_MBUFS, node,
			  why);
	return mp;
}

unsigned pool_in_use(const struct rte_mempool *mp)
{
	return rte_mempool_in_use_count(mp);
}

unsigned pool_size(const struct rte_mempool *mp)
{
	return mp->size;
}
