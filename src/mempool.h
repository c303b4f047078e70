/* mempool: the mbuf pool of each relay, on the NUMA node its traffic lives
 * on, so that copies to and from guest memory stay local.
 *
 *   pool_create(relay, node, why)     create (or find) the pool of a relay on
 *                                     node (placement.h's choice, and why); a
 *                                     relay whose VM moved node has one per node
 *   pool_in_use(pool)                 mbufs not back in the pool (leak check)
 */
#ifndef VFWD_MEMPOOL_H
#define VFWD_MEMPOOL_H

#include <stdbool.h>

struct rte_mempool;

struct rte_mempool *pool_create(unsigned relay_id, int node, const char *why);
unsigned pool_in_use(const struct rte_mempool *mp);
unsigned pool_size(const struct rte_mempool *mp);

#endif
