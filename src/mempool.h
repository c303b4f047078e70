/* mempool: the mbuf pool of each relay, on the NUMA node its traffic lives
 * on, so that copies to and from guest memory stay local.
 *
 *   pool_choose_node(vm, vf, worker, same_numa)  the placement decision (pure)
 *   pool_create(relay, node)          create (or find) the pool of a relay
 *   pool_in_use(pool)                 mbufs not back in the pool (leak check)
 */
#ifndef VFWD_MEMPOOL_H
#define VFWD_MEMPOOL_H

#include <stdbool.h>

struct rte_mempool;

/* Nodes are -1 when unknown. The VM's memory wins (the copies touch it on
 * every packet), then the VF's, then the worker's; 0 when nothing is known. */
int pool_choose_node(int vm_node, int vf_node, int worker_node);
struct rte_mempool *pool_create(unsigned relay_id, int node);
unsigned pool_in_use(const struct rte_mempool *mp);
unsigned pool_size(const struct rte_mempool *mp);

#endif
