/* placement: on which NUMA node a relay's buffers and workers belong. Pure
 * decisions on what is known (a node, or -1 when unknown), unit-tested in
 * tests/unit/test_placement.c.
 *
 *   placement_pool_node(vm, vf, worker, vf_local, &why)  its mbuf pool's node
 *   placement_worker_node(pool, vm, vf, vf_local)         where its workers are
 *                                                         sought (-1: anywhere)
 *
 * By default the VM's memory wins: every packet is copied to or from it.
 * With vf_local (VIRTIOFWD_CPU_NIC_SAME_NUMA) the workers go to the VF's
 * node and the buffers stay local to them, the VM's memory being the one
 * reached across the interconnect.
 */
#ifndef VFWD_PLACEMENT_H
#define VFWD_PLACEMENT_H

#include <stdbool.h>

int placement_pool_node(int vm_node, int vf_node, int worker_node, bool vf_local,
			const char **why);
int placement_worker_node(int pool_node, int vm_node, int vf_node, bool vf_local);

#endif
